{#-
  One row per scheduled flight with everything known when it was scheduled (the
  features' inputs) and what happened (labels, dep_delay for analysis).
  Incremental by day: with vars min_date/max_date only flights of [min_date, max_date)
  are rewritten; without vars every day is rebuilt.
-#}
-- carrier is tested against stg_airlines (fct_flights.yml): a declared dependency, so every build of
-- this model (a Dagster subset of one day too) runs that test and runs after stg_airlines.
-- depends_on: {{ ref('stg_airlines') }}
{{
    config(
        materialized='incremental',
        incremental_strategy=incremental_strategy(),
        unique_key='flight_id',
        partition_by=incremental_partition_by('flight_date'),
        on_schema_change='fail',
        pre_hook="{{ delete_partition_window(this, 'flight_date') }}",
    )
}}

with

flights as (

    select * from {{ ref('stg_flights') }}
    where {{ partition_window_filter('flight_date') }}

),

weather as (

    select * from {{ ref('stg_weather') }}
    where {{ partition_window_filter('obs_date') }}

),

planes as (

    select * from {{ ref('stg_planes') }}

),

route_history as (

    select * from {{ ref('int_route_delay_history') }}
    where {{ partition_window_filter('flight_date') }}

),

joined as (

    select
        f.flight_id,
        f.flight_date,
        f.sched_dep_ts,
        f.sched_hour,
        {{ day_of_week('f.flight_date') }} as day_of_week,
        {{ date_part_int('month', 'f.flight_date') }} as month,
        f.carrier,
        f.origin,
        f.dest,
        f.distance,
        {{ date_part_int('year', 'f.flight_date') }} - p.year_built as plane_age,
        p.seats,
        w.temp,
        w.dewp,
        w.humid,
        w.wind_dir,
        w.wind_speed,
        w.wind_gust,
        w.precip,
        w.pressure,
        w.visib,
        coalesce(r.route_flights_28d, 0) as route_flights_28d,
        r.route_delay_rate_28d,
        r.route_mean_arr_delay_28d,
        f.arr_delay,
        f.is_cancelled,
        f.is_delayed,
        f.dep_delay,
        f.partition_date

    from flights as f
    left join weather as w
        on  w.origin = f.origin
        and w.obs_ts = {{ dbt.date_trunc('hour', 'f.sched_dep_ts') }}
    left join planes as p
        on p.tailnum = f.tailnum
    left join route_history as r
        on  r.origin = f.origin
        and r.dest = f.dest
        and r.flight_date = f.flight_date

)

select * from joined
