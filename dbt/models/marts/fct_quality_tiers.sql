with quality as (
    select * from {{ ref('fct_variant_quality') }}
),

thresholds as (
    select * from {{ ref('quality_tier_thresholds') }}
),

verdict_groups as (
    -- Tasks that reached the same verdict, said once: "equivalent to F16 within ±3 pp on arc_easy
    -- (n=200, Δ +0.5 pp), mmlu (n=57, Δ 0.0 pp)".
    select
        variant,
        verdict,
        case verdict when 'worse' then 1 when 'undecided' then 2 when 'not comparable' then 3 else 4 end as priority,
        max(items_needed) filter (where verdict = 'undecided') as items_needed,
        case verdict
            when 'equivalent' then 'equivalent to ' || any_value(baseline_label) || ' within ±3 pp on '
            when 'worse' then 'worse than ' || any_value(baseline_label) || ' on '
            when 'better' then 'better than ' || any_value(baseline_label) || ' on '
            when 'undecided' then 'undecided vs ' || any_value(baseline_label) || ' on '
            else 'not comparable on '
        end
        || string_agg(
            case when verdict = 'not comparable' then task || ' (' || verdict_reason || ')'
                 else printf('%s (n=%d, Δ %+.1f pp [%+.1f, %+.1f])', task, n_shared_items, delta_pp,
                             coalesce(delta_ci_low_pp, 'nan'::double), coalesce(delta_ci_high_pp, 'nan'::double)) end,
            ', ' order by task, scorer)
        || case when verdict = 'undecided' and max(items_needed) is not null
                then printf('; ~%d paired items would decide', max(items_needed)) else '' end as evidence,
    from {{ ref('fct_variant_verdicts') }}
    group by variant, verdict
),

verdicts as (
    -- One word per rung from its per-task verdicts: any task shown worse makes the rung worse; it is
    -- equivalent only when every comparable task showed equivalence (or better).
    select
        variant,
        case
            when bool_or(verdict = 'worse') then 'worse'
            when bool_and(verdict = 'not comparable') then 'not comparable'
            when bool_and(verdict in ('equivalent', 'better', 'not comparable')) then 'equivalent'
            else 'undecided'
        end as variant_verdict,
        string_agg(evidence, '; ' order by priority) as verdict_evidence,
        max(items_needed) as items_needed,
    from verdict_groups
    group by variant
),

verdict_items as (
    -- The paired items the verdict rests on, each task's once (the most any of its scorers shared).
    select variant, sum(n_items) as n_verdict_items,
    from (
        select variant, chain, task, max(n_shared_items) as n_items,
        from {{ ref('fct_variant_verdicts') }}
        where verdict != 'not comparable'
        group by variant, chain, task
    )
    group by variant
),

deltas as (
    select
        variant,
        any_value(model) as model,
        any_value(quant_requested) as quant_requested,
        bool_or(is_baseline) as is_baseline,
        -- One row per task enters the deltas and counts (is_pooled, the row its pooled accuracy uses):
        -- a task scored several ways (loglikelihood and letter logits) neither weighs double in the
        -- mean delta nor counts its items twice.
        count(accuracy_delta_pp) filter (where task_kind = 'benchmark' and is_pooled) as n_benchmark_tasks,
        count(generation_delta_pct) filter (where task_kind = 'generation' and is_pooled) as n_generation_tasks,
        sum(n_shared_items) filter (where accuracy_delta_pp is not null and is_pooled) as n_shared_items,
        sum(n_shared_items) filter (where generation_delta_pct is not null and is_pooled) as n_shared_generation_items,
        -- Rows that could not be paired with the baseline: they enter no delta, and say why.
        string_agg(distinct task || ' (' || scorer || '): ' || not_comparable_reason, '; ')
            filter (where not_comparable_reason is not null) as not_comparable_reasons,
        round(avg(accuracy_delta_pp) filter (where task_kind = 'benchmark' and is_pooled), 6) as benchmark_delta_pp,
        round(avg(generation_delta_pct) filter (where task_kind = 'generation' and is_pooled), 6) as generation_delta_pct,
    from quality
    group by variant
),

