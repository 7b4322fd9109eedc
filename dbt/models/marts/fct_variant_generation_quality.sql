{# The key metric per variant and task (a fixed component list per task, int_generation_scores_aggregated),
   beside the JSON reliability figures for free and grammar-constrained decoding. Every mean is over
   every output: a failed one (empty, or no JSON where JSON was asked for) counts at the metric's
   worst value, and n_samples / n_failed say how many. Intervals come from Python (t). #}
with summary as (
    select * from {{ ref('stg_generation_summary') }}
),

key_metric as (
    select * from {{ ref('int_generation_scores_aggregated') }}
),

pivoted as (
    select
        variant,
        task,
        decoding,
        max(n_samples) as n_samples,
        max(n_failed) as n_failed,
        max(case when metric = 'failed' then mean end) as failure_rate,
        max(case when metric = 'truncated' then mean end) as truncation_rate,
        max(case when metric = 'rougeL' then mean end) as rouge_l_mean,
        max(case when metric = 'rougeL' then ci_low end) as rouge_l_ci_low,
        max(case when metric = 'rougeL' then ci_high end) as rouge_l_ci_high,
        max(case when metric = 'bertscore' then mean end) as bertscore_mean,
        max(case when metric = 'bertscore' then ci_low end) as bertscore_ci_low,
        max(case when metric = 'bertscore' then ci_high end) as bertscore_ci_high,
        max(case when metric = 'semscore' then mean end) as semscore_mean,
        max(case when metric = 'bleu' then mean end) as bleu_mean,
        max(case when metric = 'repetition' then mean end) as repetition_mean,
        max(case when metric = 'length_compliance' then mean end) as length_compliance_rate,
        max(case when metric = 'refusal' then mean end) as refusal_rate,
        max(case when metric = 'label_accuracy' then mean end) as label_accuracy,
        max(case when metric = 'e2e_slot_coverage' then mean end) as e2e_slot_coverage,
        max(case when metric = 'e2e_hallucinated_count' then mean end) as e2e_hallucinated_per_output,
        max(case when metric = 'json_parse' then mean end) as json_parse_rate,
        max(case when metric = 'json_schema_compliance' then mean end) as json_schema_compliance_rate,
        max(case when metric = 'json_field_completeness' then mean end) as json_field_completeness,
        max(case when metric = 'json_extraneous' then mean end) as json_extraneous_rate,
        max(case when metric = 'json_key_accuracy' then mean end) as json_key_accuracy,
    from summary
    group by variant, task, decoding
),

final as (
    select
        pivoted.*,
        key_metric.generation_key_metric,
        key_metric.key_metric_components,
        key_metric.n_key_metric_components,
        key_metric.n_key_metric_components_measured,
        key_metric.key_metric_null_reason,
    from pivoted
    left join key_metric
        on pivoted.variant = key_metric.variant
        and pivoted.task = key_metric.task
        and pivoted.decoding = 'free'
)

select * from final
