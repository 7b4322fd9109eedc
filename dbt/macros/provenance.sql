{#
    The provenance every per-variant result row carries (lib/gguf/rungs.py provenance(); its types are
    lib/core/schemas.py PROVENANCE): which file was run (variant, model, quant requested and obtained, the GGUF's sha256) and how (engine, its
    build, the settings, when). One list for every staging model that reads such a table, so a
    setting added to the Python side is added here once.

    provenance_types(): the columns and their types, for optional_source()'s declaration (a table
    written before a setting existed reads it as null).
    provenance_columns(): the same columns as a select list, run_at as a timestamp.
#}
{% macro provenance_types() -%}
    {{ return({
        'variant': 'varchar', 'model': 'varchar', 'quant_requested': 'varchar', 'quant_obtained': 'varchar',
        'gguf_sha256': 'varchar', 'engine': 'varchar', 'engine_build': 'varchar', 'n_threads': 'bigint',
        'n_ctx': 'bigint', 'seed': 'bigint', 'n_gpu_layers': 'bigint', 'use_mmap': 'boolean',
        'extra_buffers': 'boolean', 'omp_wait_policy': 'varchar', 'run_at': 'varchar',
    }) }}
{%- endmacro %}


{# optional_source() columns: the provenance first, then the table's own (a dict, in select order). #}
{% macro with_provenance(columns_with_types) -%}
    {%- set merged = provenance_types() -%}
    {%- do merged.update(columns_with_types) -%}
    {{ return(merged) }}
{%- endmacro %}


{% macro provenance_columns() -%}
    {%- for name in provenance_types() %}
        {% if name == 'run_at' %}cast(run_at as timestamp) as run_at{% else %}{{ name }}{% endif %},
    {%- endfor %}
{%- endmacro %}
