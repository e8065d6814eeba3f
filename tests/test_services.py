"""The real services: dagster-webserver + dagster-daemon on a temporary instance, driven over GraphQL.

Test-speed knob, said openly: the daemon is started through ``python -c`` with Dagster's internal
``dagster._daemon.controller.DEFAULT_DAEMON_INTERVAL_SECONDS`` (the backfill daemon's fixed 30 s sleep
between iterations; Dagster 1.13 has no dagster.yaml setting for it, unlike the run queue's
``dequeue_interval_seconds`` or the sensors' ``minimum_interval_seconds``) lowered to a few seconds;
each layer of an asset backfill otherwise waits 30 s. Everything else is the stock ``dagster-daemon run``.

One module-scoped stack on a fresh data folder and DAGSTER_HOME (dagster.yaml from
``mlops_assets.instance``). Before the services start, seven days of history go through the whole
graph in this process (``mlops_assets.pipeline.materialize_days``, as ``mlops materialize`` does), so
the daemon's work is small: a whole-graph backfill of three new days (raw -> dbt -> features -> training
and gate -> predictions -> drift), one landing-sensor run, a drift-report run and one retrain run.
The daemon's runs read the training window from ``MLOPS_TRAINING_DAYS`` / ``MLOPS_HOLDOUT_DAYS``
(settings.py) and run with ``MLOPS_RUN_EXECUTOR=in_process`` (one process per run, not one per step).

Logs of both processes are in the module's tmp folder and their tails are printed when a test or the
fixture fails; screenshots go to ``test-output/services/`` in the repo root (gitignored).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(1500)

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
OUTPUT_DIR = REPO / "test-output" / "services"
LOCATION = "mlops_assets"
REPOSITORY = "__repository__"
CHROMIUM = Path("/usr/bin/chromium")

# 6 fit days: the model's time-ordered train/validation/test split fails on 3 ("window shape cannot be
# larger than input array shape"), although training_set's own check lets 3 through.
TRAINING = {"MLOPS_TRAINING_DAYS": "6", "MLOPS_HOLDOUT_DAYS": "1", "MLOPS_RUN_EXECUTOR": "in_process"}
JAN = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(14)]
HISTORY_DAYS = JAN[:7]  # materialized in-process before the services start (6 fit + 1 holdout, model v1)
BACKFILL_DAYS = JAN[7:10]  # 2013-01-08..10: the whole graph for three new partitions, through GraphQL and the daemon
DRIFT_DAYS = JAN[10:13]  # 2013-01-11..13: shifted weather, the retrain sensor's 3-day drift streak
SENSOR_DAY = JAN[13]  # 2013-01-14: landed while the landing sensor runs
DAEMON_INTERVAL_S = 2

SERVER_START_TIMEOUT_S = 240
BACKFILL_TIMEOUT_S = 900
RUN_TIMEOUT_S = 300

PARTITIONED = ["raw_flights", "raw_weather", "int_route_delay_history", "fct_flights", "flight_features",
               "flight_predictions", "drift_report", "model_performance"]
TRAINING_ASSETS = ["training_set", "delay_model", "model_gate"]  # unpartitioned, downstream of every day


# ----------------------------------------------------------------------------- helpers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class GraphQLError(AssertionError):
    pass


@dataclass
class Stack:
    url: str
    base: Path
    env: dict
    logs: list[Path]
    procs: list[subprocess.Popen] = field(default_factory=list)

    def gql(self, query: str, variables: dict | None = None, timeout: float = 60) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        req = urllib.request.Request(f"{self.url}/graphql", data=body, headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            out = json.loads(resp.read())
        if out.get("errors"):
            raise GraphQLError(json.dumps(out["errors"], indent=1)[:3000])
        return out["data"]

    def dump_logs(self) -> None:
        for log in self.logs:
            text = log.read_text(errors="replace") if log.exists() else "(missing)"
            print(f"\n===== {log} (last 12000 chars) =====\n{text[-12000:]}")


def _wait(what: str, probe, timeout: float, interval: float = 2.0, stack: Stack | None = None):
    """Poll ``probe`` until it returns something truthy; fail with ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except (urllib.error.URLError, ConnectionError, OSError) as e:
            last = e
        else:
            if last:
                return last
        for p in stack.procs if stack else []:
            if p.poll() is not None:
                raise AssertionError(f"{p.args[0]} exited with {p.returncode} while waiting for {what}")
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what} (last: {str(last)[:500]})")


