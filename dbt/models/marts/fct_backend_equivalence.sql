with items as (
    select * from {{ ref('stg_backend_equivalence_items') }}
),

tests as (
    select * from {{ ref('stg_backend_equivalence') }}
),

per_comparison as (
    select
        variant,
        task,
        comparison,
        any_value(task_version) as task_version,
        any_value(gguf_sha256) as gguf_sha256,
        any_value(engine_a) as engine_a,
        any_value(engine_b) as engine_b,
        any_value(engine_build_a) as engine_build_a,
        any_value(engine_build_b) as engine_build_b,
        max(run_at) as run_at,
        count(*) as n_items,
        sum(identical_output::int) as n_identical_output,
        sum(identical_answer::int) as n_identical_answer,
        sum(prompt_identical::int) as n_prompt_identical,
        avg(rescored_correct_a::int) as rescored_accuracy_a,
        avg(rescored_correct_b::int) as rescored_accuracy_b,
        -- Overhead only where both engines generated the same text: the same work, so the difference is
        -- the serving path. Rates use engine a's token count on both sides (one counting convention).
        median(wall_ms_b - wall_ms_a) filter (where identical_output) as median_overhead_ms,
        median(100 * (wall_ms_b / wall_ms_a - 1)) filter (where identical_output and wall_ms_a > 0)
            as median_overhead_pct,
        median(ttft_ms_b - ttft_ms_a) filter (where identical_output) as median_ttft_overhead_ms,
        median(native_decode_tok_per_s_a) as native_decode_tok_per_s_a,
        median(native_decode_tok_per_s_b) as native_decode_tok_per_s_b,
        median(completion_tokens_a / (wall_ms_a / 1000)) filter (where identical_output and wall_ms_a > 0)
            as wall_tok_per_s_a,
        median(completion_tokens_a / (wall_ms_b / 1000)) filter (where identical_output and wall_ms_b > 0)
            as wall_tok_per_s_b,
    from items
    group by variant, task, comparison
),

tested as (
    select
        variant,
        task,
        comparison,
        count(p_value) as n_metrics_tested,
        count(*) filter (where significant_holm) as n_metrics_differing_holm,
        max(p_holm) filter (where metric = 'output_chars') as output_chars_p_holm,
        max(p_holm) filter (where metric = 'rescored_correct') as rescored_correct_p_holm,
        max(p_holm) filter (where metric = 'wall_ms') as wall_ms_p_holm,
        max(p_holm) filter (where metric = 'ttft_ms') as ttft_ms_p_holm,
    from tests
    group by variant, task, comparison
),

final as (
    select
        per_comparison.variant,
        per_comparison.task,
        per_comparison.comparison,
        per_comparison.task_version,
        per_comparison.gguf_sha256,
        per_comparison.engine_a,
        per_comparison.engine_b,
        per_comparison.engine_build_a,
        per_comparison.engine_build_b,
        per_comparison.n_items,
        per_comparison.n_identical_output,
        per_comparison.n_identical_output::double / per_comparison.n_items as identical_output_share,
        {{ wilson_low('per_comparison.n_identical_output', 'per_comparison.n_items') }} as identical_output_share_ci_low,
        {{ wilson_high('per_comparison.n_identical_output', 'per_comparison.n_items') }} as identical_output_share_ci_high,
        per_comparison.n_identical_answer::double / per_comparison.n_items as identical_answer_share,
        {{ wilson_low('per_comparison.n_identical_answer', 'per_comparison.n_items') }} as identical_answer_share_ci_low,
        {{ wilson_high('per_comparison.n_identical_answer', 'per_comparison.n_items') }} as identical_answer_share_ci_high,
        per_comparison.n_prompt_identical::double / per_comparison.n_items as prompt_identical_share,
        per_comparison.rescored_accuracy_a,
        per_comparison.rescored_accuracy_b,
        (per_comparison.rescored_accuracy_b - per_comparison.rescored_accuracy_a) * 100 as rescored_accuracy_delta_pp,
        per_comparison.median_overhead_ms,
        per_comparison.median_overhead_pct,
        per_comparison.median_ttft_overhead_ms,
        per_comparison.native_decode_tok_per_s_a,
        per_comparison.native_decode_tok_per_s_b,
        per_comparison.wall_tok_per_s_a,
        per_comparison.wall_tok_per_s_b,
        tested.n_metrics_tested,
        tested.n_metrics_differing_holm,
        tested.output_chars_p_holm,
        tested.rescored_correct_p_holm,
        tested.wall_ms_p_holm,
        tested.ttft_ms_p_holm,
        per_comparison.run_at,
    from per_comparison
    left join tested using (variant, task, comparison)
)

select * from final
