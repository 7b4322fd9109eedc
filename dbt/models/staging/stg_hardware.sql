with source as (
    select * from {{ source('raw_speed', 'hardware') }}
),

renamed as (
    select
        hardware_id,
        cpu_model,
        cpu_simd,
        logical_cores,
        usable_cores,
        physical_cores,
        memory_total_bytes,
        memory_total_bytes / 2^30 as memory_gib,
        gpu_name,
        coalesce(gpu_count, 0) as gpu_count,
        gpu_memory_bytes,
        gpu_driver,
        os,
        machine,
        bandwidth_gb_per_s,
        bandwidth_threads,
        bandwidth_all_cores_gb_per_s,
        bandwidth_1t_gb_per_s,
        bandwidth_array_bytes,
        bandwidth_method,
        cast(probed_at as timestamp) as probed_at,
    from source
)

select * from renamed
