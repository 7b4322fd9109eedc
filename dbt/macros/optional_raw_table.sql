{#
    optional_relation() for a raw table that is not a declared source: the GPU tables written by
    scripts/gpu/load_results.py (raw.gpu_memory, raw.gpu_perplexity, raw.gpu_benchmark_scores, ...).
    They are not sources on purpose: dagster-dbt would turn each source into an upstream asset
    that no Dagster asset materializes (the loader is a script run after a device session).
#}
{% macro optional_raw_table(identifier, columns_with_types) -%}
    {%- set declared = api.Relation.create(database=target.database, schema='raw', identifier=identifier) -%}
    {{- optional_relation(declared, columns_with_types) -}}
{%- endmacro %}
