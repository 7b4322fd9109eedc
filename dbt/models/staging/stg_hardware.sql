{# The machines speed_runs, memory_probe and hardware_profile ran on (this pipeline's own; results
   measured elsewhere are in raw.external_hardware). optional_source: columns added later (class,
   configured price) read as null on an older table, and a warehouse without the table builds. #}
with source as (
    {{ optional_source('raw_speed', 'hardware', hardware_types({
        'hardware_class_source': 'varchar', 'price_usd_per_hour': 'double', 'price_source': 'varchar',
        'logical_cores': 'bigint', 'gpu_driver': 'varchar', 'os': 'varchar', 'machine': 'varchar',
        'bandwidth_array_bytes': 'bigint', 'profiled_at': 'varchar',
    })) }}
),

renamed as (
    select
        {{- hardware_columns() }}
        hardware_class_source,
        price_usd_per_hour,
        price_source,
        logical_cores,
        gpu_driver,
        os,
        machine,
        bandwidth_array_bytes,
        cast(coalesce(profiled_at, probed_at) as timestamp) as profiled_at,
    from source
)

select * from renamed
