"""A backfill run by a real ``dagster-daemon`` with several runs at once, against a serial run of
the same days: no DuckDB lock error, the same warehouse tables, runs in the graph's order.

Scope, to keep the suite's budget: the backfill selects the warehouse layer only -- raw_flights,
raw_weather, the incremental dbt models (int_route_delay_history, fct_flights) and
flight_features -- for January 2013 (the first week with MLOPS_BACKFILL_TEST_DAYS=7, see
DAYS). The reference tables and the dbt staging
views (unpartitioned) are materialized first, in-process, in both folders; training and scoring
are left out.

The daemon runs on a temporary DAGSTER_HOME with the platform's own dagster.yaml (``mlops init``:
QueuedRunCoordinator, ``max_concurrent_runs: 4``, every pool one slot, a run buffer so the
queue launches runs while the slot is taken). Its code location is the
platform's assets (flight_features with its contract check), checks and resources without the sensors and schedules (they are on by
default and would launch runs of their own), and with the in-process executor, so each run is
one process: four runs at once are four processes writing one DuckDB file, serialized only by
the ``duckdb_warehouse`` pool (and the resource's lock wait behind it).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from conftest import ENV_VARS, table_digests

from mlops_assets.defs.features.assets import FEATURE_DAYS_PER_BACKFILL_RUN
from mlops_assets.defs.ingestion.assets import RAW_DAYS_PER_BACKFILL_RUN
from mlops_assets.settings import PROJECT_DIR, reload_settings

# January by default (MLOPS_BACKFILL_TEST_DAYS=7: the first week). Every run the daemon launches is
# a fresh process that loads the code location (dagster + dagster-dbt + the definitions: ~4 s of
# CPU), so the backfill keeps runs few: the raw assets load up to 31 days per run
# (RAW_DAYS_PER_BACKFILL_RUN) and flight_features builds 4 (FEATURE_DAYS_PER_BACKFILL_RUN), each
# day still reported with its own data version (see load_landed_files, flight_features); the dbt
# models (single-run policy) go in one run per range of days that became ready at a backfill tick
# (every 30 s, fixed in Dagster). With the raw month in one run, both dbt models build the month in
# one run at the next tick. The month is 10 runs: 1 raw, 1 dbt, 8 flight_features (4 at once).
# Measured (2 cores shared with other work): the test 200 s at load ~1; serial 60 s, the backfill
# 159 s, the test 240 s at load 1.5-4.7; 81 s / 280 s / 392 s at load 4-11 (with the contract run
# day by day); the week: 4 runs, the test 146 s at load under 1. Before (one run
# per day for the raw assets and the features, no policy): ~70 runs, the raw runs alone 192 s, the
# dbt models in 7-13 ranges each, 36 of the runs finished after 10 min.
DAYS = [dt.date(2013, 1, 1) + dt.timedelta(days=i)
        for i in range(int(os.environ.get("MLOPS_BACKFILL_TEST_DAYS", "31")))]

pytestmark = [
    pytest.mark.timeout(int(os.environ.get("MLOPS_BACKFILL_TEST_TIMEOUT", "1200"))),
    # In `make test` by default (the month: 10 runs, ~3-4 min, mostly waiting on the daemon's 30 s
    # backfill ticks); MLOPS_SKIP_BACKFILL_TEST=1 leaves it out of a quick local run.
    pytest.mark.skipif(os.environ.get("MLOPS_SKIP_BACKFILL_TEST") == "1",
                       reason="MLOPS_SKIP_BACKFILL_TEST=1"),
]
BACKFILL_ASSETS = ["raw_flights", "raw_weather", "int_route_delay_history", "fct_flights", "flight_features"]
COMPARED_SCHEMAS = ("raw", "intermediate", "marts", "features")
BACKFILL_TIMEOUT_S = int(os.environ.get("MLOPS_BACKFILL_TEST_TIMEOUT", "1200")) - 200
LOCK_ERRORS = ("could not set lock", "conflicting lock", "database is locked")

CODE_LOCATION = '''
"""The platform's warehouse assets for the backfill test: no sensors or schedules."""
import dagster as dg