def _start(args: list[str], log: Path, env: dict) -> subprocess.Popen:
    fh = open(log, "wb")  # noqa: SIM115 (the child owns it for its lifetime)
    return subprocess.Popen(args, cwd=REPO, env=env, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)


def _stop(p: subprocess.Popen) -> None:
    """SIGTERM the process group (the code servers and run workers it started), then SIGKILL."""
    if p.poll() is None:
        try:
            os.killpg(p.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        try:
            p.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(p.pid, signal.SIGKILL)  # stragglers of the group, even when the leader exited
    except ProcessLookupError:
        pass
    p.wait(timeout=10)


def _sensor_selector(name: str) -> dict:
    return {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY, "sensorName": name}


def _instigator_state(stack: Stack, kind: str, name: str) -> dict:
    if kind == "sensor":
        q = """query($s: SensorSelector!) { sensorOrError(sensorSelector: $s) {
                 __typename ... on Sensor { sensorState { id status } } ... on PythonError { message } } }"""
        data = stack.gql(q, {"s": _sensor_selector(name)})["sensorOrError"]
        key = "sensorState"
    else:
        q = """query($s: ScheduleSelector!) { scheduleOrError(scheduleSelector: $s) {
                 __typename ... on Schedule { scheduleState { id status } } ... on PythonError { message } } }"""
        data = stack.gql(q, {"s": {"repositoryLocationName": LOCATION, "repositoryName": REPOSITORY,
                                   "scheduleName": name}})["scheduleOrError"]
        key = "scheduleState"
    assert key in data, data
    return data[key]


def stop_sensor(stack: Stack, name: str) -> None:
    state = _instigator_state(stack, "sensor", name)
    out = stack.gql("""mutation($id: String) { stopSensor(id: $id) { __typename
        ... on StopSensorMutationResult { instigationState { status } } ... on PythonError { message } } }""",
                    {"id": state["id"]})["stopSensor"]
    assert out.get("instigationState", {}).get("status") == "STOPPED", out


def start_sensor(stack: Stack, name: str) -> None:
    out = stack.gql("""mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) { __typename
        ... on Sensor { sensorState { status } } ... on PythonError { message } } }""",
                    {"s": _sensor_selector(name)})["startSensor"]
    assert out.get("sensorState", {}).get("status") == "RUNNING", out


def stop_schedule(stack: Stack, name: str) -> None:
    state = _instigator_state(stack, "schedule", name)
    out = stack.gql("""mutation($id: String) { stopRunningSchedule(id: $id) { __typename
        ... on ScheduleStateResult { scheduleState { status } } ... on PythonError { message } } }""",
                    {"id": state["id"]})["stopRunningSchedule"]
    assert out.get("scheduleState", {}).get("status") == "STOPPED", out


def launch_backfill(stack: Stack, assets: list[str], days: list[dt.date], title: str) -> str:
    out = stack.gql("""mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
        __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message stack }
        ... on InvalidSubsetError { message } ... on UnauthorizedError { message } } }""",
                    {"p": {"assetSelection": [{"path": [a]} for a in assets],
                           "partitionNames": [d.isoformat() for d in days], "title": title}})
    res = out["launchPartitionBackfill"]
    assert res["__typename"] == "LaunchBackfillSuccess", res
    return res["backfillId"]


RUN_FIELDS = "runId status tags { key value } assetSelection { path }"


def runs(stack: Stack, tags: dict[str, str] | None = None) -> list[dict]:
    flt = {"tags": [{"key": k, "value": v} for k, v in (tags or {}).items()]}
    out = stack.gql(f"""query($f: RunsFilter) {{ runsOrError(filter: $f) {{ __typename
        ... on Runs {{ results {{ {RUN_FIELDS} }} }} ... on PythonError {{ message }} }} }}""", {"f": flt})
    return out["runsOrError"]["results"]


def wait_backfill(stack: Stack, backfill_id: str) -> str:
    def probe():
        out = stack.gql("""query($id: String!) { partitionBackfillOrError(backfillId: $id) {
            __typename ... on PartitionBackfill { status } ... on PythonError { message } } }""", {"id": backfill_id})
        status = out["partitionBackfillOrError"].get("status")
        return status if status not in (None, "REQUESTED", "CANCELING", "FAILING") else None

    status = _wait(f"backfill {backfill_id}", probe, BACKFILL_TIMEOUT_S, interval=3, stack=stack)
    bad = [r for r in runs(stack, {"dagster/backfill": backfill_id}) if r["status"] != "SUCCESS"]
    assert status in ("COMPLETED", "COMPLETED_SUCCESS") and not bad, (status, bad)
    return status


def wait_runs_done(stack: Stack, tags: dict[str, str], count: int, what: str) -> list[dict]:
    def probe():
        rs = runs(stack, tags)
        if len(rs) >= count and all(r["status"] in ("SUCCESS", "FAILURE", "CANCELED") for r in rs):
            return rs
        return None

    rs = _wait(what, probe, RUN_TIMEOUT_S, stack=stack)
    assert all(r["status"] == "SUCCESS" for r in rs), rs
    return rs


def materializations(stack: Stack, asset: str, limit: int = 50) -> list[dict]:
    out = stack.gql("""query($k: AssetKeyInput!, $n: Int) { assetOrError(assetKey: $k) { __typename
        ... on Asset { assetMaterializations(limit: $n) { partition runId
            metadataEntries { label __typename ... on UrlMetadataEntry { url } ... on FloatMetadataEntry { floatValue }
              ... on IntMetadataEntry { intValue } ... on BoolMetadataEntry { boolValue }
              ... on TextMetadataEntry { text } ... on JsonMetadataEntry { jsonString } } } } } }""",
                    {"k": {"path": [asset]}, "n": limit})
    return out["assetOrError"].get("assetMaterializations", [])


def metadata(mat: dict) -> dict:
    out = {}
    for e in mat["metadataEntries"]:
        for k in ("url", "floatValue", "intValue", "boolValue", "text", "jsonString"):
            if k in e:
                out[e["label"]] = e[k]
                break
    return out


def latest_by_partition(stack: Stack, asset: str) -> dict:
    out: dict = {}
    for m in materializations(stack, asset):  # newest first
        out.setdefault(m["partition"], m)
    return out


def check_executions(stack: Stack, assets: list[str]) -> dict[tuple[str, str], dict]:
    out = stack.gql("""query($ks: [AssetKeyInput!]) { assetNodes(assetKeys: $ks) { assetKey { path }
        assetChecksOrError { __typename ... on AssetChecks { checks { name blocking
            executionForLatestMaterialization { status partition evaluation { success } } } } } } }""",
                    {"ks": [{"path": [a]} for a in assets]})
    res = {}
    for node in out["assetNodes"]:
        for c in node["assetChecksOrError"].get("checks", []):
            res[(node["assetKey"]["path"][-1], c["name"])] = c
    return res


def write_shifted_weather(landing_dir: Path, day: dt.date) -> Path:
    """The day's real weather, made clearly warmer, wetter and foggier (values stay within the contract)."""
    import io

    import pandas as pd

    from mlops_assets.core.landing import atomic_write_bytes, day_csv_bytes

    frame = pd.read_csv(io.BytesIO(day_csv_bytes("weather", day)), na_values=["NA"])
    frame["temp"] = frame["temp"] + 45.0
    frame["dewp"] = frame["dewp"] + 45.0
    frame["humid"] = 97.0
    frame["visib"] = 0.5
    frame["pressure"] = frame["pressure"] - 45.0
    frame["precip"] = 0.8
    target = landing_dir / "weather" / f"{day}.csv"
    atomic_write_bytes(target, frame.to_csv(index=False, na_rep="NA", lineterminator="\n").encode())
    return target


def land_flights(landing_dir: Path, day: dt.date) -> Path:
    from mlops_assets.core.landing import atomic_write_bytes, day_csv_bytes

    target = landing_dir / "flights" / f"{day}.csv"
    atomic_write_bytes(target, day_csv_bytes("flights", day))
    return target


# ----------------------------------------------------------------------------- found by the backfill


def test_reference_staging_models_build_before_any_day_is_loaded(platform):
    """A backfill builds stg_airlines/airports/planes as soon as the reference tables are loaded.

    That subset used to run the relationships tests from stg_flights / fct_flights too (dbt's eager
    indirect selection) and failed on a fresh warehouse: "Table with name stg_flights does not exist".
    """
    import dagster as dg

    from mlops_assets.core import landing
    from mlops_assets.definitions import defs

    landing.replay(platform.settings.landing_dir, [])
    assets = [*defs.assets, *(defs.asset_checks or [])]
    subset = ["raw_planes", "raw_airports", "raw_airlines", "stg_planes", "stg_airports", "stg_airlines"]
    result = dg.materialize(assets, selection=subset, instance=platform.instance, resources=platform.resources,
                            raise_on_error=False)
    assert result.success, [e.message for e in result.all_events if e.is_step_failure]
    evaluations = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    assert {ev.asset_key.to_user_string() for ev in evaluations} == {"stg_planes", "stg_airports", "stg_airlines"}
    assert all(ev.passed for ev in evaluations) and len(evaluations) >= 5


# ----------------------------------------------------------------------------- the stack


@contextmanager
def in_process_env(stack: Stack):
    """This process pointed at the stack's data folder and instance (for in-process runs and sensor code).

    Every platform variable is cleared first: ``MLOPS_WAREHOUSE`` (which settings read before the data
    folder) is left in the environment by any earlier in-process run and would bind dbt to its warehouse.
    """
    from conftest import ENV_VARS

    from mlops_assets.settings import reload_settings

    saved = dict(os.environ)
    try:
        for k in ENV_VARS:
            os.environ.pop(k, None)
        os.environ.update({k: stack.env[k] for k in ("MLOPS_DATA_DIR", "DAGSTER_HOME", *TRAINING)})
        settings = reload_settings()
        assert settings.warehouse_path == Path(stack.env["MLOPS_DATA_DIR"]) / "warehouse.duckdb", settings
        yield settings
    finally:
        os.environ.clear()
        os.environ.update(saved)
        reload_settings()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, request):
    """History materialized in-process, then the webserver and the daemon on the same instance."""
    from conftest import pipeline_run

    base = tmp_path_factory.mktemp("services")
    t0 = time.monotonic()
    # HISTORY_DAYS through the whole graph in this process (the fast path `mlops materialize` uses), on the
    # data folder and DAGSTER_HOME the services get: the daemon's backfill then needs three new partitions.
    with pipeline_run(base, days=HISTORY_DAYS, training_config={"window_days": 6, "holdout_days": 1}) as hist:
        data_dir, dagster_home = hist.settings.data_dir, hist.settings.dagster_home
    print(f"\nin-process history {HISTORY_DAYS[0]}..{HISTORY_DAYS[-1]}: {time.monotonic() - t0:.0f}s")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "DAGSTER_", "MLFLOW_"))}
    env.update({"MLOPS_DATA_DIR": str(data_dir), "DAGSTER_HOME": str(dagster_home),
                "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}", "PYTHONUNBUFFERED": "1", **TRAINING})
    port = _free_port()
    st = Stack(url=f"http://127.0.0.1:{port}", base=base, env=env,
               logs=[base / "webserver.log", base / "daemon.log"])
    failed_before = request.session.testsfailed
    failed = False
    try:
        st.procs.append(_start([str(BIN / "dagster-webserver"), "-w", "workspace.yaml", "-h", "127.0.0.1",
                                "-p", str(port)], st.logs[0], env))
        _wait("the webserver to load the code location", lambda: _location_loaded(st), SERVER_START_TIMEOUT_S,
              stack=st)
        # Before the daemon's first tick: no automation or replay clock in this test (the runs it
        # would add race the backfill); the landing and retrain sensors are started when tested.
        for name in ("automation_sensor", "landing_sensor", "retrain_on_drift"):
            stop_sensor(st, name)
        stop_schedule(st, "daily_replay")
        daemon = ("import sys, dagster._daemon.controller as c; "
                  f"c.DEFAULT_DAEMON_INTERVAL_SECONDS = {DAEMON_INTERVAL_S}; "
                  "from dagster._daemon.cli import main; "
                  "sys.argv = ['dagster-daemon', 'run', '-w', 'workspace.yaml']; sys.exit(main())")
        st.procs.append(_start([sys.executable, "-c", daemon], st.logs[1], env))
        _wait("the daemon's heartbeat", lambda: _daemon_healthy(st), SERVER_START_TIMEOUT_S, stack=st)
        print(f"services up: {time.monotonic() - t0:.0f}s after the start of the fixture")
        yield st
    except BaseException:
        failed = True
        raise
    finally:
        for p in reversed(st.procs):
            _stop(p)
        if failed or request.session.testsfailed > failed_before:
            st.dump_logs()


