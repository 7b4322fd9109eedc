-- pass@1 per rung: greedy completion (one sample per item), executed against the item's asserts.
with executions as (
    select * from {{ ref('stg_code_execution') }}
),

variants as (
    select * from {{ ref('dim_model_variants') }}
),

per_variant as (
    select
        variant,
        task,
        decoding,
        any_value(task_version) as task_version,
        count(*) as n_samples,
        count(passed) as n,
        count(*) filter (where passed) as passes,
        count(*) - count(passed) as n_not_executed,
        count(*) filter (where failure_kind = 'syntax') as n_syntax,
        count(*) filter (where failure_kind = 'assertion') as n_assertion,
        count(*) filter (where failure_kind = 'exception') as n_exception,
        count(*) filter (where failure_kind = 'timeout') as n_timeout,
        count(*) filter (where failure_kind = 'resource_limit') as n_resource_limit,
        count(*) filter (where failure_kind in ('network_blocked', 'process_blocked', 'filesystem_blocked')) as n_blocked,
        count(*) filter (where failure_kind = 'no_code') as n_no_code,
        sum(tests_passed) as tests_passed,
        sum(tests_total) filter (where passed is not null) as tests_total,
        any_value(isolation) as isolation,
        any_value(sandbox_python) as sandbox_python,
    from executions
    group by variant, task, decoding
),

scored as (
    select
        per_variant.*,
        case when n > 0 then round(passes::double / n, 6) end as pass_at_1,
        {{ wilson_low('passes', 'n') }} as pass_at_1_ci_low,
        {{ wilson_high('passes', 'n') }} as pass_at_1_ci_high,
        case when n > 0 then round(tests_passed::double / tests_total, 6) end as test_pass_rate,
        case when n = 0 then 'no executed sample' end as null_reason,
    from per_variant
),

final as (
    select
        scored.variant,
        variants.model,
        variants.quant_requested,
        variants.quant_obtained,
        variants.is_baseline,
        variants.baseline_variant,
        scored.task,
        scored.task_version,
        scored.decoding,
        scored.n_samples,
        scored.n,
        scored.passes,
        scored.pass_at_1,
        scored.pass_at_1_ci_low,
        scored.pass_at_1_ci_high,
        'wilson' as interval_method,
        round(100 * (scored.pass_at_1 - baseline.pass_at_1), 4) as delta_vs_baseline_pp,
        scored.test_pass_rate,
        scored.n_not_executed,
        scored.n_syntax,
        scored.n_assertion,
        scored.n_exception,
        scored.n_timeout,
        scored.n_resource_limit,
        scored.n_blocked,
        scored.n_no_code,
        scored.isolation,
        scored.sandbox_python,
        scored.null_reason,
    from scored
    left join variants using (variant)
    left join scored as baseline
        on baseline.variant = variants.baseline_variant
        and baseline.task = scored.task
        and baseline.decoding = scored.decoding
)

select * from final
