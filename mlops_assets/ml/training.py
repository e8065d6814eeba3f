"""Train the flight-delay classifier and log it to MLflow (no dagster import).

Public API
----------
- :func:`prepare_features` -- the model's input frame (exact columns, plain dtypes)
- :func:`time_split` -- train / validation / test split by whole days
- :func:`build_pipeline` -- the unfitted scikit-learn pipeline
- :func:`fit_pipeline` -- fit with early stopping on an explicit validation set
- :func:`evaluate` -- AUC, log loss, Brier, rates
- :func:`train_and_log` -- all of the above plus one MLflow run and a new
  registered version of ``flight_delay``; returns :class:`TrainResult`

The label is ``is_delayed`` (``arr_delay > 15``); rows where it is NULL
(cancelled or diverted flights, no arrival) are excluded from training and
from evaluation.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import tempfile
import time
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OrdinalEncoder
from threadpoolctl import threadpool_limits

from mlops_assets import schema

LABEL = "is_delayed"
DATE_COLUMN = "flight_date"

#: HistGradientBoostingClassifier settings used when ``params`` omits them.
#: ``max_iter`` is a cap; early stopping on the validation days usually stops
#: far earlier (a few weeks of flights train in a few seconds on 2 cores).
DEFAULT_PARAMS: dict[str, Any] = {
    "learning_rate": 0.08,
    "max_iter": 300,
    "max_leaf_nodes": 31,
    "min_samples_leaf": 40,
    "l2_regularization": 1.0,
    "max_bins": 255,
    "early_stopping": True,
    "n_iter_no_change": 20,
    "random_state": 42,
}
_HGB_PARAMS = frozenset(
    {
        "learning_rate",
        "max_iter",
        "max_leaf_nodes",
        "max_depth",
        "min_samples_leaf",
        "l2_regularization",
        "max_features",
        "max_bins",
        "early_stopping",
        "scoring",
        "validation_fraction",
        "n_iter_no_change",
        "tol",
        "random_state",
        "class_weight",
    }
)


#: OpenMP threads for fitting / scoring. One on purpose: on this 2-core box,
#: with other Dagster steps running, HistGradientBoosting's OpenMP barriers
#: under contention made a 0.3 s fit take 20 s with 2 threads (measured);
#: single-threaded, ~20k rows fit in ~0.3-0.5 s anyway.
N_THREADS = 1


def compute_threads(n: int | None = None):
    """Context limiting OpenMP threads (``None`` -> :data:`N_THREADS`)."""
    return threadpool_limits(limits=n or N_THREADS, user_api="openmp")


class LeakageError(ValueError):
    """A feature that is only known after departure was asked for."""


class MissingFeatureError(ValueError):
    """The input frame lacks one or more model features (message names them)."""


class TrainingDataError(ValueError):
    """The training frame cannot produce a model (too few days, one class, ...)."""


# --------------------------------------------------------------------------- features


def check_features(features: Iterable[str]) -> tuple[str, ...]:
    """Validate a feature list against the contract; return it as a tuple.

    Raises :class:`LeakageError` for any column of ``schema.FORBIDDEN_FEATURES``
    (checked first, so the message is about leakage) and ``ValueError`` for a
    column that is not in ``schema.FEATURE_COLUMNS``.
    """
    features = tuple(features)
    leaked = sorted(set(features) & schema.FORBIDDEN_FEATURES)
    if leaked:
        raise LeakageError(
            f"forbidden feature(s) {', '.join(leaked)} are only known after departure "
            "and must never reach the model (schema.FORBIDDEN_FEATURES)"
        )
    unknown = [f for f in features if f not in schema.FEATURE_COLUMNS]
    if unknown:
        raise ValueError(
            f"unknown feature(s) {', '.join(unknown)}; the model may only use "
            "schema.FEATURE_COLUMNS"
        )
    if len(set(features)) != len(features):
        raise ValueError(f"duplicate features in {features}")
    if not features:
        raise ValueError("no features given")
    return features


def prepare_features(
    df: pd.DataFrame, features: Sequence[str] = schema.FEATURE_COLUMNS
) -> pd.DataFrame:
    """Exactly ``features``, in order, as float64 (numeric) / object (categorical).

    Nullable pandas dtypes (``Int64``, ``Float64``, ``string``) and ``pd.NA``
    become ``float64``/``np.nan`` and ``object``/``np.nan``: what scikit-learn
    and the MLflow signature expect. Extra columns (keys, labels, forbidden
    columns) are dropped here, so they cannot reach the model.
    """
    missing = [c for c in features if c not in df.columns]
    if missing:
        raise MissingFeatureError(
            f"input is missing model feature column(s): {', '.join(missing)} "
            f"(the model needs {len(features)} features: {', '.join(features)})"
        )
    out = {}
    for c in features:
        s = df[c]
        if c in schema.CATEGORICAL_FEATURES:
            obj = s.astype("string").astype(object)
            out[c] = obj.where(s.notna().to_numpy(), np.nan)
        else:
            try:
                out[c] = (
                    pd.to_numeric(s, errors="raise")
                    .astype("Float64")
                    .to_numpy(dtype="float64", na_value=np.nan)
                )
            except (TypeError, ValueError) as e:
                raise ValueError(f"feature column {c!r} is not numeric: {e}") from e
    return pd.DataFrame(out, index=df.index)


def labelled_rows(df: pd.DataFrame, label: str = LABEL) -> pd.DataFrame:
    """Rows with a known label (drops cancelled / diverted flights)."""
    if label not in df.columns:
        raise TrainingDataError(f"the frame has no label column {label!r}")
    return df[df[label].notna()]


def label_array(df: pd.DataFrame, label: str = LABEL) -> np.ndarray:
    y = df[label]
    if y.isna().any():
        raise TrainingDataError(f"{int(y.isna().sum())} rows have a NULL {label}; drop them first")
    return y.astype("int64").to_numpy()


# --------------------------------------------------------------------------- split


def time_split(
    df: pd.DataFrame,
    date_col: str = DATE_COLUMN,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Split by whole days: every train day < every validation day < every test day.

    ``fractions`` are shares of the *distinct days* (not rows). Validation and
    test get at least one day each; at least three distinct days are needed.
    """
    if len(fractions) != 3 or any(f < 0 for f in fractions) or sum(fractions) <= 0:
        raise ValueError(f"fractions must be three non-negative shares, got {fractions}")
    if date_col not in df.columns:
        raise TrainingDataError(f"the frame has no date column {date_col!r}")
    day = pd.to_datetime(df[date_col]).dt.normalize()
    days = np.sort(day.dropna().unique())
    n = len(days)
    if n < 3:
        raise TrainingDataError(f"need at least 3 distinct days to split, got {n}")
    total = float(sum(fractions))
    n_val = max(1, round(n * fractions[1] / total))
    n_test = max(1, round(n * fractions[2] / total))
    n_train = n - n_val - n_test
    if n_train < 1:
        n_train, n_val, n_test = n - 2, 1, 1
    train_end, val_end = days[n_train], days[n_train + n_val]  # first val day, first test day
    train = df[(day < train_end).to_numpy()]
    val = df[((day >= train_end) & (day < val_end)).to_numpy()]
    test = df[(day >= val_end).to_numpy()]
    return train, val, test


