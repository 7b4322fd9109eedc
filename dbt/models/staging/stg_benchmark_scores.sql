with source as (
    select * from {{ source('raw', 'benchmark_scores') }}
),

renamed as (
    select
        variant,
        task,
        task_version,
        item_id,
        scorer,
        gold as gold_letter,
        raw_letter,
        extracted_letter,
        raw_correct,
        rescored_correct,
        chance_rate,
    from source
)

select * from renamed
