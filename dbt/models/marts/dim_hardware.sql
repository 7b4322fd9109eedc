with hardware as (
    select * from {{ ref('stg_hardware') }}
),

measured as (
    select
        hardware_id,
        count(distinct variant) as n_variants_measured,
        max(run_at) as last_speed_run_at,
    from {{ ref('stg_speed_summary') }}
    group by hardware_id
),

final as (
    select
        hardware.hardware_id,
        hardware.cpu_model,
        hardware.cpu_simd,
        hardware.usable_cores,
        hardware.physical_cores,
        hardware.memory_gib,
        hardware.gpu_name,
        hardware.gpu_count,
        hardware.gpu_memory_bytes,
        hardware.bandwidth_gb_per_s,
        hardware.bandwidth_threads,
        hardware.bandwidth_all_cores_gb_per_s,
        hardware.bandwidth_1t_gb_per_s,
        hardware.bandwidth_method,
        hardware.probed_at,
        coalesce(measured.n_variants_measured, 0) as n_variants_measured,
        measured.last_speed_run_at,
    from hardware
    left join measured using (hardware_id)
)

select * from final
