with perplexity as (
    select * from {{ ref('stg_perplexity') }}
),

shift as (
    select * from {{ ref('stg_distribution_shift') }}
),

inventory as (
    select * from {{ ref('stg_gguf_inventory') }}
),

-- A variant can have its perplexity without a shift (its base cache not built yet) or the reverse.
joined as (
    select
        variant,
        perplexity.n_ctx as perplexity_n_ctx,
        perplexity.n_windows as perplexity_n_windows,
        perplexity.n_tokens_scored,
        perplexity.perplexity,
        perplexity.perplexity_se,
        perplexity.bits_per_byte,
        perplexity.tok_per_s as perplexity_tok_per_s,
        shift.base_variant,
        shift.n_ctx as shift_n_ctx,
        shift.n_windows as shift_n_windows,
        shift.top_k,
        shift.n_positions,
        shift.perplexity_base,
        shift.ppl_ratio,
        shift.ppl_ratio_se,
        shift.ln_ppl_ratio,
        shift.ln_ppl_ratio_se,
        shift.kld_mean,
        shift.kld_mean_se,
        shift.kld_median,
        shift.kld_p99,
        shift.kld_max,
        shift.same_top_pct,
        shift.same_top_pct_se,
        shift.delta_p_mean_pp,
        shift.delta_p_mean_pp_se,
        shift.delta_p_rms_pp,
        shift.kld_topk_gap_pct,
        coalesce(perplexity.gguf_sha256, shift.gguf_sha256) as gguf_sha256,
    from perplexity
    full outer join shift using (variant)
),

final as (
    select
        joined.variant,
        inventory.model,
        inventory.quant_requested,
        inventory.quant_obtained,
        joined.gguf_sha256,
        inventory.size_bytes,
        inventory.bits_per_weight,
        joined.base_variant,
        joined.variant = joined.base_variant as is_base,
        joined.* exclude (variant, gguf_sha256, base_variant),
    from joined
    left join inventory using (variant)
)

select * from final
