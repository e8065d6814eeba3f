"""The MLflow model registry side: champion alias, gate, rollback, status (no dagster).

Storage of the promotion history (all in the MLflow registry, nothing else):

* alias ``champion`` on registered model ``flight_delay`` -- the model that
  predictions load, always as ``models:/flight_delay@champion``;
* registered-model tag ``champion_stack`` -- JSON list of versions, the last
  one is the current champion, the one before it the previous champion;
  promotion pushes, :func:`rollback` pops;
* registered-model tag ``champion_history`` -- JSON list of events
  ``{"action": "promote"|"rollback", "version", "from", "at", ...}``
  (newest last, capped);
* model-version tags: ``gate_decision`` (promoted|rejected), ``gate_reasons``,
  ``compared_to`` (champion version or ``none``), ``gate_window``, ``gate_at``,
  ``gate_roc_auc`` / ``gate_brier`` / ``gate_predicted_rate``, and on promotion
  ``promoted_at`` / ``previous_champion``; on rollback ``rolled_back_at``.
  The same gate tags and ``gate_*`` metrics go to the version's training run.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import mlflow
import mlflow.sklearn
import numpy as np
import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from mlops_assets import schema
from mlops_assets.ml import training
from mlops_assets.ml.gate import GateDecision, GatePolicy, decide
from mlops_assets.ml.training import MissingFeatureError  # re-exported for callers

__all__ = [
    "CHAMPION_URI",
    "GateResult",
    "MissingFeatureError",
    "ModelLoadError",
    "NoChampionError",
    "NoPreviousChampionError",
    "champion_version",
    "client",
    "load_champion",
    "load_model",
    "model_features",
    "model_uri",
    "rollback",
    "run_gate",
    "score",
    "status",
]

CHAMPION_URI = f"models:/{schema.MODEL_NAME}@{schema.CHAMPION_ALIAS}"
STACK_TAG = "champion_stack"
HISTORY_TAG = "champion_history"
MAX_STACK = 50
MAX_HISTORY = 200


class NoChampionError(LookupError):
    """No version carries the ``champion`` alias yet."""


class NoPreviousChampionError(LookupError):
    """Rollback asked for, but there is no earlier champion to go back to."""


class ModelLoadError(RuntimeError):
    """A registered version exists but its artifact cannot be loaded (missing, corrupt)."""


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def client(tracking_uri: str) -> MlflowClient:
    """A client whose tracking *and* registry store is ``tracking_uri``."""
    return MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)


_using = training.mlflow_store


def model_uri(ref: str | int | None = None, name: str = schema.MODEL_NAME) -> str:
    """``None``/``"champion"`` -> ``models:/flight_delay@champion``; ``3``/``"3"`` ->
    ``models:/flight_delay/3``; any other string is taken as an alias; a full
    ``models:/...`` / ``runs:/...`` URI is returned unchanged."""
    if ref is None:
        return f"models:/{name}@{schema.CHAMPION_ALIAS}"
    s = str(ref)
    if ":/" in s:
        return s
    if s.isdigit():
        return f"models:/{name}/{s}"
    return f"models:/{name}@{s}"


def champion_version(c: MlflowClient, name: str = schema.MODEL_NAME) -> str | None:
    """The version holding the ``champion`` alias, or ``None`` (no alias / no model)."""
    try:
        return str(c.get_model_version_by_alias(name, schema.CHAMPION_ALIAS).version)
    except MlflowException:
        return None


def load_model(
    ref: str | int | None = schema.CHAMPION_ALIAS,
    *,
    tracking_uri: str | None = None,
    name: str = schema.MODEL_NAME,
):
    """The fitted scikit-learn pipeline for a version number or an alias (default champion)."""
    uri = model_uri(ref, name)
    with _using(tracking_uri):
        try:
            return mlflow.sklearn.load_model(uri)
        except MlflowException as e:
            if ref in (None, schema.CHAMPION_ALIAS) and "alias" in str(e).lower():
                raise NoChampionError(
                    f"{uri}: no version of {name!r} is champion yet; run the gate first"
                ) from e
            raise


def load_champion(tracking_uri: str, name: str = schema.MODEL_NAME):
    """``(version, model)`` loaded through ``models:/<name>@champion``.

    The version is resolved before and after loading; if the alias moved in
    between, it loads again, so the returned version is the loaded model's.
    """
    c = client(tracking_uri)
    for _ in range(3):
        before = champion_version(c, name)
        if before is None:
            raise NoChampionError(f"no version of {name!r} carries the alias 'champion'")
        try:
            model = load_model(schema.CHAMPION_ALIAS, tracking_uri=tracking_uri, name=name)
        except NoChampionError:
            raise
        except Exception as e:
            raise ModelLoadError(
                f"cannot load {model_uri(None, name)} (version {before}) from {tracking_uri}: "
                f"{type(e).__name__}: {e}"
            ) from e
        if champion_version(c, name) == before:
            return before, model
    raise RuntimeError("the champion alias kept moving while loading; try again")


def model_features(model: Any) -> list[str]:
    return [str(f) for f in getattr(model, "feature_names_in_", schema.FEATURE_COLUMNS)]


def _scores(model: Any, df: pd.DataFrame, uri: str) -> np.ndarray:
    features = model_features(model)
    missing = [f for f in features if f not in df.columns]
    if missing:
        raise MissingFeatureError(
            f"cannot score with {uri}: input is missing feature column(s) "
            f"{', '.join(missing)} (the model needs: {', '.join(features)})"
        )
    if df.empty:
        return np.empty(0, dtype=float)
    return training.predict_scores(model, df)


def score(model_uri: str, df: pd.DataFrame, *, tracking_uri: str | None = None) -> np.ndarray:
    """P(arrival delay > 15 min) per row of ``df`` (``predict_proba[:, 1]``).

    ``model_uri`` is e.g. ``models:/flight_delay@champion`` (see :data:`CHAMPION_URI`).
    ``df`` must carry every feature the model was fitted on (extra columns are
    ignored); a missing one raises :class:`MissingFeatureError` naming it.
    """
    with _using(tracking_uri):
        model = mlflow.sklearn.load_model(model_uri)
    return _scores(model, df, model_uri)


# --------------------------------------------------------------------------- tags


def _json_tag(c: MlflowClient, name: str, key: str) -> list:
    try:
        raw = c.get_registered_model(name).tags.get(key)
    except MlflowException:
        return []
    if not raw:
        return []
    try:
        val = json.loads(raw)
    except ValueError:
        return []
    return val if isinstance(val, list) else []


def _set_json_tag(c: MlflowClient, name: str, key: str, value: list, cap: int) -> None:
    c.set_registered_model_tag(name, key, json.dumps(value[-cap:], separators=(",", ":")))


def champion_stack(c: MlflowClient, name: str = schema.MODEL_NAME) -> list[str]:
    """Versions that were champion, oldest first; last == current (repaired if the alias
    was moved by hand)."""
    stack = [str(v) for v in _json_tag(c, name, STACK_TAG)]
    current = champion_version(c, name)
    if current is not None and (not stack or stack[-1] != current):
        stack.append(current)
    return stack


def champion_history(c: MlflowClient, name: str = schema.MODEL_NAME) -> list[dict]:
    return [e for e in _json_tag(c, name, HISTORY_TAG) if isinstance(e, dict)]


def _fmt(v: Any) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return str(v)
    return "nan" if math.isnan(f) else f"{f:.6g}"


def _tag_version_and_run(
    c: MlflowClient, name: str, version: str, tags: dict[str, str], metrics: dict[str, float]
) -> None:
    for k, v in tags.items():
        c.set_model_version_tag(name, version, k, v[:5000])
    run_id = c.get_model_version(name, version).run_id
    if run_id:
        for k, v in tags.items():
            c.set_tag(run_id, k, v[:5000])
        for k, v in metrics.items():
            if isinstance(v, (int, float)) and math.isfinite(v):
                c.log_metric(run_id, k, float(v))


# --------------------------------------------------------------------------- gate


@dataclass(frozen=True)
class GateResult:
    decision: GateDecision
    challenger_version: str
    champion_before: str | None  # the version it was compared to
    champion_after: str | None
    challenger_metrics: dict[str, Any]
    champion_metrics: dict[str, Any] | None
    window: str
    policy: dict[str, float] = field(default_factory=dict)

    @property
    def promoted(self) -> bool:
        return self.decision.promote


def _window_metrics(model: Any, lab: pd.DataFrame) -> dict[str, Any]:
    features = model_features(model)
    missing = [f for f in features if f not in lab.columns]
    if missing:
        return {
            "missing_features": missing,
            "n": float(len(lab)),
            "roc_auc": math.nan,
            "brier": math.nan,
            "predicted_rate": math.nan,
        }
    y = training.label_array(lab)
    return training.metrics_from_scores(y, training.predict_scores(model, lab))


def _training_overlap(c: MlflowClient, name: str, version: str, lab: pd.DataFrame) -> list[str]:
    """Days of the window that are among the version's training partitions (tag)."""
    trained = training.expand_partitions(
        c.get_model_version(name, version).tags.get("partitions", "")
    )
    if not trained or training.DATE_COLUMN not in lab.columns or lab.empty:
        return []
    days = {d.date().isoformat() for d in pd.to_datetime(lab[training.DATE_COLUMN]).unique()}
    return sorted(days & trained)


