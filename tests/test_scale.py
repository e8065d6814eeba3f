"""The benchmarks' scale generator: real flights resampled within their day to N rows."""

from __future__ import annotations

import duckdb

from benchmarks.scale import base_connection, generate
from mlops_assets import schema


def test_generator_resamples_january_within_days(tmp_path):
    n = 30_000  # January has 27,004 real flights
    base = base_connection((1,))
    out = generate(tmp_path / "jan", n, months=(1,), seed=3, chunk_rows=12_000, quiet=True, con=base)
    glob = f"read_parquet('{out / '*.parquet'}')"
    con = duckdb.connect()
    cols = [r[0] for r in con.execute(f"DESCRIBE SELECT * FROM {glob}").fetchall()]
    assert cols == [*schema.KEY_COLUMNS, *schema.FEATURE_COLUMNS, *schema.LABEL_COLUMNS]
    assert len(list(out.glob("*.parquet"))) == 3  # 12k + 12k + 6k
    rows, ids, months, days, lo, hi = con.execute(
        f"SELECT count(*), count(DISTINCT flight_id), count(DISTINCT month),"
        f" count(DISTINCT flight_date), min(flight_date), max(flight_date) FROM {glob}"
    ).fetchone()
    assert (rows, ids, months, days) == (n, n, 1, 31)
    assert (str(lo), str(hi)) == ("2013-01-01", "2013-01-31")
    # every day keeps its share of the year: n // B copies of its real count, plus the rest
    real = dict(base.execute("SELECT flight_date, count(*) FROM _sel GROUP BY 1").fetchall())
    got = dict(con.execute(f"SELECT flight_date, count(*) FROM {glob} GROUP BY 1").fetchall())
    assert sum(real.values()) == 27_004 and set(got) == set(real)
    assert all(real[d] <= got[d] <= 2 * real[d] for d in real)
    # and its rows are real flights of that day (distinct draws, with repeats)
    distinct = con.execute(
        "SELECT count(*) FROM (SELECT DISTINCT flight_date, sched_dep_ts, carrier, origin, dest,"
        f" arr_delay FROM {glob})"
    ).fetchone()[0]
    assert 10_000 < distinct <= 27_004
    mismatched = con.execute(
        f"SELECT count(*) FROM {glob} WHERE CAST(sched_dep_ts AS DATE) <> flight_date"
        " OR month <> 1 OR is_delayed IS DISTINCT FROM (arr_delay > 15)"
    ).fetchone()[0]
    assert mismatched == 0
