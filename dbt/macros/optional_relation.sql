{#
    Select from a source table if the warehouse has it, else an empty select of the same shape.

    The minimal pipeline (inventory, benchmark samples and scores, catalog) leaves the speed,
    memory, perplexity, generation and cost tables unwritten; downstream marts still build and
    show those columns as null. Columns are cast to the declared types, and a declared column the
    table lacks reads as null with a warning, so a producer adding or renaming a column never
    breaks the marts silently or loudly.

    source() is called unconditionally: that is how dbt records the dependency at parse time.
#}
{% macro optional_source(source_name, table_name, columns_with_types) -%}
    {%- set declared = source(source_name, table_name) -%}
    {{- optional_relation(declared, columns_with_types) -}}
{%- endmacro %}


{% macro optional_relation(declared, columns_with_types) -%}
    {%- set relation = none -%}
    {%- set present = [] -%}
    {%- if execute -%}
        {%- set relation = adapter.get_relation(
            database=declared.database, schema=declared.schema, identifier=declared.identifier) -%}
    {%- endif -%}
    {%- if relation is not none -%}
        {%- for column in adapter.get_columns_in_relation(relation) -%}
            {%- do present.append(column.name | lower) -%}
        {%- endfor -%}
        {%- set missing = columns_with_types.keys() | reject('in', present) | list -%}
        {%- if missing -%}
            {%- do exceptions.warn(relation ~ ' has no column ' ~ missing | join(', ') ~ ': read as null') -%}
        {%- endif -%}
    {%- endif %}
    select
    {%- for name, data_type in columns_with_types.items() %}
        {% if name | lower in present %}{{ adapter.quote(name) }}{% else %}null{% endif %}::{{ data_type }} as {{ name }},
    {%- endfor %}
    {% if relation is not none -%}
    from {{ relation }}
    {%- else -%}
    where false
    {%- endif %}
{%- endmacro %}
