-- Perplexity measured on other machines (opt-in external_results asset); absent by default.
with source as (
    {{ optional_raw_table('external_perplexity', {
        'variant': 'varchar', 'hardware_id': 'varchar', 'ppl': 'double', 'n_windows': 'bigint',
    }) }}
)

select variant, hardware_id, ppl as perplexity, n_windows, from source
