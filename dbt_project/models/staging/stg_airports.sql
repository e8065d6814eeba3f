with

source as (

    select * from {{ source('raw', 'airports') }}

),

renamed as (

    select
        faa,
        name,
        cast(lat as double) as lat,
        cast(lon as double) as lon,
        cast(alt as integer) as alt,
        tzone

    from source

)

select * from renamed