def _location_loaded(st: Stack) -> bool:
    out = st.gql("""{ workspaceOrError { __typename ... on Workspace { locationEntries { name
        loadStatus locationOrLoadError { __typename ... on PythonError { message } } } } } }""")
    entries = out["workspaceOrError"]["locationEntries"]
    for e in entries:
        err = e["locationOrLoadError"] or {}
        if err.get("__typename") == "PythonError":
            raise AssertionError(f"code location failed to load: {err['message']}")
    return bool(entries) and all(e["loadStatus"] == "LOADED" for e in entries)


def _daemon_healthy(st: Stack) -> bool:
    out = st.gql("""{ instance { daemonHealth { allDaemonStatuses { daemonType healthy required } } } }""")
    statuses = out["instance"]["daemonHealth"]["allDaemonStatuses"]
    wanted = {"SENSOR", "BACKFILL", "QUEUED_RUN_COORDINATOR"}
    return wanted <= {s["daemonType"] for s in statuses if s["healthy"]}


# ----------------------------------------------------------------------------- tests


@pytest.fixture(scope="module")
def backfilled(stack):
    """The whole graph backfilled over BACKFILL_DAYS through GraphQL, run by the daemon.

    Every asset the new days change is selected: the daily ones for the three days, and the training
    set, model and gate (unpartitioned) once, after the days they read. Not selected: the reference
    tables and the staging views over the raw tables (loaded with the history, unchanged by a new day).
    Another training
    run is the retrain sensor's, asserted in ``test_retrain_sensor_reacts_to_injected_drift``.
    """
    landing_dir = Path(stack.env["MLOPS_DATA_DIR"]) / "landing"
    from mlops_assets.core.landing import atomic_write_bytes, day_csv_bytes

    for day in BACKFILL_DAYS:
        for ds in ("flights", "weather"):
            atomic_write_bytes(landing_dir / ds / f"{day}.csv", day_csv_bytes(ds, day))
    t0 = time.monotonic()
    backfill_id = launch_backfill(stack, PARTITIONED + TRAINING_ASSETS, BACKFILL_DAYS, "services test: whole graph")
    wait_backfill(stack, backfill_id)
    print(f"\nwhole-graph backfill of {len(BACKFILL_DAYS)} day(s): {time.monotonic() - t0:.0f}s, "
          f"{len(runs(stack, {'dagster/backfill': backfill_id}))} runs")
    return backfill_id


