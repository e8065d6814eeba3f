{#-
  Point-in-time route history: for every (origin, dest, flight_date = D) that has
  flights, what was known about the route before D's first departure, i.e. from
  flights on days [D - 28, D - 1]. Day D itself and later days are never read.

  Incremental by day: with vars min_date/max_date only the target days in
  [min_date, max_date) are (re)written, reading history from [min_date - 28, max_date - 1).
  Without vars every day is rebuilt. A changed raw day D also changes the history of
  D + 1 .. D + 28: re-run those partitions (or one window covering them) after a
  late or corrected load.
-#}
{{
    config(
        materialized='incremental',
        incremental_strategy=incremental_strategy(),
        unique_key=['origin', 'dest', 'flight_date'],
        partition_by=incremental_partition_by('flight_date'),
        on_schema_change='fail',
        pre_hook="{{ delete_partition_window(this, 'flight_date') }}",
    )
}}

{%- set lookback = var('route_history_days', 28) | int %}

with

target_days as (

    select distinct
        origin,
        dest,
        flight_date

    from {{ ref('stg_flights') }}
    where {{ partition_window_filter('flight_date') }}

),

-- one row per route and day of history: flights with an arrival, delayed ones, delay sum
route_days as (

    select
        origin,
        dest,
        flight_date,
        count(arr_delay) as n_arrived,
        sum(case when arr_delay > 15 then 1 else 0 end) as n_delayed,
        sum(arr_delay) as sum_arr_delay

    from {{ ref('stg_flights') }}
    where {{ partition_window_filter('flight_date', lookback_days=lookback, end_offset_days=-1) }}
    group by origin, dest, flight_date

),

history as (

    select
        t.origin,
        t.dest,
        t.flight_date,
        coalesce(sum(h.n_arrived), 0) as n_arrived,
        sum(h.n_delayed) as n_delayed,
        sum(h.sum_arr_delay) as sum_arr_delay

    from target_days as t
    left join route_days as h
        on  h.origin = t.origin
        and h.dest = t.dest
        and h.flight_date >= {{ date_add_days('t.flight_date', -lookback) }}
        and h.flight_date < t.flight_date
    group by t.origin, t.dest, t.flight_date

)

select
    origin,
    dest,
    flight_date,
    cast(n_arrived as integer) as route_flights_28d,
    case when n_arrived > 0 then cast(n_delayed as double) / n_arrived end
        as route_delay_rate_28d,
    case when n_arrived > 0 then cast(sum_arr_delay as double) / n_arrived end
        as route_mean_arr_delay_28d

from history
