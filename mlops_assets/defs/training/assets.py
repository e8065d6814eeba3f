"""Training layer: rolling training set, MLflow model, champion/challenger gate, predictions."""

import datetime as dt
import subprocess

import dagster as dg

from mlops_assets import schema
from mlops_assets.engine import date_literal, engine_kind, fetch_rows
from mlops_assets.partitions import daily_partitions, follow_upstream
from mlops_assets.resources import WAREHOUSE_POOL, WarehouseResource
from mlops_assets.settings import MIN_TRAINING_DAYS as MIN_WINDOW_DAYS
from mlops_assets.settings import PROJECT_DIR, get_settings
from mlops_assets.warehouse_sql import (
    query_df,
    register_frame,
    replace_day,
    replace_table,
    table_hash,
    unregister_frame,
)

TRAINING_SET_CODE_VERSION = "training-set-v1"
MODEL_CODE_VERSION = "hgb-v1"
GATE_CODE_VERSION = "gate-v1"
PREDICTIONS_CODE_VERSION = "predictions-v1"


class TrainingWindowConfig(dg.Config):
    window_days: int = get_settings().training_days
    """Labelled days the model fits on (split by time into train / validation / test); default MLOPS_TRAINING_DAYS."""
    holdout_days: int = get_settings().holdout_days
    """The most recent labelled days, kept out of training: the gate scores both models on them (MLOPS_HOLDOUT_DAYS)."""
    end_date: str | None = None
    """Last day of the holdout window (YYYY-MM-DD); default: the newest day with features."""


class GateConfig(dg.Config):
    auc_tolerance: float = 0.01
    brier_tolerance: float = 0.01
    min_auc: float = 0.55
    min_predicted_rate: float = 0.01
    max_predicted_rate: float = 0.99


def _git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=5, check=False)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def _clean_sql(where: str) -> str:
    from mlops_assets.features.quarantine import clean_rows_sql

    return clean_rows_sql(schema.FEATURES_TABLE, schema.FEATURES_QUARANTINE_TABLE, where)


def _ensure_quarantine(con) -> None:
    from mlops_assets.features.quarantine import ensure_quarantine_table

    ensure_quarantine_table(con)


@dg.asset(
    group_name="ml",
    deps=[dg.AssetKey("flight_features")],
    code_version=TRAINING_SET_CODE_VERSION,
    kinds={engine_kind()},
    pool=WAREHOUSE_POOL,
    metadata={"table": schema.TRAINING_SET_TABLE},
)
def training_set(context: dg.AssetExecutionContext, config: TrainingWindowConfig, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Rolling window of labelled, contract-clean feature rows (role fit) plus the gate's holdout days."""
    if config.window_days < MIN_WINDOW_DAYS or config.holdout_days < 1:
        raise dg.Failure(f"window_days must be >= {MIN_WINDOW_DAYS} (whole days split into train and validation) and holdout_days >= 1 (got {config.window_days}, {config.holdout_days})")
    with warehouse.handle() as con:  # DuckDB connection or SparkSession (MLOPS_ENGINE)
        _ensure_quarantine(con)
        if config.end_date:
            end = dt.date.fromisoformat(config.end_date)
        else:
            end = fetch_rows(con, f"SELECT max(flight_date) FROM {schema.FEATURES_TABLE}")[0][0]
            if end is None:
                raise dg.Failure(f"{schema.FEATURES_TABLE} is empty: materialize flight_features first")
        holdout_start = end - dt.timedelta(days=config.holdout_days - 1)
        fit_end = holdout_start - dt.timedelta(days=1)
        fit_start = fit_end - dt.timedelta(days=config.window_days - 1)
        where = (f"flight_date BETWEEN {date_literal(fit_start.isoformat())} AND {date_literal(end.isoformat())} "
                 "AND is_delayed IS NOT NULL")  # fmt: skip
        select = (
            f"SELECT *, CASE WHEN flight_date >= {date_literal(holdout_start.isoformat())} THEN 'holdout' "
            f"ELSE 'fit' END AS role FROM ({_clean_sql(where)}) AS clean"
        )
        n = replace_table(con, schema.TRAINING_SET_TABLE, select)
        days = fetch_rows(
            con,
            f"SELECT role, count(DISTINCT flight_date), count(*), avg(CAST(is_delayed AS DOUBLE)) "
            f"FROM {schema.TRAINING_SET_TABLE} GROUP BY role ORDER BY role",
        )
        digest = table_hash(con, f"SELECT * FROM {schema.TRAINING_SET_TABLE}")
    by_role = {r[0]: {"days": r[1], "rows": r[2], "delayed_share": round(r[3], 4)} for r in days}
    if by_role.get("fit", {}).get("days", 0) < 3 or "holdout" not in by_role:
        raise dg.Failure(
            f"not enough labelled days for a training window ending {end}: need {config.window_days} + "
            f"{config.holdout_days} days of features, have {by_role}; land and materialize more days"
        )
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": n,
            "fit_window": f"{fit_start}..{fit_end}",
            "holdout_window": f"{holdout_start}..{end}",
            "by_role": dg.MetadataValue.json(by_role),
            "content_md5": digest,
        },
        data_version=dg.DataVersion(digest),
    )


