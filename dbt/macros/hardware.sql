{#
    The machine description raw.hardware (hardware_profile, this pipeline's machines) and
    raw.external_hardware (external_results, machines measured elsewhere) share. One list, so the two
    staging views, and dim_hardware's union of them, cannot drift apart.

    hardware_types(own): the shared columns and their types, then the table's own, for
    optional_source() / optional_raw_table().
    hardware_columns(): the shared columns as a select list, each followed by a comma: memory also in
    GiB, an unrecorded GPU count as 0, probed_at as a timestamp.
#}
{% macro hardware_types(own_columns_with_types) -%}
    {%- set merged = {
        'hardware_id': 'varchar', 'hardware_class': 'varchar', 'cpu_model': 'varchar', 'cpu_simd': 'varchar',
        'usable_cores': 'bigint', 'physical_cores': 'bigint', 'memory_total_bytes': 'bigint', 'gpu_name': 'varchar',
        'gpu_count': 'bigint', 'gpu_memory_bytes': 'bigint', 'bandwidth_gb_per_s': 'double',
        'bandwidth_threads': 'bigint', 'bandwidth_all_cores_gb_per_s': 'double', 'bandwidth_1t_gb_per_s': 'double',
        'bandwidth_method': 'varchar', 'probed_at': 'varchar',
    } -%}
    {%- do merged.update(own_columns_with_types) -%}
    {{ return(merged) }}
{%- endmacro %}


{% macro hardware_columns() -%}
    {%- for name in hardware_types({}) %}
        {% if name == 'memory_total_bytes' -%}
        memory_total_bytes,
        memory_total_bytes / 2^30 as memory_gib,
        {%- elif name == 'gpu_count' -%}
        coalesce(gpu_count, 0) as gpu_count,
        {%- elif name == 'probed_at' -%}
        cast(probed_at as timestamp) as probed_at,
        {%- else -%}
        {{ name }},
        {%- endif -%}
    {%- endfor %}
{%- endmacro %}
