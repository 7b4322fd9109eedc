{#
    The leaderboard per machine: one row per variant per hardware_id on which it was timed, CPU and
    GPU side by side. CPU rows come from the CPU assets (speed_runs with n_gpu_layers = 0, memory_probe,
    perplexity, benchmark_scores); GPU rows from scripts/gpu/load_results.py (speed_summary rows with
    n_gpu_layers > 0 and the raw.gpu_* tables). Every input but speed is optional.
    rpt_quantization_leaderboard stays the CPU table (int_variant_measurements_joined keeps CPU speed).
#}
with speed_runs as (
    {{ optional_source('raw_speed', 'speed_summary', {
        'variant': 'varchar', 'model': 'varchar', 'quant_requested': 'varchar', 'quant_obtained': 'varchar',
        'hardware_id': 'varchar', 'test_kind': 'varchar', 'mean_tok_per_s': 'double', 'sd_tok_per_s': 'double',
        'weight_bytes_per_token': 'bigint', 'effective_bandwidth_gb_per_s': 'double',
        'bandwidth_share_pct': 'double', 'n_gpu_layers': 'bigint', 'engine_build': 'varchar', 'run_at': 'varchar',
    }) }}
),

hardware as (
    {{ optional_source('raw_speed', 'hardware', {
        'hardware_id': 'varchar', 'cpu_model': 'varchar', 'gpu_name': 'varchar', 'bandwidth_gb_per_s': 'double',
    }) }}
),

cpu_memory_probes as (
    {{ optional_source('raw_speed', 'memory_probe', {
        'variant': 'varchar', 'hardware_id': 'varchar', 'peak_rss_bytes': 'bigint',
    }) }}
),

gpu_memory_probes as (
    {{ optional_raw_table('gpu_memory', {
        'variant': 'varchar', 'hardware_id': 'varchar', 'vram_peak_bytes': 'bigint', 'vram_estimate_bytes': 'bigint',
    }) }}
),

cpu_perplexity_runs as (
    {{ optional_source('raw_perplexity', 'perplexity', {
        'variant': 'varchar', 'ppl': 'double', 'n_windows': 'bigint', 'n_gpu_layers': 'bigint',
    }) }}
),

gpu_perplexity_runs as (
    {{ optional_raw_table('gpu_perplexity', {
        'variant': 'varchar', 'hardware_id': 'varchar', 'ppl': 'double', 'n_windows': 'bigint',
    }) }}
),

cpu_scores as (
    {{ optional_source('raw', 'benchmark_scores', {'variant': 'varchar', 'rescored_correct': 'boolean'}) }}
),

gpu_scores as (
    {{ optional_raw_table('gpu_benchmark_scores', {
        'variant': 'varchar', 'hardware_id': 'varchar', 'rescored_correct': 'boolean',
    }) }}
),

speed as (
    -- the latest run per test on each machine
    select
        variant,
        hardware_id,
        any_value(model) as model,
        any_value(quant_requested) as quant,
        any_value(quant_obtained) as quant_obtained,
        case when max(coalesce(n_gpu_layers, 0)) > 0 then 'gpu' else 'cpu' end as device_kind,
        max(coalesce(n_gpu_layers, 0)) as n_gpu_layers,
        arg_max(mean_tok_per_s, run_at) filter (where test_kind = 'tg') as decode_tok_per_s,
        arg_max(sd_tok_per_s, run_at) filter (where test_kind = 'tg') as decode_sd_tok_per_s,
        arg_max(mean_tok_per_s, run_at) filter (where test_kind = 'pp') as prompt_tok_per_s,
        arg_max(weight_bytes_per_token, run_at) filter (where test_kind = 'tg') as weight_bytes_per_token,
        arg_max(effective_bandwidth_gb_per_s, run_at) filter (where test_kind = 'tg') as effective_bandwidth_gb_per_s,
        arg_max(bandwidth_share_pct, run_at) filter (where test_kind = 'tg') as bandwidth_share_pct,
        arg_max(engine_build, run_at) as engine_build,
        max(run_at) as last_run_at,
    from speed_runs
    group by variant, hardware_id
),

cpu_memory as (
    select variant, hardware_id, max(peak_rss_bytes) as peak_bytes,
    from cpu_memory_probes
    group by variant, hardware_id
),

gpu_memory as (
    select variant, hardware_id, max(vram_peak_bytes) as peak_bytes, max(vram_estimate_bytes) as estimate_bytes,
    from gpu_memory_probes
    group by variant, hardware_id
),

cpu_perplexity as (
    select variant, avg(ppl) as perplexity, max(n_windows) as n_windows,
    from cpu_perplexity_runs
    where coalesce(n_gpu_layers, 0) = 0
    group by variant
),

gpu_perplexity as (
    select variant, hardware_id, avg(ppl) as perplexity, max(n_windows) as n_windows,
    from gpu_perplexity_runs
    group by variant, hardware_id
),

cpu_accuracy as (
    select variant, count(*) as n_items, avg(rescored_correct::int) as accuracy,
    from cpu_scores
    group by variant
),

gpu_accuracy as (
    select variant, hardware_id, count(*) as n_items, avg(rescored_correct::int) as accuracy,
    from gpu_scores
    group by variant, hardware_id
),

cpu_decode as (
    -- the variant's CPU decode speed (latest CPU run), for the GPU rows' speed-up
    select variant, arg_max(decode_tok_per_s, last_run_at) as cpu_decode_tok_per_s,
    from speed
    where device_kind = 'cpu'
    group by variant
),

final as (
    select
        speed.model,
        speed.quant,
        speed.quant_obtained,
        speed.variant,
        speed.device_kind,
        case when speed.device_kind = 'gpu' then hardware.gpu_name else hardware.cpu_model end as device_name,
        speed.hardware_id,
        speed.n_gpu_layers,
        round(speed.decode_tok_per_s, 2) as decode_tok_per_s,
        round(speed.decode_sd_tok_per_s, 2) as decode_sd_tok_per_s,
        round(speed.prompt_tok_per_s, 1) as prompt_tok_per_s,
        round(speed.decode_tok_per_s / nullif(cpu_decode.cpu_decode_tok_per_s, 0), 2) as decode_speedup_vs_cpu,
        speed.weight_bytes_per_token,
        round(speed.effective_bandwidth_gb_per_s, 1) as effective_bandwidth_gb_per_s,
        hardware.bandwidth_gb_per_s as measured_bandwidth_gb_per_s,
        round(speed.bandwidth_share_pct, 2) as bandwidth_share_pct,
        case when speed.device_kind = 'gpu' then 'vram' else 'rss' end as memory_kind,
        case when speed.device_kind = 'gpu' then gpu_memory.peak_bytes else cpu_memory.peak_bytes end as peak_memory_bytes,
        gpu_memory.estimate_bytes as vram_estimate_bytes,
        case when speed.device_kind = 'gpu' then gpu_perplexity.perplexity else cpu_perplexity.perplexity end
            as perplexity,
        -- windows of WikiText-2 behind it: figures over different window counts do not compare
        case when speed.device_kind = 'gpu' then gpu_perplexity.n_windows else cpu_perplexity.n_windows end
            as perplexity_windows,
        case when speed.device_kind = 'gpu' then gpu_accuracy.accuracy else cpu_accuracy.accuracy end as accuracy,
        case when speed.device_kind = 'gpu' then gpu_accuracy.n_items else cpu_accuracy.n_items end
            as n_benchmark_items,
        speed.engine_build,
        speed.last_run_at,
    from speed
    left join hardware using (hardware_id)
    left join cpu_decode using (variant)
    left join cpu_memory using (variant, hardware_id)
    left join gpu_memory using (variant, hardware_id)
    left join cpu_perplexity using (variant)
    left join gpu_perplexity using (variant, hardware_id)
    left join cpu_accuracy using (variant)
    left join gpu_accuracy using (variant, hardware_id)
)

select * from final
order by model, quant, device_kind, hardware_id
