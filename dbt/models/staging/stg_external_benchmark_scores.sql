-- Benchmark items scored on other machines (opt-in external_results asset); absent by default.
with source as (
    {{ optional_raw_table('external_benchmark_scores', {
        'variant': 'varchar', 'hardware_id': 'varchar', 'rescored_correct': 'boolean',
    }) }}
)

select variant, hardware_id, rescored_correct, from source
