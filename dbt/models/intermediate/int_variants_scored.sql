{# Everything the decision marts compare, on one row per variant. #}
with variants as (
    select * from {{ ref('dim_model_variants') }}
),

quality as (
    select * from {{ ref('fct_variant_quality') }}
),

tiers as (
    select * from {{ ref('fct_quality_tiers') }}
),

measurements as (
    select * from {{ ref('int_variant_measurements_joined') }}
),

benchmark as (
    select
        variant,
        count(*) as n_benchmark_tasks,
        sum(n_items) as n_benchmark_items,
        -- Correct counts back from accuracy × items: the interval below pools items over tasks.
        sum(round(rescored_accuracy * n_items)) as n_rescored_correct,
        avg(rescored_accuracy) as mean_rescored_accuracy,
    from quality
    where task_kind = 'benchmark' and is_pooled  -- each task's items once, however many scorers ran
    group by variant
),

generation as (
    select variant, avg(generation_key_metric) as generation_key_metric,
    from quality
    where task_kind = 'generation'
    group by variant
),

final as (
    select
        variants.variant,
        variants.model,
        variants.quant_requested,
        variants.quant_obtained,
        variants.rung_label,
        variants.ladder_position,
        variants.is_baseline,
        variants.baseline_variant,
        variants.identical_to,
        variants.is_duplicate_rung,
        variants.size_bytes,
        variants.n_parameters,
        variants.bits_per_weight,
        benchmark.n_benchmark_tasks,
        benchmark.n_benchmark_items,
        benchmark.mean_rescored_accuracy,
        benchmark.n_rescored_correct / benchmark.n_benchmark_items as pooled_rescored_accuracy,
        {{ wilson_low('benchmark.n_rescored_correct', 'benchmark.n_benchmark_items') }} as pooled_rescored_accuracy_ci_low,
        {{ wilson_high('benchmark.n_rescored_correct', 'benchmark.n_benchmark_items') }} as pooled_rescored_accuracy_ci_high,
        generation.generation_key_metric,
        tiers.benchmark_delta_pp,
        tiers.generation_delta_pct,
        tiers.quality_tier,
        tiers.quality_tier_rank,
        tiers.missing_side,
        tiers.tier_reason,
        coalesce(tiers.variant_verdict, case when variants.is_baseline then 'baseline' else 'not comparable' end)
            as variant_verdict,
        coalesce(tiers.verdict_evidence, case when variants.is_baseline then 'the baseline'
                                              else 'not compared with the baseline yet' end) as verdict_evidence,
        tiers.n_verdict_items,
        tiers.items_needed,
        measurements.decode_tok_per_s,
        measurements.decode_ci_low_tok_per_s,
        measurements.decode_ci_high_tok_per_s,
        baseline_measurements.decode_tok_per_s as baseline_decode_tok_per_s,
        measurements.speed_flag,
        measurements.speed_settings_differ,
        measurements.cost_null_reason,
        measurements.prompt_tok_per_s,
        measurements.peak_rss_bytes,
        measurements.perplexity,
        measurements.kld_mean,
        measurements.cost_per_million_tokens_usd,
        measurements.cost_price_id,
    from variants
    left join benchmark using (variant)
    left join generation using (variant)
    left join tiers using (variant)
    left join measurements using (variant)
    left join measurements as baseline_measurements on baseline_measurements.variant = variants.baseline_variant
)

select * from final
