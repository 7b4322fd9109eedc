{#
    One row per variant × chain × task × scorer: the rung's own score, and its change against the
    model's baseline measured only on the items both were scored on (the paired rows of
    variant_statistics for benchmarks, built-in and lm-eval tasks alike; int_generation_pairs for
    generation). Where no such pairing exists the delta is null and not_comparable_reason says why:
    the tiers read these deltas, so a rung scored on other items than its baseline never gets a
    silent tier.
#}
with variants as (
    select * from {{ ref('dim_model_variants') }}
),

comparisons as (
    select * from {{ ref('stg_variant_comparisons') }}
    where comparison = 'vs_baseline'
),

measured as (
    -- The benchmark chain's primary metric where it is a per-item 0/1 (not MC2's probability mass);
    -- TR125's generate_rescore scorer reads as its rescored accuracy.
    select
        variant, 'standard' as chain, task, scorer, n as n_items, value as accuracy, ci_low as accuracy_ci_low,
        ci_high as accuracy_ci_high,
    from {{ ref('fct_variant_benchmark_scores') }}
    where is_primary and successes is not null

    union all

    -- Any lm-eval task (lmeval_samples): each metric that is 0/1 on every item, under the scorer name
    -- variant_statistics gives its paired comparison ("acc,none": metric, filter; defs/analysis/assets.py).
    select
        variant, 'lmeval' as chain, task, metric || ',' || filter_name as scorer, n, value, ci_low, ci_high,
    from {{ ref('fct_lmeval_task_scores') }}
    where is_binary
),

benchmark as (
    select
        measured.variant,
        measured.chain,
        measured.task,
        'benchmark' as task_kind,
        measured.scorer,
        measured.n_items,
        measured.accuracy as rescored_accuracy,
        measured.accuracy_ci_low as rescored_accuracy_ci_low,
        measured.accuracy_ci_high as rescored_accuracy_ci_high,
        null::double as generation_key_metric,
        case when variants.is_baseline then measured.n_items
             when comparisons.comparable then comparisons.n_items end as n_shared_items,
        case when variants.is_baseline then measured.accuracy
             when comparisons.comparable then comparisons.reference_accuracy end as baseline_rescored_accuracy,
        null::double as baseline_generation_key_metric,
        case when variants.is_baseline then 0.0
             when comparisons.comparable then round(comparisons.accuracy_delta_pp, 6) end as accuracy_delta_pp,
        null::double as generation_delta_pct,
        case
            when variants.is_baseline then null
            when comparisons.variant is null then 'no paired comparison with the baseline yet: materialize variant_statistics'
            when not comparisons.comparable then comparisons.not_comparable_reason
        end as not_comparable_reason,
    from measured
    inner join variants using (variant)
    left join comparisons
        on comparisons.variant = measured.variant
        and comparisons.chain = measured.chain
        and comparisons.task = measured.task
        and comparisons.scorer = measured.scorer
),

generation as (
    select
        pairs.variant,
        'generation' as chain,
        pairs.task,
        'generation' as task_kind,
        'key_metric' as scorer,
        aggregated.n_samples as n_items,
        null::double as rescored_accuracy,
        null::double as rescored_accuracy_ci_low,
        null::double as rescored_accuracy_ci_high,
        aggregated.generation_key_metric,
        pairs.n_shared_items,
        null::double as baseline_rescored_accuracy,
        pairs.baseline_key_metric as baseline_generation_key_metric,
        null::double as accuracy_delta_pp,
        case when pairs.n_shared_items >= {{ var('min_shared_items') }}
             then round((pairs.key_metric - pairs.baseline_key_metric) / nullif(pairs.baseline_key_metric, 0) * 100, 6)
        end as generation_delta_pct,
        case when pairs.n_shared_items < {{ var('min_shared_items') }}
             then printf('not comparable: %d items with every key-metric component on both sides < %d',
                         pairs.n_shared_items, {{ var('min_shared_items') }})
        end as not_comparable_reason,
    from {{ ref('int_generation_pairs') }} as pairs
    left join {{ ref('int_generation_scores_aggregated') }} as aggregated using (variant, task)
),

final as (
    select
        measured.variant,
        variants.model,
        variants.quant_requested,
        measured.chain,
        measured.task,
        measured.task_kind,
        measured.scorer,
        measured.n_items,
        measured.n_shared_items,
        measured.rescored_accuracy,
        measured.rescored_accuracy_ci_low,
        measured.rescored_accuracy_ci_high,
        measured.generation_key_metric,
        variants.is_baseline,
        variants.baseline_variant,
        measured.baseline_rescored_accuracy,
        measured.baseline_generation_key_metric,
        measured.accuracy_delta_pp,
        round(measured.accuracy_delta_pp / nullif(measured.baseline_rescored_accuracy * 100, 0) * 100, 6)
            as accuracy_delta_pct,
        measured.generation_delta_pct,
        measured.not_comparable_reason,
        -- The row of its task that enters a variant's pooled accuracy: one per task, so a task scored
        -- several ways (loglikelihood and letter logits; acc and acc_norm) counts its items once.
        -- Preference: the built-in chain, then lm-eval's standard method (loglikelihood), then the rest.
        row_number() over (
            partition by measured.variant, measured.task_kind, measured.task
            order by case measured.chain when 'standard' then 1 when 'lmeval' then 2 else 3 end,
                     case measured.scorer when 'loglikelihood' then 1 when 'generate' then 2
                                          when 'letter_logits' then 3 when 'generate_rescore' then 4 else 5 end,
                     measured.scorer
        ) = 1 as is_pooled,
    from (select * from benchmark union all by name select * from generation) as measured
    inner join variants using (variant)
)

select * from final
