-- Hourly weather per origin at local wall-clock hours. The raw CSV repeats the local
-- hour 01:00 on the DST change day (two UTC hours map to it); keep the first UTC
-- observation of such an hour, so (origin, obs_ts) is unique and joins one row.
with

source as (

    select * from {{ source('raw', 'weather') }}

),

renamed as (

    select
        origin,
        {{ date_from_parts('year', 'month', 'day') }} as obs_date,
        cast(hour as integer) as obs_hour,
        time_hour as obs_ts_utc,
        _loaded_at,
        cast(temp as double) as temp,
        cast(dewp as double) as dewp,
        cast(humid as double) as humid,
        cast(wind_dir as double) as wind_dir,
        cast(wind_speed as double) as wind_speed,
        cast(wind_gust as double) as wind_gust,
        cast(precip as double) as precip,
        cast(pressure as double) as pressure,
        cast(visib as double) as visib

    from source

),

ranked as (

    select
        *,
        {{ timestamp_from_date_hour_minute('obs_date', 'obs_hour', '0') }} as obs_ts,
        row_number() over (
            partition by origin, obs_date, obs_hour
            order by obs_ts_utc, _loaded_at desc
        ) as row_in_hour

    from renamed

)

select
    origin,
    obs_ts,
    obs_date,
    temp,
    dewp,
    humid,
    wind_dir,
    wind_speed,
    wind_gust,
    precip,
    pressure,
    visib

from ranked
where row_in_hour = 1
