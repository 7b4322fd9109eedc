{# Speed measured by this pipeline's speed_runs (results from other machines are in
   stg_external_speed_summary). Load columns: the machine's load during the run (lib/measure/speed.py
   LoadMeter); null on rows written before they existed. #}
with source as (
    {{ optional_source('raw_speed', 'speed_summary', with_provenance({
        'hardware_id': 'varchar', 'hardware_class': 'varchar',
        'test': 'varchar', 'test_kind': 'varchar', 'n_tokens': 'bigint', 'reps': 'bigint', 'warmup_reps': 'bigint',
        'mean_tok_per_s': 'double', 'sd_tok_per_s': 'double', 'cv_pct': 'double',
        'ci_low_tok_per_s': 'double', 'ci_high_tok_per_s': 'double', 'median_tok_per_s': 'double',
        'q1_tok_per_s': 'double', 'q3_tok_per_s': 'double', 'min_tok_per_s': 'double', 'max_tok_per_s': 'double',
        'n_outliers_low': 'bigint', 'n_outliers_high': 'bigint', 'native_mean_tok_per_s': 'double',
        'weight_bytes_per_token': 'bigint', 'effective_bandwidth_gb_per_s': 'double',
        'bandwidth_gb_per_s': 'double', 'bandwidth_share_pct': 'double',
        'load_avg_1m': 'double', 'other_cpu_share': 'double', 'under_load': 'boolean',
        'load_threshold': 'double', 'attempts': 'bigint',
        'n_batch': 'bigint', 'n_ubatch': 'bigint', 'flash_attn': 'boolean',
    })) }}
),

renamed as (
    select
        {{- provenance_columns() }}
        hardware_id,
        hardware_class,
        test,
        test_kind,
        n_tokens,
        reps,
        warmup_reps,
        mean_tok_per_s,
        sd_tok_per_s,
        cv_pct,
        ci_low_tok_per_s,
        ci_high_tok_per_s,
        median_tok_per_s,
        q1_tok_per_s,
        q3_tok_per_s,
        min_tok_per_s,
        max_tok_per_s,
        n_outliers_low + n_outliers_high as n_outliers,
        native_mean_tok_per_s,
        weight_bytes_per_token,
        effective_bandwidth_gb_per_s,
        bandwidth_gb_per_s,
        bandwidth_share_pct,
        load_avg_1m,
        other_cpu_share,
        under_load,
        load_threshold,
        attempts,
        n_batch,
        n_ubatch,
        flash_attn,
    from source
)

select * from renamed
