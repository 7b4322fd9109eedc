{#
    Cost of a million generated tokens per variant, per machine it was timed on, per price of that
    machine's hardware class (int_speed_priced: the formula and the matching, once). By default only
    this machine's speed (var all_hardware: true shows every machine this pipeline measured; results
    from elsewhere are never here). Saving against the model's baseline rung (dim_model_variants'
    rule) on the same machine at the same price.
#}
with priced as (
    select * from {{ ref('int_speed_priced') }}
    {% if not var('all_hardware', false) %}where is_this_machine{% endif %}
),

variants as (
    select * from {{ ref('dim_model_variants') }}
),

final as (
    select
        priced.variant,
        priced.model,
        variants.quant_requested,
        variants.quant_obtained,
        priced.hardware_id as speed_hardware_id,
        priced.hardware_class,
        priced.is_this_machine,
        priced.price_id,
        priced.price_origin,
        priced.priced_hardware,
        priced.priced_hardware_kind,
        priced.usd_per_hour,
        priced.price_source,
        priced.price_as_of,
        priced.decode_test as speed_test,
        priced.decode_tok_per_s as tg_tok_per_s,
        priced.decode_sd_tok_per_s as tg_sd_tok_per_s,
        priced.decode_ci_low_tok_per_s as tg_ci_low_tok_per_s,
        priced.decode_ci_high_tok_per_s as tg_ci_high_tok_per_s,
        priced.speed_flag,
        round(priced.cost_exact, 6) as cost_per_million_tokens_usd,
        round(priced.cost_ci_low_exact, 6) as cost_per_million_tokens_ci_low_usd,
        round(priced.cost_ci_high_exact, 6) as cost_per_million_tokens_ci_high_usd,
        priced.cost_null_reason,
        priced.cost_interval_null_reason,
        variants.baseline_variant,
        round(base.cost_exact, 6) as baseline_cost_per_million_tokens_usd,
        round(base.cost_exact - priced.cost_exact, 6) as savings_usd_per_million_tokens,
        round((base.cost_exact - priced.cost_exact) / nullif(base.cost_exact, 0) * 100, 4) as savings_vs_baseline_pct,
    from priced
    left join variants using (variant)
    left join priced as base
        on base.variant = variants.baseline_variant
        and base.hardware_id is not distinct from priced.hardware_id
        and base.price_id = priced.price_id
)

select * from final
