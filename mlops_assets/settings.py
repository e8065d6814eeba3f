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
``MLOPS_SPARK_MASTER``     Spark master for the in-process session          ``local[*]``
``MLOPS_SPARK_REMOTE``     Spark Connect URL (``sc://host:15002``): use a   unset
                           cluster instead of an in-process session
``MLOPS_FAILURE_WEBHOOK``  URL that run failures are POSTed to              unset
``DAGSTER_PG_HOST``        Dagster instance on PostgreSQL at this host      unset (SQLite)
``DAGSTER_PG_PORT``        its port                                         ``5432``
``DAGSTER_PG_DB``          its database                                     ``dagster``
``DAGSTER_PG_USERNAME``    its user                                         ``dagster``
``DAGSTER_PG_PASSWORD``    its password (read by Dagster, never written)    required with a host
``MLOPS_TRAINING_DAYS``    default training window of ``training_set``      ``28``
``MLOPS_HOLDOUT_DAYS``     default gate holdout days of ``training_set``    ``3``
``MLOPS_RUN_EXECUTOR``     executor of every run: ``multiprocess`` (a       ``multiprocess``
                           subprocess per step) or ``in_process``
=========================  ===============================================  =====================

Secrets are never written to a file: ``mlops init`` writes ``dagster.yaml`` with
``env:`` lookups for the PostgreSQL settings, so Dagster reads them from the
environment of each process. For MLflow on PostgreSQL, give a URI without a
password (``postgresql+psycopg2://user@host:port/mlflow``; SQLAlchemy 2.1 reads a bare
``postgresql://`` as psycopg 3, which is not installed) and the password in libpq's
``PGPASSWORD`` (or a ``~/.pgpass`` file).

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
PG_SCHEME = "postgresql+psycopg2"
"""SQLAlchemy URL scheme for PostgreSQL (Dagster instance, MLflow backend store)."""
RUN_EXECUTORS = ("multiprocess", "in_process")
MIN_TRAINING_DAYS = 6
"""Fewest fit days a training window may have (whole days split into train and validation)."""


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
    spark_master: str = "local[*]"
    spark_remote: str | None = None
    dagster_postgres: dict[str, str | int] | None = None
    """Dagster instance storage on PostgreSQL (host, port, db_name, username; no password),
    when ``DAGSTER_PG_HOST`` is set; None: SQLite under DAGSTER_HOME."""
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

    @property
    def spark_dir(self) -> Path:
        """Local Spark's warehouse (Parquet tables) and Hive metastore (Derby) live here."""
        return self.data_dir / "spark"

    @property
    def spark_warehouse_dir(self) -> Path:
        return self.spark_dir / "warehouse"

    @property
    def spark_metastore_dir(self) -> Path:
        return self.spark_dir / "metastore_db"

    def dbt_env(self) -> dict[str, str]:
        """Environment variables the dbt profile reads (``profiles.yml``)."""
        return {
            "MLOPS_WAREHOUSE": str(self.warehouse_path),
            "MLOPS_SPARK_WAREHOUSE_DIR": str(self.spark_warehouse_dir),
            "MLOPS_SPARK_METASTORE_URL": (
                f"jdbc:derby:;databaseName={self.spark_metastore_dir};create=true"
            ),
            "MLOPS_SPARK_MASTER": self.spark_master,
            # Derby writes derby.log into derby.system.home (default: the working directory)
            "MLOPS_SPARK_JAVA_OPTIONS": f"-Dderby.system.home={self.spark_dir}",
        }

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
        spark_master=env.get("MLOPS_SPARK_MASTER") or "local[*]",
        spark_remote=env.get("MLOPS_SPARK_REMOTE") or None,
        dagster_postgres=_dagster_postgres(env),
        training_days=_positive_int(env, "MLOPS_TRAINING_DAYS", 28, minimum=MIN_TRAINING_DAYS),
        holdout_days=_positive_int(env, "MLOPS_HOLDOUT_DAYS", 3, minimum=1),
        run_executor=run_executor,
    )


def _dagster_postgres(env: os._Environ[str] | dict[str, str]) -> dict[str, str | int] | None:
    host = env.get("DAGSTER_PG_HOST")
    if not host:
        return None
    port = env.get("DAGSTER_PG_PORT") or "5432"
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise SettingsError(f"DAGSTER_PG_PORT={port!r} is not a TCP port; allowed: 1 .. 65535")
    if not env.get("DAGSTER_PG_PASSWORD"):
        raise SettingsError(
            "DAGSTER_PG_HOST is set but DAGSTER_PG_PASSWORD is not: the Dagster instance on "
            "PostgreSQL reads its password from that environment variable"
        )
    return {
        "hostname": host,
        "port": int(port),
        "db_name": env.get("DAGSTER_PG_DB") or "dagster",
        "username": env.get("DAGSTER_PG_USERNAME") or "dagster",
        # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; the locked driver is psycopg2
        "scheme": PG_SCHEME,
    }


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
