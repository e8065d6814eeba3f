"""Monitoring sensors: retrain on drift / poor realized performance, and log run failures.

Neither sensor opens the warehouse: the retrain sensor reads only the Dagster instance's
materialization events (their metadata), the failure sensor only the failed run.
"""

import json
import logging
import math
import urllib.request
from datetime import UTC, datetime
from typing import Any

import dagster as dg

from mlops_assets.defs.monitoring.retrain import (
    DriftObservation,
    PerformanceObservation,
    RetrainCursor,
    RetrainPolicy,
    decide,
)
from mlops_assets.settings import get_settings

DRIFT_KEY = dg.AssetKey("drift_report")
PERFORMANCE_KEY = dg.AssetKey("model_performance")
TRAIN_JOB_NAME = "train_model"
EVENTS_LIMIT = 400  # newest events read per asset each evaluation
WEBHOOK_TIMEOUT_S = 5.0

_log = logging.getLogger(__name__)


def _value(metadata: dict[str, Any], key: str) -> Any:
    v = metadata.get(key)
    return getattr(v, "value", v)


def _float(x: Any) -> float | None:
    try:
        f = float(x)
    except (TypeError, ValueError):
        return None
    return f if math.isfinite(f) else None  # NaN/inf -> None


def _int(x: Any) -> int | None:
    try:
        return int(x)
    except (TypeError, ValueError):
        return None


def _records(instance: dg.DagsterInstance, key: dg.AssetKey, limit: int):
    return instance.fetch_materializations(key, limit=limit).records


def read_observations(
    instance: dg.DagsterInstance, limit: int = EVENTS_LIMIT
) -> tuple[list[DriftObservation], list[PerformanceObservation], int]:
    """Drift and performance observations from materialization events; newest storage id."""
    drift: list[DriftObservation] = []
    perf: list[PerformanceObservation] = []
    newest = 0

    def partitioned(key: dg.AssetKey):
        """(partition, metadata, storage id) of each partitioned materialization of ``key``."""
        nonlocal newest
        for rec in _records(instance, key, limit):
            newest = max(newest, rec.storage_id)
            mat = rec.asset_materialization
            if mat is not None and mat.partition:
                yield mat.partition, mat.metadata or {}, rec.storage_id

    for partition, md, storage_id in partitioned(DRIFT_KEY):
        flag = _value(md, "dataset_drift")
        if flag is None:
            continue
        drift.append(
            DriftObservation(
                partition=partition,
                dataset_drift=bool(flag),
                drift_share=_float(_value(md, "drift_share")),
                champion_version=(
                    None
                    if _value(md, "champion_version") is None
                    else str(_value(md, "champion_version"))
                ),
                storage_id=storage_id,
            )
        )
    for partition, md, storage_id in partitioned(PERFORMANCE_KEY):
        mv = _value(md, "model_version")
        perf.append(
            PerformanceObservation(
                partition=partition,
                roc_auc=_float(_value(md, "roc_auc")),
                n=_int(_value(md, "n")),
                model_version=None if mv is None else str(mv),
                storage_id=storage_id,
            )
        )
    return drift, perf, newest


