"""The whole graph on real days, in-process on a real instance: raw -> dbt -> features -> model
-> gate -> predictions -> drift -> performance, plus automation and definitions loading."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb
import pytest

from mlops_assets.core import flightdata, landing

DAYS = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(9)]
SHORT_WINDOW = {"window_days": 6, "holdout_days": 3}


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """The nine days through the whole graph once for the module (the automation test runs last)."""
    from conftest import pipeline_run

    with pipeline_run(tmp_path_factory.mktemp("e2e"), DAYS, SHORT_WINDOW) as run:
        yield run, []


def _q(platform, sql):
    with duckdb.connect(str(platform.settings.warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def test_definitions_load():
    from mlops_assets.definitions import defs

    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert {"raw_flights", "stg_flights", "int_route_delay_history", "fct_flights", "flight_features",
            "training_set", "delay_model", "model_gate", "flight_predictions", "drift_report",
            "model_performance"} <= keys
    # one connected graph: dbt sources are the raw assets
    assert dg.AssetKey("raw_flights") in graph.get(dg.AssetKey("stg_flights")).parent_keys
    # dbt tests are asset checks on the dbt assets
    assert any(c.asset_key == dg.AssetKey("fct_flights") for c in graph.asset_check_keys)


def test_whole_graph_on_real_days(ran):
    platform, _lines = ran
    flights = flightdata.read_daily("flights")
    expected = {d: int((flights["_date"] == d).sum()) for d in DAYS}
    got = dict(_q(platform, "SELECT flight_date, count(*) FROM marts.fct_flights GROUP BY 1"))
    assert got == expected
    got = dict(_q(platform, "SELECT flight_date, count(*) FROM features.flight_features GROUP BY 1"))
    assert got == expected

    inst = platform.instance
    # dbt tests ran as asset checks and passed
    check = inst.event_log_storage.get_latest_asset_check_execution_by_key(
        [dg.AssetCheckKey(dg.AssetKey("fct_flights"), "unique_fct_flights_flight_id")]
    )
    assert check and next(iter(check.values())).status.value == "SUCCEEDED"
    # model: registered, champion, linked from the materialization
    md = inst.get_latest_materialization_event(dg.AssetKey("delay_model")).asset_materialization.metadata
    assert md["model_version"].value == "1" and "mlflow_run_id" in md and 0.5 < md["test_roc_auc"].value <= 1
    gate = inst.get_latest_materialization_event(dg.AssetKey("model_gate")).asset_materialization.metadata
    assert gate["decision"].value == "promoted"
    # predictions carry the champion's version
    assert _q(platform, "SELECT DISTINCT model_version FROM ml.flight_predictions") == [("1",)]
    assert _q(platform, "SELECT count(*) FROM ml.flight_predictions")[0][0] == sum(expected.values())
    # drift and performance reports exist for every day, with metadata the UI plots
    drift = inst.fetch_materializations(dg.AssetKey("drift_report"), limit=100).records
    assert len(drift) == len(DAYS) and all("drift_share" in r.asset_materialization.metadata for r in drift)
    assert (platform.settings.reports_dir / "drift" / f"{DAYS[-1]}.html").exists()
    perf = dict(_q(platform, "SELECT partition_date, n FROM monitoring.model_performance"))
    assert len(perf) == len(DAYS)


def test_automation_requests_downstream_of_a_new_raw_partition(ran):
    platform, _ = ran
    from mlops_assets.definitions import defs

    # the automation sensor's first tick marks what exists as handled
    first = dg.evaluate_automation_conditions(defs=defs, instance=platform.instance)
    assert first.total_requested == 0
    new_day = DAYS[-1] + dt.timedelta(days=1)
    landing.replay(platform.settings.landing_dir, [new_day])
    dg.materialize(
        [*defs.assets], selection=["raw_flights", "raw_weather"], partition_key=new_day.isoformat(),
        instance=platform.instance, resources=platform.resources,
    )
    result = dg.evaluate_automation_conditions(defs=defs, instance=platform.instance, cursor=first.cursor)
    requested = {
        (k.to_user_string(), pk)
        for k, subset in ((r.key, r.true_subset) for r in result.results if r.true_subset.size)
        for pk in subset.expensively_compute_partition_keys() or [None]
    }
    assert ("fct_flights", new_day.isoformat()) in requested
    assert ("int_route_delay_history", new_day.isoformat()) in requested
    # nothing is requested for days that did not change
    assert not any(k == "fct_flights" and pk != new_day.isoformat() for k, pk in requested)
