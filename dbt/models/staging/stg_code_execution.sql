with source as (
    select * from {{ source('raw_studies', 'code_execution') }}
),

renamed as (
    select
        variant,
        task,
        task_version,
        item_id,
        decoding,
        sample_key,
        code_source,          -- fenced | fenced_unclosed | raw | empty
        code_chars,
        passed,               -- null: not executed (null_reason says why)
        failure_kind,         -- null when passed
        blocked_by,           -- audit_hook | netns | uid | rlimit_cpu | rlimit_as | rlimit_fsize | rlimit_nproc | wall_clock
        detail,
        tests_total,
        tests_passed,
        wall_ms,
        exit_code,
        isolation,            -- the layers in force, comma-separated
        null_reason,
        sandbox_version,
        sandbox_python,
        sandbox_netns,
        sandbox_uid_drop,
        limit_wall_s,
        limit_cpu_s,
        limit_memory_bytes,
        limit_file_bytes,
        limit_nproc,
        audit_hook,
    from source
)

select * from renamed
