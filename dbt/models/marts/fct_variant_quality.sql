with accuracy as (
    select * from {{ ref('fct_variant_accuracy') }}
),

generation as (
    select * from {{ ref('int_generation_scores_aggregated') }}
),

variants as (
    select * from {{ ref('dim_model_variants') }}
),

measured as (
    select
        variant,
        task,
        'benchmark' as task_kind,
        scorer,
        n_items,
        rescored_accuracy,
        rescored_accuracy_ci_low,
        rescored_accuracy_ci_high,
        null::double as generation_key_metric,
    from accuracy

    union all

    select
        variant,
        task,
        'generation' as task_kind,
        'key_metric' as scorer,
        n_samples as n_items,
        null as rescored_accuracy,
        null as rescored_accuracy_ci_low,
        null as rescored_accuracy_ci_high,
        generation_key_metric,
    from generation
),

with_baseline as (
    select
        measured.*,
        variants.model,
        variants.quant_requested,
        variants.baseline_variant,
        variants.is_baseline,
        baseline.rescored_accuracy as baseline_rescored_accuracy,
        baseline.generation_key_metric as baseline_generation_key_metric,
    from measured
    inner join variants using (variant)
    left join measured as baseline
        on baseline.variant = variants.baseline_variant
        and baseline.task = measured.task
        and baseline.scorer = measured.scorer
),

final as (
    select
        variant,
        model,
        quant_requested,
        task,
        task_kind,
        scorer,
        n_items,
        rescored_accuracy,
        rescored_accuracy_ci_low,
        rescored_accuracy_ci_high,
        generation_key_metric,
        is_baseline,
        baseline_variant,
        baseline_rescored_accuracy,
        baseline_generation_key_metric,
        -- Rounded as lib.tiers does: 0.57 - 0.60 must read as exactly -3 pp at a tier edge.
        round((rescored_accuracy - baseline_rescored_accuracy) * 100, 6) as accuracy_delta_pp,
        round((rescored_accuracy - baseline_rescored_accuracy) / nullif(baseline_rescored_accuracy, 0) * 100, 6)
            as accuracy_delta_pct,
        round((generation_key_metric - baseline_generation_key_metric)
            / nullif(baseline_generation_key_metric, 0) * 100, 6) as generation_delta_pct,
    from with_baseline
)

select * from final
