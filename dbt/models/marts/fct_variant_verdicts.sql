{#
    What the statistics say about each rung against its model's baseline, task by task: one of
    'equivalent' (paired TOST within ±3 pp), 'worse' / 'better' (McNemar, Holm-corrected within the
    model × task × scorer family), 'undecided' (neither shown; items_needed says how many paired
    items would decide at the observed flip rate) or 'not comparable' (no shared items, another task
    version or prompt method: the reason says which). This is the one place the verdict rule lives.
    Flip rates and KL divergence sit beside accuracy: they move before accuracy does.
#}
{%- set alpha = var('verdict_alpha', 0.05) -%}
with comparisons as (
    select * from {{ ref('stg_variant_comparisons') }}
    where comparison = 'vs_baseline'
),

variants as (
    select * from {{ ref('dim_model_variants') }}
),

distribution_shift as (
    -- Empty where perplexity/KLD never ran (the staging view reads it optionally).
    select variant, base_variant, kld_mean, same_top_pct, from {{ ref('stg_distribution_shift') }}
),

shifts as (
    -- KL divergence counts only when it was measured against this model's baseline rung.
    select shift.variant, avg(shift.kld_mean) as kld_mean, avg(shift.same_top_pct) / 100 as same_top_p,
    from distribution_shift as shift
    inner join variants on variants.variant = shift.variant and variants.baseline_variant = shift.base_variant
    group by shift.variant
),

judged as (
    select
        comparisons.*,
        case
            when not comparisons.comparable then 'not comparable'
            when comparisons.mcnemar_p_holm < {{ alpha }} and comparisons.accuracy_delta_pp < 0 then 'worse'
            when comparisons.mcnemar_p_holm < {{ alpha }} and comparisons.accuracy_delta_pp > 0 then 'better'
            when comparisons.tost_equivalent_3pp then 'equivalent'
            else 'undecided'
        end as verdict,
    from comparisons
),

final as (
    select
        judged.model,
        judged.variant,
        variants.quant_requested,
        variants.quant_obtained,
        variants.rung_label,
        judged.baseline_variant,
        baseline.rung_label as baseline_label,
        judged.chain,
        judged.task,
        judged.task_version,
        judged.scorer,
        judged.prompt_method,
        judged.n_items as n_shared_items,
        judged.reference_accuracy as baseline_accuracy,
        judged.variant_accuracy,
        judged.accuracy_delta_pp as delta_pp,
        judged.accuracy_delta_ci_low_pp as delta_ci_low_pp,
        judged.accuracy_delta_ci_high_pp as delta_ci_high_pp,
        judged.n_lost_items,
        judged.n_gained_items,
        judged.n_lost_items::double / nullif(judged.n_items, 0) as right_to_wrong_rate,
        judged.n_gained_items::double / nullif(judged.n_items, 0) as wrong_to_right_rate,
        judged.flip_rate,
        judged.mcnemar_p_holm,
        judged.tost_p_3pp,
        judged.tost_equivalent_3pp,
        judged.mde_paired_pp,
        judged.items_needed,
        judged.verdict,
        case judged.verdict
            when 'not comparable' then judged.not_comparable_reason
            when 'worse' then printf('worse than %s by %.1f pp (95%% CI %.1f to %.1f) on %s, n=%d; McNemar p=%.2g after Holm',
                baseline.rung_label, -judged.accuracy_delta_pp, judged.accuracy_delta_ci_low_pp,
                judged.accuracy_delta_ci_high_pp, judged.task, judged.n_items, judged.mcnemar_p_holm)
            when 'better' then printf('better than %s by %.1f pp on %s, n=%d; McNemar p=%.2g after Holm',
                baseline.rung_label, judged.accuracy_delta_pp, judged.task, judged.n_items, judged.mcnemar_p_holm)
            when 'equivalent' then printf('equivalent to %s within ±3 pp on %s, n=%d (Δ %.1f pp)',
                baseline.rung_label, judged.task, judged.n_items, judged.accuracy_delta_pp)
            else printf('undecided on %s: Δ %.1f pp (95%% CI %.1f to %.1f), n=%d; neither a difference nor ±3 pp equivalence shown%s',
                judged.task, judged.accuracy_delta_pp, coalesce(judged.accuracy_delta_ci_low_pp, 'nan'::double),
                coalesce(judged.accuracy_delta_ci_high_pp, 'nan'::double), judged.n_items,
                case when judged.items_needed is not null
                     then printf('; about %d paired items would decide', judged.items_needed) else '' end)
        end as verdict_reason,
        shifts.kld_mean,
        shifts.same_top_p,
    from judged
    left join variants on variants.variant = judged.variant
    left join variants as baseline on baseline.variant = judged.baseline_variant
    left join shifts on shifts.variant = judged.variant
)

select * from final
