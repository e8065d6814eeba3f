"""Reliability: what a killed load, an unreachable MLflow, a corrupt model artifact and bad
configuration do to the platform -- on real components, real days.

* a raw load killed with SIGKILL mid-transaction leaves the partition exactly as it was;
* a dbt run killed with SIGKILL (run process and dbt child) in the middle of the incremental
  models leaves every warehouse table as it was, and the re-run succeeds;
* training with MLflow unreachable fails naming the tracking URI and leaves the champion alone;
* a corrupt champion artifact makes flight_predictions fail clearly, predictions untouched;
* invalid settings / training config are refused with what is allowed.

Tests 2 and 3 share one module-scoped pipeline run (9 real days, short window 6 + 3).
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import textwrap

import dagster as dg
import duckdb
import pytest
from conftest import pipeline_run, table_digests

from mlops_assets import schema
from mlops_assets.core import landing, rawfiles

DAYS = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(9)]
SHORT_WINDOW = {"window_days": 6, "holdout_days": 3}
UNREACHABLE_URI = "http://127.0.0.1:9"  # discard port on loopback: nothing listens

def _error_text(result) -> str:
    """Every step failure's message and its causes, as one string."""
    parts = []
    for ev in result.get_step_failure_events():
        err = ev.step_failure_data.error
        while err is not None:
            parts.append(err.message)
            err = err.cause or err.context
    return "\n".join(parts)


# ----------------------------------------------------------------------------- 1. SIGKILL


