"""Resources: the one owner of warehouse access, and the dbt CLI."""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg

from mlops_assets.settings import export_for_subprocesses, get_settings

if TYPE_CHECKING:  # duckdb loads on first connect, not with the definitions
    import duckdb

WAREHOUSE_POOL = "duckdb_warehouse"
"""Dagster pool every warehouse writer claims: DuckDB allows one writing process per file."""


class WarehouseResource(dg.ConfigurableResource):
    """Warehouse access on the configured engine (``MLOPS_ENGINE``): DuckDB or Spark.

    ``handle()`` yields what the plain modules accept on both engines (a DuckDB
    connection or a SparkSession); ``ibis()`` yields an Ibis backend on it;
    ``connect()`` is the DuckDB connection itself (DuckDB-only code).

    Writers are serialized by the ``duckdb_warehouse`` pool (limit 1 in the
    instance's dagster.yaml); as a second line of defence, opening the file
    retries while another process holds DuckDB's lock, so a concurrent run
    waits instead of failing. On local Spark the same pool keeps one JVM at a
    time on the embedded Derby metastore.
    """

    path: str
    lock_timeout_s: float = 600.0
    engine: str = "duckdb"

    @property
    def is_spark(self) -> bool:
        return self.engine == "spark"

    @contextmanager
    def handle(self, read_only: bool = False) -> Iterator[Any]:
        """A DuckDB connection or the SparkSession (kept for the process: JVM start is slow)."""
        if self.is_spark:
            from mlops_assets.engine import spark_session

            yield spark_session(get_settings())
            return
        with self.connect(read_only=read_only) as con:
            yield con

    @contextmanager
    def ibis(self, read_only: bool = False) -> Iterator[Any]:
        """An Ibis backend on the engine: the same expressions compile to DuckDB and Spark SQL."""
        from mlops_assets.engine import ibis_backend

        with self.handle(read_only=read_only) as con:
            yield ibis_backend(con)

    def export_for_dbt(self) -> None:
        """Point the dbt profile (``MLOPS_WAREHOUSE``) at this warehouse for spawned dbt runs."""
        export_for_subprocesses(warehouse_path=self.path)

    @contextmanager
    def dbt_build(self) -> Iterator[Path]:
        """Run one dbt invocation inside this block: all of its models land, or none do.

        dbt commits model by model, so a run killed (or failing) after
        ``int_route_delay_history`` committed and before ``fct_flights`` did would leave the
        warehouse half way. On DuckDB, dbt builds into a private copy of the warehouse file
        (the profile's ``MLOPS_WAREHOUSE`` points at it); when the block ends without error the
        copy replaces the warehouse with one atomic ``os.replace`` (same file system). A killed
        or failed run leaves the warehouse exactly as it was; its copy is removed by the next run. This is
        safe because the caller holds the ``duckdb_warehouse`` pool slot (limit 1), so nobody
        else writes the file meanwhile. Other engines (Spark) replace partitions atomically
        themselves: there the block just points dbt at the warehouse.
        """
        target = Path(self.path)
        dbt_target = get_settings().dbt_target
        if dbt_target != "duckdb":
            if dbt_target == "spark":  # dbt-spark `session`: a local JVM
                from mlops_assets.engine import release_local_spark

                release_local_spark()  # dbt's own JVM needs the Derby metastore to itself
            self.export_for_dbt()
            yield target
            return
        # same file name in a sibling folder: DuckDB names the catalog after the file, and the
        # views dbt creates refer to it ("warehouse"."staging"...), so it must not change
        shadow = target.parent / ".dbt-build" / target.name
        shadow.parent.mkdir(exist_ok=True)
        _remove_duckdb_files(shadow)
        if target.exists():
            with self.connect() as con:
                con.execute("CHECKPOINT")  # everything in the main file: no WAL left behind
            if _wal(target).exists():
                raise RuntimeError(f"{_wal(target)} still exists after CHECKPOINT; not copying {target}")
            shutil.copyfile(target, shadow)
        export_for_subprocesses(warehouse_path=shadow)
        try:
            yield shadow
            with self.connect_path(shadow) as con:
                con.execute("CHECKPOINT")
            _fsync(shadow)
            os.replace(shadow, target)
            _fsync(target.parent)
        finally:
            export_for_subprocesses(warehouse_path=target)
            _remove_duckdb_files(shadow)
            with contextlib.suppress(OSError):
                shadow.parent.rmdir()

    @contextmanager
    def connect_path(self, path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
        con = open_duckdb(str(path), timeout_s=self.lock_timeout_s)
        try:
            yield con
        finally:
            con.close()

    @contextmanager
    def connect(self, read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
        if self.is_spark:
            raise RuntimeError(
                "this step reads the warehouse with DuckDB-only SQL but MLOPS_ENGINE=spark; "
                "use WarehouseResource.handle() / ibis() (see mlops_assets/engine.py)"
            )
        con = open_duckdb(self.path, read_only=read_only, timeout_s=self.lock_timeout_s)
        try:
            yield con
        finally:
            con.close()


def _wal(path: Path) -> Path:
    return path.with_name(path.name + ".wal")


def _remove_duckdb_files(path: Path) -> None:
    for p in (path, _wal(path)):
        p.unlink(missing_ok=True)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def open_duckdb(path: str, read_only: bool = False, timeout_s: float = 600.0) -> duckdb.DuckDBPyConnection:
    """Open the warehouse, waiting (with backoff) while another process holds its lock."""
    import duckdb

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout_s
    delay = 0.05
    while True:
        try:
            return duckdb.connect(path, read_only=read_only)
        except duckdb.IOException as e:
            if "lock" not in str(e).lower() or time.monotonic() > deadline:
                raise
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


def default_resources() -> dict:
    from dagster_dbt import DbtCliResource

    from mlops_assets.defs.transform.project import dbt_project

    s = get_settings()
    return {
        "warehouse": WarehouseResource(path=str(s.warehouse_path), engine=s.engine),
        "dbt": DbtCliResource(
            project_dir=dbt_project,
            target=s.dbt_target,
            # the dbt installed beside this interpreter, whether or not .venv/bin is on PATH
            dbt_executable=str(Path(sys.executable).with_name("dbt")),
        ),
    }
