"""Monitoring layer: daily drift of the features against the champion's training window, and
the realized performance of the predictions once labels are known."""

import json
import math
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING

import dagster as dg

from mlops_assets import schema
from mlops_assets.engine import engine_kind, fetch_rows
from mlops_assets.features.quarantine import clean_rows_sql, ensure_quarantine_table
from mlops_assets.partitions import daily_partitions, follow_upstream
from mlops_assets.resources import WAREHOUSE_POOL, WarehouseResource
from mlops_assets.settings import get_settings
from mlops_assets.warehouse_sql import query_df

if TYPE_CHECKING:  # numpy is imported where it is used: it costs ~45% of the definitions' own load
    import numpy as np

MONITORING_CODE_VERSION = "monitoring-v1"


def drift_automation() -> dg.AutomationCondition:
    """follow_upstream() for every partition, but a model_gate run alone does not re-run them.

    A partition runs when its flight_features partition updated (or once a champion gate
    exists, if the features came first). A new champion does not rewrite the history of every
    day's drift (it would cost one run per day after each gate and overwrite which champion a
    past report was measured against); days landed after the gate use the new champion.
    """
    return (
        dg.AutomationCondition.any_deps_updated()
        .ignore(dg.AssetSelection.assets("model_gate"))
        .since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("follow_features")


DRIFT_COLUMNS: dict[str, str] = {
    "partition_date": "DATE NOT NULL",
    "feature": "VARCHAR NOT NULL",
    "method": "VARCHAR NOT NULL",
    "value": "DOUBLE",
    "threshold": "DOUBLE",
    "drifted": "BOOLEAN",
    "champion_version": "VARCHAR",
    "computed_at": "TIMESTAMP",
}
PERFORMANCE_COLUMNS: dict[str, str] = {
    "partition_date": "DATE NOT NULL",
    "model_version": "VARCHAR",
    "n": "BIGINT",
    "roc_auc": "DOUBLE",  # NULL when the day holds one class only
    "brier": "DOUBLE",
    "positive_rate": "DOUBLE",  # actual share of delayed flights
    "predicted_rate": "DOUBLE",  # mean predicted score
    "computed_at": "TIMESTAMP",
}


def _ddl(table: str, columns: dict[str, str]) -> list[str]:
    cols = ",\n  ".join(f"{c} {t}" for c, t in columns.items())
    return [
        f"CREATE SCHEMA IF NOT EXISTS {table.split('.')[0]}",
        f"CREATE TABLE IF NOT EXISTS {table} (\n  {cols}\n)",
    ]


def _replace_partition(
    con, table: str, columns: dict[str, str], day: str, rows: list[tuple]
) -> None:
    """Delete the partition's rows and insert the new ones in one transaction.

    On Spark: a Parquet table partitioned by ``partition_date``; the day's partition is
    overwritten (or dropped when there are no rows).
    """
    from mlops_assets.engine import is_spark

    if is_spark(con):
        _replace_partition_spark(con, table, columns, day, rows)
        return
    for stmt in _ddl(table, columns):
        con.execute(stmt)
    placeholders = ", ".join("?" for _ in columns)
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DELETE FROM {table} WHERE partition_date = DATE '{day}'")
        if rows:
            con.executemany(
                f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", rows
            )
        con.execute("COMMIT")
    except Exception:
        con.execute("ROLLBACK")
        raise


_SPARK_TYPES = {"DATE": "DATE", "VARCHAR": "STRING", "DOUBLE": "DOUBLE", "BOOLEAN": "BOOLEAN",
                "TIMESTAMP": "TIMESTAMP", "BIGINT": "BIGINT"}  # fmt: skip


def _replace_partition_spark(spark, table: str, columns: dict[str, str], day: str, rows) -> None:
    from mlops_assets.engine import date_literal

    cols = [c for c in columns if c != "partition_date"]
    ddl = ", ".join(f"{c} {_SPARK_TYPES[columns[c].split()[0]]}" for c in cols)
    spark.sql(f"CREATE SCHEMA IF NOT EXISTS {table.split('.')[0]}")
    spark.sql(
        f"CREATE TABLE IF NOT EXISTS {table} ({ddl}, partition_date DATE) USING parquet "
        "PARTITIONED BY (partition_date)"
    )
    if not rows:
        spark.sql(f"ALTER TABLE {table} DROP IF EXISTS PARTITION (partition_date = {date_literal(day)})")
        return
    idx = list(columns).index("partition_date")
    body = [tuple(v for i, v in enumerate(r) if i != idx) for r in rows]
    view = f"_replace_{table.replace('.', '_')}"
    spark.createDataFrame(body, ", ".join(f"{c} {_SPARK_TYPES[columns[c].split()[0]]}" for c in cols)
                          ).createOrReplaceTempView(view)  # fmt: skip
    try:
        spark.sql(
            f"INSERT OVERWRITE TABLE {table} PARTITION (partition_date = {date_literal(day)}) "
            f"SELECT {', '.join(cols)} FROM {view}"
        )
    finally:
        spark.catalog.dropTempView(view)


def days_where(days: list[str], column: str = "flight_date") -> str:
    """SQL filter for a set of days, consecutive days collapsed into BETWEEN ranges."""
    ds = sorted({date.fromisoformat(d) for d in days})
    if not ds:
        return "FALSE"
    ranges: list[tuple[date, date]] = []
    start = prev = ds[0]
    for d in ds[1:]:
        if d - prev != timedelta(days=1):
            ranges.append((start, prev))
            start = d
        prev = d
    ranges.append((start, prev))
    parts = [
        f"{column} = DATE '{a}'" if a == b else f"{column} BETWEEN DATE '{a}' AND DATE '{b}'"
        for a, b in ranges
    ]
    return "(" + " OR ".join(parts) + ")"


def champion_training_days(tracking_uri: str) -> tuple[str, list[str], str]:
    """``(champion version, its training partition days, the raw tag)``; Failure if none."""
    from mlops_assets.ml import registry, training

    c = registry.client(tracking_uri)
    version = registry.champion_version(c)
    if version is None:
        raise dg.Failure(
            description=(
                f"no champion: no version of MLflow model {schema.MODEL_NAME!r} carries the alias "
                f"{schema.CHAMPION_ALIAS!r} in {tracking_uri}. Materialize delay_model and "
                "model_gate (job train_model) first; drift is measured against the champion's "
                "training window."
            )
        )
    tag = c.get_model_version(schema.MODEL_NAME, version).tags.get("partitions", "")
    days = []
    for p in training.expand_partitions(tag):
        try:
            date.fromisoformat(p)
        except ValueError:
            continue
        days.append(p)
    if not days:
        raise dg.Failure(
            description=(
                f"champion {schema.MODEL_NAME} v{version} has no usable 'partitions' tag "
                f"({tag!r}); cannot tell which days it trained on"
            )
        )
    return version, sorted(days), tag


def _markdown(result) -> str:
    lines = ["| feature | method | value | threshold | drifted |", "|---|---|---|---|---|"]
    for f in result.features:
        verdict = ("**DRIFT**" if f.drifted else "ok") + ("" if f.counts_in_share else " (info)")
        lines.append(f"| {f.feature} | {f.method} | {f.value:.4g} | {f.threshold:g} | {verdict} |")
    for name, why in result.skipped.items():
        lines.append(f"| {name} | skipped | | | {why} |")
    return "\n".join(lines)


class DriftConfig(dg.Config):
    window_days: int = 1  # current = this many days ending at the partition day
    psi: bool = False  # add an informative PSI row per feature
    drift_share: float = 0.5  # dataset drift when this share of features drifted


@dg.asset(
    group_name="monitoring",
    partitions_def=daily_partitions,
    deps=[dg.AssetDep("flight_features"), dg.AssetDep("model_gate")],
    code_version=MONITORING_CODE_VERSION,
    kinds={engine_kind(), "html"},
    pool=WAREHOUSE_POOL,
    automation_condition=drift_automation(),
    description=(
        f"Per-feature drift of the day's clean feature rows against the champion's training "
        f"window (Evidently default tests, computed in the warehouse) -> {schema.DRIFT_TABLE} and "
        "reports/drift/<day>.html"
    ),
    metadata={"table": schema.DRIFT_TABLE},
)
def drift_report(
    context: dg.AssetExecutionContext, config: DriftConfig, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    from mlops_assets.monitoring import DriftError, compute_drift, render_html

    if config.window_days < 1:
        raise dg.Failure(description=f"window_days must be >= 1, got {config.window_days}")
    day = context.partition_key
    settings = get_settings()
    version, ref_days, ref_tag = champion_training_days(settings.mlflow_tracking_uri)
    end = date.fromisoformat(day)
    cur_days = [(end - timedelta(days=i)).isoformat() for i in range(config.window_days)]
    reference_sql = f"({clean_rows_sql(where=days_where(ref_days))})"
    current_sql = f"({clean_rows_sql(where=days_where(cur_days))})"
    context.log.info(
        f"drift of {cur_days[-1]}..{day} against champion v{version} trained on {ref_tag}"
    )
    computed_at = datetime.now(UTC).replace(tzinfo=None)
    with warehouse.handle() as con:  # DuckDB connection or SparkSession (MLOPS_ENGINE)
        ensure_quarantine_table(con)
        n_ref = fetch_rows(con, f"SELECT count(*) FROM {reference_sql} AS _r")[0][0]
        n_cur = fetch_rows(con, f"SELECT count(*) FROM {current_sql} AS _c")[0][0]
        if n_ref == 0 or n_cur == 0:
            what = (
                f"the reference (champion v{version}'s training days {ref_tag})"
                if n_ref == 0
                else f"the current window {cur_days[-1]}..{day}"
            )
            raise dg.Failure(
                description=(
                    f"no clean feature rows for {what} in {schema.FEATURES_TABLE}; "
                    "materialize flight_features for those days"
                ),
                metadata={"n_reference": n_ref, "n_current": n_cur},
            )
        try:
            result = compute_drift(
                con,
                reference_sql,
                current_sql,
                columns=list(schema.FEATURE_COLUMNS),
                categorical=list(schema.CATEGORICAL_FEATURES),
                psi=config.psi,
                drift_share=config.drift_share,
                on_empty_column="skip",
            )
        except DriftError as e:
            raise dg.Failure(description=f"drift computation failed for {day}: {e}") from e
        rows = [
            (day, f.feature, f.method, float(f.value), float(f.threshold), bool(f.drifted),
             version, computed_at)
            for f in result.features
        ]  # fmt: skip
        _replace_partition(con, schema.DRIFT_TABLE, DRIFT_COLUMNS, day, rows)

    report = settings.reports_dir / "drift" / f"{day}.html"
    report.parent.mkdir(parents=True, exist_ok=True)
    window = day if config.window_days == 1 else f"{cur_days[-1]}..{day}"
    title = f"Feature drift {window} vs champion v{version} ({ref_tag})"
    report.write_text(render_html(result, title), encoding="utf-8")

    drift_share = float(result.drift_share)
    return dg.MaterializeResult(
        metadata={
            "drift_share": dg.MetadataValue.float(drift_share),
            "dataset_drift": dg.MetadataValue.bool(bool(result.dataset_drift)),
            "drifted_features": dg.MetadataValue.json(result.drifted_features),
            "n_drifted": len(result.drifted_features),
            "n_features": len(result.primary),
            "n_reference": int(result.n_reference),
            "n_current": int(result.n_current),
            "champion_version": version,
            "reference_partitions": ref_tag,
            "current_window": window,
            "drift_share_threshold": float(config.drift_share),
            "skipped": dg.MetadataValue.json(result.skipped),
            "report": dg.MetadataValue.path(str(report)),
            "table": schema.DRIFT_TABLE,
            "dagster/row_count": len(rows),
            "drift_table": dg.MetadataValue.md(_markdown(result)),
        }
    )


# ----------------------------------------------------------------------------- performance


def performance_metrics(y: "np.ndarray", scores: "np.ndarray") -> dict[str, float | int | None]:
    """n, ROC AUC (None with one class), Brier, actual positive rate, mean predicted score."""
    import numpy as np
    from sklearn.metrics import brier_score_loss, roc_auc_score

    n = len(y)
    if n == 0:
        return {
            "n": 0,
            "roc_auc": None,
            "brier": None,
            "positive_rate": None,
            "predicted_rate": None,
        }
    auc = float(roc_auc_score(y, scores)) if len(np.unique(y)) == 2 else None
    return {
        "n": int(n),
        "roc_auc": auc,
        "brier": float(brier_score_loss(y, scores)),
        "positive_rate": float(np.mean(y)),
        "predicted_rate": float(np.mean(scores)),
    }


def _meta_float(v: float | None) -> dg.MetadataValue:
    if v is None or not math.isfinite(v):
        return dg.MetadataValue.null()
    return dg.MetadataValue.float(float(v))


@dg.asset(
    group_name="monitoring",
    partitions_def=daily_partitions,
    deps=[dg.AssetDep("flight_predictions"), dg.AssetDep("flight_features")],
    code_version=MONITORING_CODE_VERSION,
    kinds={engine_kind()},
    pool=WAREHOUSE_POOL,
    automation_condition=follow_upstream(),
    description=(
        f"Realized performance of the day's predictions against the known labels "
        f"(ROC AUC, Brier, actual vs predicted rate, per model version) -> "
        f"{schema.PERFORMANCE_TABLE}"
    ),
    metadata={"table": schema.PERFORMANCE_TABLE},
)
def model_performance(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    day = context.partition_key
    date.fromisoformat(day)
    computed_at = datetime.now(UTC).replace(tzinfo=None)
    sql = f"""
        SELECT p.model_version, CAST(f.is_delayed AS INTEGER) AS y, CAST(p.score AS DOUBLE) AS score
        FROM {schema.PREDICTIONS_TABLE} AS p
        JOIN {schema.FEATURES_TABLE} AS f
          ON f.flight_id = p.flight_id AND f.flight_date = DATE '{day}'
        WHERE p.flight_date = DATE '{day}' AND f.is_delayed IS NOT NULL AND p.score IS NOT NULL
        ORDER BY p.model_version, p.flight_id
    """
    with warehouse.handle() as con:
        try:
            df = query_df(con, sql)
        except Exception as e:  # a table is missing (duckdb.CatalogException, Spark AnalysisException)
            raise dg.Failure(
                description=(
                    f"cannot join {schema.PREDICTIONS_TABLE} with the labels of "
                    f"{schema.FEATURES_TABLE} for {day}: {e}. Materialize flight_features and "
                    "flight_predictions for this day first."
                )
            ) from e
        rows: list[tuple] = []
        by_version: dict[str, dict] = {}
        for version, g in df.groupby("model_version", dropna=False, sort=True):
            m = performance_metrics(g["y"].to_numpy(dtype=int), g["score"].to_numpy(dtype=float))
            v = (
                None
                if version is None or (isinstance(version, float) and math.isnan(version))
                else str(version)
            )
            by_version[v or "unknown"] = m
            rows.append(
                (day, v, m["n"], m["roc_auc"], m["brier"], m["positive_rate"],
                 m["predicted_rate"], computed_at)
            )  # fmt: skip
        _replace_partition(con, schema.PERFORMANCE_TABLE, PERFORMANCE_COLUMNS, day, rows)

    overall = performance_metrics(df["y"].to_numpy(dtype=int), df["score"].to_numpy(dtype=float))
    versions = sorted(by_version)
    if overall["n"] == 0:
        context.log.warning(f"no labelled predictions for {day}; nothing to measure")
    elif overall["roc_auc"] is None:
        context.log.warning(f"{day}: labels hold a single class; ROC AUC is undefined")
    md = ["| model_version | n | roc_auc | brier | positive_rate | predicted_rate |",
          "|---|---|---|---|---|---|"]  # fmt: skip
    for v in versions:
        m = by_version[v]
        fmt = lambda x: "n/a" if x is None else f"{x:.4f}"
        md.append(
            f"| {v} | {m['n']} | {fmt(m['roc_auc'])} | {fmt(m['brier'])} | "
            f"{fmt(m['positive_rate'])} | {fmt(m['predicted_rate'])} |"
        )
    return dg.MaterializeResult(
        metadata={
            "roc_auc": _meta_float(overall["roc_auc"]),
            "brier": _meta_float(overall["brier"]),
            "positive_rate": _meta_float(overall["positive_rate"]),
            "predicted_rate": _meta_float(overall["predicted_rate"]),
            "n": int(overall["n"]),
            "model_version": ",".join(versions) if versions else "none",
            "model_versions": dg.MetadataValue.json(versions),
            "by_model_version": dg.MetadataValue.json(
                json.loads(json.dumps(by_version, default=float))
            ),
            "table": schema.PERFORMANCE_TABLE,
            "dagster/row_count": len(rows),
            "performance_table": dg.MetadataValue.md("\n".join(md)),
        }
    )
