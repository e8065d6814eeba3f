"""Lineage across Dagster and MLflow: model version -> raw files, and raw day -> models.

Two walks, both read-only, both returning plain JSON-able dicts:

* :func:`model_lineage` -- from a registered version of ``flight_delay``: its MLflow
  run (params, metrics, tags), the Dagster run that trained it (status from the
  instance), the training partitions (the version's ``partitions`` tag) and for
  each day the ``flight_features`` data version it was trained on (the latest
  materialization at or before the training run) and the landed files
  (``raw_flights`` / ``raw_weather``: path and sha256).
* :func:`partition_lineage` -- from one day: the landed files, the dbt models and
  the feature rows materialized for it (with the contract check's result), the
  model versions that trained on it (or were gated on it), the predictions and
  the drift / performance reports for it.

``mlops lineage model VERSION`` and ``mlops lineage partition YYYY-MM-DD`` print
them as a tree (``--json`` for scripts). The Dagster instance is
``DagsterInstance.get()`` (``$DAGSTER_HOME``), MLflow is
``get_settings().mlflow_tracking_uri``.
"""

import datetime as dt
import json
import math
from collections.abc import Iterable, Mapping
from typing import Any

import click

from mlops_assets import schema

RAW_ASSETS = ("raw_flights", "raw_weather")
DBT_ASSETS = ("int_route_delay_history", "fct_flights")
FEATURES_ASSET = "flight_features"
CONTRACT_CHECK = "feature_contract"
PREDICTIONS_ASSET = "flight_predictions"
DRIFT_ASSET = "drift_report"
PERFORMANCE_ASSET = "model_performance"
DATA_VERSION_TAG = "dagster/data_version"
INPUT_DATA_VERSION_PREFIX = "dagster/input_data_version/"
FIRST_DAY = dt.date.fromisoformat(schema.FIRST_DAY)
LAST_DAY = dt.date.fromisoformat(schema.END_DAY_EXCLUSIVE) - dt.timedelta(days=1)
# MLflow run tags worth showing (the rest are mlflow.* internals)
_RUN_TAGS = ("dagster_run_id", "partitions", "partition_count", "data_version", "code_version",
             "git_commit", "dagster_asset", "gate_decision")


class LineageError(LookupError):
    """The version or day asked for does not exist / is not valid; the message says why."""


# --------------------------------------------------------------------------- helpers


