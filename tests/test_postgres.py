"""PostgreSQL for real: the Dagster instance (dagster-postgres) and MLflow's backend store on a
private PostgreSQL server started by this module, and a short pipeline end to end on them.

The server is Debian's PostgreSQL (``make test`` installs it when missing, see
scripts/system-test-deps.sh): ``initdb`` into a temporary directory, ``pg_ctl start`` on a free
loopback port with password (scram) authentication, as the ``postgres`` user when the tests run
as root (PostgreSQL refuses to run as root). The module skips, naming the reason, only when the
binaries are missing or the server cannot be started here.

Secrets: dagster.yaml carries ``password: {env: DAGSTER_PG_PASSWORD}``, and the MLflow URI has
no password (libpq reads ``PGPASSWORD``); the tests check that no file the platform wrote holds
the password.
"""

from __future__ import annotations

import datetime as dt
import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest
import yaml
from conftest import SHORT_WINDOW, pipeline_run

DAYS = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(9)]
USER = "mlops"
START_TIMEOUT_S = 60


def _pg_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(found[-1]).parent if found else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """A private PostgreSQL server in a temporary directory; stopped by :meth:`stop`."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.port = _free_port()
        self.password = secrets.token_urlsafe(18)
        self.root = Path(tempfile.mkdtemp(prefix="mlops-pg-"))
        self.datadir = self.root / "data"
        self.logfile = self.root / "server.log"
        self.run_as: list[str] = []
        if os.geteuid() == 0:  # postgres refuses to run as root: run it as the postgres user
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError:
                pytest.skip("running as root and there is no `postgres` user to run PostgreSQL as")
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self.run_as = ["runuser", "-u", "postgres", "--"]
        self.started = False

    def _run(self, args: list[str], timeout: float) -> subprocess.CompletedProcess:
        out = self.root / "cmd.log"
        with open(out, "ab") as fh:
            proc = subprocess.run([*self.run_as, *args], stdout=fh, stderr=subprocess.STDOUT,
                                  timeout=timeout, check=False, cwd=self.root)
        return proc

    def start(self) -> None:
        pwfile = self.root / "pw"
        pwfile.write_text(self.password + "\n")
        if self.run_as:
            pw = pwd.getpwnam("postgres")
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        pwfile.chmod(0o600)
        r = self._run([str(self.bindir / "initdb"), "-D", str(self.datadir), "-U", USER,
                       f"--pwfile={pwfile}", "--auth=scram-sha-256", "--encoding=UTF8",
                       "--locale=C", "--no-sync"], timeout=120)
        pwfile.unlink()
        if r.returncode != 0:
            pytest.skip(f"initdb failed ({r.returncode}): {(self.root / 'cmd.log').read_text()[-2000:]}")
        opts = (f"-p {self.port} -c listen_addresses=127.0.0.1 -k {self.root} "
                "-c fsync=off -c full_page_writes=off -c synchronous_commit=off -c max_connections=100")
        r = self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-l", str(self.logfile),
                       "-o", opts, "-w", "-t", str(START_TIMEOUT_S), "start"], timeout=START_TIMEOUT_S + 30)
        if r.returncode != 0:
            log = self.logfile.read_text()[-2000:] if self.logfile.exists() else ""
            pytest.skip(f"PostgreSQL did not start ({r.returncode}): {log}")
        self.started = True

    def connect(self, db: str = "postgres"):
        import psycopg2

        return psycopg2.connect(host="127.0.0.1", port=self.port, user=USER,
                                password=self.password, dbname=db, connect_timeout=10)

    def create_database(self, name: str) -> None:
        con = self.connect()
        try:
            con.autocommit = True
            with con.cursor() as cur:
                cur.execute(f'CREATE DATABASE "{name}"')
        finally:
            con.close()

    def query(self, db: str, sql: str, params=()) -> list[tuple]:
        con = self.connect(db)
        try:
            with con.cursor() as cur:
                cur.execute(sql, params)
                return cur.fetchall()
        finally:
            con.close()

    def stop(self) -> None:
        if self.started:
            self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "fast", "-w",
                       "-t", "60", "stop"], timeout=90)
            self.started = False
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="module")
def pg():
    bindir = _pg_bin()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin "
                    "(install Debian's postgresql package; `make test` does when it can)")
    server = PgServer(bindir)
    try:
        server.start()
        server.create_database("dagster")
        server.create_database("mlflow")
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def ran_on_pg(pg, tmp_path_factory):
    env = {
        "DAGSTER_PG_HOST": "127.0.0.1",
        "DAGSTER_PG_PORT": str(pg.port),
        "DAGSTER_PG_DB": "dagster",
        "DAGSTER_PG_USERNAME": USER,
        "DAGSTER_PG_PASSWORD": pg.password,
        # no password in the URI: libpq (psycopg2 under MLflow's SQLAlchemy) reads PGPASSWORD
        "MLFLOW_TRACKING_URI": f"postgresql+psycopg2://{USER}@127.0.0.1:{pg.port}/mlflow",
        "PGPASSWORD": pg.password,
    }
    saved = os.environ.get("PGPASSWORD")
    with pipeline_run(tmp_path_factory.mktemp("postgres"), DAYS, SHORT_WINDOW, env=env) as run:
        run_ids = [r.run_id for r in run.instance.get_runs()]
        kinds = (type(run.instance.run_storage).__name__, type(run.instance.event_log_storage).__name__)
        yield run, run_ids, kinds
    assert os.environ.get("PGPASSWORD") == saved  # pipeline_run restored the environment


def test_dagster_instance_on_postgres_holds_the_run_history_and_event_log(pg, ran_on_pg):
    run, run_ids, kinds = ran_on_pg
    assert kinds == ("PostgresRunStorage", "PostgresEventLogStorage")
    # raw reference + 9 days raw + staging + dbt + 9 features + train + 9 scoring = 31 runs
    assert len(run_ids) == 1 + len(DAYS) + 2 + len(DAYS) + 1 + len(DAYS)

    rows = dict(pg.query("dagster", "SELECT run_id, status FROM runs"))
    assert set(rows) == set(run_ids)
    assert set(rows.values()) == {"SUCCESS"}
    # the event log: every run's events, and one materialization per asset partition
    per_run = dict(pg.query("dagster", "SELECT run_id, count(*) FROM event_logs GROUP BY run_id"))
    assert set(per_run) >= set(run_ids)
    mats = pg.query(
        "dagster",
        "SELECT asset_key, partition, count(*) FROM event_logs "
        "WHERE dagster_event_type = 'ASSET_MATERIALIZATION' GROUP BY 1, 2",
    )
    by_key: dict[str, set] = {}
    for key, partition, n in mats:
        assert n == 1, (key, partition, n)
        by_key.setdefault(key, set()).add(partition)
    days = {d.isoformat() for d in DAYS}
    for asset in ("raw_flights", "raw_weather", "flight_features", "flight_predictions"):
        assert by_key[f'["{asset}"]'] == days, asset
    for asset in ("fct_flights", "int_route_delay_history"):
        assert by_key[f'["{asset}"]'] == days, asset  # one single-run backfill, nine partitions
    for asset in ("raw_planes", "stg_flights", "training_set", "delay_model", "model_gate"):
        assert by_key[f'["{asset}"]'] == {None}, asset
    # dbt tests were recorded as asset check evaluations in PostgreSQL too
    checks = pg.query("dagster", "SELECT count(*) FROM asset_check_executions "
                      "WHERE execution_status = 'SUCCEEDED'")[0][0]
    assert checks > 0
    # and the instance the platform reads sees the same
    assert run.instance.get_latest_materialization_event(
        __import__("dagster").AssetKey("model_gate")).run_id in run_ids


def test_mlflow_backend_on_postgres_holds_the_run_and_the_registered_model(pg, ran_on_pg):
    from mlops_assets import schema

    run, run_ids, _ = ran_on_pg
    assert run.uri.startswith("postgresql+psycopg2://") and pg.password not in run.uri
    versions = pg.query("mlflow", "SELECT version, run_id, status FROM model_versions WHERE name = %s",
                        (schema.MODEL_NAME,))
    assert len(versions) == 1 and versions[0][2] == "READY"
    version, mlflow_run_id, _ = versions[0]
    aliases = dict(pg.query("mlflow", "SELECT alias, version FROM registered_model_aliases "
                            "WHERE name = %s", (schema.MODEL_NAME,)))
    assert aliases.get(schema.CHAMPION_ALIAS) == version
    status, = pg.query("mlflow", "SELECT status FROM runs WHERE run_uuid = %s", (mlflow_run_id,))[0]
    assert status == "FINISHED"
    metrics = {k for (k,) in pg.query("mlflow", "SELECT DISTINCT key FROM metrics WHERE run_uuid = %s",
                                      (mlflow_run_id,))}
    assert any("auc" in m for m in metrics), metrics
    # the MLflow run records the Dagster run that trained it, and that run is in PostgreSQL too
    tags = dict(pg.query("mlflow", "SELECT key, value FROM tags WHERE run_uuid = %s", (mlflow_run_id,)))
    dagster_run = next(v for k, v in tags.items() if "dagster" in k and "run" in k)
    assert dagster_run in run_ids
    # and the platform's own reader agrees
    from mlops_assets.ml import registry

    assert registry.champion_version(registry.client(run.uri)) == str(version)


def test_no_file_the_platform_wrote_holds_the_password(pg, ran_on_pg):
    run, _, _ = ran_on_pg
    dagster_yaml = run.settings.dagster_home / "dagster.yaml"
    config = yaml.safe_load(dagster_yaml.read_text())
    db = config["storage"]["postgres"]["postgres_db"]
    assert db["password"] == {"env": "DAGSTER_PG_PASSWORD"}
    assert db["port"] == pg.port and db["username"] == USER
    leaked = []
    for path in run.settings.data_dir.rglob("*"):
        if path.is_file() and path.stat().st_size < 50_000_000 and pg.password.encode() in path.read_bytes():
            leaked.append(str(path))
    assert not leaked, leaked


def test_postgres_mode_without_a_password_is_refused():
    from mlops_assets.settings import SettingsError, _from_env

    with pytest.raises(SettingsError, match="DAGSTER_PG_PASSWORD"):
        _from_env({"DAGSTER_PG_HOST": "db"})
    with pytest.raises(SettingsError, match="1 .. 65535"):
        _from_env({"DAGSTER_PG_HOST": "db", "DAGSTER_PG_PASSWORD": "x", "DAGSTER_PG_PORT": "99999"})