def test_backfill_materializes_the_graph_with_checks_and_metadata(stack, backfilled):
    backfill_runs = {r["runId"] for r in runs(stack, {"dagster/backfill": backfilled})}
    new = {d.isoformat() for d in BACKFILL_DAYS}
    for asset in PARTITIONED:
        latest = latest_by_partition(stack, asset)
        assert set(latest) == {d.isoformat() for d in HISTORY_DAYS} | new, (asset, sorted(latest))
        assert all(latest[d]["runId"] in backfill_runs for d in new), asset  # the new day: by the daemon
        assert all(latest[d.isoformat()]["runId"] not in backfill_runs for d in HISTORY_DAYS), asset
    for asset in TRAINING_ASSETS:  # once each, by the backfill
        assert materializations(stack, asset, limit=1)[0]["runId"] in backfill_runs, asset
    # the backfill's training window ends on its last day: 6 fit days before a 1-day holdout
    model = metadata(materializations(stack, "delay_model", limit=1)[0])
    last = BACKFILL_DAYS[-1]
    fit = [last - dt.timedelta(days=i) for i in range(6, 0, -1)]
    assert model["training_partitions"] == f"{fit[0]}..{fit[-1]}", model
    assert model["mlflow_run"].startswith("http") and model["mlflow_run_id"] in model["mlflow_run"], model
    gate = metadata(materializations(stack, "model_gate", limit=1)[0])
    champion = str(gate["champion_after"])

    checks = check_executions(stack, ["flight_features", "fct_flights", "int_route_delay_history", "stg_flights"])
    contract = checks[("flight_features", "feature_contract")]
    assert contract["blocking"], contract
    execution = contract["executionForLatestMaterialization"]
    assert execution and execution["status"] == "SUCCEEDED", contract
    dbt_checks = {k: v for k, v in checks.items() if k[0] != "flight_features"}
    assert len(dbt_checks) >= 10  # not_null / unique / accepted_values / custom dbt tests
    assert ("fct_flights", "assert_route_history_is_point_in_time") in dbt_checks
    not_passed = {f"{a}.{c}": v["executionForLatestMaterialization"] for (a, c), v in dbt_checks.items()
                  if (v["executionForLatestMaterialization"] or {}).get("status") != "SUCCEEDED"}
    assert not not_passed, not_passed

    for day in new:
        drift = metadata(latest_by_partition(stack, "drift_report")[day])
        assert 0.0 <= drift["drift_share"] <= 1.0 and isinstance(drift["dataset_drift"], bool), (day, drift)
        assert str(drift["champion_version"]) == champion, (drift, gate)  # scored after the backfill's gate
        assert metadata(latest_by_partition(stack, "flight_predictions")[day])["dagster/row_count"] > 0


