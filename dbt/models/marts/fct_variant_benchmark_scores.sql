{#- Binary metrics: metric name -> the 0/1 column it averages. Instruction-level IFEval metrics count
    instructions (several per prompt); MC2 is a mean of probability masses (not 0/1). -#}
{%- set binary_metrics = {
    'acc': 'acc', 'acc_norm': 'acc_norm', 'acc_bytes': 'acc_bytes',
    'raw_accuracy': 'raw_correct', 'rescored_accuracy': 'rescored_correct',
    'exact_match_strict': 'exact_match_strict', 'exact_match_flexible': 'exact_match_flexible',
    'prompt_level_strict_acc': 'prompt_level_strict', 'prompt_level_loose_acc': 'prompt_level_loose',
} -%}
{%- set instruction_metrics = {
    'inst_level_strict_acc': 'inst_strict_followed', 'inst_level_loose_acc': 'inst_loose_followed',
} -%}

with scores as (
    select * from {{ ref('stg_standard_benchmark_scores') }}
),

inventory as (
    select * from {{ ref('stg_gguf_inventory') }}
),

per_scorer as (
    select
        variant,
        task,
        scorer,
        any_value(task_version) as task_version,
        any_value(primary_metric) as primary_metric,
        avg(chance_rate) as chance_rate,
    from scores
    group by variant, task, scorer
),

per_metric as (
    {%- for metric, column in binary_metrics.items() %}
    select
        variant, task, scorer,
        '{{ metric }}' as metric,
        count(*) as n,
        sum({{ column }}::int) as successes,
        null::double as mean_value,
        null::double as sd_value,
    from scores
    where {{ column }} is not null
    group by variant, task, scorer

    union all
    {%- endfor %}
    {%- for metric, column in instruction_metrics.items() %}
    select
        variant, task, scorer,
        '{{ metric }}' as metric,
        sum(n_instructions) as n,
        sum({{ column }}) as successes,
        null::double as mean_value,
        null::double as sd_value,
    from scores
    where {{ column }} is not null
    group by variant, task, scorer

    union all
    {%- endfor %}
    select
        variant, task, scorer,
        'mc2' as metric,
        count(*) as n,
        null::bigint as successes,
        avg(mc2) as mean_value,
        stddev_samp(mc2) as sd_value,
    from scores
    where mc2 is not null
    group by variant, task, scorer
),

with_intervals as (
    select
        per_metric.*,
        coalesce(successes::double / n, mean_value) as value,
        case when successes is not null then {{ wilson_low('successes', 'n') }}
             else {{ normal_low('mean_value', 'sd_value', 'n') }} end as ci_low,
        case when successes is not null then {{ wilson_high('successes', 'n') }}
             else {{ normal_high('mean_value', 'sd_value', 'n') }} end as ci_high,
        case when successes is not null then 'wilson' else 'normal' end as interval_method,
    from per_metric
),

final as (
    select
        with_intervals.variant,
        inventory.model,
        inventory.quant_requested,
        inventory.quant_obtained,
        inventory.gguf_sha256,
        inventory.size_bytes,
        inventory.bits_per_weight,
        with_intervals.task,
        per_scorer.task_version,
        with_intervals.scorer,
        with_intervals.metric,
        with_intervals.metric = per_scorer.primary_metric as is_primary,
        with_intervals.n,
        with_intervals.successes,
        with_intervals.value,
        with_intervals.ci_low,
        with_intervals.ci_high,
        with_intervals.interval_method,
        per_scorer.chance_rate,
        per_scorer.chance_rate between with_intervals.ci_low and with_intervals.ci_high as at_chance,
    from with_intervals
    inner join per_scorer using (variant, task, scorer)
    left join inventory using (variant)
)

select * from final
