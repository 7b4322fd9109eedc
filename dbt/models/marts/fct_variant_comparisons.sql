with comparisons as (
    select * from {{ ref('stg_variant_comparisons') }}
),

variants as (
    select * from {{ ref('dim_model_variants') }}
),

final as (
    select
        comparisons.model,
        comparisons.chain,
        comparisons.task,
        comparisons.task_version,
        comparisons.scorer,
        comparisons.prompt_method,
        comparisons.comparison,
        comparisons.reference_variant,
        reference.quant_requested as reference_quant,
        comparisons.variant,
        compared.quant_requested as quant,
        comparisons.comparable,
        comparisons.not_comparable_reason,
        comparisons.reference_subset,
        comparisons.variant_subset,
        comparisons.n_items,
        comparisons.reference_accuracy,
        comparisons.variant_accuracy,
        comparisons.variant_accuracy_ci_low,
        comparisons.variant_accuracy_ci_high,
        comparisons.accuracy_delta_pp,
        comparisons.accuracy_delta_ci_low_pp,
        comparisons.accuracy_delta_ci_high_pp,
        comparisons.n_lost_items,
        comparisons.n_gained_items,
        comparisons.flip_rate,
        comparisons.cohens_d,
        comparisons.welch_t,
        comparisons.welch_p,
        comparisons.welch_p_holm,
        comparisons.welch_p_bonferroni,
        comparisons.mcnemar_statistic,
        comparisons.mcnemar_exact,
        comparisons.mcnemar_p,
        comparisons.mcnemar_p_holm,
        comparisons.mcnemar_p_bonferroni,
        comparisons.tost_p_3pp,
        comparisons.tost_equivalent_3pp,
        comparisons.tost_p_5pp,
        comparisons.tost_equivalent_5pp,
        comparisons.mde_pp,
        comparisons.mde_paired_pp,
        comparisons.items_needed,
        comparisons.underpowered,
        comparisons.notes,
        comparisons.computed_at,
    from comparisons
    left join variants as reference on reference.variant = comparisons.reference_variant
    left join variants as compared on compared.variant = comparisons.variant
)

select * from final
