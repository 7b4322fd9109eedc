with inventory as (
    select * from {{ ref('stg_gguf_inventory') }}
),

catalog as (
    select * from {{ ref('stg_catalog_models') }}
),

laddered as (
    select
        inventory.*,
        -- FP16 is how Ollama and TR125 write F16.
        replace(upper(inventory.quant_requested), 'FP16', 'F16') as quant_canonical,
        -- Highest precision first, by the file's measured bits per weight: that also orders rungs
        -- whose requested type llama.cpp replaced with a fallback, and types no list knows yet.
        -- Byte-identical rungs tie; the catalog's ladder (listed highest precision first) breaks it.
        row_number() over (
            partition by inventory.model
            order by
                coalesce(inventory.bits_per_weight, inventory.size_bytes * 8.0 / nullif(inventory.n_parameters, 0))
                    desc nulls last,
                inventory.size_bytes desc,
                list_position(string_split(catalog.ladder, ','), inventory.quant_requested) nulls last,
                inventory.quant_requested desc
        ) as ladder_position,
    from inventory
    left join catalog using (model)
),

identical as (
    -- Byte-identical rungs (llama.cpp fell back to the same types): point each at the
    -- highest-precision other rung with the same bytes.
    select
        this.variant,
        arg_min(other.variant, other.ladder_position) as identical_to,
        bool_or(other.ladder_position < this.ladder_position) as is_duplicate_rung,
    from laddered as this
    inner join laddered as other
        on this.model = other.model
        and this.gguf_sha256 = other.gguf_sha256
        and this.variant != other.variant
    group by this.variant
),

labels as (
    -- Byte-identical rungs are one rung: every name it was requested under, highest precision first.
    select
        this.variant,
        string_agg(other.quant_requested, ' = ' order by other.ladder_position) as same_bytes_label,
        coalesce(bool_or(other.is_quant_fallback), false) as any_fallback,
    from laddered as this
    inner join laddered as other
        on this.model = other.model and this.gguf_sha256 = other.gguf_sha256
    group by this.variant
),

final as (
    select
        laddered.variant,
        laddered.model,
        laddered.quant_requested,
        laddered.quant_obtained,
        laddered.quant_labelled,
        laddered.quant_mix,
        -- From the tensors (lib/gguf/quant_types.py): the majority type is not the requested type's own.
        laddered.is_quant_fallback,
        laddered.main_tensor_type,
        -- "Q3_K_S = Q2_K" for byte-identical rungs; "(obtained Q4_0)" where llama.cpp fell back.
        labels.same_bytes_label
            || case when labels.any_fallback then ' (obtained ' || coalesce(laddered.quant_obtained, '?') || ')' else '' end
            as rung_label,
        laddered.ladder_position,
        -- The baseline is decided once from the catalog's ladder (lib/gguf/ladder.py's rule).
        coalesce(laddered.variant = catalog.baseline_variant, false) as is_baseline,
        catalog.baseline_variant,
        'F16, else BF16, else the highest-precision rung of the catalog ladder (TR125)' as baseline_rule,
        identical.identical_to,
        coalesce(identical.is_duplicate_rung, false) as is_duplicate_rung,
        laddered.build_method,
        laddered.gguf_sha256,
        laddered.base_sha256,
        laddered.size_bytes,
        laddered.size_gb,
        laddered.n_parameters,
        laddered.bits_per_weight,
        laddered.architecture,
        laddered.context_length,
        laddered.has_chat_template,
        laddered.built_at,
        catalog.family,
        catalog.parameters_label,
        catalog.source_kind,
        catalog.source_sha256,
        catalog.base_quant,
        catalog.license,
    from laddered
    left join identical using (variant)
    left join labels using (variant)
    left join catalog using (model)
)

select * from final