# --------------------------------------------------------------------------- model


def build_pipeline(
    params: dict[str, Any] | None = None,
    *,
    features: Sequence[str] = schema.FEATURE_COLUMNS,
) -> Pipeline:
    """The unfitted pipeline: ordinal-encode the categoricals, then gradient boosting.

    Why ``HistGradientBoostingClassifier``:

    * **fast on 2 cores** -- features are binned once into <= 255 bins, trees
      are grown on histograms (OpenMP), and early stopping on the validation
      days stops after tens of iterations: ~20k rows fit in seconds;
    * **native missing values** -- plane age/seats (unknown tail numbers), wind
      gust, pressure and the route history of new routes are NULL often; the
      trees learn which side NaN goes to, no imputation step to keep in sync;
    * **native categoricals** -- carrier / origin / dest are split on category
      subsets (OrdinalEncoder -> ``categorical_features``), no one-hot blow-up
      for ~100 destinations; unseen categories at scoring time map to NaN
      (``handle_unknown="use_encoded_value"``) instead of failing;
    * **probabilities good enough for the Brier gate** -- trained on log loss,
      its scores are close to calibrated on this data (the run logs a
      calibration plot); logistic regression is better calibrated by
      construction but needs imputation + one-hot + scaling and cannot model
      the interactions (hour x weather x route) that carry most of the signal.

    Only ``features`` (default ``schema.FEATURE_COLUMNS``) are used; asking for
    any column of ``schema.FORBIDDEN_FEATURES`` raises :class:`LeakageError`.
    """
    features = check_features(features)
    merged = {**DEFAULT_PARAMS, **(params or {})}
    unknown = sorted(set(merged) - _HGB_PARAMS)
    if unknown:
        raise ValueError(f"unknown model parameter(s): {', '.join(unknown)}")
    categorical = [f for f in features if f in schema.CATEGORICAL_FEATURES]
    numeric = [f for f in features if f not in schema.CATEGORICAL_FEATURES]
    prep = ColumnTransformer(
        [
            (
                "cat",
                OrdinalEncoder(
                    handle_unknown="use_encoded_value",
                    unknown_value=np.nan,
                    encoded_missing_value=np.nan,
                    dtype=np.float64,
                ),
                categorical,
            ),
            ("num", "passthrough", numeric),
        ],
        remainder="drop",
        verbose_feature_names_out=False,
    ).set_output(transform="pandas")
    clf = HistGradientBoostingClassifier(
        loss="log_loss", categorical_features=categorical or None, **merged
    )
    return Pipeline([("prep", prep), ("model", clf)])


