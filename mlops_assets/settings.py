"""The one place that reads configuration from the environment.

Every path and switch the platform uses is derived here. Nothing else in the
package reads ``os.environ``: assets, resources, the CLI and the tests all ask
:func:`get_settings`.

Environment variables (all optional):

=========================  ===============================================  =====================
variable                   meaning                                          default
=========================  ===============================================  =====================
``MLOPS_DATA_DIR``         the one data folder everything lives under       ``./data``
``MLOPS_WAREHOUSE``        DuckDB warehouse file                            ``$DATA/warehouse.duckdb``
``DAGSTER_HOME``           Dagster instance folder                          ``$DATA/dagster_home``
``MLFLOW_TRACKING_URI``    MLflow tracking store                            ``sqlite:///$DATA/mlflow/mlflow.db``
``MLOPS_DBT_TARGET``       dbt target in ``dbt_project/profiles.yml``       ``duckdb``
``MLOPS_ENGINE``           warehouse engine (``duckdb`` or ``spark``)       ``duckdb``
``MLOPS_FAILURE_WEBHOOK``  URL that run failures are POSTed to              unset
``MLOPS_TRAINING_DAYS``    default training window of ``training_set``      ``28``
``MLOPS_HOLDOUT_DAYS``     default gate holdout days of ``training_set``    ``3``
``MLOPS_RUN_EXECUTOR``     executor of every run: ``multiprocess`` (a       ``multiprocess``
                           subprocess per step) or ``in_process``
=========================  ===============================================  =====================

The two training defaults apply to every run that gives no ``training_set`` config, i.e. runs
launched by sensors, schedules and backfills (a short window for demos and the services test);
run config still overrides them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = PACKAGE_DIR.parent
DBT_PROJECT_DIR = PROJECT_DIR / "dbt_project"

ENGINES = ("duckdb", "spark")
RUN_EXECUTORS = ("multiprocess", "in_process")


class SettingsError(ValueError):
    """A configuration value is not allowed; the message says what is."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    warehouse_path: Path
    dagster_home: Path
    mlflow_tracking_uri: str
    mlflow_artifact_root: Path
    dbt_target: str
    engine: str
    failure_webhook: str | None
    training_days: int = 28
    holdout_days: int = 3
    run_executor: str = "multiprocess"

    @property
    def landing_dir(self) -> Path:
        return self.data_dir / "landing"

    @property
    def quarantine_dir(self) -> Path:
        return self.data_dir / "quarantine"

    @property
    def reports_dir(self) -> Path:
        return self.data_dir / "reports"

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def dbt_project_dir(self) -> Path:
        return DBT_PROJECT_DIR

    def dbt_env(self) -> dict[str, str]:
        """Environment variables the dbt profile reads (``profiles.yml``)."""
        return {"MLOPS_WAREHOUSE": str(self.warehouse_path)}

    def ensure_dirs(self) -> None:
        for d in (
            self.data_dir,
            self.landing_dir / "flights",
            self.landing_dir / "weather",
            self.landing_dir / "reference",
            self.quarantine_dir,
            self.reports_dir,
            self.logs_dir,
            self.dagster_home,
            self.mlflow_artifact_root,
        ):
            d.mkdir(parents=True, exist_ok=True)


def _from_env(env: os._Environ[str] | dict[str, str]) -> Settings:
    data_dir = Path(env.get("MLOPS_DATA_DIR") or "data").expanduser().resolve()
    engine = (env.get("MLOPS_ENGINE") or "duckdb").strip().lower()
    if engine not in ENGINES:
        raise SettingsError(
            f"MLOPS_ENGINE={engine!r} is not supported; allowed values: {', '.join(ENGINES)}"
        )
    run_executor = (env.get("MLOPS_RUN_EXECUTOR") or "multiprocess").strip().lower()
    if run_executor not in RUN_EXECUTORS:
        raise SettingsError(
            f"MLOPS_RUN_EXECUTOR={run_executor!r} is not supported; allowed values: {', '.join(RUN_EXECUTORS)}"
        )
    mlflow_dir = data_dir / "mlflow"
    return Settings(
        data_dir=data_dir,
        warehouse_path=Path(env.get("MLOPS_WAREHOUSE") or data_dir / "warehouse.duckdb")
        .expanduser()
        .resolve(),
        dagster_home=Path(env.get("DAGSTER_HOME") or data_dir / "dagster_home")
        .expanduser()
        .resolve(),
        mlflow_tracking_uri=env.get("MLFLOW_TRACKING_URI")
        or f"sqlite:///{mlflow_dir / 'mlflow.db'}",
        mlflow_artifact_root=mlflow_dir / "artifacts",
        dbt_target=env.get("MLOPS_DBT_TARGET") or engine,
        engine=engine,
        failure_webhook=env.get("MLOPS_FAILURE_WEBHOOK") or None,
        training_days=_positive_int(env, "MLOPS_TRAINING_DAYS", 28, minimum=3),
        holdout_days=_positive_int(env, "MLOPS_HOLDOUT_DAYS", 3, minimum=1),
        run_executor=run_executor,
    )


def _positive_int(env, name: str, default: int, minimum: int) -> int:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not an integer") from None
    if value < minimum:
        raise SettingsError(f"{name}={value} is below the minimum of {minimum}")
    return value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the current environment (cached; tests call ``reload_settings``)."""
    return _from_env(os.environ)


def reload_settings() -> Settings:
    get_settings.cache_clear()
    return get_settings()


def export_for_subprocesses(
    settings: Settings | None = None, warehouse_path: str | Path | None = None
) -> None:
    """Put the resolved paths into this process's environment for tools we spawn.

    dbt (its ``profiles.yml``) and MLflow read their locations from the
    environment; this is the only place that writes them, derived from the
    settings above so every tool sees the same data folder.
    """
    s = settings or get_settings()
    os.environ.update(s.dbt_env())
    if warehouse_path is not None:
        os.environ["MLOPS_WAREHOUSE"] = str(warehouse_path)
    os.environ.setdefault("DAGSTER_HOME", str(s.dagster_home))