def test_landing_sensor_loads_a_new_file(stack, backfilled):
    """The files already loaded are in the sensor's cursor; one new file becomes exactly one sensor run."""
    import dagster as dg

    from mlops_assets.defs.ingestion.sensors import landing_sensor

    with in_process_env(stack) as settings:
        # the sensor's own cursor for what is landed now (the platform's code, evaluated in this process)
        with dg.build_sensor_context() as ctx:
            cursor = landing_sensor(ctx).cursor
        landed = sorted(settings.landing_dir.rglob("*.csv"))
    assert len(json.loads(cursor)) == len(landed) == 2 * (len(HISTORY_DAYS) + len(BACKFILL_DAYS)) + 3
    out = stack.gql("""mutation($s: SensorSelector!, $c: String) { setSensorCursor(sensorSelector: $s, cursor: $c) {
        __typename ... on Sensor { sensorState { id } } ... on PythonError { message } } }""",
                    {"s": _sensor_selector("landing_sensor"), "c": cursor})
    assert out["setSensorCursor"]["__typename"] == "Sensor", out
    start_sensor(stack, "landing_sensor")
    try:
        flights = land_flights(settings.landing_dir, SENSOR_DAY)
        done = wait_runs_done(stack, {"mlops/file": str(flights)}, 1, f"the landing sensor's run for {flights.name}")
        run = done[0]
        tags = {t["key"]: t["value"] for t in run["tags"]}
        assert tags["dagster/partition"] == SENSOR_DAY.isoformat() and tags["dagster/sensor_name"] == "landing_sensor"
        assert [a["path"] for a in run["assetSelection"]] == [["raw_flights"]]
        mat = latest_by_partition(stack, "raw_flights")[SENSOR_DAY.isoformat()]
        assert mat["runId"] == run["runId"] and metadata(mat)["dagster/row_count"] > 0
        # nothing else was requested: the files loaded before were already in the cursor
        sensor_runs = runs(stack, {"dagster/sensor_name": "landing_sensor"})
        assert [r["runId"] for r in sensor_runs] == [run["runId"]]
    finally:
        stop_sensor(stack, "landing_sensor")


