with source as (
    select * from {{ source('raw_engines', 'backend_equivalence') }}
),

renamed as (
    select
        variant,
        model,
        quant_obtained,
        gguf_sha256,
        comparison,
        engine_a,
        engine_b,
        engine_build_a,
        engine_build_b,
        task,
        task_version,
        metric,
        unit,
        test,
        n_pairs,
        n_differing,
        mean_a,
        mean_b,
        median_a,
        median_b,
        mean_diff,
        median_diff,
        statistic,
        p_value,
        p_holm,
        significant_holm,
        reason as untested_reason,
        n_threads,
        n_ctx,
        seed,
        cast(run_at as timestamp) as run_at,
    from source
)

select * from renamed
