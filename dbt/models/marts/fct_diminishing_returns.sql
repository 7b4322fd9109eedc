with scored as (
    select * from {{ ref('int_variants_scored') }}
),

-- Accuracy gained by a step, measured on the items both rungs were scored on (the paired rows of
-- variant_statistics: adjacent pairs, and pairs with the baseline), averaged over tasks and scorers.
paired as (
    select
        reference_variant as higher_variant,
        variant as lower_variant,
        round(avg(-accuracy_delta_pp), 6) as accuracy_gain_pp,
        sum(n_items) as n_shared_items,
    from {{ ref('stg_variant_comparisons') }}
    where comparable
    group by all
),

-- A byte-identical copy of a higher rung is not a step on the ladder: stepping onto it changes nothing.
rungs as (
    select
        *,
        row_number() over (partition by model order by ladder_position) as step_position,
    from scored
    where not is_duplicate_rung
),

steps as (
    select
        lower_rung.model,
        higher_rung.variant as higher_variant,
        lower_rung.variant as lower_variant,
        higher_rung.quant_requested as higher_quant,
        lower_rung.quant_requested as lower_quant,
        higher_rung.size_bytes - lower_rung.size_bytes as size_increase_bytes,
        paired.accuracy_gain_pp,
        paired.n_shared_items,
        round((higher_rung.generation_key_metric - lower_rung.generation_key_metric)
            / nullif(lower_rung.generation_key_metric, 0) * 100, 6) as generation_gain_pct,
        higher_rung.cost_per_million_tokens_usd - lower_rung.cost_per_million_tokens_usd as cost_increase_usd_per_million,
        lower_rung.decode_tok_per_s - higher_rung.decode_tok_per_s as speed_loss_tok_per_s,
    from rungs as lower_rung
    inner join rungs as higher_rung
        on higher_rung.model = lower_rung.model
        and higher_rung.step_position = lower_rung.step_position - 1
    left join paired
        on paired.higher_variant = higher_rung.variant and paired.lower_variant = lower_rung.variant
),

final as (
    select
        *,
        accuracy_gain_pp / nullif(size_increase_bytes / 1e9, 0) as accuracy_gain_pp_per_gb,
    from steps
)

select * from final
