{#
    The decision: per memory budget and use case, the variant to deploy and the runner-up, in the
    verdict words of the statistics. Budgets that give the same answer are one row ("2–24 GB").

    Use cases:
    - smallest:      the smallest rung the statistics show equivalent to its baseline (or the
                     baseline itself); rungs that are smaller but undecided or worse are named.
    - fastest:       the fastest such rung by measured decode speed; a speed measured under load or
                     within the noise of its neighbour rung makes the pick 'undecided', and so does any
                     contender whose decode CI reaches the pick's (another model's too), or whose speed
                     was measured with other engine settings than the rest (threads, OpenMP wait,
                     engine build...: int_speed_measured.speed_settings_differ).
    - most_accurate: the highest pooled accuracy among rungs not shown worse than their baseline,
                     decided against every other contender on the items both were scored on (same chain,
                     task, scorer, task version and item): 'undecided' when it shares no item with one
                     or their intervals on those items overlap; the runner-up is named, the rest listed.
                     Pooled accuracies over different items (another task, another subset) never decide
                     by themselves.
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

quality as (
    select variant, chain, task, scorer, from {{ ref('fct_variant_quality') }}
    where task_kind = 'benchmark' and is_pooled  -- the rows the pooled accuracy counts
),

items as (
    -- The item-level 0/1 outcomes behind each variant's pooled accuracy (the rows fct_variant_quality pools).
    select scores.variant, 'standard' as chain, scores.task, scores.scorer, scores.task_version, scores.item_id,
           scores.correct::int as correct,
    from {{ ref('stg_standard_benchmark_scores') }} as scores
    inner join quality
        on quality.variant = scores.variant and quality.chain = 'standard'
        and quality.task = scores.task and quality.scorer = scores.scorer
    where scores.correct is not null

    union all

    select scores.variant, 'lmeval' as chain, scores.task, scores.metric || ',' || scores.filter_name as scorer,
           scores.task_version, scores.item_id, scores.correct::int as correct,
    from {{ ref('stg_lmeval_scores') }} as scores
    inner join quality
        on quality.variant = scores.variant and quality.chain = 'lmeval'
        and quality.task = scores.task and quality.scorer = scores.metric || ',' || scores.filter_name
    where scores.is_binary and scores.correct is not null
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

contenders as (
    -- The two best by pooled accuracy, each against every other contender: whichever ends up the pick
    -- is compared with all the rest on shared items.
    select distinct top.variant as pick_variant, other.variant as runner_up_variant,
    from ranked as top
    inner join ranked as other
        on other.memory_budget_gb = top.memory_budget_gb and other.use_case = top.use_case
        and other.variant != top.variant
    where top.use_case = 'most_accurate' and top.rank_in_use_case <= 2
),

shared as (
    -- Two contenders on the items both were scored on.
    select
        contenders.pick_variant,
        contenders.runner_up_variant,
        count(*) as n_shared,
        sum(a.correct) as pick_correct,
        sum(b.correct) as runner_up_correct,
    from contenders
    inner join items as a on a.variant = contenders.pick_variant
    inner join items as b
        on b.variant = contenders.runner_up_variant and b.chain = a.chain and b.task = a.task
        and b.scorer = a.scorer and b.task_version = a.task_version and b.item_id = a.item_id
    group by contenders.pick_variant, contenders.runner_up_variant
),

both_ways as (
    select * from shared
    union  -- the top two are in `shared` both ways already
    select runner_up_variant, pick_variant, n_shared, runner_up_correct, pick_correct, from shared
),

compared as (
    select
        *,
        pick_correct::double / n_shared as pick_shared_accuracy,
        runner_up_correct::double / n_shared as runner_up_shared_accuracy,
        {{ wilson_low('pick_correct', 'n_shared') }} as pick_shared_low,
        {{ wilson_high('pick_correct', 'n_shared') }} as pick_shared_high,
        {{ wilson_low('runner_up_correct', 'n_shared') }} as runner_up_shared_low,
        {{ wilson_high('runner_up_correct', 'n_shared') }} as runner_up_shared_high,
    from both_ways
),

reranked as (
    -- A runner-up shown more accurate than the pick on their shared items takes its place.
    select
        ranked.* replace (
            case when ranked.rank_in_use_case in (1, 2) and swap.pick_variant is not null
                 then 3 - ranked.rank_in_use_case else ranked.rank_in_use_case end as rank_in_use_case),
    from ranked
    left join (
        select top.memory_budget_gb, compared.pick_variant, compared.runner_up_variant,
        from ranked as top
        inner join ranked as second
            on second.memory_budget_gb = top.memory_budget_gb and second.use_case = top.use_case
            and second.rank_in_use_case = 2
        inner join compared
            on compared.pick_variant = top.variant and compared.runner_up_variant = second.variant
        where top.use_case = 'most_accurate' and top.rank_in_use_case = 1
            and compared.runner_up_shared_low > compared.pick_shared_high
    ) as swap
        on ranked.use_case = 'most_accurate' and swap.memory_budget_gb = ranked.memory_budget_gb
        and ranked.variant in (swap.pick_variant, swap.runner_up_variant)
),

also_close as (
    -- Contenders below the runner-up that the pick is not shown more accurate than on their shared
    -- items (or shares none with): 'most accurate' is not decided while any remains.
    select
        pick.memory_budget_gb,
        string_agg(other.model || ' ' || other.rung_label
                   || case when compared.n_shared is null then ' (no item scored in common)'
                           else printf(' (on %d shared items, %.3f vs %.3f)', compared.n_shared,
                                       compared.pick_shared_accuracy, compared.runner_up_shared_accuracy) end,
                   ', ' order by other.rank_in_use_case) as others,
    from reranked as pick
    inner join reranked as other
        on other.memory_budget_gb = pick.memory_budget_gb and other.use_case = pick.use_case
        and other.rank_in_use_case > 2
    left join compared on compared.pick_variant = pick.variant and compared.runner_up_variant = other.variant
    where pick.use_case = 'most_accurate' and pick.rank_in_use_case = 1
        and (compared.n_shared is null or compared.runner_up_shared_high >= compared.pick_shared_low)
    group by pick.memory_budget_gb
),

also_fast as (
    -- Contenders whose decode speed interval reaches the pick's: which is faster is not established
    -- (across models too; int_speed_measured flags only a model's adjacent rungs).
    select
        pick.memory_budget_gb,
        string_agg(other.model || ' ' || other.rung_label
                   || printf(' (%.1f tok/s, CI %.1f–%.1f)', other.decode_tok_per_s, other.decode_ci_low_tok_per_s,
                             other.decode_ci_high_tok_per_s),
                   ', ' order by other.rank_in_use_case) as others,
    from ranked as pick
    inner join ranked as other
        on other.memory_budget_gb = pick.memory_budget_gb and other.use_case = pick.use_case
        and other.rank_in_use_case > 1
    where pick.use_case = 'fastest' and pick.rank_in_use_case = 1
        and other.decode_ci_high_tok_per_s >= pick.decode_ci_low_tok_per_s
    group by pick.memory_budget_gb
),

mixed_settings as (
    -- Fastest contenders whose decode speed was measured with other engine settings: no order holds.
    select memory_budget_gb, string_agg(model || ' ' || rung_label, ', ' order by variant) as other_settings,
    from ranked
    where use_case = 'fastest' and speed_settings_differ and decode_tok_per_s is not null
    group by memory_budget_gb
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
            when pick.use_case = 'most_accurate' and runner_up.variant is not null and compared.n_shared is null
                then 'undecided'
            when pick.use_case = 'most_accurate' and runner_up.variant is not null
                 and compared.runner_up_shared_high >= compared.pick_shared_low
                then 'undecided'
            when pick.use_case = 'most_accurate' and close.others is not null then 'undecided'
            when pick.use_case = 'fastest' and pick.decode_tok_per_s is null then 'undecided'
            when pick.use_case = 'fastest' and pick.speed_flag is not null then 'undecided'
            when pick.use_case = 'fastest' and mixed.other_settings is not null then 'undecided'
            when pick.use_case = 'fastest' and fast.others is not null then 'undecided'
            else pick.variant_verdict
        end as verdict,
        case pick.use_case
            when 'most_accurate' then
                printf('%s %s: pooled accuracy %.3f (95%% CI %.3f–%.3f, n=%d)', pick.model, pick.rung_label,
                       pick.pooled_rescored_accuracy, pick.pooled_rescored_accuracy_ci_low,
                       pick.pooled_rescored_accuracy_ci_high, pick.n_benchmark_items)
                || case
                    when runner_up.variant is null then ''
                    when compared.n_shared is null
                        then printf('; no item scored in common with %s %s (pooled %.3f on n=%d): not comparable, undecided',
                                    runner_up.model, runner_up.rung_label, runner_up.pooled_rescored_accuracy,
                                    runner_up.n_benchmark_items)
                    else printf('; on the %d items both were scored on, %.3f (CI %.3f–%.3f) vs %.3f (CI %.3f–%.3f) for %s %s%s',
                                compared.n_shared, compared.pick_shared_accuracy, compared.pick_shared_low,
                                compared.pick_shared_high, compared.runner_up_shared_accuracy,
                                compared.runner_up_shared_low, compared.runner_up_shared_high,
                                runner_up.model, runner_up.rung_label,
                                case when compared.runner_up_shared_high >= compared.pick_shared_low
                                     then ': not distinguishable, undecided' else '' end)
                end
                || case when close.others is not null
                        then '; not shown more accurate than ' || close.others || ' either: undecided' else '' end
            else
                pick.model || ' ' || pick.rung_label || ': ' || pick.verdict_evidence
        end
        || case when pick.kld_mean is not null and not pick.is_baseline then printf('; KLD %.3f', pick.kld_mean) else '' end
        || case when pick.decode_tok_per_s is not null and pick.baseline_decode_tok_per_s is not null and not pick.is_baseline
                then printf('; %.1f× the baseline''s decode speed', pick.decode_tok_per_s / pick.baseline_decode_tok_per_s)
                else '' end
        || case when pick.use_case = 'fastest' and pick.decode_tok_per_s is null then '; no decode speed measured' else '' end
        || case when pick.use_case = 'fastest' and pick.speed_flag is not null then '; speed doubtful: ' || pick.speed_flag else '' end
        || case when pick.use_case = 'fastest' and mixed.other_settings is not null
                     and not coalesce(pick.speed_settings_differ, false)
                then '; speeds not comparable: ' || mixed.other_settings
                     || ' measured with other engine settings than the rest (re-run their speed_runs)'
                else '' end
        || case when pick.use_case = 'fastest' and fast.others is not null
                then printf('; decode %.1f tok/s (CI %.1f–%.1f) not shown faster than ', pick.decode_tok_per_s,
                            pick.decode_ci_low_tok_per_s, pick.decode_ci_high_tok_per_s) || fast.others
                else '' end
        || case when pick.fits_on = 'estimate' then '; memory from the estimate, not measured' else '' end
            as evidence,
        pick.speed_flag,
        pick.decode_tok_per_s,
        pick.memory_required_bytes,
        pick.fits_on,
        pick.cost_per_million_tokens_usd,
        pick.cost_null_reason,
    from reranked as pick
    left join reranked as runner_up
        on runner_up.memory_budget_gb = pick.memory_budget_gb
        and runner_up.use_case = pick.use_case
        and runner_up.rank_in_use_case = 2
    left join compared
        on pick.use_case = 'most_accurate'
        and compared.pick_variant = pick.variant and compared.runner_up_variant = runner_up.variant
    left join mixed_settings as mixed
        on pick.use_case = 'fastest' and mixed.memory_budget_gb = pick.memory_budget_gb
    left join also_close as close
        on pick.use_case = 'most_accurate' and close.memory_budget_gb = pick.memory_budget_gb
    left join also_fast as fast
        on pick.use_case = 'fastest' and fast.memory_budget_gb = pick.memory_budget_gb
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