def test_retrain_sensor_reacts_to_injected_drift(stack, backfilled):
    """Three days with shifted weather: their drift reports make the retrain sensor request training.

    The drifted days' raw, dbt and feature partitions and the first two days' scores are materialized in
    this process (the fast path); the last day's predictions and drift report by a GraphQL backfill run by
    the daemon, which is what completes the streak.
    """
    from mlops_assets.definitions import defs
    from mlops_assets.pipeline import _keys_in_groups, _run
    from mlops_assets.resources import default_resources

    versions_before = {str(metadata(m)["model_version"]) for m in materializations(stack, "delay_model")}
    t0 = time.monotonic()
    with in_process_env(stack) as settings:
        for day in DRIFT_DAYS:
            write_shifted_weather(settings.landing_dir, day)
            land_flights(settings.landing_dir, day)
        import dagster as dg

        assets = [*defs.assets, *(defs.asset_checks or [])]
        resources = default_resources()
        first, last = DRIFT_DAYS[0].isoformat(), DRIFT_DAYS[-1].isoformat()
        with dg.DagsterInstance.get() as instance:
            def run(selection, label, **kw):
                _run(assets, selection, instance, resources, lambda _: None, label, **kw)

            for day in DRIFT_DAYS:
                run(["raw_flights", "raw_weather"], f"raw {day}", partition_key=day.isoformat())
            run(_keys_in_groups(defs.get_repository_def(), {"intermediate", "marts"}), "dbt", tags={"dagster/asset_partition_range_start": first,
                                                                         "dagster/asset_partition_range_end": last})
            for day in DRIFT_DAYS:
                run(["flight_features"], f"features {day}", partition_key=day.isoformat())
            for day in DRIFT_DAYS[:-1]:
                run(["flight_predictions", "drift_report"], f"scores {day}", partition_key=day.isoformat())
    print(f"\nin-process drifted days: {time.monotonic() - t0:.0f}s")
    t0 = time.monotonic()
    backfill_id = launch_backfill(stack, ["flight_predictions", "drift_report"], DRIFT_DAYS[-1:],
                                  "services test: drift report of the last drifted day")
    wait_backfill(stack, backfill_id)
    print(f"drift report backfill: {time.monotonic() - t0:.0f}s")
    drift = latest_by_partition(stack, "drift_report")
    for day in DRIFT_DAYS:
        md = metadata(drift[day.isoformat()])
        assert md["dataset_drift"] is True and md["drift_share"] >= 0.5, (day, md)
        assert {"temp", "humid", "visib", "pressure"} <= set(json.loads(md["drifted_features"])), md
    assert drift[last]["runId"] in {r["runId"] for r in runs(stack, {"dagster/backfill": backfill_id})}

    t0 = time.monotonic()
    start_sensor(stack, "retrain_on_drift")
    try:
        done = wait_runs_done(stack, {"dagster/sensor_name": "retrain_on_drift"}, 1, "the retrain sensor's run")
    finally:
        stop_sensor(stack, "retrain_on_drift")
    print(f"retrain sensor tick + training run: {time.monotonic() - t0:.0f}s")
    tags = {t["key"]: t["value"] for t in done[0]["tags"]}
    assert tags["mlops/trigger"] in ("drift", "performance"), tags  # performance wins if realized AUC is low
    assert f"dataset drift on 3 consecutive partition days ending {last}" in tags["mlops/trigger_reason"], tags
    # the retrain ran the training job (short window from the settings): a new registered model version
    # with its MLflow link, and the gate's decision, both from the sensor's run
    model = materializations(stack, "delay_model", limit=1)[0]
    assert model["runId"] == done[0]["runId"], model
    md = metadata(model)
    assert str(md["model_version"]) not in versions_before, (versions_before, md)
    assert md["mlflow_run"].startswith("http") and md["mlflow_run_id"] in md["mlflow_run"], md
    gate = materializations(stack, "model_gate", limit=1)[0]
    assert gate["runId"] == done[0]["runId"] and "champion_after" in metadata(gate), gate


