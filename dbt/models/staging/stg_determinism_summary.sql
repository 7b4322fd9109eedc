select
    variant,
    task,
    item_id,
    n_outputs,
    n_distinct,
    n_identical_to_reference,
    share_identical,
    identical_within_thread_count,
    identical_across_thread_counts,
    thread_counts,
    reps_per_thread_count,
    likely_cause,          -- prefix_cache_reuse | thread_count | run_to_run (null when identical)
    flag_not_deterministic,
    reason,
from {{ source('raw_studies', 'determinism_summary') }}