def build_retrain_sensor(
    policy: RetrainPolicy | None = None,
    *,
    name: str = "retrain_on_drift",
    job_name: str = TRAIN_JOB_NAME,
    minimum_interval_seconds: int = 60,
    default_status: dg.DefaultSensorStatus = dg.DefaultSensorStatus.RUNNING,
) -> dg.SensorDefinition:
    """The retrain sensor with the given thresholds (see ``retrain.py`` for the rules)."""
    policy = policy or RetrainPolicy()

    @dg.sensor(
        name=name,
        job_name=job_name,
        minimum_interval_seconds=minimum_interval_seconds,
        default_status=default_status,
        description=(
            f"Request {job_name} when drift_report shows dataset drift on "
            f"{policy.consecutive_drift_days} consecutive partition days or the newest "
            f"model_performance ROC AUC is below {policy.auc_floor}; cooldown "
            f"{policy.cooldown_days} partition days. Reads only Dagster materialization events."
        ),
        metadata={"policy": json.dumps(policy.__dict__)},
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        cursor = RetrainCursor.from_json(context.cursor)
        drift, perf, newest = read_observations(context.instance)
        if newest and newest <= cursor.last_storage_id:
            return dg.SensorResult(
                skip_reason=f"no new drift_report/model_performance events since storage id "
                f"{cursor.last_storage_id}",
                cursor=cursor.to_json(),
            )
        decision = decide(drift, perf, policy, cursor.last_trigger_partition)
        cursor.last_storage_id = max(newest, cursor.last_storage_id)
        if not decision.should_trigger:
            context.log.info(decision.reason)
            return dg.SensorResult(skip_reason=decision.reason, cursor=cursor.to_json())
        cursor.last_trigger_partition = decision.partition
        cursor.last_trigger = decision.trigger
        context.log.info(f"requesting {job_name}: {decision.reason}")
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=decision.run_key,
                    tags={
                        "mlops/trigger": decision.trigger,
                        "mlops/trigger_partition": decision.partition,
                        "mlops/trigger_reason": decision.reason[:4000],
                    },
                )
            ],
            cursor=cursor.to_json(),
        )

    return _sensor


retrain_on_drift = build_retrain_sensor()


# ----------------------------------------------------------------------------- failures


def _root_message(err: Any) -> str:
    """The user's exception message: the innermost cause of Dagster's wrapper error."""
    while getattr(err, "cause", None) is not None:
        err = err.cause
    return (err.message or "").strip()


def failure_record(context: dg.RunFailureSensorContext) -> dict[str, Any]:
    run = context.dagster_run
    step_errors = []
    for ev in context.get_step_failure_events():
        err = getattr(ev.event_specific_data, "error", None)
        step_errors.append(
            {"step": ev.step_key, "error": _root_message(err) if err is not None else ev.message}
        )
    error = step_errors[0]["error"] if step_errors else context.failure_event.message
    return {
        "run_id": run.run_id,
        "job": run.job_name,
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "error": error,
        "run_failure": context.failure_event.message,
        "failed_steps": step_errors,
        "partition": run.tags.get("dagster/partition"),
        "partition_range": (
            f"{run.tags['dagster/asset_partition_range_start']}.."
            f"{run.tags['dagster/asset_partition_range_end']}"
            if "dagster/asset_partition_range_start" in run.tags
            else None
        ),
    }


def post_json(url: str, payload: dict[str, Any], timeout: float = WEBHOOK_TIMEOUT_S) -> int:
    req = urllib.request.Request(
        url,
        data=json.dumps(payload).encode("utf-8"),
        headers={"Content-Type": "application/json", "User-Agent": "mlops-assets"},
        method="POST",
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.status


@dg.run_failure_sensor(
    name="run_failure_alert",
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Append every failed run to logs/run_failures.log (JSON lines) and POST it to "
    "MLOPS_FAILURE_WEBHOOK when set.",
)
def run_failure_alert(context: dg.RunFailureSensorContext) -> None:
    s = get_settings()
    record = failure_record(context)
    line = json.dumps(record, default=str)
    s.logs_dir.mkdir(parents=True, exist_ok=True)
    with open(s.logs_dir / "run_failures.log", "a", encoding="utf-8") as fh:
        fh.write(line + "\n")
    log = getattr(context, "log", None) or _log
    log.info(f"run {record['run_id']} of {record['job']} failed: {record['error'][:500]}")
    if s.failure_webhook:
        try:
            status = post_json(s.failure_webhook, record)
            log.info(f"failure posted to webhook (HTTP {status})")
        except Exception as e:  # noqa: BLE001 (an alerting problem must never crash the sensor)
            log.warning(f"could not POST the failure of run {record['run_id']} to the webhook: {e}")
