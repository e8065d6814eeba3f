"""The warehouse engine: DuckDB (one file) or Apache Spark, chosen by ``MLOPS_ENGINE``.

Plain module (no dagster); pyspark and ibis are imported inside functions, so
importing this stays cheap.

* :func:`spark_conf` is the one list of Spark settings the Python side and dbt
  (``profiles.yml`` target ``spark``, ``server_side_parameters``) share: a
  warehouse folder and a Derby metastore under ``MLOPS_DATA_DIR/spark/``, UTC,
  wall-clock timestamps (``TIMESTAMP_NTZ``, like DuckDB's ``TIMESTAMP``), ANSI
  off (dbt-spark forces it off) and dynamic partition overwrite.
* :func:`spark_session` starts (or reuses) the in-process ``local[*]`` session, or
  connects to a cluster with Spark Connect when ``MLOPS_SPARK_REMOTE`` is set.
* :func:`ibis_backend` is the engine-neutral handle: an Ibis backend on DuckDB or
  on Spark.

The embedded Derby metastore admits one JVM at a time: in one process, run dbt
in-process (:func:`run_dbt`, dbt-spark's ``session`` method then reuses this
process's session); across processes, the ``duckdb_warehouse`` pool (limit 1)
already serializes the steps that touch the warehouse.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mlops_assets.settings import Settings, export_for_subprocesses, get_settings

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def spark_conf(settings: Settings | None = None) -> dict[str, str]:
    """Spark settings of the platform (the same values dbt's profile passes)."""
    s = settings or get_settings()
    env = s.dbt_env()
    return {
        "spark.sql.warehouse.dir": env["MLOPS_SPARK_WAREHOUSE_DIR"],
        "spark.hadoop.javax.jdo.option.ConnectionURL": env["MLOPS_SPARK_METASTORE_URL"],
        "spark.driver.extraJavaOptions": env["MLOPS_SPARK_JAVA_OPTIONS"],
        "spark.sql.session.timeZone": "UTC",
        "spark.sql.timestampType": "TIMESTAMP_NTZ",
        "spark.sql.ansi.enabled": "false",
        "spark.sql.sources.partitionOverwriteMode": "dynamic",
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.adaptive.enabled": "true",
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.legacy.createHiveTableByDefault": "false",
    }


def is_spark(con: Any) -> bool:
    """True for a pyspark SparkSession (classic or Spark Connect), without importing pyspark."""
    return type(con).__name__ == "SparkSession" and type(con).__module__.startswith("pyspark")


def spark_session(settings: Settings | None = None) -> SparkSession:
    """The platform's SparkSession: in-process ``local[*]`` by default, Spark Connect if configured."""
    from pyspark.sql import SparkSession

    s = settings or get_settings()
    if s.spark_remote:
        return SparkSession.builder.remote(s.spark_remote).getOrCreate()
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    s.spark_dir.mkdir(parents=True, exist_ok=True)
    builder = SparkSession.builder.master(s.spark_master).appName("mlops-assets")
    for k, v in spark_conf(s).items():
        builder = builder.config(k, v)
    spark = builder.enableHiveSupport().getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def release_local_spark(timeout_s: float = 60.0) -> bool:
    """Stop this process's local Spark and its JVM, so another process can open the metastore.

    The embedded Derby metastore admits one JVM at a time; a dbt run on the ``spark`` target
    (``session`` method) is a subprocess with a JVM of its own. Called before it when this
    process started a local session (an in-process Dagster run after a raw load). The next
    :func:`spark_session` starts a new JVM (a few seconds). No-op without pyspark or a JVM;
    returns True when a JVM was stopped.
    """
    import sys

    if "pyspark" not in sys.modules:
        return False
    from pyspark import SparkContext
    from pyspark.sql import SparkSession

    gateway = SparkContext._gateway
    if gateway is None:
        return False
    active = SparkSession.getActiveSession()
    if active is not None:
        active.stop()
    proc = getattr(gateway, "proc", None)
    gateway.shutdown()
    if proc is not None:
        if proc.stdin is not None:
            proc.stdin.close()  # the gateway JVM exits on EOF of its stdin
        try:
            proc.wait(timeout=timeout_s)
        except Exception:  # noqa: BLE001 - still alive: kill it, the metastore lock goes with it
            proc.kill()
            proc.wait(timeout=timeout_s)
    SparkContext._gateway = None
    SparkContext._jvm = None
    return True


def ibis_backend(con: Any):
    """An Ibis backend over a DuckDB connection or a SparkSession."""
    import ibis

    if is_spark(con):
        return ibis.pyspark.connect(con)
    return ibis.duckdb.from_connection(con)


def date_literal(day: str) -> str:
    """``DATE 'YYYY-MM-DD'`` (valid SQL on DuckDB and Spark) after checking the text."""
    if not _DATE.match(day):
        raise ValueError(f"not a YYYY-MM-DD date: {day!r}")
    return f"DATE '{day}'"


def run_dbt(args: list[str], settings: Settings | None = None, project_dir: Path | None = None):
    """Run dbt in this process (dbtRunner); on Spark the ``session`` target reuses our session.

    Returns the ``dbtRunnerResult``; raises RuntimeError naming the failed nodes.
    """
    from dbt.cli.main import dbtRunner

    s = settings or get_settings()
    project_dir = project_dir or s.dbt_project_dir
    export_for_subprocesses(s)  # profiles.yml reads MLOPS_WAREHOUSE / MLOPS_SPARK_* from the env
    # its own target/log folders: dbt_project/target keeps the manifest Dagster loads
    work = s.data_dir / "dbt" / s.dbt_target
    res = dbtRunner().invoke(
        [*args, "--project-dir", str(project_dir), "--profiles-dir", str(project_dir),
         "--target", s.dbt_target, "--target-path", str(work / "target"),
         "--log-path", str(work / "logs")]
    )  # fmt: skip
    if not res.success:
        failed = []
        for r in getattr(res.result, "results", None) or []:
            if str(getattr(r, "status", "")) not in ("success", "pass", "skipped"):
                failed.append(f"{r.node.name}: {r.status} {r.message or ''}".strip())
        detail = "; ".join(failed) if failed else repr(res.exception)
        raise RuntimeError(f"dbt {' '.join(args)} failed on target {s.dbt_target}: {detail}")
    return res


def fetch_rows(con: Any, sql: str) -> list[tuple]:
    """Rows of a query on a DuckDB connection or a SparkSession (SQL both dialects accept)."""
    if is_spark(con):
        return [tuple(r) for r in con.sql(sql).collect()]
    return con.execute(sql).fetchall()


def engine_kind() -> str:
    """The engine name for Dagster ``kinds`` (``duckdb`` or ``spark``)."""
    return get_settings().engine
