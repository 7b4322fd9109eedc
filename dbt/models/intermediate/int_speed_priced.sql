{#
    The one implementation of cost: $ / 1M generated tokens = hourly rate / (tg tok/s x 3600) x 1e6,
    for every decode speed and every price of the same hardware class (and only those).
    Prices: the seed hardware_prices (cloud offers and the seed study's rate, each with its class)
    and this machine's own price from configuration (QUANTBENCH_PRICE_PER_HOUR, stored on its
    hardware row by hardware_profile). A speed with no price of its class keeps one row with a null
    cost and cost_null_reason, never a borrowed price. The interval comes from the speed's 95% CI:
    the faster bound gives the cheaper cost.
#}
with measured as (
    select * from {{ ref('int_speed_measured') }}
    where decode_tok_per_s is not null
),

hardware as (
    select * from {{ ref('stg_hardware') }}
),

prices as (
    select
        price_id,
        hardware_class,
        hardware_name as priced_hardware,
        hardware_kind as priced_hardware_kind,
        usd_per_hour,
        source as price_source,
        cast(as_of as varchar) as price_as_of,
        'seed' as price_origin,
    from {{ ref('hardware_prices') }}
    union all
    select
        'configured:' || hardware_id as price_id,
        hardware_class,
        coalesce(gpu_name, cpu_model) as priced_hardware,
        case when gpu_count > 0 then 'gpu' else 'cpu' end as priced_hardware_kind,
        price_usd_per_hour as usd_per_hour,
        price_source,
        cast(profiled_at as varchar) as price_as_of,
        'configuration' as price_origin,
    from hardware
    where price_usd_per_hour is not null and hardware_class is not null
),

final as (
    select
        measured.variant,
        measured.model,
        measured.hardware_id,
        measured.hardware_class,
        measured.is_this_machine,
        measured.decode_test,
        measured.decode_tok_per_s,
        measured.decode_sd_tok_per_s,
        measured.decode_ci_low_tok_per_s,
        measured.decode_ci_high_tok_per_s,
        measured.speed_flag,
        prices.price_id,
        prices.price_origin,
        prices.priced_hardware,
        prices.priced_hardware_kind,
        prices.usd_per_hour,
        prices.price_source,
        prices.price_as_of,
        case when measured.decode_tok_per_s > 0
            then prices.usd_per_hour / (measured.decode_tok_per_s * 3600) * 1e6 end as cost_exact,
        round(case when measured.decode_tok_per_s > 0
            then prices.usd_per_hour / (measured.decode_tok_per_s * 3600) * 1e6 end, 6) as cost_per_million_tokens_usd,
        case when measured.decode_ci_high_tok_per_s > 0
            then prices.usd_per_hour / (measured.decode_ci_high_tok_per_s * 3600) * 1e6 end as cost_ci_low_exact,
        case when measured.decode_ci_low_tok_per_s > 0
            then prices.usd_per_hour / (measured.decode_ci_low_tok_per_s * 3600) * 1e6 end as cost_ci_high_exact,
        case
            when measured.hardware_class is null then
                'the speed row has no hardware class: re-materialize hardware_profile and speed_runs '
                || '(or set QUANTBENCH_HARDWARE_CLASS)'
            when prices.price_id is null then
                'no price for hardware class ' || measured.hardware_class
                || ': set QUANTBENCH_PRICE_PER_HOUR and re-materialize hardware_profile, or add a '
                || measured.hardware_class || ' row to dbt/seeds/hardware_prices.csv'
            when not measured.decode_tok_per_s > 0 then 'no positive decode speed'
        end as cost_null_reason,
        case
            when prices.price_id is not null and measured.decode_ci_low_tok_per_s is null
                then 'no speed interval: cost interval unknown'
            when prices.price_id is not null and not measured.decode_ci_low_tok_per_s > 0
                then 'speed interval reaches 0 tok/s: no upper cost bound'
        end as cost_interval_null_reason,
    from measured
    left join prices on prices.hardware_class = measured.hardware_class
)

select * from final
