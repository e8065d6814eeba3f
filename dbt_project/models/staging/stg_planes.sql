with

source as (

    select * from {{ source('raw', 'planes') }}

),

renamed as (

    select
        tailnum,
        cast(year as integer) as year_built,
        cast(seats as integer) as seats,
        cast(engines as integer) as engines,
        manufacturer,
        model,
        type

    from source

)

select * from renamed
