-- One row per variant: is greedy decoding on this rung byte-for-byte repeatable (same prompt,
-- repeated, and across thread counts)? Every greedy comparison in the other marts assumes it.
with verdicts as (
    select * from {{ ref('stg_determinism_summary') }} where item_id = '*'
),

prompts as (
    select variant, count(*) as n_prompts, count(*) filter (where not identical_across_thread_counts) as n_prompts_differing,
        count(*) filter (where not identical_within_thread_count) as n_prompts_differing_within_thread_count,
    from {{ ref('stg_determinism_summary') }}
    where item_id != '*'
    group by variant
),

variants as (
    select * from {{ ref('dim_model_variants') }}
)

select
    verdicts.variant,
    variants.model,
    variants.quant_requested,
    variants.is_baseline,
    prompts.n_prompts,
    verdicts.reps_per_thread_count,
    verdicts.thread_counts,
    verdicts.n_outputs,
    verdicts.n_identical_to_reference,
    verdicts.share_identical,
    prompts.n_prompts_differing,
    prompts.n_prompts_differing_within_thread_count,
    verdicts.flag_not_deterministic,
    verdicts.likely_cause,
    verdicts.reason,
from verdicts
left join prompts using (variant)
left join variants using (variant)
