with source as (
    select * from {{ source('raw', 'gguf_inventory') }}
),

renamed as (
    select
        variant,
        model,
        quant_requested,
        quant_obtained,
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
    from source
)

select * from renamed
