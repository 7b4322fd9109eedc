{#
    The leaderboard per machine: one row per variant per hardware_id on which it was timed.
    - This machine's rows (origin 'this machine'): speed_runs, memory_probe, perplexity and
      benchmark_scores, i.e. the pipeline's own tables.
    - Rows measured elsewhere (origin 'external'): the raw.external_* tables that the opt-in
      external_results asset writes (e.g. the committed H100 runs), each labelled with the machine
      (measured_on) and the date (measured_date). Absent unless the user opted in.
    Only this table puts machines side by side; the marts that compare rungs (leaderboard, cost,
    decisions, Pareto) read this machine's measurements alone.
#}
with speed_runs as (
    {{ optional_source('raw_speed', 'speed_summary', {
        'variant': 'varchar', 'model': 'varchar', 'quant_requested': 'varchar', 'quant_obtained': 'varchar',
        'hardware_id': 'varchar', 'hardware_class': 'varchar', 'test_kind': 'varchar', 'mean_tok_per_s': 'double',
        'sd_tok_per_s': 'double', 'weight_bytes_per_token': 'bigint', 'effective_bandwidth_gb_per_s': 'double',
        'bandwidth_share_pct': 'double', 'n_gpu_layers': 'bigint', 'engine_build': 'varchar', 'run_at': 'varchar',
    }) }}
),

external_speed_runs as (
    {{ optional_raw_table('external_speed_summary', {
        'variant': 'varchar', 'model': 'varchar', 'quant_requested': 'varchar', 'quant_obtained': 'varchar',
        'hardware_id': 'varchar', 'hardware_class': 'varchar', 'test_kind': 'varchar', 'mean_tok_per_s': 'double',
        'sd_tok_per_s': 'double', 'weight_bytes_per_token': 'bigint', 'effective_bandwidth_gb_per_s': 'double',
        'bandwidth_share_pct': 'double', 'n_gpu_layers': 'bigint', 'engine_build': 'varchar', 'run_at': 'varchar',
        'measured_on': 'varchar', 'measured_date': 'varchar',
    }) }}
),

machines as (
    select hardware_id, origin, hardware_class, cpu_model, gpu_name, bandwidth_gb_per_s,
    from {{ ref('dim_hardware') }}
),

cpu_memory_probes as (
    {{ optional_source('raw_speed', 'memory_probe', {
        'variant': 'varchar', 'hardware_id': 'varchar', 'peak_rss_bytes': 'bigint',
    }) }}
),

external_memory_probes as (
    {{ optional_raw_table('external_memory', {
        'variant': 'varchar', 'hardware_id': 'varchar', 'vram_peak_bytes': 'bigint', 'vram_estimate_bytes': 'bigint',
    }) }}
),

cpu_perplexity_runs as (
    {{ optional_source('raw_perplexity', 'perplexity', {
        'variant': 'varchar', 'ppl': 'double', 'n_windows': 'bigint', 'n_gpu_layers': 'bigint',
    }) }}
),

external_perplexity_runs as (
    {{ optional_raw_table('external_perplexity', {
        'variant': 'varchar', 'hardware_id': 'varchar', 'ppl': 'double', 'n_windows': 'bigint',
    }) }}
),

cpu_scores as (
    {{ optional_source('raw', 'benchmark_scores', {'variant': 'varchar', 'rescored_correct': 'boolean'}) }}
),

external_scores as (
    {{ optional_raw_table('external_benchmark_scores', {
        'variant': 'varchar', 'hardware_id': 'varchar', 'rescored_correct': 'boolean',
    }) }}
),

all_speed_runs as (
    select *, 'this machine' as origin, null::varchar as measured_on, null::varchar as measured_date,
    from speed_runs
    union all by name
    select *, 'external' as origin,
    from external_speed_runs
),

speed as (
    -- the latest run per test on each machine
    select
        variant,
        hardware_id,
        origin,
        any_value(model) as model,
        any_value(quant_requested) as quant,
        any_value(quant_obtained) as quant_obtained,
        any_value(hardware_class) as hardware_class,
        any_value(measured_on) as measured_on,
        any_value(measured_date) as measured_date,
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
    from all_speed_runs
    group by variant, hardware_id, origin
),

cpu_memory as (
    select variant, hardware_id, max(peak_rss_bytes) as peak_bytes,
    from cpu_memory_probes
    group by variant, hardware_id
),

external_memory as (
    select variant, hardware_id, max(vram_peak_bytes) as peak_bytes, max(vram_estimate_bytes) as estimate_bytes,
    from external_memory_probes
    group by variant, hardware_id
),

cpu_perplexity as (
    select variant, avg(ppl) as perplexity, max(n_windows) as n_windows,
    from cpu_perplexity_runs
    where coalesce(n_gpu_layers, 0) = 0
    group by variant
),

external_perplexity as (
    select variant, hardware_id, avg(ppl) as perplexity, max(n_windows) as n_windows,
    from external_perplexity_runs
    group by variant, hardware_id
),

cpu_accuracy as (
    select variant, count(*) as n_items, avg(rescored_correct::int) as accuracy,
    from cpu_scores
    group by variant
),

external_accuracy as (
    select variant, hardware_id, count(*) as n_items, avg(rescored_correct::int) as accuracy,
    from external_scores
    group by variant, hardware_id
),

cpu_decode as (
    -- the variant's decode speed on this machine's CPU (latest run), for the other rows' speed-up
    select variant, arg_max(decode_tok_per_s, last_run_at) as cpu_decode_tok_per_s,
    from speed
    where device_kind = 'cpu' and origin = 'this machine'
    group by variant
),

final as (
    select
        speed.model,
        speed.quant,
        speed.quant_obtained,
        speed.variant,
        speed.origin,
        -- where and when: this machine's rows are measured here; external rows carry their labels
        case when speed.origin = 'external' then speed.measured_on
             else coalesce(case when speed.device_kind = 'gpu' then machines.gpu_name else machines.cpu_model end,
                           'this machine') end as measured_on,
        case when speed.origin = 'external' then speed.measured_date
             else strftime(cast(speed.last_run_at as timestamp), '%Y-%m-%d') end as measured_date,
        speed.device_kind,
        case when speed.device_kind = 'gpu' then machines.gpu_name else machines.cpu_model end as device_name,
        speed.hardware_id,
        coalesce(speed.hardware_class, machines.hardware_class) as hardware_class,
        speed.n_gpu_layers,
        round(speed.decode_tok_per_s, 2) as decode_tok_per_s,
        round(speed.decode_sd_tok_per_s, 2) as decode_sd_tok_per_s,
        round(speed.prompt_tok_per_s, 1) as prompt_tok_per_s,
        round(speed.decode_tok_per_s / nullif(cpu_decode.cpu_decode_tok_per_s, 0), 2) as decode_speedup_vs_cpu,
        speed.weight_bytes_per_token,
        round(speed.effective_bandwidth_gb_per_s, 1) as effective_bandwidth_gb_per_s,
        machines.bandwidth_gb_per_s as measured_bandwidth_gb_per_s,
        round(speed.bandwidth_share_pct, 2) as bandwidth_share_pct,
        case when speed.origin = 'external' and speed.device_kind = 'gpu' then 'vram' else 'rss' end as memory_kind,
        case when speed.origin = 'external' then external_memory.peak_bytes else cpu_memory.peak_bytes end
            as peak_memory_bytes,
        external_memory.estimate_bytes as vram_estimate_bytes,
        case when speed.origin = 'external' then external_perplexity.perplexity else cpu_perplexity.perplexity end
            as perplexity,
        -- windows of WikiText-2 behind it: figures over different window counts do not compare
        case when speed.origin = 'external' then external_perplexity.n_windows else cpu_perplexity.n_windows end
            as perplexity_windows,
        case when speed.origin = 'external' then external_accuracy.accuracy else cpu_accuracy.accuracy end as accuracy,
        case when speed.origin = 'external' then external_accuracy.n_items else cpu_accuracy.n_items end
            as n_benchmark_items,
        speed.engine_build,
        speed.last_run_at,
    from speed
    left join machines
        on machines.hardware_id = speed.hardware_id
        and machines.origin = speed.origin
    left join cpu_decode on cpu_decode.variant = speed.variant
    left join cpu_memory
        on cpu_memory.variant = speed.variant
        and cpu_memory.hardware_id is not distinct from speed.hardware_id
    left join external_memory
        on external_memory.variant = speed.variant
        and external_memory.hardware_id = speed.hardware_id
    left join cpu_perplexity on cpu_perplexity.variant = speed.variant and speed.origin = 'this machine'
    left join external_perplexity
        on external_perplexity.variant = speed.variant
        and external_perplexity.hardware_id = speed.hardware_id
    left join cpu_accuracy on cpu_accuracy.variant = speed.variant and speed.origin = 'this machine'
    left join external_accuracy
        on external_accuracy.variant = speed.variant
        and external_accuracy.hardware_id = speed.hardware_id
)

select * from final
order by model, quant, origin desc, device_kind, hardware_id
