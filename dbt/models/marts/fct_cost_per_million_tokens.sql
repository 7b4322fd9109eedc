{# $/1M generated tokens = hourly rate / (tg tok/s x 3600) x 1e6 (lib/cost.py says the same). #}
with speed as (
    select * from {{ ref('stg_speed_summary') }}
    where test_kind = 'tg'
),

prices as (
    select * from {{ ref('hardware_prices') }}
),

hardware as (
    select * from {{ ref('dim_hardware') }}
),

-- TR125's baseline: F16 of the same model if it was measured, else Q8_0, on the same machine.
baselines as (
    select
        model,
        hardware_id,
        case
            when bool_or(quant_requested = 'F16') then 'F16'
            when bool_or(quant_requested = 'Q8_0') then 'Q8_0'
        end as baseline_quant,
    from speed
    group by model, hardware_id
),

costed as (
    select
        speed.variant,
        speed.model,
        speed.quant_requested,
        speed.quant_obtained,
        speed.hardware_id as speed_hardware_id,
        speed.test as speed_test,
        speed.mean_tok_per_s as tg_tok_per_s,
        speed.sd_tok_per_s as tg_sd_tok_per_s,
        prices.price_id,
        prices.hardware_name as priced_hardware,
        prices.hardware_kind as priced_hardware_kind,
        prices.usd_per_hour,
        prices.source as price_source,
        prices.as_of as price_as_of,
        prices.usd_per_hour / (speed.mean_tok_per_s * 3600) * 1e6 as cost_exact,
        -- the speed interval carried through: the faster bound gives the cheaper cost
        prices.usd_per_hour / (speed.ci_high_tok_per_s * 3600) * 1e6 as cost_ci_low_exact,
        prices.usd_per_hour / (speed.ci_low_tok_per_s * 3600) * 1e6 as cost_ci_high_exact,
    from speed
    cross join prices
),

final as (
    select
        costed.variant,
        costed.model,
        costed.quant_requested,
        costed.quant_obtained,
        costed.price_id,
        costed.priced_hardware,
        costed.priced_hardware_kind,
        costed.usd_per_hour,
        costed.price_source,
        costed.price_as_of,
        costed.speed_test,
        costed.tg_tok_per_s,
        costed.tg_sd_tok_per_s,
        costed.speed_hardware_id,
        hardware.cpu_model as speed_cpu_model,
        hardware.gpu_name as speed_gpu_name,
        round(costed.cost_exact, 6) as cost_per_million_tokens_usd,
        round(costed.cost_ci_low_exact, 6) as cost_per_million_tokens_ci_low_usd,
        round(case when costed.cost_ci_high_exact > 0 then costed.cost_ci_high_exact end, 6)
            as cost_per_million_tokens_ci_high_usd,
        baselines.baseline_quant,
        base.variant as baseline_variant,
        round(base.cost_exact, 6) as baseline_cost_per_million_tokens_usd,
        round(base.cost_exact - costed.cost_exact, 6) as savings_usd_per_million_tokens,
        round((base.cost_exact - costed.cost_exact) / base.cost_exact * 100, 4) as savings_vs_baseline_pct,
    from costed
    left join baselines
        on baselines.model = costed.model
        and baselines.hardware_id = costed.speed_hardware_id
    left join costed as base
        on base.model = costed.model
        and base.quant_requested = baselines.baseline_quant
        and base.price_id = costed.price_id
        and base.speed_hardware_id = costed.speed_hardware_id
    left join hardware
        on hardware.hardware_id = costed.speed_hardware_id
)

select * from final
