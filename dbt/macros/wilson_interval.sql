{# Wilson score interval for a proportion (z = 1.959964: 95%). Bounds are null when n = 0. #}
{% macro wilson_low(successes, n, z=1.959963984540054) -%}
    case when {{ n }} > 0 then round(
        ( ({{ successes }}::double / {{ n }}) + {{ z }}^2 / (2 * {{ n }})
          - {{ z }} * sqrt( ({{ successes }}::double / {{ n }}) * (1 - {{ successes }}::double / {{ n }}) / {{ n }}
                            + {{ z }}^2 / (4 * {{ n }}::double * {{ n }}) ) )
        / (1 + {{ z }}^2 / {{ n }}), 6)
    end
{%- endmacro %}

{% macro wilson_high(successes, n, z=1.959963984540054) -%}
    case when {{ n }} > 0 then round(
        ( ({{ successes }}::double / {{ n }}) + {{ z }}^2 / (2 * {{ n }})
          + {{ z }} * sqrt( ({{ successes }}::double / {{ n }}) * (1 - {{ successes }}::double / {{ n }}) / {{ n }}
                            + {{ z }}^2 / (4 * {{ n }}::double * {{ n }}) ) )
        / (1 + {{ z }}^2 / {{ n }}), 6)
    end
{%- endmacro %}
