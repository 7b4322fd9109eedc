with source as (
    select * from {{ source('raw', 'catalog_models') }}
),

renamed as (
    select
        model,
        family,
        parameters as parameters_label,
        source_kind,
        source_sha256,
        base_quant,
        ladder,
        baseline_quant,
        baseline_variant,
        demo as is_demo,
        engine,
        license,
        cast(loaded_at as timestamp) as loaded_at,
    from source
)

select * from renamed