def fit_pipeline(
    pipe: Pipeline,
    X_train: pd.DataFrame,
    y_train: np.ndarray,
    X_val: pd.DataFrame | None = None,
    y_val: np.ndarray | None = None,
) -> Pipeline:
    """Fit ``pipe``; early stopping (if enabled) watches the *validation days*.

    The encoder is fitted on the training rows only, the validation rows are
    transformed with it and handed to ``HistGradientBoostingClassifier.fit``
    as ``X_val``/``y_val`` (scikit-learn >= 1.7), so early stopping never uses
    a random slice of the training days.
    """
    prep, clf = pipe.named_steps["prep"], pipe.named_steps["model"]
    with compute_threads():
        Xt = prep.fit_transform(X_train, y_train)
        if X_val is not None and y_val is not None and clf.early_stopping in (True, "auto"):
            clf.set_params(early_stopping=True)
            clf.fit(Xt, y_train, X_val=prep.transform(X_val), y_val=y_val)
        else:
            clf.fit(Xt, y_train)
    return pipe


def predict_scores(model: Any, df: pd.DataFrame) -> np.ndarray:
    """P(delayed) for each row; ``df`` must hold every feature the model was fitted on."""
    features = list(getattr(model, "feature_names_in_", schema.FEATURE_COLUMNS))
    X = prepare_features(df, features)
    with compute_threads():
        return np.asarray(model.predict_proba(X)[:, 1], dtype=float)


