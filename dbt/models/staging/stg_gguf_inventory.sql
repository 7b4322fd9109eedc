-- optional_source for its column handling: a warehouse written before a column existed (e.g. the
-- quant-type columns below) reads it as null instead of failing.
with source as (
    {{ optional_source('raw', 'gguf_inventory', {
        'variant': 'varchar', 'model': 'varchar', 'quant_requested': 'varchar', 'quant_obtained': 'varchar',
        'quant_labelled': 'varchar', 'quant_mix': 'varchar', 'is_quant_fallback': 'boolean',
        'main_tensor_type': 'varchar', 'method': 'varchar', 'gguf_sha256': 'varchar', 'base_sha256': 'varchar',
        'size_bytes': 'bigint', 'n_parameters': 'bigint', 'bits_per_weight': 'double', 'architecture': 'varchar',
        'context_length': 'bigint', 'has_chat_template': 'boolean', 'n_tensors': 'bigint',
        'tensor_type_histogram': 'varchar', 'built_at': 'varchar', 'imatrix_calibration': 'varchar',
        'imatrix_calibration_sha256': 'varchar', 'imatrix_sha256': 'varchar'}) }}
),

renamed as (
    select
        variant,
        model,
        quant_requested,
        quant_obtained,     -- the tensor type holding most weight bytes (not the header's label)
        quant_labelled,     -- general.file_type: the type llama-quantize was asked for
        quant_mix,          -- JSON {tensor type: share of weight bytes}, largest first
        is_quant_fallback,  -- obtained differs from the requested type's base tensor type (null: unknown)
        main_tensor_type,
        method as build_method,
        gguf_sha256,
        base_sha256,
        size_bytes,
        size_bytes / 1e9 as size_gb,
        n_parameters,
        bits_per_weight,
        architecture,
        context_length,
        has_chat_template,
        tensor_type_histogram,
        cast(built_at as timestamp) as built_at,
        imatrix_calibration,         -- -imat rungs: the calibration text's name and sha256, the matrix's sha256
        imatrix_calibration_sha256,
        imatrix_sha256,
    from source
)

select * from renamed
