-- TR125's generate-and-rescore scorer of the benchmark chain: the raw (exact letter) and rescored
-- (extracted letter) readings of the same generations.
with scores as (
    select * from {{ ref('stg_standard_benchmark_scores') }}
    where scorer = 'generate_rescore'
),

inventory as (
    select * from {{ ref('stg_gguf_inventory') }}
),

per_task as (
    select
        variant,
        task,
        any_value(task_version) as task_version,
        scorer,
        count(*) as n_items,
        sum(raw_correct::int) as n_raw_correct,
        sum(rescored_correct::int) as n_rescored_correct,
        avg(chance_rate) as chance_rate,
    from scores
    group by variant, task, scorer
),

final as (
    select
        per_task.variant,
        inventory.model,
        inventory.quant_requested,
        inventory.quant_obtained,
        inventory.gguf_sha256,
        inventory.size_bytes,
        inventory.bits_per_weight,
        per_task.task,
        per_task.task_version,
        per_task.scorer,
        per_task.n_items,
        per_task.n_raw_correct::double / per_task.n_items as raw_accuracy,
        {{ wilson_low('per_task.n_raw_correct', 'per_task.n_items') }} as raw_accuracy_ci_low,
        {{ wilson_high('per_task.n_raw_correct', 'per_task.n_items') }} as raw_accuracy_ci_high,
        per_task.n_rescored_correct::double / per_task.n_items as rescored_accuracy,
        {{ wilson_low('per_task.n_rescored_correct', 'per_task.n_items') }} as rescored_accuracy_ci_low,
        {{ wilson_high('per_task.n_rescored_correct', 'per_task.n_items') }} as rescored_accuracy_ci_high,
        per_task.chance_rate,
    from per_task
    left join inventory using (variant)
)

select * from final