def metrics_from_scores(y: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """roc_auc, log_loss, brier, positive_rate, predicted_rate, n, n_nan_scores.

    NaN scores are counted and left out of the other metrics; AUC is NaN when
    the window holds a single class.
    """
    y = np.asarray(y, dtype=float)
    scores = np.asarray(scores, dtype=float)
    ok = np.isfinite(scores)
    y_ok, s_ok = y[ok], scores[ok]
    n = len(y)
    out: dict[str, float] = {
        "n": float(n),
        "n_nan_scores": float((~ok).sum()),
        "positive_rate": float(y.mean()) if n else math.nan,
        "predicted_rate": float(s_ok.mean()) if len(s_ok) else math.nan,
    }
    if len(s_ok) and len(np.unique(y_ok)) == 2:
        out["roc_auc"] = float(roc_auc_score(y_ok, s_ok))
    else:
        out["roc_auc"] = math.nan
    if len(s_ok):
        clipped = np.clip(s_ok, 1e-15, 1 - 1e-15)
        out["log_loss"] = float(log_loss(y_ok, clipped, labels=[0, 1]))
        out["brier"] = float(brier_score_loss(y_ok, s_ok, pos_label=1))
    else:
        out["log_loss"] = out["brier"] = math.nan
    return out


def evaluate(model: Any, X: pd.DataFrame, y: Any) -> dict[str, float]:
    """Metrics of ``model`` on features ``X`` (extra columns ignored) and labels ``y``."""
    return metrics_from_scores(np.asarray(y, dtype=float), predict_scores(model, X))


# --------------------------------------------------------------------------- lineage helpers


def compact_partitions(partitions: Iterable[str], max_len: int = 2000) -> str:
    """``["2013-03-01", "2013-03-02", "2013-03-05"]`` -> ``"2013-03-01..2013-03-02,2013-03-05"``.

    Consecutive days collapse to ``first..last``; non-date keys are listed as
    they are. Longer than ``max_len`` -> cut with a ``+N more`` suffix.
    """
    keys = sorted(set(partitions))
    days: list[date] = []
    others: list[str] = []
    for k in keys:
        try:
            days.append(date.fromisoformat(k))
        except ValueError:
            others.append(k)
    ranges: list[str] = []
    i = 0
    while i < len(days):
        j = i
        while j + 1 < len(days) and days[j + 1] - days[j] == timedelta(days=1):
            j += 1
        ranges.append(str(days[i]) if i == j else f"{days[i]}..{days[j]}")
        i = j + 1
    parts = ranges + others
    text = ",".join(parts)
    if len(text) > max_len:
        kept: list[str] = []
        for p in parts:
            if len(",".join([*kept, p])) > max_len - 20:
                break
            kept.append(p)
        text = ",".join(kept) + f",+{len(parts) - len(kept)} more"
    return text


def expand_partitions(text: str) -> set[str]:
    """Inverse of :func:`compact_partitions` (a cut ``+N more`` tail is ignored)."""
    out: set[str] = set()
    for part in filter(None, (p.strip() for p in (text or "").split(","))):
        if part.startswith("+") and part.endswith("more"):
            continue
        if ".." in part:
            a, b = part.split("..", 1)
            try:
                d, end = date.fromisoformat(a), date.fromisoformat(b)
            except ValueError:
                out.add(part)
                continue
            while d <= end:
                out.add(d.isoformat())
                d += timedelta(days=1)
        else:
            out.add(part)
    return out


#: MLflow stores dataset digests in a 36-character column.
MAX_DIGEST_LEN = 36


def dataset_digest(data_version: str) -> str:
    """The MLflow dataset digest for a data version (itself when <= 36 chars).

    Longer versions (a full sha256) are cut to 36 characters; the full value
    is kept in the run tag ``data_version`` and the dataset input tag.
    """
    return data_version if len(data_version) <= MAX_DIGEST_LEN else data_version[:MAX_DIGEST_LEN]


def _day_range(df: pd.DataFrame, date_col: str = DATE_COLUMN) -> str:
    if df.empty or date_col not in df.columns:
        return ""
    d = pd.to_datetime(df[date_col])
    return f"{d.min().date()}..{d.max().date()}"


# --------------------------------------------------------------------------- artifacts


def _calibration_figure(curves: dict[str, tuple[np.ndarray, np.ndarray]], n_bins: int):
    from matplotlib.figure import Figure  # object API: no pyplot, no global backend
    from sklearn.calibration import calibration_curve

    fig = Figure(figsize=(5.5, 5))
    ax = fig.add_subplot(1, 1, 1)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfectly calibrated")
    for name, (y, s) in curves.items():
        if len(y) == 0 or len(np.unique(y)) < 2:
            continue
        frac_pos, mean_pred = calibration_curve(y, s, n_bins=n_bins, strategy="quantile")
        ax.plot(mean_pred, frac_pos, marker="o", label=name)
    ax.set_xlabel("mean predicted P(delay > 15 min)")
    ax.set_ylabel("observed share delayed")
    ax.set_title("Calibration (quantile bins)")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left")
    fig.tight_layout()
    return fig


def permutation_importances(
    model: Pipeline,
    X: pd.DataFrame,
    y: np.ndarray,
    *,
    sample: int = 2000,
    n_repeats: int = 3,
    random_state: int = 0,
) -> pd.DataFrame:
    """Permutation importance (drop in ROC AUC) on a random sample of ``X``."""
    from sklearn.inspection import permutation_importance

    rng = np.random.default_rng(random_state)
    idx = rng.choice(len(X), size=min(sample, len(X)), replace=False) if len(X) else []
    Xs, ys = X.iloc[idx], y[idx]
    scoring = "roc_auc" if len(np.unique(ys)) == 2 else "neg_log_loss"
    with compute_threads():
        r = permutation_importance(
            model,
            Xs,
            ys,
            scoring=scoring,
            n_repeats=n_repeats,
            random_state=random_state,
            n_jobs=1,
        )
    return (
        pd.DataFrame(
            {
                "feature": list(X.columns),
                "importance_mean": r.importances_mean,
                "importance_std": r.importances_std,
            }
        )
        .assign(scoring=scoring, n_rows=len(Xs), n_repeats=n_repeats)
        .sort_values("importance_mean", ascending=False, ignore_index=True)
    )


def _importance_figure(imp: pd.DataFrame):
    from matplotlib.figure import Figure

    d = imp.sort_values("importance_mean")
    fig = Figure(figsize=(6.5, max(3.0, 0.28 * len(d) + 1)))
    ax = fig.add_subplot(1, 1, 1)
    ax.barh(d["feature"], d["importance_mean"], xerr=d["importance_std"], color="#4477aa")
    ax.set_xlabel(f"drop in {d['scoring'].iloc[0] if len(d) else 'score'} when permuted")
    ax.set_title("Permutation importance (validation sample)")
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------- MLflow

#: Types outside skops' default allow-list that this pipeline needs. The model
#: is saved with skops (MLflow 3's safe default, no pickle); these are the
#: ones we produce ourselves (HistGradientBoosting's tree predictors, the
#: ColumnTransformer's pandas output helpers), trusted by name, not wholesale.
SKOPS_TRUSTED_TYPES: tuple[str, ...] = (
    "functools.partial",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.utils.validation.check_array",
)


def model_requirements() -> list[str]:
    """Pinned runtime requirements of the logged model (no ``uv export`` / pip inference)."""
    from importlib.metadata import PackageNotFoundError, version

    reqs = []
    for dist in ("mlflow", "scikit-learn", "numpy", "pandas", "scipy", "skops"):
        try:
            reqs.append(f"{dist}=={version(dist)}")
        except PackageNotFoundError:  # not installed (mlflow-skinny, ...): leave unpinned
            reqs.append(dist)
    return reqs


@dataclass(frozen=True)
class TrainResult:
    run_id: str
    experiment_id: str
    model_name: str
    model_version: str  # registered version of ``model_name``, as a string
    model_uri: str  # ``models:/flight_delay/<version>``
    logged_model_uri: str  # MLflow 3 logged-model URI, ``models:/m-...``
    artifact_uri: str  # root of the run's artifacts
    artifacts: dict[str, str]  # name -> full artifact URI
    metrics: dict[str, float]
    params: dict[str, Any]
    tags: dict[str, str]
    split: dict[str, Any] = field(default_factory=dict)  # days / rows per split


@contextlib.contextmanager
def mlflow_store(tracking_uri: str | None):
    """Point MLflow's fluent API (runs, ``log_model``, ``load_model``) at one store
    for the duration of the block, then put the previous state back exactly.

    ``mlflow.set_tracking_uri`` / ``set_registry_uri`` also export
    ``MLFLOW_TRACKING_URI`` / ``MLFLOW_REGISTRY_URI`` to the environment and
    ``get_registry_uri()`` returns a *resolved* value, so a naive
    "get, set, set back" pins the registry for the rest of the process; this
    restores the raw module state and those two variables instead.
    """
    if tracking_uri is None:
        yield
        return
    import mlflow
    from mlflow.tracking._model_registry import utils as registry_utils
    from mlflow.tracking._tracking_service import utils as tracking_utils

    env_keys = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")
    saved_env = {k: os.environ.get(k) for k in env_keys}
    saved_tracking = getattr(tracking_utils, "_tracking_uri", None)
    saved_registry = getattr(registry_utils, "_registry_uri", None)
    mlflow.set_tracking_uri(tracking_uri)
    mlflow.set_registry_uri(tracking_uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(saved_tracking)
        registry_utils._registry_uri = saved_registry
        for k, v in saved_env.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def default_artifact_location(tracking_uri: str) -> str | None:
    """Artifacts next to a SQLite store: ``sqlite:///x/mlflow.db`` -> ``x/artifacts``.

    Matches ``Settings.mlflow_artifact_root`` for the default store. ``None``
    for other stores (the server decides).
    """
    if tracking_uri.startswith("sqlite:///"):
        db = Path(tracking_uri[len("sqlite:///") :])
        return (db.parent / "artifacts").resolve().as_uri()
    return None


def ensure_experiment(client, name: str, artifact_location: str | None) -> str:
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        return exp.experiment_id
    try:
        return client.create_experiment(name, artifact_location=artifact_location)
    except Exception:  # created concurrently
        exp = client.get_experiment_by_name(name)
        if exp is None:
            raise
        return exp.experiment_id


def _as_uri(location: str | Path | None) -> str | None:
    if location is None:
        return None
    s = str(location)
    if "://" in s or s.startswith("file:"):
        return s
    return Path(s).resolve().as_uri()


def train_and_log(
    df: pd.DataFrame,
    *,
    params: dict[str, Any] | None = None,
    tracking_uri: str,
    dagster_run_id: str,
    partitions: list[str],
    data_version: str,
    code_version: str,
    git_commit: str | None,
    experiment: str = "flight_delay",
    model_name: str = schema.MODEL_NAME,
    artifact_location: str | Path | None = None,
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    dataset_name: str = "training_set",
    dataset_source: str | None = None,
    extra_tags: dict[str, str] | None = None,
) -> TrainResult:
    """Fit on the train days, early-stop on the validation days, log everything, register.

    ``df`` is the training set: ``flight_date``, the features and ``is_delayed``
    (other columns are ignored; rows with a NULL label are dropped). One MLflow
    run in ``experiment`` records:

    * params (model + split), metrics ``val_*`` / ``test_*`` / ``train_*``;
    * three dataset inputs (``<dataset_name>.train|validation|test``, contexts
      ``training``/``validation``/``test``) whose digest is ``data_version``
      (cut to 36 characters if longer; the full value is in the input's
      ``data_version`` tag);
    * tags ``dagster_run_id``, ``partitions`` (compact range), ``partition_count``,
      ``code_version``, ``git_commit``, ``data_version``;
    * artifacts ``plots/calibration.png``, ``importance/permutation_importance.csv``
      and ``.png``, ``split.json``;
    * the model (signature + input example, pyfunc ``predict_proba``) registered
      as a new version of ``model_name`` (the lineage tags are copied to it).
    """
    import mlflow
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException
    from mlflow.models import infer_signature

    t0 = time.perf_counter()
    data = labelled_rows(df)
    if data.empty:
        raise TrainingDataError("no labelled rows (is_delayed is NULL everywhere)")
    train, val, test = time_split(data, DATE_COLUMN, fractions)
    features = schema.FEATURE_COLUMNS
    X_tr, X_va, X_te = (prepare_features(d, features) for d in (train, val, test))
    y_tr, y_va, y_te = (label_array(d) for d in (train, val, test))
    if len(np.unique(y_tr)) < 2:
        raise TrainingDataError("the training days hold a single class; cannot fit a classifier")

    model_params = {**DEFAULT_PARAMS, **(params or {})}
    pipe = build_pipeline(model_params, features=features)
    t_fit = time.perf_counter()
    fit_pipeline(pipe, X_tr, y_tr, X_va, y_va)
    fit_seconds = time.perf_counter() - t_fit
    clf = pipe.named_steps["model"]

    metrics: dict[str, float] = {}
    for prefix, X, y in (("train", X_tr, y_tr), ("val", X_va, y_va), ("test", X_te, y_te)):
        for k, v in evaluate(pipe, X, y).items():
            metrics[f"{prefix}_{k}"] = v
    metrics["n_iter"] = float(clf.n_iter_)
    metrics["fit_seconds"] = fit_seconds

    split = {
        "train_days": _day_range(train),
        "val_days": _day_range(val),
        "test_days": _day_range(test),
        "train_rows": len(train),
        "val_rows": len(val),
        "test_rows": len(test),
        "dropped_unlabelled_rows": int(len(df) - len(data)),
    }
    partition_text = compact_partitions(partitions)
    tags = {
        "dagster_run_id": dagster_run_id,
        "partitions": partition_text,
        "partition_count": str(len(set(partitions))),
        "code_version": code_version,
        "git_commit": git_commit or "unknown",
        "data_version": data_version,
        "model_name": model_name,
        **(extra_tags or {}),
    }
    logged_params = {
        **{f"model.{k}": v for k, v in model_params.items()},
        "model.class": type(clf).__name__,
        "features": ",".join(features),
        "n_features": len(features),
        "split.fractions": ",".join(str(f) for f in fractions),
        **{f"split.{k}": v for k, v in split.items()},
    }

    client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    loc = _as_uri(artifact_location) or default_artifact_location(tracking_uri)
    experiment_id = ensure_experiment(client, experiment, loc)

    artifacts: dict[str, str] = {}
    with mlflow_store(tracking_uri):
        run_name = f"train {partition_text[:80]}" if partition_text else "train"
        with mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags) as run:
            run_id = run.info.run_id
            mlflow.log_params(logged_params)
            mlflow.log_metrics({k: v for k, v in metrics.items() if math.isfinite(v)})

            digest = dataset_digest(data_version)
            cols = [DATE_COLUMN, *features, LABEL]
            for part, context, frame, X, y in (
                ("train", "training", train, X_tr, y_tr),
                ("validation", "validation", val, X_va, y_va),
                ("test", "test", test, X_te, y_te),
            ):
                ds_df = X.assign(
                    **{
                        DATE_COLUMN: pd.to_datetime(frame[DATE_COLUMN]).dt.strftime("%Y-%m-%d"),
                        LABEL: y,
                    }
                )[cols]
                kwargs: dict[str, Any] = {
                    "targets": LABEL,
                    "name": f"{dataset_name}.{part}",
                    "digest": digest,
                }
                if dataset_source:
                    kwargs["source"] = dataset_source
                with warnings.catch_warnings():
                    # the 0/1 label is an integer column on purpose (the dataset schema
                    # is inferred lazily, when the input is logged)
                    warnings.filterwarnings(
                        "ignore", message=".*integer column", category=UserWarning
                    )
                    warnings.filterwarnings(
                        "ignore", message=".*interpreted in multiple ways", category=UserWarning
                    )
                    try:
                        dataset = mlflow.data.from_pandas(ds_df, **kwargs)
                    except MlflowException:  # unresolvable source string: use the code source
                        kwargs.pop("source", None)
                        dataset = mlflow.data.from_pandas(ds_df, **kwargs)
                    mlflow.log_input(
                        dataset,
                        context=context,
                        tags={
                            "data_version": data_version,
                            "days": _day_range(frame),
                            "partitions": partition_text,
                            **({"source": dataset_source[:1000]} if dataset_source else {}),
                        },
                    )

            mlflow.log_dict(split, "split.json")
            artifacts["split"] = f"{run.info.artifact_uri}/split.json"

            fig = _calibration_figure(
                {
                    "validation": (y_va, predict_scores(pipe, X_va)),
                    "test": (y_te, predict_scores(pipe, X_te)),
                },
                n_bins=10,
            )
            mlflow.log_figure(fig, "plots/calibration.png")
            artifacts["calibration_plot"] = f"{run.info.artifact_uri}/plots/calibration.png"

            imp = permutation_importances(pipe, X_va, y_va)
            with tempfile.TemporaryDirectory() as tmp:
                csv = Path(tmp) / "permutation_importance.csv"
                imp.to_csv(csv, index=False)
                mlflow.log_artifact(str(csv), artifact_path="importance")
            mlflow.log_figure(_importance_figure(imp), "importance/permutation_importance.png")
            artifacts["importance_csv"] = (
                f"{run.info.artifact_uri}/importance/permutation_importance.csv"
            )
            artifacts["importance_plot"] = (
                f"{run.info.artifact_uri}/importance/permutation_importance.png"
            )

            example = X_tr.head(5)
            signature = infer_signature(example, pipe.predict_proba(example))
            info = mlflow.sklearn.log_model(
                pipe,
                name="model",
                signature=signature,
                input_example=example,
                registered_model_name=model_name,
                pyfunc_predict_fn="predict_proba",
                serialization_format="skops",
                skops_trusted_types=list(SKOPS_TRUSTED_TYPES),
                pip_requirements=model_requirements(),
                params={k: v for k, v in model_params.items() if v is not None},
                tags={"data_version": data_version, "dagster_run_id": dagster_run_id},
            )
            version = str(info.registered_model_version)
            artifacts["model"] = info.model_uri
            artifact_uri = run.info.artifact_uri
            mlflow.log_metric("total_seconds", time.perf_counter() - t0)

    for k, v in tags.items():
        client.set_model_version_tag(model_name, version, k, v)
    client.set_model_version_tag(
        model_name, version, "val_roc_auc", f"{metrics['val_roc_auc']:.4f}"
    )
    client.set_model_version_tag(model_name, version, "val_brier", f"{metrics['val_brier']:.4f}")
    client.update_model_version(
        model_name,
        version,
        description=(
            f"HistGradientBoosting trained on {split['train_days']} "
            f"(partitions {partition_text}); data_version {data_version}; "
            f"dagster run {dagster_run_id}"
        ),
    )

    return TrainResult(
        run_id=run_id,
        experiment_id=experiment_id,
        model_name=model_name,
        model_version=version,
        model_uri=f"models:/{model_name}/{version}",
        logged_model_uri=info.model_uri,
        artifact_uri=artifact_uri,
        artifacts=artifacts,
        metrics=metrics,
        params=logged_params,
        tags=tags,
        split=split,
    )


def summary(result: TrainResult) -> str:
    """One JSON line for logs / materialization metadata."""
    keep = ("val_roc_auc", "val_brier", "test_roc_auc", "test_brier", "n_iter")
    return json.dumps(
        {
            "run_id": result.run_id,
            "model_version": result.model_version,
            **{k: round(result.metrics[k], 4) for k in keep if k in result.metrics},
        }
    )
