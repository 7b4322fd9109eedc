-- optional_source: a warehouse where speed_runs never ran still builds (empty view).
with source as (
    {{ optional_source('raw_speed', 'speed_samples', with_provenance({
        'hardware_id': 'varchar', 'test': 'varchar', 'test_kind': 'varchar', 'n_tokens': 'bigint', 'rep': 'bigint',
        'wall_ms': 'double', 'tok_per_s': 'double', 'native_ms': 'double', 'native_tok_per_s': 'double',
        'n_batch': 'bigint', 'n_ubatch': 'bigint', 'flash_attn': 'boolean', 'type_k': 'varchar',
    })) }}
),

renamed as (
    select
        {{- provenance_columns() }}
        hardware_id,
        test,
        test_kind,
        n_tokens,
        rep,
        wall_ms,
        tok_per_s,
        native_ms,
        native_tok_per_s,
        n_batch,
        n_ubatch,
        flash_attn,
        type_k,
    from source
)

select * from renamed
