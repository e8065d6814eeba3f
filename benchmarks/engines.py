"""Benchmark hook: the same drift + contract work on DuckDB and on local Spark (figures only).

    python -m benchmarks.engines --rows 100000 [--data DIR] [--master 'local[*]']

:func:`compare_engines` generates (``benchmarks.scale``) ``rows`` reference feature rows from
January and ``rows`` current rows from July as Parquet, then on each engine:

* drift: ``compute_drift`` of current against reference over the 20 feature columns of the
  harness (same columns and kinds as ``benchmarks.run``), straight over the Parquet files
  (DuckDB ``read_parquet``; Spark temporary views over ``spark.read.parquet``);
* contract: ``validate_features`` (Pandera's Ibis backend + the derived rule counts) over the
  current rows (DuckDB: a table in a file database; Spark: a temporary view over the Parquet).

It returns wall times per step (Spark's JVM start separately), the largest absolute difference
between the two engines' drift values and whether the contract verdicts are identical. Nothing
is asserted; ``benchmarks.run`` can call it in a child process to add peak memory.
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
DEFAULT_DATA = HERE / ".data"

NUMERIC = [
    "sched_hour", "day_of_week", "distance", "plane_age", "seats", "temp", "dewp", "humid",
    "wind_dir", "wind_speed", "wind_gust", "precip", "pressure", "visib",
    "route_flights_28d", "route_delay_rate_28d", "route_mean_arr_delay_28d",
]  # fmt: skip  -- as benchmarks.run: schema.NUMERIC_FEATURES without "month"
CATEGORICAL = ["carrier", "origin", "dest"]


def _data(rows: int, data: Path) -> tuple[Path, Path]:
    from benchmarks.scale import generate

    ref, cur = data / f"engines_ref_{rows}", data / f"engines_cur_{rows}"
    for out, month, seed in ((ref, 1, 1), (cur, 7, 2)):
        if not any(out.glob("*.parquet")):
            generate(out, rows, months=(month,), seed=seed, quiet=True)
    return ref, cur


def _drift_kw() -> dict[str, Any]:
    return {"columns": NUMERIC + CATEGORICAL, "categorical": CATEGORICAL, "numerical": NUMERIC}


def _duckdb(ref: Path, cur: Path, work: Path) -> dict[str, Any]:
    import duckdb

    from mlops_assets.features.contract import validate_features
    from mlops_assets.monitoring import compute_drift

    db = work / "engines.duckdb"
    db.unlink(missing_ok=True)
    con = duckdb.connect(str(db))
    con.execute("CREATE SCHEMA features")
    con.execute(
        f"CREATE TABLE features.flight_features AS SELECT * FROM read_parquet('{cur}/*.parquet')"
    )
    out: dict[str, Any] = {}
    t = time.perf_counter()
    drift = compute_drift(
        con, f"read_parquet('{ref}/*.parquet')", f"read_parquet('{cur}/*.parquet')", **_drift_kw()
    )
    out["drift_s"] = time.perf_counter() - t
    t = time.perf_counter()
    contract = validate_features(con, "features.flight_features")
    out["contract_s"] = time.perf_counter() - t
    con.close()
    db.unlink(missing_ok=True)
    return {"times": out, "drift": drift, "contract": contract}


def _spark(ref: Path, cur: Path, work: Path, master: str) -> dict[str, Any]:
    from mlops_assets.engine import spark_conf
    from mlops_assets.features.contract import validate_features
    from mlops_assets.monitoring import compute_drift
    from mlops_assets.settings import _from_env

    out: dict[str, Any] = {}
    t = time.perf_counter()
    from pyspark.sql import SparkSession

    settings = _from_env({"MLOPS_DATA_DIR": str(work / "spark_data"), "MLOPS_SPARK_MASTER": master})
    builder = SparkSession.builder.master(master).appName("mlops-bench")
    for k, v in spark_conf(settings).items():
        builder = builder.config(k, v)
    builder = builder.config("spark.driver.memory", "2g")
    spark = builder.getOrCreate()  # no Hive metastore: temporary views over Parquet suffice
    spark.sparkContext.setLogLevel("ERROR")
    out["session_s"] = time.perf_counter() - t
    try:
        spark.read.parquet(str(ref)).createOrReplaceTempView("bench_ref")
        spark.read.parquet(str(cur)).createOrReplaceTempView("bench_cur")
        t = time.perf_counter()
        drift = compute_drift(spark, "bench_ref", "bench_cur", **_drift_kw())
        out["drift_s"] = time.perf_counter() - t
        t = time.perf_counter()
        contract = validate_features(spark, "bench_cur")
        out["contract_s"] = time.perf_counter() - t
    finally:
        spark.stop()
    return {"times": out, "drift": drift, "contract": contract}


def compare_engines(
    rows: int, *, data: str | Path | None = None, master: str = "local[*]"
) -> dict[str, Any]:
    """Run drift + contract at ``rows`` rows on DuckDB and on local Spark; return the figures."""
    data = Path(data or DEFAULT_DATA)
    data.mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    ref, cur = _data(rows, data)
    gen_s = time.perf_counter() - t
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        d = _duckdb(ref, cur, data)
        s = _spark(ref, cur, data, master)
    diffs = [
        abs(a.value - b.value)
        for a, b in zip(d["drift"].features, s["drift"].features, strict=True)
    ]
    same_methods = [f.method for f in d["drift"].features] == [f.method for f in s["drift"].features]
    dc, sc = d["contract"], s["contract"]
    return {
        "rows": rows,
        "generate_s": gen_s,
        "duckdb": d["times"],
        "spark": {**s["times"], "master": master},
        "drift_max_abs_diff": max(diffs) if diffs else 0.0,
        "drift_same_methods": same_methods,
        "drift_share": [d["drift"].drift_share, s["drift"].drift_share],
        "contract_same": (dc.n_rows, dc.n_failed_rows, dc.failures_by_rule)
        == (sc.n_rows, sc.n_failed_rows, sc.failures_by_rule),
        "contract_n_rows": dc.n_rows,
        "contract_failures_by_rule": dc.failures_by_rule,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--data", default=str(DEFAULT_DATA))
    p.add_argument("--master", default="local[*]")
    a = p.parse_args(argv)
    print(json.dumps(compare_engines(a.rows, data=a.data, master=a.master), indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
