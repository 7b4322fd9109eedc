{# The machines speed_runs, memory_probe and hardware_profile ran on (this pipeline's own; results
   measured elsewhere are in raw.external_hardware). optional_source: columns added later (class,
   configured price) read as null on an older table, and a warehouse without the table builds. #}
with source as (
    {{ optional_source('raw_speed', 'hardware', {
        'hardware_id': 'varchar', 'hardware_class': 'varchar', 'hardware_class_source': 'varchar',
        'price_usd_per_hour': 'double', 'price_source': 'varchar',
        'cpu_model': 'varchar', 'cpu_simd': 'varchar', 'logical_cores': 'bigint', 'usable_cores': 'bigint',
        'physical_cores': 'bigint', 'memory_total_bytes': 'bigint', 'gpu_name': 'varchar', 'gpu_count': 'bigint',
        'gpu_memory_bytes': 'bigint', 'gpu_driver': 'varchar', 'os': 'varchar', 'machine': 'varchar',
        'bandwidth_gb_per_s': 'double', 'bandwidth_threads': 'bigint', 'bandwidth_all_cores_gb_per_s': 'double',
        'bandwidth_1t_gb_per_s': 'double', 'bandwidth_array_bytes': 'bigint', 'bandwidth_method': 'varchar',
        'probed_at': 'varchar', 'profiled_at': 'varchar',
    }) }}
),

renamed as (
    select
        hardware_id,
        hardware_class,
        hardware_class_source,
        price_usd_per_hour,
        price_source,
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
        cast(coalesce(profiled_at, probed_at) as timestamp) as profiled_at,
    from source
)

select * from renamed
