-- One row per variant x generation task x metric at temperature 0.7: between-repetition CV, the
-- repetitions needed for the stated precision, and (per model, over its rungs) between-repetition vs
-- between-rung variance with Levene's test of equal spread between rungs.
with by_rung as (
    select * from {{ ref('stg_sampling_variance_by_rung') }}
),

variants as (
    select * from {{ ref('dim_model_variants') }}
),

across as (
    select * from {{ ref('stg_sampling_variance_across_rungs') }}
)

select
    by_rung.variant,
    variants.model,
    variants.quant_requested,
    by_rung.task,
    by_rung.metric,
    by_rung.n_items,
    by_rung.reps,
    by_rung.mean,
    by_rung.mean_cv,
    by_rung.within_item_sd,
    by_rung.rel_precision,
    by_rung.reps_needed,
    across.n_rungs,
    across.within_rep_variance,
    across.between_rung_variance,
    across.between_to_within_ratio,
    across.levene_statistic,
    across.levene_p,
    across.levene_p < 0.05 as spread_differs_between_rungs,
    coalesce(by_rung.null_reason, across.null_reason) as null_reason,
from by_rung
left join variants using (variant)
left join across
    on across.model = variants.model
    and across.task = by_rung.task
    and across.metric = by_rung.metric
