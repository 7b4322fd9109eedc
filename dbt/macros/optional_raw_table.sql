{#
    optional_relation() for a raw table that is not a declared source: the raw.external_* tables of
    the opt-in external_results asset (results measured on other machines). They are not sources on
    purpose: the pipeline skips the dbt descendants of a source whose table is absent, and these
    tables are absent by default, while rpt_leaderboard_by_hardware and dim_hardware must still build.
#}
{% macro optional_raw_table(identifier, columns_with_types) -%}
    {%- set declared = api.Relation.create(database=target.database, schema='raw', identifier=identifier) -%}
    {{- optional_relation(declared, columns_with_types) -}}
{%- endmacro %}
