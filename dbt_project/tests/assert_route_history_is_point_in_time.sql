{#-
  Recomputes the route history of fct_flights straight from stg_flights, flight by
  flight, with the strict rule "days [D - 28, D - 1] only", and returns every route
  day whose stored values differ (so any same-day or later row would be caught).
  With vars min_date/max_date only that window is checked, which keeps partitioned
  runs fast.

  meta.dagster.ref makes it an asset check of fct_flights (it reads two models).
-#}
{{ config(meta={'dagster': {'ref': {'name': 'fct_flights'}}}) }}
{%- set lookback = var('route_history_days', 28) | int %}

with

stored as (

    select distinct
        origin,
        dest,
        flight_date,
        route_flights_28d,
        route_delay_rate_28d,
        route_mean_arr_delay_28d

    from {{ ref('fct_flights') }}
    where {{ partition_window_filter('flight_date') }}

),

recomputed as (

    select
        s.origin,
        s.dest,
        s.flight_date,
        count(h.arr_delay) as n_arrived,
        -- doubles, not decimal literals: Spark averages DECIMAL(2,1) to 5 decimal places
        avg(case when h.arr_delay is null then null
                 when h.arr_delay > 15 then cast(1 as double) else cast(0 as double) end)
            as delay_rate,
        avg(h.arr_delay) as mean_arr_delay

    from stored as s
    left join {{ ref('stg_flights') }} as h
        on  h.origin = s.origin
        and h.dest = s.dest
        and h.flight_date < s.flight_date
        and h.flight_date >= {{ date_add_days('s.flight_date', -lookback) }}
    group by s.origin, s.dest, s.flight_date

)

select
    s.*,
    r.n_arrived,
    r.delay_rate,
    r.mean_arr_delay

from stored as s
inner join recomputed as r
    on  r.origin = s.origin
    and r.dest = s.dest
    and r.flight_date = s.flight_date
where s.route_flights_28d <> r.n_arrived
   or (s.route_delay_rate_28d is null) <> (r.delay_rate is null)
   or abs(s.route_delay_rate_28d - r.delay_rate) > 1e-9
   or (s.route_mean_arr_delay_28d is null) <> (r.mean_arr_delay is null)
   or abs(s.route_mean_arr_delay_28d - r.mean_arr_delay) > 1e-9
