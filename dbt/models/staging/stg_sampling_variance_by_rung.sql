select
    variant,
    task,
    metric,
    n_items,
    reps,
    mean,
    mean_cv,
    n_items_cv_defined,
    within_item_sd,
    rel_precision,
    reps_needed,
    null_reason,
from {{ source('raw_studies', 'sampling_variance_by_rung') }}
