-- Measured (baseline rung) against published values: a gap beyond the measurement's interval plus a
-- stated tolerance is flagged. The tolerance covers what intervals do not: method differences
-- (shots, prompt, normalisation, harness) that make some gap expected. Override it with
-- `dbt build --vars '{published_gap_tolerance_pp: 3}'`.
{%- set tolerance_pp = var('published_gap_tolerance_pp', 5.0) %}

with published as (
    select * from {{ ref('published_scores') }}
),

variants as (
    select * from {{ ref('dim_model_variants') }}
),

scores as (
    select * from {{ ref('fct_variant_benchmark_scores') }}
),

shots as (
    select variant, task, scorer, min(n_fewshot) as min_shots, max(n_fewshot) as max_shots,
    from {{ ref('stg_standard_benchmark_samples') }}
    group by variant, task, scorer
),

components as (
    select
        published_id,
        model,
        split_part(component, '/', 1) as task,
        split_part(component, '/', 2) as scorer,
        split_part(component, '/', 3) as metric,
    from (select published_id, model, unnest(string_split(measured_components, '|')) as component from published)
),

baselines as (
    select model, variant as baseline_variant from variants where is_baseline
),

measured as (
    select
        components.published_id,
        any_value(baselines.baseline_variant) as baseline_variant,
        count(*) as n_components,
        count(scores.value) as n_found,
        avg(scores.value) as value,
        -- one component: its own (Wilson) bounds; several: mean +- sqrt(sum of squared half-widths) / k,
        -- the interval of a mean of independent estimates (normal approximation)
        case when count(*) = 1 then min(scores.ci_low)
             else avg(scores.value) - sqrt(sum(power((scores.ci_high - scores.ci_low) / 2, 2))) / count(*) end as ci_low,
        case when count(*) = 1 then max(scores.ci_high)
             else avg(scores.value) + sqrt(sum(power((scores.ci_high - scores.ci_low) / 2, 2))) / count(*) end as ci_high,
        min(scores.n) as min_n,
        sum(scores.n)::bigint as total_n,
        bool_and(scores.is_primary) as all_primary,
        min(shots.min_shots) as min_shots,
        max(shots.max_shots) as max_shots,
        string_agg(components.task || '/' || components.scorer || '/' || components.metric, ' | ')
            filter (where scores.value is null) as missing_components,
    from components
    left join baselines using (model)
    left join scores
        on scores.variant = baselines.baseline_variant
        and scores.task = components.task
        and scores.scorer = components.scorer
        and scores.metric = components.metric
    left join shots
        on shots.variant = baselines.baseline_variant
        and shots.task = components.task
        and shots.scorer = components.scorer
    group by components.published_id
),

compared as (
    select
        published.*,
        measured.baseline_variant,
        measured.n_components,
        measured.n_found,
        measured.total_n as measured_n,
        measured.all_primary as measured_is_primary_metric,
        measured.missing_components,
        case when measured.min_shots = measured.max_shots then measured.min_shots end as measured_n_shot,
        case when measured.n_found = measured.n_components then round(100 * measured.value, 4) end as measured_pct,
        case when measured.n_found = measured.n_components then round(100 * measured.ci_low, 4) end as measured_ci_low_pct,
        case when measured.n_found = measured.n_components then round(100 * measured.ci_high, 4) end as measured_ci_high_pct,
    from published
    left join measured using (published_id)
),

gaps as (
    select
        compared.*,
        round(measured_pct - value_pct, 4) as gap_pp,
        -- the half-width on the side where the published value lies (Wilson intervals are asymmetric)
        round(case when value_pct >= measured_pct then measured_ci_high_pct - measured_pct
                   else measured_pct - measured_ci_low_pct end, 4) as interval_half_width_pp,
        {{ tolerance_pp }}::double as tolerance_pp,
        n_shot is not null and measured_n_shot is not null and n_shot != measured_n_shot as n_shot_differs,
    from compared
),

final as (
    select
        published_id,
        model,
        published_model,
        baseline_variant,
        benchmark,
        published_metric,
        measured_components,
        comparability,
        value_pct as published_pct,
        n_shot as published_n_shot,
        measured_n_shot,
        n_shot_differs,
        measured_pct,
        measured_ci_low_pct,
        measured_ci_high_pct,
        measured_n,
        measured_is_primary_metric,
        gap_pp,
        interval_half_width_pp,
        tolerance_pp,
        case when gap_pp is not null then abs(gap_pp) > interval_half_width_pp + tolerance_pp end as flag,
        case
            when baseline_variant is null then 'not measured: the model has no baseline rung in the warehouse'
            when n_found = 0 then 'not measured: the baseline rung has no ' || missing_components
            when n_found < n_components then 'partly measured: missing ' || missing_components
            when abs(gap_pp) > interval_half_width_pp + tolerance_pp then
                format('gap {:.1f} pp exceeds the interval half-width {:.1f} pp + tolerance {:.1f} pp',
                       gap_pp, interval_half_width_pp, tolerance_pp)
            else format('within the interval half-width {:.1f} pp + tolerance {:.1f} pp (gap {:.1f} pp)',
                        interval_half_width_pp, tolerance_pp, gap_pp)
        end
        || case when n_shot_differs then format('; shots differ (published {}, measured {}): a gap is expected',
                                                 n_shot, measured_n_shot) else '' end
        || case when comparability != 'same_method' and gap_pp is not null
                then '; method ' || replace(comparability, '_', ' ') || ': ' || notes else '' end
            as reason,
        evaluator,
        source,
        source_url,
        retrieved,
    from gaps
)

select * from final
