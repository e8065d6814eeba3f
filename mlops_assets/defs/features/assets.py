"""Feature layer: one row per scheduled flight, checked by the Pandera contract."""

import dagster as dg

from mlops_assets import schema
from mlops_assets.partitions import daily_partitions, follow_upstream
from mlops_assets.resources import WAREHOUSE_POOL, WarehouseResource
from mlops_assets.warehouse_sql import content_hash, replace_rows

FEATURES_CODE_VERSION = "features-v1"
CONTRACT_CODE_VERSION = "contract-v1"
MAX_FAILED_SHARE = 0.01
"""Above this share of failing rows the check fails with ERROR severity and blocks downstream;
at or below it, it fails with WARN: the bad rows are quarantined and downstream reads the rest."""

_INT_COLUMNS = {"sched_hour", "day_of_week", "month"}


def features_select_sql() -> str:
    """The feature table's columns from the dbt mart, cast to the contract's types."""
    cols = ["CAST(flight_id AS VARCHAR) AS flight_id", "CAST(flight_date AS DATE) AS flight_date",
            "CAST(sched_dep_ts AS TIMESTAMP) AS sched_dep_ts"]
    for c in schema.NUMERIC_FEATURES:
        cols.append(f"CAST({c} AS {'INTEGER' if c in _INT_COLUMNS else 'DOUBLE'}) AS {c}")
    cols += [f"CAST({c} AS VARCHAR) AS {c}" for c in schema.CATEGORICAL_FEATURES]
    cols += ["CAST(arr_delay AS DOUBLE) AS arr_delay", "CAST(is_cancelled AS BOOLEAN) AS is_cancelled",
             "CAST(is_delayed AS BOOLEAN) AS is_delayed"]
    return f"SELECT {', '.join(cols)} FROM {schema.FCT_FLIGHTS} WHERE flight_date = CAST(? AS DATE)"


@dg.asset(
    group_name="features",
    partitions_def=daily_partitions,
    deps=[dg.AssetKey("fct_flights")],
    code_version=FEATURES_CODE_VERSION,
    kinds={"duckdb"},
    pool=WAREHOUSE_POOL,
    automation_condition=follow_upstream(),
    metadata={"table": schema.FEATURES_TABLE},
)
def flight_features(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Model inputs known at scheduling time, plus the label, for one day (features.flight_features)."""
    day = context.partition_key
    sql = features_select_sql()
    with warehouse.connect() as con:
        n = replace_rows(con, schema.FEATURES_TABLE, f"flight_date = DATE '{day}'", sql, [day])
        digest = content_hash(con, f"SELECT * FROM {schema.FEATURES_TABLE} WHERE flight_date = DATE '{day}'")
        labelled = con.execute(
            f"SELECT count(is_delayed), avg(CAST(is_delayed AS DOUBLE)) FROM {schema.FEATURES_TABLE} "
            f"WHERE flight_date = DATE '{day}'"
        ).fetchone()
    if n == 0:
        raise dg.Failure(f"no flights in {schema.FCT_FLIGHTS} for {day}: materialize fct_flights for it first")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": n,
            "labelled_rows": int(labelled[0]),
            "delayed_share": float(labelled[1] or 0.0),
            "content_md5": digest,
        },
        data_version=dg.DataVersion(digest),
    )


@dg.asset_check(asset=flight_features, blocking=True, name="feature_contract")
def feature_contract(context: dg.AssetCheckExecutionContext, warehouse: WarehouseResource) -> dg.AssetCheckResult:
    """The Pandera contract on the partition; failing rows go to features.flight_features_quarantine."""
    from mlops_assets.features import contract
    from mlops_assets.features.quarantine import partition_where

    op_ctx = context.op_execution_context
    day = op_ctx.partition_key if op_ctx.has_partition_key else None
    where = partition_where(day) if day else None
    with warehouse.connect() as con:
        result = contract.validate_features(con, schema.FEATURES_TABLE, where=where)
        quarantined = contract.quarantine_failures(
            con, result, partition_key=day or "all", run_id=op_ctx.run_id
        )
    share = result.n_failed_rows / result.n_rows if result.n_rows else 1.0
    severity = dg.AssetCheckSeverity.ERROR if share > MAX_FAILED_SHARE or result.schema_errors else dg.AssetCheckSeverity.WARN
    md = {k: dg.MetadataValue.json(v) if isinstance(v, (dict, list)) else v
          for k, v in result.to_metadata().items() if v is not None}
    md.update({"quarantined_rows": quarantined, "failed_share": share, "max_failed_share": MAX_FAILED_SHARE,
               "quarantine_table": schema.FEATURES_QUARANTINE_TABLE})
    if not result.passed:
        context.log.warning(
            f"{result.n_failed_rows} of {result.n_rows} rows break the contract "
            f"({', '.join(f'{k}: {v}' for k, v in result.failures_by_rule.items())}); quarantined"
        )
    return dg.AssetCheckResult(passed=result.passed, severity=severity, metadata=md)
