-- Machines whose results were loaded from elsewhere by the opt-in external_results asset; absent
-- by default (optional_raw_table: an empty view then).
with source as (
    {{ optional_raw_table('external_hardware', {
        'hardware_id': 'varchar', 'hardware_class': 'varchar', 'cpu_model': 'varchar', 'cpu_simd': 'varchar',
        'usable_cores': 'bigint', 'physical_cores': 'bigint', 'memory_total_bytes': 'bigint', 'gpu_name': 'varchar',
        'gpu_count': 'bigint', 'gpu_memory_bytes': 'bigint', 'bandwidth_gb_per_s': 'double',
        'bandwidth_threads': 'bigint', 'bandwidth_all_cores_gb_per_s': 'double', 'bandwidth_1t_gb_per_s': 'double',
        'bandwidth_method': 'varchar', 'probed_at': 'varchar', 'measured_on': 'varchar', 'measured_date': 'varchar',
    }) }}
),

renamed as (
    select
        hardware_id,
        hardware_class,
        cpu_model,
        cpu_simd,
        usable_cores,
        physical_cores,
        memory_total_bytes,
        memory_total_bytes / 2^30 as memory_gib,
        gpu_name,
        coalesce(gpu_count, 0) as gpu_count,
        gpu_memory_bytes,
        bandwidth_gb_per_s,
        bandwidth_threads,
        bandwidth_all_cores_gb_per_s,
        bandwidth_1t_gb_per_s,
        bandwidth_method,
        cast(probed_at as timestamp) as probed_at,
        measured_on,     -- the machine, as labelled by the results file
        measured_date,
    from source
)

select * from renamed