def run_gate(
    challenger_version: str | int,
    eval_df: pd.DataFrame,
    policy: GatePolicy | None = None,
    tracking_uri: str | None = None,
    *,
    name: str = schema.MODEL_NAME,
    window: str | None = None,
    dagster_run_id: str | None = None,
) -> GateResult:
    """Score the challenger and the current champion on ``eval_df``, decide, record.

    ``eval_df`` is the most recent labelled window neither model trained on
    (features + ``is_delayed``; rows with a NULL label are dropped). When the
    decision is *promote*, the ``champion`` alias moves to the challenger and
    the promotion is pushed on ``champion_stack`` / ``champion_history``. In
    every case the challenger version and its run get ``gate_*`` tags.
    """
    if tracking_uri is None:
        raise ValueError("tracking_uri is required")
    policy = policy or GatePolicy()
    c = client(tracking_uri)
    challenger = str(challenger_version)
    c.get_model_version(name, challenger)  # clear MlflowException if it does not exist
    lab = training.labelled_rows(eval_df)
    if window is None:
        window = training._day_range(lab) or f"{len(lab)} rows"

    champ = champion_version(c, name)
    ch_model = load_model(challenger, tracking_uri=tracking_uri, name=name)
    ch_metrics = _window_metrics(ch_model, lab)
    overlap = _training_overlap(c, name, challenger, lab)
    if overlap:
        ch_metrics["overlap_days"] = overlap
    champ_metrics: dict[str, Any] | None = None
    if champ is not None:
        if champ == challenger:
            champ_metrics = dict(ch_metrics)
        else:
            champ_model = load_model(champ, tracking_uri=tracking_uri, name=name)
            champ_metrics = _window_metrics(champ_model, lab)

    decision = decide(ch_metrics, champ_metrics, policy)
    if champ == challenger:
        decision = GateDecision(
            promote=decision.promote,
            reasons=[f"Version {challenger} is already the champion.", *decision.reasons],
        )
    at = _now()
    champion_after = champ
    if decision.promote and champ != challenger:
        stack = champion_stack(c, name)  # read before the alias moves
        c.set_registered_model_alias(name, schema.CHAMPION_ALIAS, challenger)
        champion_after = challenger
        stack.append(challenger)
        _set_json_tag(c, name, STACK_TAG, stack, MAX_STACK)
        history = champion_history(c, name)
        history.append(
            {
                "action": "promote",
                "version": challenger,
                "from": champ,
                "at": at,
                "window": window,
                "roc_auc": ch_metrics.get("roc_auc"),
                "brier": ch_metrics.get("brier"),
                "dagster_run_id": dagster_run_id,
            }
        )
        _set_json_tag(c, name, HISTORY_TAG, _clean_json(history), MAX_HISTORY)
        c.set_model_version_tag(name, challenger, "promoted_at", at)
        c.set_model_version_tag(name, challenger, "previous_champion", champ or "none")

    tags = {
        "gate_decision": decision.label,
        "gate_reasons": "\n".join(decision.reasons),
        "compared_to": champ or "none",
        "gate_window": window,
        "gate_at": at,
        "gate_policy": json.dumps(policy.as_dict(), separators=(",", ":")),
        "gate_roc_auc": _fmt(ch_metrics.get("roc_auc")),
        "gate_brier": _fmt(ch_metrics.get("brier")),
        "gate_predicted_rate": _fmt(ch_metrics.get("predicted_rate")),
    }
    if champ_metrics is not None:
        tags["champion_gate_roc_auc"] = _fmt(champ_metrics.get("roc_auc"))
        tags["champion_gate_brier"] = _fmt(champ_metrics.get("brier"))
    if dagster_run_id:
        tags["gate_dagster_run_id"] = dagster_run_id
    lists = ("missing_features", "overlap_days")
    run_metrics = {f"gate_{k}": v for k, v in ch_metrics.items() if k not in lists}
    if champ_metrics is not None:
        run_metrics.update(
            {f"gate_champion_{k}": v for k, v in champ_metrics.items() if k not in lists}
        )
    _tag_version_and_run(c, name, challenger, tags, run_metrics)

    return GateResult(
        decision=decision,
        challenger_version=challenger,
        champion_before=champ,
        champion_after=champion_after,
        challenger_metrics=ch_metrics,
        champion_metrics=champ_metrics,
        window=window,
        policy=policy.as_dict(),
    )