def _plain(value: Any) -> Any:
    """A metadata value (or anything) as JSON-able Python."""
    value = getattr(value, "value", value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return str(value)


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return dt.datetime.fromtimestamp(ts, dt.UTC).isoformat(timespec="seconds")


def _materializations(instance, key: str, partition: str | None = None, before: float | None = None,
                      limit: int = 1) -> list:
    """Newest first: materialization records of ``key`` (for ``partition``, before ``before``)."""
    import dagster as dg

    flt = dg.AssetRecordsFilter(
        asset_key=dg.AssetKey(key),
        asset_partitions=[partition] if partition is not None else None,
        before_timestamp=before,
    )
    return list(instance.fetch_materializations(flt, limit=limit).records)


def _event_summary(record, fields: Iterable[str] = ()) -> dict:
    """Run id, time, data version and the chosen metadata fields of one materialization record."""
    mat = record.asset_materialization
    md = mat.metadata if mat else {}
    tags = (mat.tags if mat else None) or {}
    out: dict[str, Any] = {
        "run_id": record.run_id,
        "materialized_at": _iso(record.timestamp),
        "data_version": tags.get(DATA_VERSION_TAG),
    }
    if "dagster/row_count" in md:
        out["row_count"] = _plain(md["dagster/row_count"])
    for f in fields:
        if f in md:
            out[f] = _plain(md[f])
    inputs = {k[len(INPUT_DATA_VERSION_PREFIX):]: v for k, v in tags.items()
              if k.startswith(INPUT_DATA_VERSION_PREFIX)}
    if inputs:
        out["input_data_versions"] = inputs
    return out


def _raw_files(instance, day: str, before: float | None = None) -> dict:
    out = {}
    for key in RAW_ASSETS:
        recs = _materializations(instance, key, day, before)
        if not recs:
            out[key] = None
            continue
        ev = _event_summary(recs[0], ("file", "file_sha256", "table"))
        out[key] = {"path": ev.pop("file", None), "sha256": ev.pop("file_sha256", None), **ev}
    return out


def _features(instance, day: str, before: float | None = None) -> dict | None:
    recs = _materializations(instance, FEATURES_ASSET, day, before)
    if not recs:
        return None
    ev = _event_summary(recs[0], ("content_md5", "labelled_rows", "delayed_share"))
    ev["data_version"] = ev.get("data_version") or ev.get("content_md5")
    return ev


def _contract_check(instance, day: str) -> dict | None:
    """The latest ``feature_contract`` execution for ``day``.

    Dagster 1.13 stores the *planned* execution of a partitioned check with its
    partition, but the evaluation from a plain ``AssetCheckResult`` with
    ``partition=None``; so: find the run through the planned row for the day,
    then that run's evaluation event.
    """
    import dagster as dg
    from dagster._core.event_api import PartitionKeyFilter

    key = dg.AssetCheckKey(dg.AssetKey(FEATURES_ASSET), CONTRACT_CHECK)
    storage = instance.event_log_storage
    try:
        rec = storage.get_latest_asset_check_execution_by_key(
            [key], partition_filter=PartitionKeyFilter(key=day)
        ).get(key)
    except (TypeError, NotImplementedError):  # storage without partitioned checks
        rec = next((r for r in storage.get_asset_check_execution_history(key, limit=5000)
                    if r.partition == day), None)
    if rec is None:
        return None
    out: dict[str, Any] = {"status": rec.status.value, "run_id": rec.run_id,
                           "executed_at": _iso(rec.create_timestamp)}
    evaluation = None
    if rec.event is not None and rec.event.dagster_event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION:
        evaluation = rec.event.dagster_event.event_specific_data
    else:
        for entry in instance.all_logs(rec.run_id, of_type=dg.DagsterEventType.ASSET_CHECK_EVALUATION):
            data = entry.dagster_event.event_specific_data
            if data.asset_key == key.asset_key and data.check_name == key.name:
                evaluation, out["executed_at"] = data, _iso(entry.timestamp)
        if evaluation is None:
            run = instance.get_run_by_id(rec.run_id)
            if run is not None and run.is_finished:
                out["status"] = "EXECUTION_FAILED" if run.status.value == "FAILURE" else "SKIPPED"
    if evaluation is not None:
        out["status"] = "SUCCEEDED" if evaluation.passed else "FAILED"
        out["passed"] = bool(evaluation.passed)
        out["severity"] = getattr(getattr(evaluation, "severity", None), "value", None)
        md = evaluation.metadata or {}
        # a run over several days (a backfill's) checks each day and reports one result with
        # the days' own figures under "partitions": this day's verdict and counts come from there
        this_day = (_plain(md["partitions"]) or {}).get(day) if "partitions" in md else None
        if this_day is not None:
            md = this_day
            out["status"] = "SUCCEEDED" if this_day["passed"] else "FAILED"
            out["passed"] = bool(this_day["passed"])
            out["severity"] = "ERROR" if this_day.get("error") else "WARN"
            out["checked_with_days"] = len(_plain(evaluation.metadata["partitions"]))
        for f in ("n_rows", "n_failed_rows", "failed_share", "quarantined_rows"):
            if f in md:
                out[f] = _plain(md[f])
    return out


def _run_info(instance, run_id: str | None) -> dict | None:
    if not run_id:
        return None
    record = instance.get_run_record_by_id(run_id)
    if record is None:
        return {"run_id": run_id, "status": "not in this Dagster instance"}
    run = record.dagster_run
    return {
        "run_id": run_id,
        "status": run.status.value,
        "job_name": run.job_name,
        "started_at": _iso(record.start_time),
        "ended_at": _iso(record.end_time),
        "start_time": record.start_time or record.create_timestamp.timestamp(),
        "end_time": record.end_time,
    }


def _client(tracking_uri: str):
    from mlops_assets.ml import registry

    return registry.client(tracking_uri)


def _resolve_version(c, version: str | int) -> Any:
    """The MLflow ModelVersion for a number or an alias; LineageError when there is none."""
    from mlflow.exceptions import MlflowException

    ref = str(version).strip()
    try:
        if ref.isdigit():
            return c.get_model_version(schema.MODEL_NAME, ref)
        return c.get_model_version_by_alias(schema.MODEL_NAME, ref)
    except MlflowException:
        pass
    try:
        existing = sorted(int(v.version) for v in c.search_model_versions(f"name='{schema.MODEL_NAME}'"))
    except MlflowException:
        existing = []
    have = (f"existing versions: {', '.join(map(str, existing))}" if existing
            else f"no versions of {schema.MODEL_NAME!r} are registered yet")
    raise LineageError(f"model {schema.MODEL_NAME!r} has no version or alias {ref!r} ({have})")


def parse_day(day: str | dt.date) -> str:
    """``YYYY-MM-DD`` inside the data's range, or LineageError saying what is allowed."""
    allowed = f"allowed range {FIRST_DAY}..{LAST_DAY}"
    if isinstance(day, dt.date):
        d = day
    else:
        try:
            d = dt.date.fromisoformat(str(day).strip())
        except ValueError:
            raise LineageError(f"{day!r} is not a date (YYYY-MM-DD); {allowed}") from None
    if not FIRST_DAY <= d <= LAST_DAY:
        raise LineageError(f"{d} is outside the partitions; {allowed}")
    return d.isoformat()


# --------------------------------------------------------------------------- model lineage


def model_lineage(instance, tracking_uri: str, version: str | int) -> dict:
    """MLflow model version -> MLflow run -> Dagster run -> training days -> features -> raw files."""
    from mlops_assets.ml import training

    c = _client(tracking_uri)
    mv = _resolve_version(c, version)
    tags = dict(mv.tags or {})
    run_summary: dict[str, Any] = {"run_id": mv.run_id}
    run_tags: dict[str, str] = {}
    if mv.run_id:
        run = c.get_run(mv.run_id)
        run_tags = dict(run.data.tags or {})
        run_summary.update(
            experiment_id=run.info.experiment_id,
            status=run.info.status,
            params=dict(sorted(run.data.params.items())),
            metrics={k: _plain(v) for k, v in sorted(run.data.metrics.items())
                     if k.startswith(("val_", "test_", "gate_"))},
            datasets=[{"name": d.dataset.name, "digest": d.dataset.digest,
                       "context": next((t.value for t in d.tags if t.key == "mlflow.data.context"), None)}
                      for d in (run.inputs.dataset_inputs if run.inputs else [])],
        )
    lineage_tags = {**{k: v for k, v in run_tags.items() if k in _RUN_TAGS}, **tags}
    dagster_run_id = lineage_tags.get("dagster_run_id")
    run_info = _run_info(instance, dagster_run_id)
    # "at or before the training run": what existed when the run started
    cutoff = (run_info or {}).get("start_time") or (mv.creation_timestamp / 1000.0 if mv.creation_timestamp else None)
    if run_info:
        run_info = {k: v for k, v in run_info.items() if k not in ("start_time", "end_time")}

    partitions_tag = lineage_tags.get("partitions", "")
    days = sorted(training.expand_partitions(partitions_tag))
    partitions = []
    for day in days:
        partitions.append({
            "partition": day,
            "flight_features": _features(instance, day, before=cutoff),
            "raw_files": _raw_files(instance, day, before=cutoff),
        })

    delay_model = None
    if dagster_run_id:
        recs = [r for r in _materializations(instance, "delay_model", limit=50) if r.run_id == dagster_run_id]
        if recs:
            delay_model = _event_summary(recs[0], ("model_version", "mlflow_run_id", "training_partitions",
                                                   "training_data_version"))
    aliases = list(getattr(mv, "aliases", []) or [])
    return {
        "model": schema.MODEL_NAME,
        "version": str(mv.version),
        "aliases": aliases,
        "created_at": _iso(mv.creation_timestamp / 1000.0) if mv.creation_timestamp else None,
        "source": mv.source,
        "tags": tags,
        "mlflow_run": run_summary,
        "dagster_run": run_info,
        "delay_model_materialization": delay_model,
        "training_data_version": lineage_tags.get("data_version"),
        "partitions_tag": partitions_tag,
        "partitions": partitions,
    }


# --------------------------------------------------------------------------- partition lineage


def _models_for_day(tracking_uri: str, day: str) -> tuple[list[dict], list[dict]]:
    """(versions trained on ``day``, versions gated on ``day``), from the registry's tags."""
    from mlflow.exceptions import MlflowException

    from mlops_assets.ml import training

    c = _client(tracking_uri)
    try:
        versions = c.search_model_versions(f"name='{schema.MODEL_NAME}'")
    except MlflowException:
        return [], []
    trained, gated = [], []
    for mv in sorted(versions, key=lambda v: int(v.version)):
        tags = dict(mv.tags or {})
        entry = {"version": str(mv.version), "run_id": mv.run_id,
                 "aliases": list(getattr(mv, "aliases", []) or []),
                 "partitions": tags.get("partitions"), "gate_decision": tags.get("gate_decision"),
                 "dagster_run_id": tags.get("dagster_run_id")}
        if day in training.expand_partitions(tags.get("partitions", "")):
            trained.append(entry)
        if day in training.expand_partitions(tags.get("gate_window", "")):
            gated.append({**entry, "gate_window": tags.get("gate_window")})
    return trained, gated


def partition_lineage(instance, tracking_uri: str, day: str | dt.date) -> dict:
    """One day -> landed files, dbt models, features (+ contract), models, predictions, reports."""
    day = parse_day(day)
    dbt = {}
    for key in DBT_ASSETS:
        recs = _materializations(instance, key, day)
        dbt[key] = _event_summary(recs[0]) if recs else None
    features = _features(instance, day)
    if features is not None:
        features["contract_check"] = _contract_check(instance, day)
    trained, gated = _models_for_day(tracking_uri, day)

    def latest(key: str, fields: tuple[str, ...]) -> dict | None:
        recs = _materializations(instance, key, day)
        return _event_summary(recs[0], fields) if recs else None

    predictions = latest(PREDICTIONS_ASSET, ("model_version", "mean_score", "predicted_delayed_share"))
    drift = latest(DRIFT_ASSET, ("drift_share", "dataset_drift", "drifted_features", "champion_version",
                                 "reference_partitions", "report"))
    performance = latest(PERFORMANCE_ASSET, ("roc_auc", "brier", "n", "model_version"))
    return {
        "partition": day,
        "raw_files": _raw_files(instance, day),
        "dbt_models": dbt,
        "flight_features": features,
        "models_trained_on": trained,
        "models_gated_on": gated,
        "predictions": predictions,
        "drift_report": drift,
        "model_performance": performance,
    }


# --------------------------------------------------------------------------- tree rendering


def _short(v: Any, n: int = 12) -> str:
    s = "-" if v is None else str(v)
    return s[:n] if len(s) > n and all(ch in "0123456789abcdef-" for ch in s) else s


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "-" if v is None else str(v)


def _tree(label: str, children: list) -> list[str]:
    """``children``: list of str or (label, children) tuples -> lines with ├─ / └─."""
    lines = [label]

    def walk(items: list, prefix: str) -> None:
        for i, item in enumerate(items):
            last = i == len(items) - 1
            head, sub = (item, []) if isinstance(item, str) else item
            lines.append(f"{prefix}{'└─ ' if last else '├─ '}{head}")
            if sub:
                walk(sub, prefix + ("   " if last else "│  "))

    walk(children, "")
    return lines


def _raw_nodes(raw: dict) -> list:
    nodes = []
    for key, f in raw.items():
        if f is None:
            nodes.append(f"{key}: not materialized")
        else:
            nodes.append((f"{key}: {f.get('path')}", [
                f"sha256 {f.get('sha256')}",
                f"rows {_fmt(f.get('row_count'))}  run {_short(f.get('run_id'), 8)}  at {f.get('materialized_at')}",
            ]))
    return nodes


def render_model(data: dict) -> str:
    run = data["mlflow_run"]
    metrics = run.get("metrics") or {}
    shown = {k: v for k, v in metrics.items() if k in ("test_roc_auc", "test_brier", "val_roc_auc", "gate_roc_auc")}
    d = data.get("dagster_run") or {}
    parts = []
    for p in data["partitions"]:
        feat = p["flight_features"]
        feat_line = ("flight_features: not materialized" if feat is None else
                     f"flight_features data_version {feat.get('data_version')} rows {_fmt(feat.get('row_count'))} "
                     f"run {_short(feat.get('run_id'), 8)}")
        parts.append((p["partition"], [feat_line, *_raw_nodes(p["raw_files"])]))
    children = [
        (f"MLflow run {run.get('run_id')}", [
            f"params: {', '.join(f'{k}={v}' for k, v in (run.get('params') or {}).items() if len(str(v)) <= 40) or '-'}",
            f"metrics: {', '.join(f'{k}={_fmt(v)}' for k, v in shown.items()) or '-'}",
            *[f"dataset {ds['name']} ({ds.get('context') or '-'}) digest {ds['digest']}" for ds in run.get("datasets") or []],
        ]),
        (f"tags: code_version={data['tags'].get('code_version', '-')} "
         f"git_commit={_short(data['tags'].get('git_commit'), 12)} gate={data['tags'].get('gate_decision', '-')}"),
        f"Dagster run {d.get('run_id', '-')} ({d.get('status', 'unknown')})",
        f"training data version {data.get('training_data_version') or '-'}",
        (f"training partitions {data['partitions_tag'] or '-'} ({len(parts)} days)", parts),
    ]
    aliases = f" @{','.join(data['aliases'])}" if data["aliases"] else ""
    return "\n".join(_tree(f"model {data['model']} v{data['version']}{aliases}", children))


def render_partition(data: dict) -> str:
    dbt_nodes = [f"{k}: " + ("not materialized" if v is None else
                             f"run {_short(v['run_id'], 8)} at {v.get('materialized_at')}")
                 for k, v in data["dbt_models"].items()]
    feat = data["flight_features"]
    if feat is None:
        feat_node: Any = "flight_features: not materialized"
    else:
        chk = feat.get("contract_check")
        chk_line = ("contract check: not run" if chk is None else
                    f"contract check {CONTRACT_CHECK}: {chk.get('status')}"
                    + (f" ({chk.get('n_failed_rows')} failed rows)" if chk.get("n_failed_rows") is not None else ""))
        feat_node = (f"flight_features: {_fmt(feat.get('row_count'))} rows", [
            f"data_version {feat.get('data_version')}", f"run {_short(feat.get('run_id'), 8)}", chk_line])

    def models(items: list, empty: str) -> list:
        return [f"v{m['version']}" + (f" @{','.join(m['aliases'])}" if m["aliases"] else "")
                + f" trained on {m['partitions']} (gate {m.get('gate_decision') or '-'})" for m in items] or [empty]

    pred = data["predictions"]
    drift = data["drift_report"]
    perf = data["model_performance"]
    children = [
        ("raw files", _raw_nodes(data["raw_files"])),
        ("dbt models", dbt_nodes),
        feat_node,
        ("models trained on this day", models(data["models_trained_on"], "none")),
        ("models gated on this day (holdout)", models(data["models_gated_on"], "none")),
        "predictions: not materialized" if pred is None else
        f"predictions: model_version {pred.get('model_version')}, {_fmt(pred.get('row_count'))} rows, run {_short(pred['run_id'], 8)}",
        "drift report: not materialized" if drift is None else
        f"drift report: drift_share {_fmt(drift.get('drift_share'))} vs champion v{drift.get('champion_version')}"
        + (f" ({drift['report']})" if drift.get("report") else ""),
        "model performance: not materialized" if perf is None else
        f"model performance: roc_auc {_fmt(perf.get('roc_auc'))}, brier {_fmt(perf.get('brier'))}, "
        f"n {_fmt(perf.get('n'))}, model_version {perf.get('model_version')}",
    ]
    return "\n".join(_tree(f"partition {data['partition']}", children))


# --------------------------------------------------------------------------- CLI


def _echo(data: dict, as_json: bool, render) -> None:
    if as_json:
        click.echo(json.dumps(data, indent=2, default=str))
    else:
        click.echo(render(data))


def _with_instance(fn):
    import dagster as dg

    from mlops_assets.settings import get_settings

    s = get_settings()
    try:
        with dg.DagsterInstance.get() as instance:
            return fn(instance, s.mlflow_tracking_uri)
    except LineageError as e:
        raise click.ClickException(str(e)) from None


@click.group(name="lineage", help="Walk lineage: model version -> raw files, or day -> models and predictions.")
def lineage() -> None:
    pass


@lineage.command(name="model", help="From a model version (number or alias) back to its training days and raw files.")
@click.argument("version")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a tree.")
def model_cmd(version: str, as_json: bool) -> None:
    data = _with_instance(lambda inst, uri: model_lineage(inst, uri, version))
    _echo(data, as_json, render_model)


@lineage.command(name="partition", help="From a day (YYYY-MM-DD) to its files, features, models, predictions and reports.")
@click.argument("day")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a tree.")
def partition_cmd(day: str, as_json: bool) -> None:
    try:
        parse_day(day)  # fail fast, before opening the instance
    except LineageError as e:
        raise click.BadParameter(str(e), param_hint="YYYY-MM-DD") from None
    data = _with_instance(lambda inst, uri: partition_lineage(inst, uri, day))
    _echo(data, as_json, render_partition)
