{#
    The decision: per memory budget and use case, the variant to deploy and the runner-up, in the
    verdict words of the statistics. Budgets that give the same answer are one row ("2–24 GB").

    Use cases:
    - smallest:      the smallest rung the statistics show equivalent to its baseline (or the
                     baseline itself); rungs that are smaller but undecided or worse are named.
    - fastest:       the fastest such rung by measured decode speed; a speed measured under load or
                     within the noise of its neighbour rung makes the pick 'undecided'.
    - most_accurate: the highest pooled accuracy among rungs not shown worse than their baseline;
                     'undecided' when the runner-up's interval overlaps the pick's.
#}
with fits as (
    select * from {{ ref('int_budget_fits') }}
    where not is_duplicate_rung
),

use_cases as (
    select * from (values ('smallest', 1), ('fastest', 2), ('most_accurate', 3)) as t(use_case, use_case_order)
),

candidates as (
    select
        use_cases.use_case,
        use_cases.use_case_order,
        fits.*,
        fits.variant_verdict in ('baseline', 'equivalent') as is_safe,
    from fits
    cross join use_cases
),

ranked as (
    select
        *,
        row_number() over (
            partition by memory_budget_gb, use_case
            order by
                case use_case
                    when 'smallest' then memory_required_bytes
                    when 'fastest' then -coalesce(decode_tok_per_s, -1)
                    else -coalesce(pooled_rescored_accuracy, -1)
                end,
                ladder_position, variant
        ) as rank_in_use_case,
    from candidates
    where case use_case
              when 'most_accurate' then variant_verdict != 'worse' and pooled_rescored_accuracy is not null
              else is_safe
          end
),

picks as (
    select
        pick.memory_budget_gb,
        pick.use_case,
        pick.use_case_order,
        pick.variant as recommended_variant,
        pick.model || ' ' || pick.rung_label as recommended_label,
        runner_up.variant as runner_up_variant,
        runner_up.model || ' ' || runner_up.rung_label as runner_up_label,
        case
            when pick.use_case = 'most_accurate'
                 and runner_up.variant is not null
                 and runner_up.pooled_rescored_accuracy_ci_high >= pick.pooled_rescored_accuracy_ci_low
                then 'undecided'
            when pick.use_case = 'fastest' and pick.decode_tok_per_s is null then 'undecided'
            when pick.use_case = 'fastest' and pick.speed_flag is not null then 'undecided'
            else pick.variant_verdict
        end as verdict,
        case pick.use_case
            when 'most_accurate' then
                printf('%s %s: pooled accuracy %.3f (95%% CI %.3f–%.3f, n=%d)', pick.model, pick.rung_label,
                       pick.pooled_rescored_accuracy, pick.pooled_rescored_accuracy_ci_low,
                       pick.pooled_rescored_accuracy_ci_high, pick.n_benchmark_items)
                || case when runner_up.variant is not null
                         and runner_up.pooled_rescored_accuracy_ci_high >= pick.pooled_rescored_accuracy_ci_low
                        then printf('; not distinguishable from %s %s (%.3f, CI %.3f–%.3f): undecided',
                                    runner_up.model, runner_up.rung_label, runner_up.pooled_rescored_accuracy,
                                    runner_up.pooled_rescored_accuracy_ci_low, runner_up.pooled_rescored_accuracy_ci_high)
                        else '' end
            else
                pick.model || ' ' || pick.rung_label || ': ' || pick.verdict_evidence
        end
        || case when pick.kld_mean is not null then printf('; KLD %.3f', pick.kld_mean) else '' end
        || case when pick.decode_tok_per_s is not null and pick.baseline_decode_tok_per_s is not null and not pick.is_baseline
                then printf('; %.1f× the baseline''s decode speed', pick.decode_tok_per_s / pick.baseline_decode_tok_per_s)
                else '' end
        || case when pick.use_case = 'fastest' and pick.decode_tok_per_s is null then '; no decode speed measured' else '' end
        || case when pick.use_case = 'fastest' and pick.speed_flag is not null then '; speed doubtful: ' || pick.speed_flag else '' end
        || case when pick.fits_on = 'estimate' then '; memory from the estimate, not measured' else '' end
            as evidence,
        pick.speed_flag,
        pick.decode_tok_per_s,
        pick.memory_required_bytes,
        pick.fits_on,
        pick.cost_per_million_tokens_usd,
        pick.cost_null_reason,
    from ranked as pick
    left join ranked as runner_up
        on runner_up.memory_budget_gb = pick.memory_budget_gb
        and runner_up.use_case = pick.use_case
        and runner_up.rank_in_use_case = 2
    where pick.rank_in_use_case = 1
),

passed_over as (
    -- Smaller rungs the 'smallest' pick skipped, and why: what more evidence could change.
    select
        fits.memory_budget_gb,
        string_agg(fits.model || ' ' || fits.rung_label || ' ' || fits.variant_verdict
                   || case when fits.items_needed is not null then printf(' (~%d items would decide)', fits.items_needed) else '' end,
                   ', ' order by fits.memory_required_bytes) as skipped,
    from fits
    inner join picks
        on picks.memory_budget_gb = fits.memory_budget_gb and picks.use_case = 'smallest'
    inner join fits as chosen
        on chosen.memory_budget_gb = picks.memory_budget_gb and chosen.variant = picks.recommended_variant
    where fits.variant_verdict not in ('baseline', 'equivalent')
        and fits.memory_required_bytes < chosen.memory_required_bytes
    group by fits.memory_budget_gb
),

answered as (
    select
        picks.*,
        picks.evidence || case when picks.use_case = 'smallest' and passed_over.skipped is not null
                               then '; smaller but not shown equivalent: ' || passed_over.skipped else '' end as full_evidence,
    from picks
    left join passed_over
        on passed_over.memory_budget_gb = picks.memory_budget_gb and picks.use_case = 'smallest'
),

islands as (
    -- Consecutive budgets with the same answer form one row.
    select
        *,
        row_number() over (partition by use_case order by memory_budget_gb)
          - row_number() over (partition by use_case, recommended_variant, runner_up_variant, verdict, full_evidence
                               order by memory_budget_gb) as island,
    from answered
),

final as (
    select
        use_case,
        min(memory_budget_gb) as budget_low_gb,
        max(memory_budget_gb) as budget_high_gb,
        case when min(memory_budget_gb) = max(memory_budget_gb) then printf('%d GB', min(memory_budget_gb))
             else printf('%d–%d GB', min(memory_budget_gb), max(memory_budget_gb)) end as budget_label,
        any_value(recommended_variant) as recommended_variant,
        any_value(recommended_label) as recommended_label,
        any_value(runner_up_variant) as runner_up_variant,
        any_value(runner_up_label) as runner_up_label,
        any_value(verdict) as verdict,
        any_value(full_evidence) as evidence,
        any_value(speed_flag) as speed_flag,
        any_value(decode_tok_per_s) as decode_tok_per_s,
        any_value(memory_required_bytes) as memory_required_bytes,
        any_value(fits_on) as fits_on,
        any_value(cost_per_million_tokens_usd) as cost_per_million_tokens_usd,
        any_value(cost_null_reason) as cost_null_reason,
        any_value(use_case_order) as use_case_order,
    from islands
    group by use_case, island
)

select * exclude (use_case_order) from final
order by use_case_order, budget_low_gb