def _mlflow_ui_url(run_id: str, experiment_id: str) -> str:
    return f"http://localhost:5000/#/experiments/{experiment_id}/runs/{run_id}"


@dg.asset(
    group_name="ml",
    deps=[training_set],
    code_version=MODEL_CODE_VERSION,
    kinds={"mlflow", "scikitlearn"},
    pool=WAREHOUSE_POOL,
)
def delay_model(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """HistGradientBoosting delay classifier, logged to MLflow and registered as a version of flight_delay."""
    from mlops_assets.ml import training

    s = get_settings()
    with warehouse.handle() as con:
        df = query_df(con, f"SELECT * FROM {schema.TRAINING_SET_TABLE} WHERE role = 'fit'").drop(columns="role")
        digest = table_hash(con, f"SELECT * FROM {schema.TRAINING_SET_TABLE}")
    if df.empty:
        raise dg.Failure(f"{schema.TRAINING_SET_TABLE} has no fit rows: materialize training_set first")
    partitions = sorted({d.isoformat() for d in df["flight_date"].dt.date.unique()}) if hasattr(df["flight_date"], "dt") else sorted({str(d) for d in df["flight_date"].unique()})
    result = training.train_and_log(
        df,
        tracking_uri=s.mlflow_tracking_uri,
        artifact_location=s.mlflow_artifact_root,
        dagster_run_id=context.run.run_id,
        partitions=partitions,
        data_version=digest,
        code_version=MODEL_CODE_VERSION,
        git_commit=_git_commit(),
        extra_tags={"dagster_asset": "delay_model"},
    )
    m = result.metrics
    context.log.info(f"registered {result.model_name} version {result.model_version} (run {result.run_id})")
    return dg.MaterializeResult(
        metadata={
            "model_version": result.model_version,
            "model_uri": result.model_uri,
            "mlflow_run_id": result.run_id,
            "mlflow_run": dg.MetadataValue.url(_mlflow_ui_url(result.run_id, result.experiment_id)),
            "training_partitions": f"{partitions[0]}..{partitions[-1]}",
            "partition_count": len(partitions),
            "training_data_version": digest,
            **{k: float(v) for k, v in m.items() if k.startswith(("val_", "test_")) and isinstance(v, (int, float))},
        }
    )


@dg.asset(
    group_name="ml",
    deps=[delay_model, training_set],
    code_version=GATE_CODE_VERSION,
    kinds={"mlflow"},
    pool=WAREHOUSE_POOL,
)
def model_gate(context: dg.AssetExecutionContext, config: GateConfig, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Challenger vs champion on the same holdout days; moves alias 'champion' only when it passes."""
    from mlops_assets.ml import gate, registry

    s = get_settings()
    event = context.instance.get_latest_materialization_event(dg.AssetKey("delay_model"))
    if event is None or "model_version" not in event.asset_materialization.metadata:
        raise dg.Failure("no delay_model materialization with a model_version: materialize delay_model first")
    challenger = str(event.asset_materialization.metadata["model_version"].value)
    with warehouse.handle() as con:
        holdout = query_df(con, f"SELECT * FROM {schema.TRAINING_SET_TABLE} WHERE role = 'holdout'").drop(columns="role")
    policy = gate.GatePolicy(
        auc_tolerance=config.auc_tolerance, brier_tolerance=config.brier_tolerance, min_auc=config.min_auc,
        min_predicted_rate=config.min_predicted_rate, max_predicted_rate=config.max_predicted_rate,
    )
    res = registry.run_gate(challenger, holdout, policy, s.mlflow_tracking_uri, dagster_run_id=context.run.run_id)
    for reason in res.decision.reasons:
        context.log.info(reason)
    md = {
        "decision": res.decision.label,
        "reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in res.decision.reasons)),
        "challenger_version": challenger,
        "champion_before": str(res.champion_before),
        "champion_after": str(res.champion_after),
        "window": str(res.window),
    }
    for prefix, metrics in (("challenger", res.challenger_metrics), ("champion", res.champion_metrics or {})):
        for k in ("roc_auc", "brier"):
            if metrics.get(k) is not None:
                md[f"{prefix}_{k}"] = float(metrics[k])
    return dg.MaterializeResult(metadata=md)


@dg.asset(
    group_name="ml",
    partitions_def=daily_partitions,
    deps=[dg.AssetKey("flight_features"), model_gate],
    code_version=PREDICTIONS_CODE_VERSION,
    kinds={engine_kind(), "mlflow"},
    pool=WAREHOUSE_POOL,
    automation_condition=follow_upstream(),
    metadata={"table": schema.PREDICTIONS_TABLE},
)
def flight_predictions(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """The day's flights scored by models:/flight_delay@champion; each row carries the model version."""
    from mlops_assets.ml import registry

    s = get_settings()
    day = context.partition_key
    try:
        version, model = registry.load_champion(s.mlflow_tracking_uri)
    except registry.NoChampionError as e:
        raise dg.Failure(
            f"cannot score {day}: {e}. Train and gate a model first (job train_model, or `make demo`)."
        ) from None
    with warehouse.handle() as con:
        _ensure_quarantine(con)
        frame = query_df(con, _clean_sql(f"flight_date = {date_literal(day)}"))
        if frame.empty:
            raise dg.Failure(f"no contract-clean feature rows for {day}: materialize flight_features first")
        scores = registry.score_loaded(model, frame)
        out = frame[["flight_id"]].copy()
        out["score"] = scores.astype(float)
        out["predicted_delayed"] = out["score"] >= 0.5
        out["model_version"] = str(version)
        out["dagster_run_id"] = context.run.run_id
        view = f"_preds_{day.replace('-', '')}"
        register_frame(con, view, out)
        try:
            n = replace_day(
                con, schema.PREDICTIONS_TABLE, day,
                f"SELECT flight_id, {date_literal(day)} AS flight_date, score, predicted_delayed, model_version, "
                f"CAST(current_timestamp AS TIMESTAMP) AS scored_at, dagster_run_id FROM {view}",
            )  # fmt: skip
        finally:
            unregister_frame(con, view)
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": n,
            "model_version": str(version),
            "model_uri": registry.CHAMPION_URI,
            "mean_score": float(out["score"].mean()),
            "predicted_delayed_share": float(out["predicted_delayed"].mean()),
        }
    )


train_model_job = dg.define_asset_job(
    "train_model",
    selection=dg.AssetSelection.assets(training_set, delay_model, model_gate),
    description="Build the training window, train and register a model, gate it against the champion.",
)
