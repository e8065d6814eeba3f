"""The Dagster instance: ``$DAGSTER_HOME/dagster.yaml`` on SQLite (embedded default) or PostgreSQL.

PostgreSQL mode (``DAGSTER_PG_HOST`` set, see :mod:`mlops_assets.settings`): host, port,
database and user are written as they are; the password is an ``env: DAGSTER_PG_PASSWORD``
lookup that Dagster resolves in each process, so it is never written to dagster.yaml.
"""

from __future__ import annotations

from pathlib import Path

import yaml

from mlops_assets.resources import WAREHOUSE_POOL
from mlops_assets.settings import Settings, get_settings

PASSWORD_ENV = "DAGSTER_PG_PASSWORD"


def storage_config(settings: Settings) -> dict:
    if settings.dagster_postgres:
        db = {**settings.dagster_postgres, "password": {"env": PASSWORD_ENV}}
        return {"postgres": {"postgres_db": db}}
    return {"sqlite": {"base_dir": str(settings.dagster_home / "storage")}}


def instance_config(settings: Settings) -> dict:
    home = settings.dagster_home
    return {
        "storage": storage_config(settings),
        "local_artifact_storage": {
            "module": "dagster._core.storage.root",
            "class": "LocalArtifactStorage",
            "config": {"base_dir": str(home)},
        },
        # DuckDB allows one writer per file: every warehouse writer claims a slot in this pool.
        # The run buffer lets the queue launch runs while the slot is taken: their start-up (a
        # fresh process loading the code location, ~5-9 s) overlaps the writer, and they wait for
        # the slot at the step. With no buffer the queue launches a run only once the slot is
        # free, so a backfill of many small runs pays every start-up one after another. The queue
        # counts a run's warehouse root steps against the buffer (a daily raw run has two), so 6
        # lets max_concurrent_runs raw runs be in flight.
        "concurrency": {
            "pools": {"default_limit": 1, "op_granularity_run_buffer": 6},
            "runs": {"max_concurrent_runs": 4},
        },
        # Look for queued runs every second instead of every 5 s, and launch them from worker
        # threads: a launch returns only once the new run process has loaded the code location
        # (~5-9 s), so launching one after another caps a backfill at one run per load.
        "run_queue": {
            "dequeue_interval_seconds": 1,
            "dequeue_use_threads": True,
            "dequeue_num_workers": 4,
        },
        "telemetry": {"enabled": False},
        "nux": {"enabled": False},
        "auto_materialize": {"enabled": True, "use_sensors": True},
        "run_monitoring": {"enabled": True, "poll_interval_seconds": 30},
    }


def write_instance_yaml(settings: Settings | None = None) -> Path:
    """Write dagster.yaml into DAGSTER_HOME (idempotent); return its path."""
    s = settings or get_settings()
    s.ensure_dirs()
    path = s.dagster_home / "dagster.yaml"
    text = (
        f"# Written by `mlops init` for the data folder {s.data_dir}; pool: {WAREHOUSE_POOL}\n"
        + yaml.safe_dump(instance_config(s), sort_keys=False)
    )
    if not path.exists() or path.read_text() != text:
        path.write_text(text)
    return path


def init_instance(settings: Settings | None = None) -> Path:
    """Write dagster.yaml and create the instance's SQLite storage once, up front.

    Two processes that create a fresh SQLite storage at the same moment race on
    its schema migration; creating it here first means they never have to.
    """
    import dagster as dg

    s = settings or get_settings()
    path = write_instance_yaml(s)
    with dg.DagsterInstance.from_config(str(s.dagster_home)):
        pass
    return path
