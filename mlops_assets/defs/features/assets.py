"""Feature layer: one row per scheduled flight, checked by the Pandera contract."""

import dagster as dg

from mlops_assets import schema
from mlops_assets.engine import engine_kind, fetch_rows
from mlops_assets.features import build
from mlops_assets.partitions import daily_partitions, follow_upstream
from mlops_assets.resources import WAREHOUSE_POOL, WarehouseResource
from mlops_assets.warehouse_sql import table_hash

FEATURES_CODE_VERSION = "features-v1"
CONTRACT_CODE_VERSION = "contract-v1"
MAX_FAILED_SHARE = 0.01
"""Above this share of failing rows the check fails with ERROR severity and blocks downstream;
at or below it, it fails with WARN: the bad rows are quarantined and downstream reads the rest."""

# the SELECT lives in mlops_assets/features/build.py (engine-neutral); kept importable here
features_select_sql = build.features_select_sql


@dg.asset(
    group_name="features",
    partitions_def=daily_partitions,
    deps=[dg.AssetKey("fct_flights")],
    code_version=FEATURES_CODE_VERSION,
    kinds={engine_kind()},
    pool=WAREHOUSE_POOL,
    automation_condition=follow_upstream(),
    metadata={"table": schema.FEATURES_TABLE},
)
def flight_features(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> dg.MaterializeResult:
    """Model inputs known at scheduling time, plus the label, for one day (features.flight_features)."""
    day = context.partition_key
    part = f"SELECT * FROM {schema.FEATURES_TABLE} WHERE flight_date = DATE '{day}'"
    with warehouse.handle() as con:  # DuckDB connection or SparkSession (MLOPS_ENGINE)
        n = build.write_features(con, day)
        digest = table_hash(con, part)
        labelled = fetch_rows(
            con,
            f"SELECT count(is_delayed), avg(CAST(is_delayed AS DOUBLE)) FROM {schema.FEATURES_TABLE} "
            f"WHERE flight_date = DATE '{day}'",
        )[0]
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
    with warehouse.handle() as con:
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
