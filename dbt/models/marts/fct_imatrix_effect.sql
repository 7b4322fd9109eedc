-- Importance-matrix rungs against their plain siblings: "<model>__Q4_K_M-imat" vs "<model>__Q4_K_M",
-- both measured against the same base rung on the same windows. The difference's standard error
-- treats the two means as independent; they share positions and are positively correlated, so the
-- interval is conservative (benchmarks/bench_imatrix.py gives the paired one).
with shift as (
    select * from {{ ref('fct_variant_distribution_shift') }}
),

inventory as (
    select * from {{ ref('stg_gguf_inventory') }}
),

imat as (
    select shift.*, inventory.imatrix_calibration, inventory.imatrix_calibration_sha256, inventory.imatrix_sha256
    from shift
    left join inventory using (variant)
    where shift.quant_requested like '%-imat'
),

plain as (
    select * from shift where quant_requested not like '%-imat'
),

paired as (
    select
        imat.model,
        plain.quant_requested as quant,
        plain.variant as variant_plain,
        imat.variant as variant_imat,
        plain.quant_obtained as quant_obtained_plain,
        imat.quant_obtained as quant_obtained_imat,
        plain.bits_per_weight as bits_per_weight_plain,
        imat.bits_per_weight as bits_per_weight_imat,
        imat.base_variant,
        plain.kld_mean as kld_plain,
        plain.kld_mean_se as kld_plain_se,
        imat.kld_mean as kld_imat,
        imat.kld_mean_se as kld_imat_se,
        imat.kld_mean - plain.kld_mean as delta_kld,
        sqrt(plain.kld_mean_se * plain.kld_mean_se + imat.kld_mean_se * imat.kld_mean_se) as delta_kld_se,
        plain.same_top_pct as same_top_pct_plain,
        imat.same_top_pct as same_top_pct_imat,
        imat.same_top_pct - plain.same_top_pct as delta_same_top_pp,
        sqrt(plain.same_top_pct_se * plain.same_top_pct_se + imat.same_top_pct_se * imat.same_top_pct_se)
            as delta_same_top_pp_se,
        imat.imatrix_calibration,
        imat.imatrix_calibration_sha256,
        imat.imatrix_sha256,
    from imat
    join plain
        on plain.model = imat.model
        and plain.quant_requested || '-imat' = imat.quant_requested
        and plain.base_variant = imat.base_variant
)

select
    *,
    delta_kld - 1.96 * delta_kld_se as delta_kld_ci_low,
    delta_kld + 1.96 * delta_kld_se as delta_kld_ci_high,
    case when kld_plain > 0 then 100 * delta_kld / kld_plain end as delta_kld_pct,
    -- the matrix weights rounding, never the types: equal obtained types say a fallback stayed a fallback
    quant_obtained_plain = quant_obtained_imat as same_obtained_type,
from paired
