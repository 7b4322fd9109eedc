{# Every machine a figure in the warehouse was measured on: this pipeline's own (origin 'this
   machine'; is_this_machine marks the one of the latest hardware_profile) and, when the user opted
   in to external_results, machines whose results were loaded from elsewhere (origin 'external',
   with measured_on / measured_date). #}
with hardware as (
    select * from {{ ref('stg_hardware') }}
),

external_hardware as (
    select * from {{ ref('stg_external_hardware') }}
),

external_speed as (
    select * from {{ ref('stg_external_speed_summary') }}
),

this_machine as (
    select hardware_id from hardware
    qualify row_number() over (order by profiled_at desc nulls last, hardware_id) = 1
),

measured as (
    select
        hardware_id,
        count(distinct variant) as n_variants_measured,
        max(run_at) as last_speed_run_at,
    from {{ ref('stg_speed_summary') }}
    group by hardware_id
),

external_measured as (
    select
        hardware_id,
        count(distinct variant) as n_variants_measured,
        max(run_at) as last_speed_run_at,
    from external_speed
    group by hardware_id
),

own as (
    select
        hardware.hardware_id,
        'this machine' as origin,
        hardware.hardware_id in (select hardware_id from this_machine) as is_this_machine,
        hardware.hardware_class,
        hardware.hardware_class_source,
        hardware.price_usd_per_hour as configured_usd_per_hour,
        hardware.price_source as configured_price_source,
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
        hardware.profiled_at,
        null::varchar as measured_on,
        null::varchar as measured_date,
        coalesce(measured.n_variants_measured, 0) as n_variants_measured,
        measured.last_speed_run_at,
    from hardware
    left join measured using (hardware_id)
),

external as (
    select
        external_hardware.hardware_id,
        'external' as origin,
        false as is_this_machine,
        external_hardware.hardware_class,
        'derived from the device profile' as hardware_class_source,
        null::double as configured_usd_per_hour,
        null::varchar as configured_price_source,
        external_hardware.cpu_model,
        external_hardware.cpu_simd,
        external_hardware.usable_cores,
        external_hardware.physical_cores,
        external_hardware.memory_gib,
        external_hardware.gpu_name,
        external_hardware.gpu_count,
        external_hardware.gpu_memory_bytes,
        external_hardware.bandwidth_gb_per_s,
        external_hardware.bandwidth_threads,
        external_hardware.bandwidth_all_cores_gb_per_s,
        external_hardware.bandwidth_1t_gb_per_s,
        external_hardware.bandwidth_method,
        external_hardware.probed_at,
        external_hardware.probed_at as profiled_at,
        external_hardware.measured_on,
        external_hardware.measured_date,
        coalesce(external_measured.n_variants_measured, 0) as n_variants_measured,
        external_measured.last_speed_run_at,
    from external_hardware
    left join external_measured using (hardware_id)
),

final as (
    select * from own
    union all by name
    select * from external
)

select * from final