def _clean_json(events: list[dict]) -> list[dict]:
    """NaN is not JSON: replace non-finite floats by None."""
    out = []
    for e in events:
        out.append(
            {
                k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in e.items()
            }
        )
    return out


def rollback(
    tracking_uri: str, *, name: str = schema.MODEL_NAME, reason: str = ""
) -> tuple[str, str]:
    """Move ``champion`` back to the previous champion; returns ``(from_version, to_version)``.

    Raises :class:`NoChampionError` when there is no champion and
    :class:`NoPreviousChampionError` when the current champion is the first one.
    """
    c = client(tracking_uri)
    current = champion_version(c, name)
    if current is None:
        raise NoChampionError(f"{name!r} has no champion; nothing to roll back")
    stack = champion_stack(c, name)
    if len(stack) < 2:
        raise NoPreviousChampionError(
            f"version {current} of {name!r} is the first champion; there is no previous "
            "champion to roll back to"
        )
    stack.pop()
    target = stack[-1]
    c.get_model_version(name, target)  # still exists?
    c.set_registered_model_alias(name, schema.CHAMPION_ALIAS, target)
    _set_json_tag(c, name, STACK_TAG, stack, MAX_STACK)
    at = _now()
    history = champion_history(c, name)
    history.append(
        {"action": "rollback", "version": target, "from": current, "at": at, "reason": reason}
    )
    _set_json_tag(c, name, HISTORY_TAG, history, MAX_HISTORY)
    c.set_model_version_tag(name, current, "rolled_back_at", at)
    c.set_model_version_tag(name, target, "restored_at", at)
    return current, target


