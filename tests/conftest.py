"""Shared fixtures: a fresh data folder, settings, resources and Dagster instance per test."""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from mlops_assets.settings import Settings, reload_settings

ENV_VARS = ("MLOPS_DATA_DIR", "MLOPS_WAREHOUSE", "DAGSTER_HOME", "MLFLOW_TRACKING_URI",
            "MLOPS_DBT_TARGET", "MLOPS_ENGINE", "MLOPS_FAILURE_WEBHOOK",
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
def pipeline_run(base: Path, days=NINE_DAYS, training_config=SHORT_WINDOW):
    """The whole graph run once on real days in its own data folder, for a module's tests.

    The instance is the data folder's own (``DAGSTER_HOME`` with our dagster.yaml), so the
    ``mlops`` commands, which open ``DagsterInstance.get()``, see the same runs.
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
