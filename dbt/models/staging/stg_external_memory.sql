-- GPU memory measured on other machines (opt-in external_results asset); absent by default.
with source as (
    {{ optional_raw_table('external_memory', {
        'variant': 'varchar', 'hardware_id': 'varchar', 'vram_peak_bytes': 'bigint', 'vram_estimate_bytes': 'bigint',
    }) }}
)

select variant, hardware_id, vram_peak_bytes, vram_estimate_bytes, from source
