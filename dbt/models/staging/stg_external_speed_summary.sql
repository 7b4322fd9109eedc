-- Speed measured on other machines (opt-in external_results asset); absent by default.
with source as (
    {{ optional_raw_table('external_speed_summary', {
        'variant': 'varchar', 'model': 'varchar', 'quant_requested': 'varchar', 'quant_obtained': 'varchar',
        'hardware_id': 'varchar', 'hardware_class': 'varchar', 'test_kind': 'varchar', 'mean_tok_per_s': 'double',
        'sd_tok_per_s': 'double', 'weight_bytes_per_token': 'bigint', 'effective_bandwidth_gb_per_s': 'double',
        'bandwidth_share_pct': 'double', 'n_gpu_layers': 'bigint', 'engine_build': 'varchar', 'run_at': 'varchar',
        'measured_on': 'varchar', 'measured_date': 'varchar',
    }) }}
),

renamed as (
    select
        variant,
        model,
        quant_requested,
        quant_obtained,
        hardware_id,
        hardware_class,
        test_kind,
        mean_tok_per_s,
        sd_tok_per_s,
        weight_bytes_per_token,
        effective_bandwidth_gb_per_s,
        bandwidth_share_pct,
        n_gpu_layers,
        engine_build,
        cast(run_at as timestamp) as run_at,
        measured_on,
        measured_date,
    from source
)

select * from renamed
