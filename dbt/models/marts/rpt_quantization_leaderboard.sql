{# This machine's figures only: speed and cost come from int_variant_measurements_joined, which
   reads this machine's measurements alone (results from elsewhere: rpt_leaderboard_by_hardware). #}
with scored as (
    select * from {{ ref('int_variants_scored') }}
),

measured as (
    select
        variant,
        speed_hardware_id,
        speed_hardware_class,
        decode_ci_low_tok_per_s,
        decode_ci_high_tok_per_s,
        speed_flag,
        cost_per_million_tokens_ci_low_usd,
        cost_per_million_tokens_ci_high_usd,
        cost_null_reason,
    from {{ ref('int_variant_measurements_joined') }}
),

final as (
    select
        model,
        quant_requested as quant,
        quant_obtained,
        variant,
        round(size_bytes / 1e9, 3) as size_gb,
        pooled_rescored_accuracy as accuracy,
        pooled_rescored_accuracy_ci_low as accuracy_ci_low,
        pooled_rescored_accuracy_ci_high as accuracy_ci_high,
        n_benchmark_items,
        benchmark_delta_pp,
        generation_delta_pct,
        case when is_baseline then 'baseline' else quality_tier end as quality_tier,
        missing_side as tier_missing_side,
        round(decode_tok_per_s, 2) as decode_tok_per_s,
        round(measured.decode_ci_low_tok_per_s, 2) as decode_ci_low_tok_per_s,
        round(measured.decode_ci_high_tok_per_s, 2) as decode_ci_high_tok_per_s,
        measured.speed_flag,
        measured.speed_hardware_class as hardware_class,
        round(cost_per_million_tokens_usd, 6) as cost_per_million_tokens_usd,
        round(measured.cost_per_million_tokens_ci_low_usd, 6) as cost_per_million_tokens_ci_low_usd,
        round(measured.cost_per_million_tokens_ci_high_usd, 6) as cost_per_million_tokens_ci_high_usd,
        measured.cost_null_reason,
        cost_price_id,
        peak_rss_bytes,
        kld_mean,
        perplexity,
        is_baseline,
        identical_to,
        ladder_position,
    from scored
    left join measured using (variant)
)

select * from final
order by model, ladder_position
