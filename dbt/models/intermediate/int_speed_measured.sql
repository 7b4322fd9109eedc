{#
    Decode (tg) and prompt (pp) speed per variant per machine, with the trust it deserves.
    - The latest run per test (a re-run after an engine upgrade replaces, not averages, the old one).
    - is_this_machine: measured on the machine of the latest hardware_profile (the one running
      quantbench). Rows without a hardware_id, or a warehouse without a hardware table, count as
      this machine. Results measured elsewhere never reach this model (raw.external_*).
    - speed_overlaps_neighbour: the decode 95% CI overlaps the CI of an adjacent rung of the same
      model on the same machine (adjacent by bits per weight): their order is not established.
    - speed_flag: null when the speed can be trusted, else every reason, '; '-separated: measured
      under load (other processes above the threshold share of the CPU, still after one repeat),
      load not recorded, no interval (fewer than 2 repetitions), CI overlapping a neighbour rung,
      other engine settings than the machine's latest speed run.
    - speed_settings_differ: the decode speed was measured with other engine settings (engine build,
      threads, OpenMP wait, batch sizes, flash attention, extra buffers, GPU layers) than the latest
      decode run on the same machine. A short OpenMP spin alone doubles a small decode's speed
      (README, "OpenMP"): such speeds are not compared (the decision matrix's fastest is undecided).
#}
with speed as (
    select
        *,
        -- the settings a speed depends on, as 'name value' items ('not recorded' on older rows)
        [
            'engine ' || coalesce(engine_build, engine, 'not recorded'),
            'threads ' || coalesce(n_threads::varchar, 'not recorded'),
            'OpenMP ' || coalesce(omp_wait_policy, 'not recorded'),
            'n_batch ' || coalesce(n_batch::varchar, 'not recorded'),
            'n_ubatch ' || coalesce(n_ubatch::varchar, 'not recorded'),
            'flash_attn ' || coalesce(flash_attn::varchar, 'not recorded'),
            'extra buffers ' || coalesce(extra_buffers::varchar, 'not recorded'),
            'GPU layers ' || coalesce(n_gpu_layers::varchar, 'not recorded'),
        ] as speed_settings,
    from {{ ref('stg_speed_summary') }}
),

machine_settings as (
    -- the settings of each machine's latest decode run: the ones its speeds are compared under
    select hardware_id, first(speed_settings order by run_at desc, variant) as machine_speed_settings,
    from speed
    where test_kind = 'tg'
    group by hardware_id
),

hardware as (
    select * from {{ ref('stg_hardware') }}
),

inventory as (
    select * from {{ ref('stg_gguf_inventory') }}
),

this_machine as (
    select hardware_id from hardware
    qualify row_number() over (order by profiled_at desc nulls last, hardware_id) = 1
),

latest as (
    select
        variant,
        hardware_id,
        any_value(model) as model,
        arg_max(hardware_class, run_at) as speed_hardware_class,
        arg_max(test, run_at) filter (where test_kind = 'tg') as decode_test,
        arg_max(mean_tok_per_s, run_at) filter (where test_kind = 'tg') as decode_tok_per_s,
        arg_max(sd_tok_per_s, run_at) filter (where test_kind = 'tg') as decode_sd_tok_per_s,
        arg_max(cv_pct, run_at) filter (where test_kind = 'tg') as decode_cv_pct,
        arg_max(ci_low_tok_per_s, run_at) filter (where test_kind = 'tg') as decode_ci_low_tok_per_s,
        arg_max(ci_high_tok_per_s, run_at) filter (where test_kind = 'tg') as decode_ci_high_tok_per_s,
        arg_max(reps, run_at) filter (where test_kind = 'tg') as decode_reps,
        arg_max(under_load, run_at) filter (where test_kind = 'tg') as under_load,
        arg_max(other_cpu_share, run_at) filter (where test_kind = 'tg') as other_cpu_share,
        arg_max(load_avg_1m, run_at) filter (where test_kind = 'tg') as load_avg_1m,
        arg_max(load_threshold, run_at) filter (where test_kind = 'tg') as load_threshold,
        arg_max(attempts, run_at) filter (where test_kind = 'tg') as load_attempts,
        arg_max(mean_tok_per_s, run_at) filter (where test_kind = 'pp') as prompt_tok_per_s,
        max(run_at) filter (where test_kind = 'tg') as decode_run_at,
        arg_max(speed_settings, run_at) filter (where test_kind = 'tg') as decode_speed_settings,
    from speed
    group by variant, hardware_id
),

compared_settings as (
    select
        latest.* exclude (decode_speed_settings),
        list_filter(latest.decode_speed_settings, x -> not list_contains(machine.machine_speed_settings, x))
            as settings_here,
        list_filter(machine.machine_speed_settings, x -> not list_contains(latest.decode_speed_settings, x))
            as settings_latest,
    from latest
    left join machine_settings as machine
        on machine.hardware_id is not distinct from latest.hardware_id
),

laddered as (
    select
        latest.*,
        coalesce(len(latest.settings_here), 0) > 0 as speed_settings_differ,
        coalesce(latest.speed_hardware_class, hardware.hardware_class) as hardware_class,
        latest.hardware_id is null
            or not exists (select 1 from this_machine)
            or latest.hardware_id in (select hardware_id from this_machine) as is_this_machine,
        inventory.bits_per_weight,
        lag(latest.variant) over ladder as higher_rung,
        lag(latest.decode_ci_low_tok_per_s) over ladder as higher_ci_low,
        lag(latest.decode_ci_high_tok_per_s) over ladder as higher_ci_high,
        lead(latest.variant) over ladder as lower_rung,
        lead(latest.decode_ci_low_tok_per_s) over ladder as lower_ci_low,
        lead(latest.decode_ci_high_tok_per_s) over ladder as lower_ci_high,
    from compared_settings as latest
    left join inventory using (variant)
    left join hardware using (hardware_id)
    where latest.decode_tok_per_s is not null or latest.prompt_tok_per_s is not null
    window ladder as (
        partition by latest.model, latest.hardware_id, latest.decode_tok_per_s is null
        order by inventory.bits_per_weight desc nulls last, inventory.size_bytes desc nulls last, latest.variant
    )
),

flagged as (
    select
        *,
        coalesce(higher_ci_low <= decode_ci_high_tok_per_s and higher_ci_high >= decode_ci_low_tok_per_s, false)
            as overlaps_higher,
        coalesce(lower_ci_low <= decode_ci_high_tok_per_s and lower_ci_high >= decode_ci_low_tok_per_s, false)
            as overlaps_lower,
    from laddered
),

final as (
    select
        * exclude (overlaps_higher, overlaps_lower, higher_ci_low, higher_ci_high, lower_ci_low, lower_ci_high,
                   settings_here, settings_latest),
        overlaps_higher or overlaps_lower as speed_overlaps_neighbour,
        nullif(concat_ws('; ',
            case when under_load then
                'measured under load: other processes used ' || round(other_cpu_share * 100)::int
                || '% of the CPU (threshold ' || round(load_threshold * 100)::int || '%), still after a repeat'
            end,
            case when decode_tok_per_s is not null and under_load is null then 'load during the run not recorded' end,
            case when decode_tok_per_s is not null and decode_ci_low_tok_per_s is null
                then 'no speed interval (fewer than 2 repetitions)' end,
            case when overlaps_higher or overlaps_lower then
                'decode speed CI overlaps neighbour rung '
                || concat_ws(' and ', case when overlaps_higher then higher_rung end,
                                      case when overlaps_lower then lower_rung end)
                || ': their speed order is not established'
            end,
            case when speed_settings_differ then
                'measured with ' || array_to_string(settings_here, ', ') || ' where this machine''s latest speed run used '
                || array_to_string(settings_latest, ', ') || ': not comparable with the speeds measured so'
            end
        ), '') as speed_flag,
    from flagged
)

select * from final
