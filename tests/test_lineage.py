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

from mlops_assets.cli import main as cli_main

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


# --- staleness: Dagster's own stale-status resolver (the one the UI uses) --------------------

EDITED_MODEL = "int_route_delay_history"
DBT_NAMES = {"dbt_staging_models", "dbt_daily_models"}


def _dbt_copy(base: Path, name: str) -> Path:
    """A copy of the repo's dbt project (the repo's files stay untouched).

    One folder per state: dagster-dbt caches a manifest by its path.
    """
    import shutil

    from mlops_assets.settings import DBT_PROJECT_DIR

    copy = base / name
    shutil.copytree(DBT_PROJECT_DIR, copy, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages", ".user.yml"))
    return copy


def _parse(project_dir: Path) -> None:
    import subprocess
    import sys

    dbt = Path(sys.executable).with_name("dbt")
    with open(project_dir / "parse.log", "w") as log:
        subprocess.run([str(dbt), "parse", "--project-dir", str(project_dir), "--profiles-dir", str(project_dir),
                        "--target", "duckdb"], cwd=project_dir, stdout=log, stderr=log, check=True, timeout=300)


def _graph_with_dbt_project(defs: dg.Definitions, project_dir: Path):
    """The platform's graph with the dbt assets built from ``project_dir``'s manifest."""
    from dagster_dbt import DbtProject

    from mlops_assets.defs.transform.assets import build_dbt_assets

    others = [a for a in defs.assets if getattr(a, "node_def", None) is None or a.node_def.name not in DBT_NAMES]
    assert len(others) == len(defs.assets) - 2
    project = DbtProject(project_dir=project_dir, profiles_dir=project_dir, target="duckdb")
    return dg.Definitions(assets=[*others, *build_dbt_assets(project)], resources=defs.resources).get_repository_def().asset_graph


def _statuses(instance: dg.DagsterInstance, graph) -> dict[tuple[str, str | None], tuple]:
    """(asset, partition) -> (status, cause categories) for everything materialized in the instance."""
    from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
    from dagster._core.definitions.data_version import CachingStaleStatusResolver
    from dagster._time import get_current_datetime

    view = AssetGraphView(temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
                          instance=instance, asset_graph=graph)
    resolver = CachingStaleStatusResolver(instance=instance, asset_graph=graph, loading_context=view)
    out = {}
    for key in graph.materializable_asset_keys:
        partitions = [None]
        if graph.get(key).is_partitioned:
            partitions = sorted(instance.get_materialized_partitions(key))
            assert partitions, f"{key.to_user_string()} has no materialized partition"
        for p in partitions:
            causes = resolver.get_stale_causes(key, p)
            out[(key.to_user_string(), p)] = (resolver.get_status(key, p).value,
                                              sorted({c.category.value for c in causes}))
    return out


def test_editing_one_dbt_model_makes_exactly_it_and_its_downstream_stale(ran, tmp_path):
    copy = _dbt_copy(tmp_path, "unchanged")
    _parse(copy)
    # the unchanged copy: same SQL checksums, so the graph matches every recorded materialization
    unchanged_graph = _graph_with_dbt_project(ran.defs, copy)
    before = _statuses(ran.instance, unchanged_graph)
    assert {k: v for k, v in before.items() if v[0] != "FRESH"} == {}
    assert ("fct_flights", "2013-01-09") in before and ("delay_model", None) in before

    copy = _dbt_copy(tmp_path, "edited")
    sql = copy / "models" / "intermediate" / f"{EDITED_MODEL}.sql"
    sql.write_text(sql.read_text() + "\n-- edited: same logic, new checksum\n")
    _parse(copy)
    graph = _graph_with_dbt_project(ran.defs, copy)
    old_graph = ran.defs.get_repository_def().asset_graph
    edited = dg.AssetKey(EDITED_MODEL)
    assert graph.get(edited).code_version != old_graph.get(edited).code_version
    assert all(graph.get(k).code_version == old_graph.get(k).code_version
               for k in graph.materializable_asset_keys if k != edited)

    after = _statuses(ran.instance, graph)
    # Dagster 1.13's resolver is not transitive: the edited model is STALE (code version changed)
    # on every materialized partition; its downstream turns stale one hop at a time, when the
    # model is re-materialized with a new data version (it is not re-run here).
    assert {name for (name, _), (status, _) in after.items() if status != "FRESH"} == {EDITED_MODEL}
    edited_partitions = {p: v for (n, p), v in after.items() if n == EDITED_MODEL}
    assert sorted(edited_partitions) == [d.isoformat() for d in DAYS]
    assert all(v == ("STALE", ["CODE"]) for v in edited_partitions.values())
    # nothing else: raw assets, sibling staging models, the sibling incremental model fct_flights
    for untouched in ("raw_flights", "raw_weather", "raw_planes", "stg_flights", "stg_weather", "fct_flights",
                      "flight_features", "delay_model", "drift_report"):
        assert all(v == ("FRESH", []) for (n, _), v in after.items() if n == untouched), untouched
    # what an update of the edited model will make stale next: Dagster's own downstream selection
    downstream = dg.AssetSelection.assets(edited).downstream().resolve(graph)
    expected = {EDITED_MODEL, "fct_flights", "flight_features", "training_set", "delay_model", "model_gate",
                "flight_predictions", "drift_report", "model_performance"}
    assert {k.to_user_string() for k in downstream} == expected

    # `mlops stale`: Dagster's verdicts carried downstream -- the edited model and every materialization
    # built from it, on every partition it has, and nothing else
    from mlops_assets.staleness import stale_report

    assert stale_report(ran.instance, unchanged_graph) == []
    report = stale_report(ran.instance, graph)
    by_asset: dict[str, set] = {}
    for e in report:
        by_asset.setdefault(e.asset, set()).add(e.partition)
    assert set(by_asset) == expected
    for name, parts in by_asset.items():
        key = dg.AssetKey(name)
        done = set(ran.instance.get_materialized_partitions(key)) if graph.get(key).is_partitioned else {None}
        assert parts == done, name
    causes = {(e.asset, e.partition): e.causes for e in report}
    assert all(c[0].startswith("CODE") for (n, _), c in causes.items() if n == EDITED_MODEL)
    assert causes[("fct_flights", "2013-01-05")] == [f"UPSTREAM: {EDITED_MODEL}[2013-01-05]"]
    assert all(c and all(x.startswith("UPSTREAM") for x in c) for (n, _), c in causes.items() if n != EDITED_MODEL)


def test_reloading_an_unchanged_file_marks_nothing_stale(ran):
    """Same landed file, same data version: the new raw materialization changes no staleness."""
    graph = ran.defs.get_repository_def().asset_graph
    day = "2013-01-04"
    key = dg.AssetKey("raw_flights")
    old = ran.instance.fetch_materializations(dg.AssetRecordsFilter(key, asset_partitions=[day]), limit=1).records[0]
    result = dg.materialize([*ran.defs.assets], selection=["raw_flights"], partition_key=day,
                            instance=ran.instance, resources=ran.resources)
    assert result.success
    new = ran.instance.fetch_materializations(dg.AssetRecordsFilter(key, asset_partitions=[day]), limit=1).records[0]
    assert new.storage_id > old.storage_id
    assert new.asset_materialization.tags["dagster/data_version"] == old.asset_materialization.tags["dagster/data_version"]
    after = _statuses(ran.instance, graph)
    assert {k: v for k, v in after.items() if v[0] != "FRESH"} == {}
    out = CliRunner().invoke(cli_main, ["stale", "--json"])
    assert out.exit_code == 0, out.output
    assert json.loads(out.output) == []
