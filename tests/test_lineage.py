"""Lineage walks on a real run: model version -> raw files, and day -> models and predictions.

The graph runs once per module (9 real days, short training window 6 + 3) on an
instance in $DAGSTER_HOME (dagster.yaml written by mlops_assets.instance), so the
CLI's ``DagsterInstance.get()`` sees the same runs.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from pathlib import Path

import dagster as dg
import pytest
from click.testing import CliRunner
from conftest import pipeline_run

DAYS = [dt.date(2013, 1, 1) + dt.timedelta(days=i) for i in range(9)]
SHORT_WINDOW = {"window_days": 6, "holdout_days": 3}
TRAINING_DAYS = [f"2013-01-0{i}" for i in range(1, 7)]
HOLDOUT_DAY = "2013-01-08"

@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    with pipeline_run(tmp_path_factory.mktemp("lineage"), DAYS, SHORT_WINDOW) as run:
        yield run


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_model_lineage_walks_back_to_the_landed_files(ran):
    from mlops_assets.lineage import model_lineage

    data = model_lineage(ran.instance, ran.uri, "1")
    assert data["version"] == "1" and "champion" in data["aliases"]
    assert data["mlflow_run"]["run_id"] and data["mlflow_run"]["params"]
    assert data["dagster_run"]["status"] == "SUCCESS"
    assert data["tags"]["dagster_run_id"] == data["dagster_run"]["run_id"]
    # exactly the training window, not the holdout days
    assert [p["partition"] for p in data["partitions"]] == TRAINING_DAYS
    landing_dir = ran.settings.landing_dir
    for p in data["partitions"]:
        feat = p["flight_features"]
        assert feat["data_version"] and feat["data_version"] == feat["content_md5"]
        for key, dataset in (("raw_flights", "flights"), ("raw_weather", "weather")):
            f = p["raw_files"][key]
            expected = landing_dir / dataset / f"{p['partition']}.csv"
            assert Path(f["path"]) == expected
            assert f["sha256"] == _sha256(expected) == f["data_version"]
    # the feature data versions are the ones recorded in Dagster for those days
    latest = ran.instance.fetch_materializations(
        dg.AssetRecordsFilter(dg.AssetKey("flight_features"), asset_partitions=["2013-01-03"]), limit=1
    ).records[0]
    assert data["partitions"][2]["flight_features"]["data_version"] == \
        latest.asset_materialization.tags["dagster/data_version"]
    json.dumps(data)  # JSON-able as is


def test_partition_lineage_of_a_training_day_and_a_holdout_day(ran):
    from mlops_assets.lineage import partition_lineage

    day = partition_lineage(ran.instance, ran.uri, "2013-01-02")
    assert [m["version"] for m in day["models_trained_on"]] == ["1"]
    assert day["models_gated_on"] == []
    raw = day["raw_files"]["raw_flights"]
    assert raw["sha256"] == _sha256(ran.settings.landing_dir / "flights" / "2013-01-02.csv")
    assert raw["row_count"] > 0 and raw["run_id"]
    assert day["dbt_models"]["fct_flights"]["run_id"] and day["dbt_models"]["int_route_delay_history"]["run_id"]
    feat = day["flight_features"]
    assert feat["row_count"] > 0 and feat["data_version"]
    chk = feat["contract_check"]
    assert chk["status"] == "SUCCEEDED" and chk["passed"] is True and chk["n_rows"] == feat["row_count"]

    hold = partition_lineage(ran.instance, ran.uri, dt.date.fromisoformat(HOLDOUT_DAY))
    assert hold["models_trained_on"] == []
    assert [m["version"] for m in hold["models_gated_on"]] == ["1"]
    assert hold["predictions"]["model_version"] == "1" and hold["predictions"]["row_count"] > 0
    assert isinstance(hold["drift_report"]["drift_share"], float)
    assert "roc_auc" in hold["model_performance"]
    json.dumps(hold)


def test_bad_version_and_bad_date_give_clear_errors(ran):
    from mlops_assets.lineage import LineageError, model_lineage, partition_lineage

    with pytest.raises(LineageError, match=r"no version or alias '99'.*existing versions: 1"):
        model_lineage(ran.instance, ran.uri, "99")
    with pytest.raises(LineageError, match=r"2013-01-01\.\.2013-12-31"):
        partition_lineage(ran.instance, ran.uri, "2014-02-01")
    with pytest.raises(LineageError, match=r"not a date \(YYYY-MM-DD\)"):
        partition_lineage(ran.instance, ran.uri, "01/02/2013")


def test_cli_prints_a_tree_and_json(ran):
    from mlops_assets.lineage import lineage

    runner = CliRunner()
    res = runner.invoke(lineage, ["model", "1"])
    assert res.exit_code == 0, res.output
    assert res.output.startswith("model flight_delay v1 @champion")
    assert "└─ " in res.output and "├─ " in res.output and "2013-01-06" in res.output
    assert _sha256(ran.settings.landing_dir / "weather" / "2013-01-01.csv") in res.output

    res = runner.invoke(lineage, ["model", "champion", "--json"])
    assert res.exit_code == 0, res.output
    assert [p["partition"] for p in json.loads(res.output)["partitions"]] == TRAINING_DAYS

    res = runner.invoke(lineage, ["partition", HOLDOUT_DAY])
    assert res.exit_code == 0, res.output
    assert "predictions: model_version 1" in res.output and "drift_share" in res.output

    res = runner.invoke(lineage, ["partition", HOLDOUT_DAY, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["predictions"]["model_version"] == "1"

    res = runner.invoke(lineage, ["model", "42"])
    assert res.exit_code == 1 and "Error: model 'flight_delay' has no version or alias '42'" in res.output
    res = runner.invoke(lineage, ["partition", "2012-12-31"])
    assert res.exit_code == 2 and "allowed range 2013-01-01..2013-12-31" in res.output
