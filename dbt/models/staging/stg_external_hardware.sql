-- Machines whose results were loaded from elsewhere by the opt-in external_results asset; absent
-- by default (optional_raw_table: an empty view then).
with source as (
    {{ optional_raw_table('external_hardware', hardware_types({
        'measured_on': 'varchar', 'measured_date': 'varchar',
    })) }}
),

renamed as (
    select
        {{- hardware_columns() }}
        measured_on,     -- the machine, as labelled by the results file
        measured_date,
    from source
)

select * from renamed
