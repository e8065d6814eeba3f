"""Shared fixtures: a fresh data folder, settings, resources and Dagster instance per test."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import dagster as dg
import pytest

from mlops_assets.settings import Settings, reload_settings

ENV_VARS = ("MLOPS_DATA_DIR", "MLOPS_WAREHOUSE", "DAGSTER_HOME", "MLFLOW_TRACKING_URI",
            "MLOPS_DBT_TARGET", "MLOPS_ENGINE", "MLOPS_FAILURE_WEBHOOK")


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
