-- One row per variant, lm-eval task, filter and metric: the per-item mean with its 95% interval
-- beside lm-eval's own aggregate of the same items.
with scores as (
    select * from {{ ref('stg_lmeval_scores') }}
),

lmeval as (
    select variant, task, filter_name, metric, aggregation, higher_is_better, lmeval_value, lmeval_stderr,
    from {{ ref('stg_lmeval_metrics') }}
),

inventory as (
    select * from {{ ref('stg_gguf_inventory') }}
),

per_metric as (
    select
        variant,
        task,
        filter_name,
        metric,
        any_value(task_version) as task_version,
        any_value(subset) as subset,
        any_value(n_fewshot) as n_fewshot,
        bool_and(is_binary) as is_binary,
        count(*) as n,
        count(value) as n_numeric,
        sum(correct::int) as successes,
        avg(value) as mean_value,
        stddev_samp(value) as sd_value,
    from scores
    group by variant, task, filter_name, metric
),

with_intervals as (
    select
        per_metric.*,
        lmeval.aggregation,
        lmeval.higher_is_better,
        lmeval.lmeval_value,
        lmeval.lmeval_stderr,
        case when n_numeric = n then mean_value end as value,
        case
            when is_binary then {{ wilson_low('successes', 'n') }}
            when n_numeric = n and lmeval.aggregation = 'mean' then {{ normal_low('mean_value', 'sd_value', 'n') }}
        end as ci_low,
        case
            when is_binary then {{ wilson_high('successes', 'n') }}
            when n_numeric = n and lmeval.aggregation = 'mean' then {{ normal_high('mean_value', 'sd_value', 'n') }}
        end as ci_high,
        case
            when is_binary then 'wilson'
            when n_numeric = n and lmeval.aggregation = 'mean' and n > 1 then 'normal'
        end as interval_method,
        case
            when is_binary then null
            when n_numeric < n then 'per-item values are not numbers (a corpus-level metric): lmeval_value is the score'
            when coalesce(lmeval.aggregation, '') != 'mean'
                then 'aggregation ' || coalesce(lmeval.aggregation, 'unknown') || ' is not a mean of per-item values'
            when n < 2 then 'one item: no spread to estimate'
        end as interval_null_reason,
    from per_metric
    left join lmeval using (variant, task, filter_name, metric)
)

select
    with_intervals.variant,
    inventory.model,
    inventory.quant_requested,
    inventory.quant_obtained,
    inventory.gguf_sha256,
    inventory.bits_per_weight,
    with_intervals.task,
    with_intervals.task_version,
    with_intervals.subset,
    with_intervals.n_fewshot,
    with_intervals.filter_name,
    with_intervals.metric,
    with_intervals.aggregation,
    with_intervals.higher_is_better,
    with_intervals.is_binary,
    with_intervals.n,
    with_intervals.successes,
    with_intervals.value,
    with_intervals.ci_low,
    with_intervals.ci_high,
    with_intervals.interval_method,
    with_intervals.interval_null_reason,
    with_intervals.lmeval_value,
    with_intervals.lmeval_stderr,
from with_intervals
left join inventory using (variant)
