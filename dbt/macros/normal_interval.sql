{# Normal-approximation 95% interval of a mean: mean ± z·sd/√n. Null below 2 values (no spread). #}
{% macro normal_low(mean, sd, n, z=1.959963984540054) -%}
    case when {{ n }} > 1 then round({{ mean }} - {{ z }} * {{ sd }} / sqrt({{ n }}), 6) end
{%- endmacro %}

{% macro normal_high(mean, sd, n, z=1.959963984540054) -%}
    case when {{ n }} > 1 then round({{ mean }} + {{ z }} * {{ sd }} / sqrt({{ n }}), 6) end
{%- endmacro %}