import mlops_assets.definitions as platform

defs = dg.Definitions(
    assets=platform.defs.assets,
    asset_checks=platform.defs.asset_checks,
    resources=platform.defs.resources,
    executor=dg.in_process_executor,
)
'''


def _folder_env(base: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ENV_VARS}
    env["MLOPS_DATA_DIR"] = str(base / "data")
    env["DAGSTER_HOME"] = str(base / "data" / "dagster_home")
    env["PATH"] = str(Path(sys.executable).parent) + os.pathsep + env.get("PATH", "")
    return env


class _InFolder:
    """Point this process's settings (and DAGSTER_HOME) at one data folder for a while."""

    def __init__(self, base: Path):
        self.env = _folder_env(base)

    def __enter__(self):
        self.saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(self.env)
        return reload_settings()

    def __exit__(self, *exc):
        os.environ.clear()
        os.environ.update(self.saved)
        reload_settings()


def _prepare(base: Path, assets, resources_factory) -> None:
    """Land January, write dagster.yaml, load the reference tables and the staging views."""
    from mlops_assets.core import landing
    from mlops_assets.instance import init_instance

    s = reload_settings()
    landing.replay(s.landing_dir, DAYS)
    init_instance(s)
    with dg.DagsterInstance.get() as instance:
        for selection in (["raw_planes", "raw_airports", "raw_airlines"],
                          ["stg_flights", "stg_weather", "stg_planes", "stg_airports", "stg_airlines"]):
            r = dg.materialize(assets, selection=selection, instance=instance,
                               resources=resources_factory(), raise_on_error=False)
            assert r.success, selection


@pytest.fixture(scope="module")
def serial(tmp_path_factory):
    """The month run serially, in-process (the ``mlops materialize`` path)."""
    from mlops_assets.definitions import defs
    from mlops_assets.pipeline import materialize_days
    from mlops_assets.resources import default_resources

    base = tmp_path_factory.mktemp("serial")
    with _InFolder(base) as s:
        from mlops_assets.core import landing
        from mlops_assets.instance import init_instance

        landing.replay(s.landing_dir, DAYS)
        init_instance(s)
        t0 = time.perf_counter()
        with dg.DagsterInstance.get() as instance:
            materialize_days(DAYS, instance, echo=lambda _: None, defs=defs,
                             resources=default_resources(), train=False)
        print(f"\nserial, {len(DAYS)} days: {time.perf_counter() - t0:.1f}s")
        return table_digests(s.warehouse_path, COMPARED_SCHEMAS)


@pytest.fixture
def daemon_backfill(tmp_path):
    """Submit the month's backfill and run a real ``dagster-daemon run`` until it finishes."""
    from mlops_assets.definitions import defs
    from mlops_assets.resources import default_resources

    base = tmp_path / "concurrent"
    location = tmp_path / "backfill_location.py"
    location.write_text(CODE_LOCATION)
    log = tmp_path / "daemon.log"
    assets = [*defs.assets, *(defs.asset_checks or [])]
    with _InFolder(base) as s:
        _prepare(base, assets, default_resources)
        instance = dg.DagsterInstance.get()
        backfill_id = _submit_backfill(instance, defs)
        out = open(log, "wb")  # noqa: SIM115 (the daemon writes it until the teardown closes it)
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("dagster-daemon")), "run", "-f", str(location),
             "-d", str(PROJECT_DIR), "--log-level", "warning"],
            cwd=PROJECT_DIR, env=_folder_env(base), stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            status = _wait_for_backfill(instance, backfill_id, proc, log)
            print(f"\nbackfill through the daemon, {len(DAYS)} days: {time.perf_counter() - t0:.1f}s")
            yield instance, backfill_id, status, s, log
        finally:
            _stop(proc)
            out.close()
            instance.dispose()


def _submit_backfill(instance: dg.DagsterInstance, defs: dg.Definitions) -> str:
    """January for each asset, by name (as the UI's per-asset partition selection does).

    Not ``PartitionBackfill.from_asset_partitions`` (one range for the roots): that one targets
    every partition downstream of the roots' days through the partition mappings, and a raw day
    feeds the route history of the 28 days after it, so January's raw days would also target
    February's int_route_delay_history, fct_flights and flight_features.
    """
    from dagster._core.definitions.selector import (
        PartitionRangeSelector,
        PartitionsByAssetSelector,
        PartitionsSelector,
    )
    from dagster._core.execution.backfill import PartitionBackfill
    from dagster._core.utils import make_new_backfill_id

    days = PartitionsSelector(ranges=[PartitionRangeSelector(start=DAYS[0].isoformat(), end=DAYS[-1].isoformat())])
    backfill_id = make_new_backfill_id()
    backfill = PartitionBackfill.from_partitions_by_assets(
        backfill_id=backfill_id,
        asset_graph=defs.resolve_asset_graph(),
        backfill_timestamp=time.time(),
        tags={},
        dynamic_partitions_store=instance,
        partitions_by_assets=[PartitionsByAssetSelector(asset_key=dg.AssetKey(a), partitions=days) for a in BACKFILL_ASSETS],
        title="January, warehouse layer",
        description=None,
        run_config=None,
    )
    instance.add_backfill(backfill)
    return backfill_id


def _wait_for_backfill(instance, backfill_id: str, proc, log: Path):
    from dagster._core.execution.backfill import BulkActionStatus

    deadline = time.monotonic() + BACKFILL_TIMEOUT_S
    while time.monotonic() < deadline:
        status = instance.get_backfill(backfill_id).status
        # the backfill is done once its last run is; wait for the runs to finish, too
        if status != BulkActionStatus.REQUESTED and not instance.get_runs(filters=dg.RunsFilter(
                tags={"dagster/backfill": backfill_id},
                statuses=[dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.STARTING,
                          dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.NOT_STARTED])):
            return status
        if proc.poll() is not None:
            raise AssertionError(f"dagster-daemon exited ({proc.returncode}):\n{log.read_text()[-4000:]}")
        time.sleep(1)
    raise AssertionError(f"backfill {backfill_id} not finished after {BACKFILL_TIMEOUT_S}s "
                         f"(status {instance.get_backfill(backfill_id).status}):\n{log.read_text()[-4000:]}")


def _stop(proc: subprocess.Popen) -> None:
    """Stop the daemon and what it started (its code server, run workers): its process group."""
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if proc.poll() is None:
        proc.wait(timeout=30)


def test_backfill_with_concurrent_runs_matches_the_serial_run(serial, daemon_backfill):
    from dagster._core.execution.backfill import BulkActionStatus

    instance, backfill_id, status, settings, log = daemon_backfill
    runs = instance.get_run_records(filters=dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
    failed = [(r.dagster_run.run_id, r.dagster_run.status) for r in runs
              if r.dagster_run.status != dg.DagsterRunStatus.SUCCESS]
    errors = []
    for run_id, _ in failed:
        for ev in instance.all_logs(run_id):
            if ev.is_dagster_event and ev.dagster_event.is_step_failure:
                errors.append(ev.dagster_event.event_specific_data.error.message[:500])
    assert status == BulkActionStatus.COMPLETED_SUCCESS and not failed, (status, failed, errors)

    # runs of up to RAW_DAYS_PER_BACKFILL_RUN days for the raw assets, FEATURE_DAYS_PER_BACKFILL_RUN
    # for flight_features; the dbt models (single-run backfill policy) in one run per contiguous
    # range of days whose parents had finished at a backfill tick (with the raw month in one run:
    # one run for both models)
    def selected(r):
        return {k.to_user_string() for k in r.dagster_run.asset_selection or ()}

    raw_runs = [r for r in runs if selected(r) == {"raw_flights", "raw_weather"}]
    feature_runs = [r for r in runs if selected(r) == {"flight_features"}]
    dbt_runs = [r for r in runs
                if selected(r) and selected(r) <= {"int_route_delay_history", "fct_flights"}]
    assert len(raw_runs) == math.ceil(len(DAYS) / RAW_DAYS_PER_BACKFILL_RUN), sorted(map(sorted, map(selected, runs)))
    assert len(feature_runs) == math.ceil(len(DAYS) / FEATURE_DAYS_PER_BACKFILL_RUN), \
        sorted(map(sorted, map(selected, runs)))
    assert 1 <= len(dbt_runs) and len(raw_runs) + len(feature_runs) + len(dbt_runs) == len(runs)
    print(f"\n{len(runs)} runs, {len(dbt_runs)} of them dbt")
    # no DuckDB lock error anywhere: not in any run's events, not in the daemon's log
    for r in runs:
        for ev in instance.all_logs(r.dagster_run.run_id):
            text = (ev.user_message or "").lower()
            assert not any(e in text for e in LOCK_ERRORS), (r.dagster_run.run_id, ev.user_message)
    daemon_log = log.read_text().lower()
    assert not any(e in daemon_log for e in LOCK_ERRORS), daemon_log[-4000:]

    # the feature contract checked every day once, in the run that built it
    checked = []
    for r in feature_runs:
        (ev,) = instance.all_logs(r.dagster_run.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION)
        evaluation = ev.dagster_event.event_specific_data
        assert evaluation.check_name == "feature_contract" and evaluation.passed, evaluation
        days = evaluation.metadata.get("partitions")  # per day in a run of several days
        checked += list(days.value) if days else [r.dagster_run.tags["dagster/partition"]]
    assert sorted(checked) == [d.isoformat() for d in DAYS]

    # every asset partition of the month materialized exactly once
    for asset in BACKFILL_ASSETS:
        mats = instance.fetch_materializations(dg.AssetKey(asset), limit=1000).records
        assert sorted(m.partition_key for m in mats) == [d.isoformat() for d in DAYS], asset

    # the backfill followed the graph: a run built route history for day D only once raw_flights
    # had loaded D (the 28-day window is not declared: see raw_dependencies), fct_flights
    # of D once the route history of D was built, flight_features of D once fct_flights of D was
    started = {r.dagster_run.run_id: r.start_time for r in runs}
    mats = {a: {m.partition_key: m for m in instance.fetch_materializations(dg.AssetKey(a), limit=1000).records}
            for a in BACKFILL_ASSETS}
    for child, parent, lookback in (("int_route_delay_history", "raw_flights", 0),
                                    ("fct_flights", "int_route_delay_history", 0),
                                    ("fct_flights", "raw_weather", 0),
                                    ("flight_features", "fct_flights", 0)):
        for key, m in mats[child].items():
            day = dt.date.fromisoformat(key)
            read = [(day - dt.timedelta(days=i)).isoformat() for i in range(lookback + 1)
                    if day - dt.timedelta(days=i) >= DAYS[0]]
            parents = [mats[parent][k] for k in read]
            if all(p.run_id == m.run_id for p in parents):
                continue  # built in the same dbt invocation: dbt orders the models itself
            last_parent = max(p.timestamp for p in parents if p.run_id != m.run_id)
            assert started[m.run_id] >= last_parent, (child, key, parent, started[m.run_id], last_parent)

    # and the warehouse holds the same tables as after the serial run
    concurrent = table_digests(settings.warehouse_path, COMPARED_SCHEMAS)
    assert set(concurrent) == set(serial)
    assert concurrent["marts.fct_flights"][0] > 700 * len(DAYS)
    assert concurrent == serial

    # several runs really were in flight at once (the instance allows 4): a run is in flight
    # from the moment the queue launched it (RUN_STARTING) until it ended
    launched = {}
    for r in runs:
        (ev,) = instance.all_logs(r.dagster_run.run_id, of_type=dg.DagsterEventType.RUN_STARTING)
        launched[r.dagster_run.run_id] = ev.timestamp
    spans = sorted((launched[r.dagster_run.run_id], r.end_time) for r in runs)
    most = max(sum(1 for s, e in spans if s <= start < e) for start, _ in spans)
    print(f"\n{len(runs)} runs, at most {most} in flight at once")
    assert most >= 2, spans
