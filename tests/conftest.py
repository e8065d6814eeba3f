"""Shared fixtures: a fresh data folder, settings, resources and Dagster instance per test."""

from __future__ import annotations

import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from mlops_assets.settings import Settings, reload_settings

ENV_VARS = ("MLOPS_DATA_DIR", "MLOPS_WAREHOUSE", "DAGSTER_HOME", "MLFLOW_TRACKING_URI",
            "MLOPS_DBT_TARGET", "MLOPS_ENGINE", "MLOPS_FAILURE_WEBHOOK",
            "DAGSTER_PG_HOST", "DAGSTER_PG_PORT", "DAGSTER_PG_DB", "DAGSTER_PG_USERNAME",
            "DAGSTER_PG_PASSWORD",
            "MLOPS_TRAINING_DAYS", "MLOPS_HOLDOUT_DAYS", "MLOPS_RUN_EXECUTOR")


@dataclass
class Platform:
    settings: Settings
    resources: dict
    instance: dg.DagsterInstance

    @property
    def data_dir(self) -> Path:
        return self.settings.data_dir


@pytest.fixture
def platform(tmp_path, monkeypatch) -> Platform:
    """A new data folder with settings, the default resources and an instance on it."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLOPS_DATA_DIR", str(tmp_path / "data"))
    settings = reload_settings()
    settings.ensure_dirs()
    from mlops_assets.instance import instance_config
    from mlops_assets.resources import default_resources

    cfg = instance_config(settings)
    overrides = {k: cfg[k] for k in ("concurrency",)}
    with dg.instance_for_test(overrides=overrides, temp_dir=str(settings.dagster_home)) as instance:
        yield Platform(settings=settings, resources=default_resources(), instance=instance)
    reload_settings()


NINE_DAYS = [__import__("datetime").date(2013, 1, 1) + __import__("datetime").timedelta(days=i) for i in range(9)]
SHORT_WINDOW = {"window_days": 6, "holdout_days": 3}


@dataclass
class PipelineRun:
    settings: Settings
    resources: dict
    instance: dg.DagsterInstance
    defs: dg.Definitions

    @property
    def uri(self) -> str:
        return self.settings.mlflow_tracking_uri


@contextmanager
def pipeline_run(base: Path, days=NINE_DAYS, training_config=SHORT_WINDOW, env: dict | None = None):
    """The whole graph run once on real days in its own data folder, for a module's tests.

    The instance is the data folder's own (``DAGSTER_HOME`` with our dagster.yaml), so the
    ``mlops`` commands, which open ``DagsterInstance.get()``, see the same runs. ``env`` adds
    environment variables (e.g. PostgreSQL storage for the instance and MLflow).
    """
    import os

    from mlops_assets.core import landing
    from mlops_assets.definitions import defs
    from mlops_assets.instance import write_instance_yaml
    from mlops_assets.pipeline import materialize_days
    from mlops_assets.resources import default_resources

    saved_env = dict(os.environ)
    try:
        with pytest.MonkeyPatch.context() as mp:
            for var in ENV_VARS:
                mp.delenv(var, raising=False)
            mp.setenv("MLOPS_DATA_DIR", str(base / "data"))
            for var, value in (env or {}).items():
                mp.setenv(var, value)
            settings = reload_settings()
            settings.ensure_dirs()
            write_instance_yaml(settings)
            mp.setenv("DAGSTER_HOME", str(settings.dagster_home))
            resources = default_resources()
            landing.replay(settings.landing_dir, days)
            with dg.DagsterInstance.get() as instance:
                materialize_days(days, instance, echo=lambda _: None, defs=defs,
                                 resources=resources, training_config=training_config)
                yield PipelineRun(settings=settings, resources=resources, instance=instance, defs=defs)
    finally:
        os.environ.clear()
        os.environ.update(saved_env)
        reload_settings()


VOLATILE_COLUMNS = re.compile(r"(^_loaded_at$|run_id|_at$|^loaded|timestamp$)", re.IGNORECASE)
"""Columns that differ between two correct runs of the same data (run ids, load times)."""


def table_digests(db_path: Path | str, schemas: tuple[str, ...] | None = None) -> dict[str, tuple[int, str]]:
    """``{schema.table: (rows, sha256 of the sorted rows)}`` of every base table, run-id and
    load-time columns left out, so two warehouses with the same content compare equal."""
    import hashlib

    import duckdb

    out: dict[str, tuple[int, str]] = {}
    with duckdb.connect(str(db_path), read_only=True) as con:
        tables = con.execute(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_type = 'BASE TABLE' AND table_catalog = current_database() ORDER BY ALL"
        ).fetchall()
        for schema_name, table in tables:
            if schemas is not None and schema_name not in schemas:
                continue
            cols = [c for (c,) in con.execute(
                "SELECT column_name FROM information_schema.columns WHERE table_schema = ? "
                "AND table_name = ? ORDER BY ordinal_position", [schema_name, table]).fetchall()
                if not VOLATILE_COLUMNS.search(c)]
            sel = ", ".join(f'"{c}"' for c in cols)
            rows = con.execute(f'SELECT {sel} FROM "{schema_name}"."{table}" ORDER BY ALL').fetchall()
            h = hashlib.sha256()
            for row in rows:
                h.update(repr(row).encode())
            out[f"{schema_name}.{table}"] = (len(rows), h.hexdigest())
    return out


# The longest modules first: `make test` spreads whole files over two workers (pytest-xdist
# --dist loadfile) in collection order, so a long file collected last would run alone at the end.
LONG_FIRST = ("test_services.py", "test_backfill_concurrency.py", "test_spark.py", "test_lineage.py", "test_postgres.py",
              "test_reliability.py", "test_pipeline_e2e.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: i for i, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONG_FIRST)))