# ----------------------------------------------------------------------------- browser


def test_browser_shows_the_graph_and_an_asset(stack, backfilled):
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing: install Debian's chromium package (`make test` does, as root)")
    from playwright.sync_api import sync_playwright

    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)
    profile = stack.base / "chromium-profile"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync"]
    with sync_playwright() as pw:
        ctx = pw.chromium.launch_persistent_context(str(profile), executable_path=str(CHROMIUM), headless=True,
                                                    args=flags, viewport={"width": 1600, "height": 1000})
        try:
            page = ctx.new_page()
            page.set_default_timeout(60_000)
            # the global lineage: Dagster 1.13 draws it with every group collapsed to one box
            page.goto(f"{stack.url}/asset-groups", wait_until="domcontentloaded")
            page.get_by_text("Global asset lineage").first.wait_for(state="visible")
            graph = page.locator("foreignObject")  # the graph's nodes are HTML inside the SVG
            for group in ("raw", "staging", "intermediate", "marts", "features", "ml", "monitoring"):
                graph.get_by_text(group, exact=True).first.wait_for(state="visible")
            page.screenshot(path=str(OUTPUT_DIR / "asset-graph.png"), full_page=True)

            # one asset's lineage, expanded: flight_features between the mart and the ML/monitoring assets
            page.goto(f"{stack.url}/assets/flight_features?view=lineage", wait_until="domcontentloaded")
            graph = page.locator("foreignObject")
            for name in ("fct_flights", "flight_features", "training_set", "flight_predictions", "drift_report"):
                graph.get_by_text(name, exact=True).first.wait_for(state="visible")
            page.get_by_text("Nearest Neighbors").first.wait_for(state="visible")
            page.screenshot(path=str(OUTPUT_DIR / "flight_features-lineage.png"), full_page=True)

            page.goto(f"{stack.url}/assets/delay_model?view=events", wait_until="domcontentloaded")
            page.get_by_text("mlflow_run", exact=True).first.wait_for(state="visible")
            page.get_by_text("model_version", exact=True).first.wait_for(state="visible")
            body = page.inner_text("body")
            run_id = metadata(materializations(stack, "delay_model", limit=1)[0])["mlflow_run_id"]
            assert "delay_model" in body and run_id in body, body[:3000]
            page.screenshot(path=str(OUTPUT_DIR / "delay_model.png"), full_page=True)
        except Exception:
            page.screenshot(path=str(OUTPUT_DIR / "failed.png"), full_page=True)  # what the page showed
            raise
        finally:
            ctx.close()
    assert (OUTPUT_DIR / "asset-graph.png").stat().st_size > 10_000
    assert (OUTPUT_DIR / "delay_model.png").stat().st_size > 10_000
    assert (OUTPUT_DIR / "flight_features-lineage.png").stat().st_size > 10_000
    shutil.copytree(OUTPUT_DIR, stack.base / "screenshots", dirs_exist_ok=True)
