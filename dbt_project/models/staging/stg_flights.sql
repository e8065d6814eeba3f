-- One row per scheduled flight, typed and renamed. Times are local (America/New_York)
-- wall-clock: sched_dep_time is HHMM (e.g. 2359 = 23:59), turned into minutes after
-- midnight so a value like 2400 would roll over to the next day instead of failing.
-- The relationships tests below check carrier and origin against these two models: declared as
-- dependencies so every build of this model (a Dagster subset too) builds and runs them after.
-- depends_on: {{ ref('stg_airlines') }}
-- depends_on: {{ ref('stg_airports') }}
with

source as (

    select * from {{ source('raw', 'flights') }}

),

typed as (

    select
        {{ date_from_parts('year', 'month', 'day') }} as flight_date,
        cast(floor(sched_dep_time / 100) as integer) as sched_dep_hhmm_hour,
        cast(sched_dep_time % 100 as integer) as sched_dep_hhmm_minute,
        carrier,
        cast(flight as integer) as flight_number,
        tailnum,
        origin,
        dest,
        cast(distance as double) as distance,
        cast(dep_delay as double) as dep_delay,
        cast(arr_delay as double) as arr_delay,
        cast(air_time as double) as air_time,
        dep_time,
        partition_date,
        _file_hash

    from source

),

renamed as (

    select
        {{ dbt.concat([
            dbt.cast('flight_date', dbt.type_string()), "'-'",
            'carrier', "'-'",
            dbt.cast('flight_number', dbt.type_string()), "'-'",
            'origin'
        ]) }} as flight_id,
        flight_date,
        {{ timestamp_from_date_hour_minute('flight_date', 'sched_dep_hhmm_hour', 'sched_dep_hhmm_minute') }}
            as sched_dep_ts,
        carrier,
        flight_number,
        tailnum,
        origin,
        dest,
        distance,
        dep_delay,
        arr_delay,
        air_time,
        dep_time is null as is_cancelled,
        case when arr_delay is null then null else arr_delay > 15 end as is_delayed,
        partition_date,
        _file_hash

    from typed

)

select
    flight_id,
    flight_date,
    sched_dep_ts,
    {{ date_part_int('hour', 'sched_dep_ts') }} as sched_hour,
    {{ date_part_int('minute', 'sched_dep_ts') }} as sched_minute,
    carrier,
    flight_number,
    tailnum,
    origin,
    dest,
    distance,
    dep_delay,
    arr_delay,
    air_time,
    is_cancelled,
    is_delayed,
    partition_date,
    _file_hash

from renamed
