{#
    The leaderboard per machine: one row per variant per hardware_id on which it was timed.
    - This machine's rows (origin 'this machine'): speed_runs, memory_probe, perplexity and
      standard_benchmark_scores' generate_rescore rows, i.e. the pipeline's own tables (their staging views).
    - Rows measured elsewhere (origin 'external'): the raw.external_* tables that the opt-in
      external_results asset writes (stg_external_*) (e.g. the committed H100 runs), each labelled with the machine
      (measured_on) and the date (measured_date). Absent unless the user opted in.
    Only this table puts machines side by side; the marts that compare rungs (leaderboard, cost,
    decisions, Pareto) read this machine's measurements alone.
#}
with speed_runs as (
    select
        variant, model, quant_requested, quant_obtained, hardware_id, hardware_class, test_kind, mean_tok_per_s,
        sd_tok_per_s, weight_bytes_per_token, effective_bandwidth_gb_per_s, bandwidth_share_pct, n_gpu_layers,
        engine_build, run_at,
    from {{ ref('stg_speed_summary') }}
),

external_speed_runs as (
    select * from {{ ref('stg_external_speed_summary') }}
),

machines as (
    select hardware_id, origin, hardware_class, cpu_model, gpu_name, bandwidth_gb_per_s,
    from {{ ref('dim_hardware') }}
),

cpu_memory_probes as (
    select variant, hardware_id, peak_rss_bytes, from {{ ref('stg_memory_probe') }}
),

external_memory_probes as (
    select * from {{ ref('stg_external_memory') }}
),

cpu_perplexity_runs as (
    select variant, perplexity, n_windows, n_gpu_layers, from {{ ref('stg_perplexity') }}
),

external_perplexity_runs as (
    select * from {{ ref('stg_external_perplexity') }}
),

cpu_scores as (
    select variant, rescored_correct, from {{ ref('stg_standard_benchmark_scores') }}
    where scorer = 'generate_rescore'
),

external_scores as (
    select * from {{ ref('stg_external_benchmark_scores') }}
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
    select variant, avg(perplexity) as perplexity, max(n_windows) as n_windows,
    from cpu_perplexity_runs
    where coalesce(n_gpu_layers, 0) = 0
    group by variant
),

external_perplexity as (
    select variant, hardware_id, avg(perplexity) as perplexity, max(n_windows) as n_windows,
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