def test_sigkill_during_raw_load_leaves_the_partition_as_it_was(tmp_path):
    day = DAYS[0]
    landing.replay(tmp_path / "landing", [day])
    csv = tmp_path / "landing" / "flights" / f"{day}.csv"
    db = tmp_path / "warehouse.duckdb"
    parsed = rawfiles.parse_csv(csv, "flights")
    order = f"SELECT * EXCLUDE (_loaded_at) FROM {schema.RAW_FLIGHTS} WHERE {schema.PARTITION_COLUMN} = ? ORDER BY ALL"
    with duckdb.connect(str(db)) as con:
        assert rawfiles.load_parsed(con, parsed) == parsed.row_count > 0
        before = con.execute(order, [day]).fetchall()
    assert len(before) == parsed.row_count

    # another process replaces the partition in one transaction and is killed before COMMIT
    code = textwrap.dedent(f"""
        import sys, time, duckdb
        con = duckdb.connect({str(db)!r})
        con.execute("BEGIN TRANSACTION")
        con.execute("CREATE TEMP TABLE keep AS SELECT * FROM {schema.RAW_FLIGHTS} WHERE {schema.PARTITION_COLUMN} = DATE '{day}'")
        con.execute("DELETE FROM {schema.RAW_FLIGHTS} WHERE {schema.PARTITION_COLUMN} = DATE '{day}'")
        for _ in range(20):  # a modified copy, big enough to spill beyond the WAL buffer
            con.execute("INSERT INTO {schema.RAW_FLIGHTS} SELECT * REPLACE ('KILLED' AS carrier, _file_hash || 'x' AS _file_hash) FROM keep")
        print("ready", flush=True)
        time.sleep(120)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.strip() == "ready", proc.stderr.read() if proc.poll() is not None else line
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()

    with duckdb.connect(str(db)) as con:
        after = con.execute(order, [day]).fetchall()
        assert after == before
        assert con.execute(f"SELECT count(*) FROM {schema.RAW_FLIGHTS} WHERE carrier = 'KILLED'").fetchone()[0] == 0
        # the warehouse is still writable: a normal load succeeds and gives the same rows
        assert rawfiles.load_parsed(con, parsed) == parsed.row_count
        assert con.execute(order, [day]).fetchall() == before


# ----------------------------------------------------------------------------- 1b. SIGKILL in dbt

# Loaded into the dbt child only (sitecustomize on its PYTHONPATH): after fct_flights' incremental
# delete+insert has executed -- int_route_delay_history already built, fct_flights' transaction
# open -- say so and wait to be killed. Nothing in the platform knows about it.
_PAUSE_IN_DBT = """
import os, sys, time
if os.path.basename(sys.argv[0] if sys.argv else "") == "dbt":
    from dbt.adapters.duckdb.environments import local

    _execute = local.DuckDBCursorWrapper.execute

    def execute(self, sql, bindings=None):
        out = _execute(self, sql, bindings)
        if "insert into" in sql.lower() and '"fct_flights"' in sql and "__dbt_tmp" in sql:
            with open(os.environ["MLOPS_TEST_PAUSED"], "w") as fh:
                fh.write(str(os.getpid()))
            time.sleep(300)
        return out

    local.DuckDBCursorWrapper.execute = execute
"""

_RUN_DBT = """
import sys, dagster as dg
from mlops_assets.definitions import defs
from mlops_assets.resources import default_resources
with dg.DagsterInstance.ephemeral() as instance:
    r = dg.materialize([*defs.assets], selection=["int_route_delay_history", "fct_flights"],
                       partition_key=sys.argv[1], instance=instance, resources=default_resources(),
                       raise_on_error=False)
print("finished", r.success, flush=True)
"""


def _wait_for(path, proc, timeout_s: float, log) -> str:
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return path.read_text().strip()
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    raise AssertionError(f"dbt never reached fct_flights' insert (exit {proc.poll()}):\n{log.read_text()[-3000:]}")


def test_sigkill_during_dbt_incremental_build_leaves_the_warehouse_as_it_was(platform, tmp_path):
    """Days 1-3 are modelled; day 4 is loaded raw; a dbt run for day 4 is killed (SIGKILL, the
    run process and its dbt child) while fct_flights' transaction is open, after
    int_route_delay_history was built. Every table is as before; the re-run succeeds."""
    days = DAYS[:4]
    landing.replay(platform.settings.landing_dir, days)
    assets = [*__import__("mlops_assets.definitions", fromlist=["defs"]).defs.assets]

    def run(selection, **kw):
        r = dg.materialize(assets, selection=selection, instance=platform.instance,
                           resources=platform.resources, raise_on_error=False, **kw)
        assert r.success, _error_text(r)
        return r

    wh = platform.settings.warehouse_path
    with duckdb.connect(str(wh)) as con:  # the raw layer, loaded directly (not under test here)
        for f in sorted(platform.settings.landing_dir.rglob("*.csv")):
            dataset = f.parent.name if f.parent.name != "reference" else f.stem
            rawfiles.load_parsed(con, rawfiles.parse_csv(f, dataset))
    run(["stg_flights", "stg_weather", "stg_planes", "stg_airports", "stg_airlines"])
    run(["int_route_delay_history", "fct_flights"],
        tags={"dagster/asset_partition_range_start": days[0].isoformat(),
              "dagster/asset_partition_range_end": days[2].isoformat()})
    before = table_digests(wh)
    assert before["marts.fct_flights"][0] > 0 and before["intermediate.int_route_delay_history"][0] > 0

    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(_PAUSE_IN_DBT)
    paused = tmp_path / "paused"
    log = tmp_path / "run.log"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(hook), os.environ.get("PYTHONPATH")])),
           "MLOPS_TEST_PAUSED": str(paused)}
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-c", _RUN_DBT, days[3].isoformat()], env=env,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    dbt_pid = None
    try:
        dbt_pid = int(_wait_for(paused, proc, 180, log))
        os.kill(dbt_pid, signal.SIGKILL)
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
        if dbt_pid is not None:
            try:
                os.kill(dbt_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert "finished" not in log.read_text()

    after = table_digests(wh)
    assert after == before
    # the re-run succeeds and brings day 4 in, the first three days unchanged
    run(["int_route_delay_history", "fct_flights"], partition_key=days[3].isoformat())
    with duckdb.connect(str(wh), read_only=True) as con:
        per_day = dict(con.execute(f"SELECT flight_date, count(*) FROM {schema.FCT_FLIGHTS} GROUP BY 1").fetchall())
        raw_per_day = dict(con.execute(
            f"SELECT {schema.PARTITION_COLUMN}, count(*) FROM {schema.RAW_FLIGHTS} GROUP BY 1").fetchall())
    assert per_day == raw_per_day and set(per_day) == set(days)


# ----------------------------------------------------------------------------- shared run


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    with pipeline_run(tmp_path_factory.mktemp("reliability"), DAYS, SHORT_WINDOW) as run:
        yield run


def _champion(uri: str) -> str | None:
    from mlops_assets.ml import registry

    return registry.champion_version(registry.client(uri))


# ----------------------------------------------------------------------------- 2. MLflow down


def test_training_with_mlflow_unreachable_fails_naming_the_uri_and_keeps_the_champion(ran, monkeypatch):
    from mlops_assets.settings import reload_settings

    uri = ran.settings.mlflow_tracking_uri
    assert _champion(uri) == "1"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", UNREACHABLE_URI)
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_TIMEOUT", "2")
    try:
        assert reload_settings().mlflow_tracking_uri == UNREACHABLE_URI
        result = dg.materialize(
            [*ran.defs.assets], selection=["delay_model", "model_gate"],
            instance=ran.instance, resources=ran.resources, raise_on_error=False,
        )
    finally:
        monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
        reload_settings()
    assert not result.success
    failed = {ev.step_key for ev in result.get_step_failure_events()}
    assert failed == {"delay_model"}
    msg = _error_text(result)
    assert UNREACHABLE_URI in msg or "host='127.0.0.1', port=9" in msg, msg
    assert any(w in msg.lower() for w in ("connection", "connect", "refused", "unreachable")), msg
    # nothing was materialized, and the champion did not move
    assert not result.asset_materializations_for_node("delay_model")
    assert not result.asset_materializations_for_node("model_gate")
    assert _champion(uri) == "1"


# ----------------------------------------------------------------------------- 3. corrupt model


def _champion_artifact_files(ran) -> list:
    from mlops_assets.ml import registry

    c = registry.client(ran.settings.mlflow_tracking_uri)
    mv = c.get_model_version_by_alias(schema.MODEL_NAME, schema.CHAMPION_ALIAS)
    root = ran.settings.mlflow_artifact_root
    files = [p for name in ("model.skops", "model.pkl") for p in root.rglob(name)]
    model_id = getattr(mv, "model_id", None)
    if model_id:
        files = [p for p in files if model_id in p.parts]
    return files


def test_corrupt_champion_artifact_fails_predictions_clearly_and_keeps_rows(ran):
    day = DAYS[-1].isoformat()
    uri = ran.settings.mlflow_tracking_uri
    wh = str(ran.settings.warehouse_path)
    q = f"SELECT * FROM {schema.PREDICTIONS_TABLE} WHERE flight_date = DATE '{day}' ORDER BY flight_id"

    files = _champion_artifact_files(ran)
    assert files, f"no model.skops / model.pkl for the champion under {ran.settings.mlflow_artifact_root}"
    with duckdb.connect(wh, read_only=True) as con:
        before = con.execute(q).fetchall()
    assert before
    for f in files:
        f.write_bytes(b"\x00garbage, not a model\xff" * 64)

    result = dg.materialize(
        [*ran.defs.assets], selection=["flight_predictions"], partition_key=day,
        instance=ran.instance, resources=ran.resources, raise_on_error=False,
    )
    assert not result.success
    msg = _error_text(result)
    assert f"cannot load models:/{schema.MODEL_NAME}@{schema.CHAMPION_ALIAS} (version 1)" in msg, msg
    assert uri in msg and "BadZipFile" in msg, msg  # the underlying error is kept, too
    with duckdb.connect(wh, read_only=True) as con:
        assert con.execute(q).fetchall() == before
    assert _champion(uri) == "1"


# ----------------------------------------------------------------------------- 4. bad config


def test_unknown_engine_is_refused_naming_the_allowed_values(monkeypatch):
    from mlops_assets.settings import SettingsError, reload_settings

    monkeypatch.setenv("MLOPS_ENGINE", "oracle")
    try:
        with pytest.raises(SettingsError) as exc:
            reload_settings()
    finally:
        monkeypatch.delenv("MLOPS_ENGINE")
        reload_settings()
    msg = str(exc.value)
    assert "MLOPS_ENGINE" in msg and "'oracle'" in msg and "duckdb" in msg and "spark" in msg


def test_training_window_too_short_is_refused_naming_the_rule(platform):
    from mlops_assets.definitions import defs

    result = dg.materialize(
        [*defs.assets], selection=["training_set"], instance=platform.instance,
        resources=platform.resources, raise_on_error=False,
        run_config={"ops": {"training_set": {"config": {"window_days": 1, "holdout_days": 3}}}},
    )
    assert not result.success
    msg = _error_text(result)
    assert "window_days must be >= 6" in msg and "got 1" in msg, msg