-- Each side's tier: the best one whose minimum the delta meets (">=": a delta exactly at a
-- threshold stays in the better tier). The catch-all tier has no minimum and always matches.
benchmark_side as (
    select deltas.variant, min(thresholds.rank) as benchmark_tier_rank,
    from deltas
    inner join thresholds
        on deltas.benchmark_delta_pp >= thresholds.min_benchmark_delta_pp
        or thresholds.min_benchmark_delta_pp is null
    where deltas.benchmark_delta_pp is not null
    group by deltas.variant
),

generation_side as (
    select deltas.variant, min(thresholds.rank) as generation_tier_rank,
    from deltas
    inner join thresholds
        on deltas.generation_delta_pct >= thresholds.min_generation_delta_pct
        or thresholds.min_generation_delta_pct is null
    where deltas.generation_delta_pct is not null
    group by deltas.variant
),

tiered as (
    select
        deltas.*,
        benchmark_side.benchmark_tier_rank,
        generation_side.generation_tier_rank,
        -- The worse side decides; greatest() skips a side that was not measured.
        greatest(benchmark_side.benchmark_tier_rank, generation_side.generation_tier_rank) as quality_tier_rank,
    from deltas
    left join benchmark_side using (variant)
    left join generation_side using (variant)
),

final as (
    select
        tiered.variant,
        tiered.model,
        tiered.quant_requested,
        tiered.is_baseline,
        tiered.n_benchmark_tasks,
        tiered.n_generation_tasks,
        tiered.benchmark_delta_pp,
        tiered.generation_delta_pct,
        benchmark_tier.tier as benchmark_tier,
        generation_tier.tier as generation_tier,
        quality_tier.tier as quality_tier,
        tiered.quality_tier_rank,
        tiered.n_shared_items,
        tiered.n_shared_generation_items,
        case when tiered.is_baseline then 'baseline' else coalesce(verdicts.variant_verdict, 'not comparable') end
            as variant_verdict,
        case when tiered.is_baseline then 'the baseline'
             else coalesce(verdicts.verdict_evidence, 'not compared with the baseline yet') end as verdict_evidence,
        verdict_items.n_verdict_items,
        verdicts.items_needed,
        case
            when tiered.quality_tier_rank is null
                then 'no tier: nothing was compared with the baseline on shared items'
                     || coalesce(' (' || tiered.not_comparable_reasons || ')', '')
            when tiered.not_comparable_reasons is not null
                then 'tier from the comparable tasks only; left out: ' || tiered.not_comparable_reasons
            -- TR125's tier is a point estimate; where the statistics cannot back it, say so.
            when verdicts.variant_verdict = 'undecided'
                then 'provisional: the tier rests on point estimates the statistics do not settle'
                     || coalesce(printf(' (~%d paired items would decide)', verdicts.items_needed), '')
        end as tier_reason,
        case
            when tiered.benchmark_tier_rank is null and tiered.generation_tier_rank is null then 'both'
            when tiered.benchmark_tier_rank is null then 'benchmark'
            when tiered.generation_tier_rank is null then 'generation'
        end as missing_side,
        tiered.benchmark_tier_rank is null or tiered.generation_tier_rank is null as is_one_sided,
    from tiered
    left join thresholds as benchmark_tier on benchmark_tier.rank = tiered.benchmark_tier_rank
    left join thresholds as generation_tier on generation_tier.rank = tiered.generation_tier_rank
    left join thresholds as quality_tier on quality_tier.rank = tiered.quality_tier_rank
    left join verdicts on verdicts.variant = tiered.variant
    left join verdict_items on verdict_items.variant = tiered.variant
)

select * from final
