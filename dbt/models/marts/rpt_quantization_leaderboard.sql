with scored as (
    select * from {{ ref('int_variants_scored') }}
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
        round(cost_per_million_tokens_usd, 6) as cost_per_million_tokens_usd,
        cost_price_id,
        peak_rss_bytes,
        kld_mean,
        perplexity,
        is_baseline,
        identical_to,
        ladder_position,
    from scored
)

select * from final
order by model, ladder_position