# --------------------------------------------------------------------------- status

_RUN_METRICS = (
    "val_roc_auc",
    "val_brier",
    "test_roc_auc",
    "test_brier",
    "gate_roc_auc",
    "gate_brier",
)
_VERSION_TAGS = (
    "gate_decision",
    "gate_reasons",
    "compared_to",
    "gate_window",
    "gate_at",
    "promoted_at",
    "previous_champion",
    "rolled_back_at",
    "data_version",
    "partitions",
    "dagster_run_id",
    "code_version",
    "git_commit",
)


def status(tracking_uri: str, *, name: str = schema.MODEL_NAME, limit: int = 50) -> dict:
    """Champion, latest challenger and per-version gate decisions + metrics (newest first)."""
    c = client(tracking_uri)
    try:
        c.get_registered_model(name)
    except MlflowException:
        return {
            "model": name,
            "exists": False,
            "champion": None,
            "champion_uri": model_uri(None, name),
            "latest_challenger": None,
            "versions": [],
            "history": [],
            "stack": [],
        }
    champ = champion_version(c, name)
    mvs = sorted(
        c.search_model_versions(f"name='{name}'"), key=lambda m: int(m.version), reverse=True
    )[:limit]
    versions = []
    for mv in mvs:
        metrics: dict[str, float] = {}
        if mv.run_id:
            try:
                run_metrics = c.get_run(mv.run_id).data.metrics
                metrics = {k: run_metrics[k] for k in _RUN_METRICS if k in run_metrics}
            except MlflowException:
                pass
        versions.append(
            {
                "version": str(mv.version),
                "run_id": mv.run_id,
                "created_at": datetime.fromtimestamp(
                    mv.creation_timestamp / 1000, tz=UTC
                ).isoformat(timespec="seconds"),
                "is_champion": str(mv.version) == champ,
                **{k: mv.tags.get(k) for k in _VERSION_TAGS},
                "metrics": metrics,
            }
        )
    for v in versions:
        v["gate_decision"] = v["gate_decision"] or "pending"
    # the newest version is the latest challenger, whatever the gate said about it
    latest = versions[0] if versions else None
    return {
        "model": name,
        "exists": True,
        "champion": champ,
        "champion_uri": model_uri(None, name),
        "latest_challenger": latest,
        "versions": versions,
        "history": champion_history(c, name),
        "stack": champion_stack(c, name),
    }


def score_loaded(model: Any, df: pd.DataFrame, uri: str = CHAMPION_URI) -> np.ndarray:
    """Scores of an already loaded model (as :func:`load_champion` returns it)."""
    return _scores(model, df, uri)
