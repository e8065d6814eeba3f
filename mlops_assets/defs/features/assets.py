"""Feature layer: one row per scheduled flight, checked by the Pandera contract."""

import dataclasses
from collections.abc import Iterator
from hashlib import sha256

import dagster as dg
from dagster._core.definitions.data_version import (
    DATA_VERSION_TAG,
    DEFAULT_DATA_VERSION,
    NULL_EVENT_POINTER,
    get_input_data_version_tag,
    get_input_event_pointer_tag,
)

from mlops_assets import schema
from mlops_assets.engine import engine_kind, fetch_rows
from mlops_assets.features import build
from mlops_assets.partitions import daily_partitions, day_materialization, follow_upstream
from mlops_assets.resources import WAREHOUSE_POOL, WarehouseResource
from mlops_assets.warehouse_sql import table_hash

FEATURES_CODE_VERSION = "features-v1"
CONTRACT_CODE_VERSION = "contract-v1"
CONTRACT_CHECK = "feature_contract"
MAX_FAILED_SHARE = 0.01
"""Above this share of failing rows the check fails with ERROR severity and blocks downstream;
at or below it, it fails with WARN: the bad rows are quarantined and downstream reads the rest."""
FEATURE_DAYS_PER_BACKFILL_RUN = 4
"""A backfill builds the features in runs of up to this many days (each run a process that loads
the code location, ~4 s): a month in 8 runs, four at a time, instead of 31."""

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
    backfill_policy=dg.BackfillPolicy.multi_run(FEATURE_DAYS_PER_BACKFILL_RUN),
    # a run over several days reports each day itself (see below), not through the output
    output_required=False,
    check_specs=[dg.AssetCheckSpec(
        CONTRACT_CHECK, asset="flight_features", blocking=True,
        description="The Pandera contract on the partition; failing rows go to "
                    "features.flight_features_quarantine.",
    )],
)
def flight_features(context: dg.AssetExecutionContext, warehouse: WarehouseResource) -> Iterator:
    """Model inputs known at scheduling time, plus the label, per day (features.flight_features).

    One day (a sensor's, the UI's, ``mlops materialize``): the day's ``MaterializeResult``, then
    its ``feature_contract`` result. A range of days (a backfill's run, ``FEATURE_DAYS_PER_BACKFILL_RUN``
    at most): Dagster 1.13 gives a ranged step's output one data version for all its partitions,
    and a day's is its content hash, so each day is reported by an ``AssetMaterialization`` of its
    own carrying the tags a one-day run records (code version, data version, the input data
    version of its ``fct_flights`` day), and the contract runs per day (each day's quarantine
    rewritten) with one result over the range (per-day figures in its ``partitions`` metadata).
    The contract is a check of this asset's own step, not a separate ``@asset_check`` op: that op
    depends on the asset's output, which a ranged run does not yield, and would be skipped.
    """
    ranged = not context.has_partition_key
    days = list(context.partition_keys) if ranged else [context.partition_key]
    built: dict[str, dict] = {}  # day -> its materialization's metadata
    missing: list[str] = []
    with warehouse.handle() as con:  # DuckDB connection or SparkSession (MLOPS_ENGINE)
        for day in days:
            md = _write_day(con, day)
            if md is None:
                missing.append(day)
            else:
                built[day] = md
    if not ranged:
        if missing:
            raise dg.Failure(f"no flights in {schema.FCT_FLIGHTS} for {days[0]}: materialize fct_flights for it first")
        (md,) = built.values()
        yield dg.MaterializeResult(metadata=md, data_version=dg.DataVersion(md["content_md5"]))
    else:
        for day, md in built.items():
            yield day_materialization(context, day, md, FEATURES_CODE_VERSION, md["content_md5"],
                                      tags=_input_provenance_tags(context, day))
    if built:
        yield contract_result(context, warehouse, list(built), ranged=ranged)
    if missing:
        raise dg.Failure(f"no flights in {schema.FCT_FLIGHTS} for {', '.join(missing)}: "
                         f"materialize fct_flights for them first")


def _write_day(con, day: str) -> dict | None:
    """Rebuild one day's feature rows; the materialization's metadata, or None without flights."""
    part = f"SELECT * FROM {schema.FEATURES_TABLE} WHERE flight_date = DATE '{day}'"
    n = build.write_features(con, day)
    digest = table_hash(con, part)
    labelled = fetch_rows(
        con,
        f"SELECT count(is_delayed), avg(CAST(is_delayed AS DOUBLE)) FROM {schema.FEATURES_TABLE} "
        f"WHERE flight_date = DATE '{day}'",
    )[0]
    if n == 0:
        return None
    return {
        "dagster/row_count": n,
        "labelled_rows": int(labelled[0]),
        "delayed_share": float(labelled[1] or 0.0),
        "content_md5": digest,
    }


def _input_provenance_tags(context: dg.AssetExecutionContext, day: str) -> dict[str, str]:
    """The input tags Dagster writes on a one-day materialization of ``day``, for each parent.

    As ``dagster._core.execution.plan.execute_step._get_input_provenance_data`` (1.13) does for a
    partitioned parent: the input data version is the sha256 of the parent's data version for
    the mapped day (same day here), the event pointer the parent's latest materialization.
    """
    instance = context.instance
    tags = {}
    for parent in sorted(context.assets_def.asset_deps[context.asset_key]):
        record = next(iter(instance.get_asset_records([parent])), None)
        latest = record.asset_entry.last_materialization_record if record else None
        if latest is None:
            version, pointer = DEFAULT_DATA_VERSION.value, NULL_EVENT_POINTER
        else:
            recs = instance.fetch_materializations(
                dg.AssetRecordsFilter(asset_key=parent, asset_partitions=[day]), limit=1).records
            day_version = recs[0].asset_materialization.tags.get(DATA_VERSION_TAG, "") if recs else ""
            version, pointer = sha256(day_version.encode()).hexdigest(), str(latest.storage_id)
        tags[get_input_data_version_tag(parent)] = version
        tags[get_input_event_pointer_tag(parent)] = pointer
    return tags


def contract_result(context: dg.AssetExecutionContext, warehouse: WarehouseResource, days: list[str],
                    ranged: bool = False) -> dg.AssetCheckResult:
    """The Pandera contract on each day; failing rows go to features.flight_features_quarantine."""
    from mlops_assets.features import contract
    from mlops_assets.features.quarantine import partition_where

    per_day = {}
    with warehouse.handle() as con:
        overall = None
        if ranged:
            # One pass over the range first (Pandera runs ~30 queries whatever the row count): the
            # rules are per row, plus flight_id unique, so a clean range is clean on every day.
            # Only a range with failures is checked again day by day, for each day's counts.
            overall = contract.validate_features(
                con, schema.FEATURES_TABLE, where=" OR ".join(f"({partition_where(d)})" for d in days))
            if not overall.passed:
                overall = None
            else:
                in_days = ", ".join(f"DATE '{d}'" for d in days)
                rows = dict(fetch_rows(con, f"SELECT CAST(flight_date AS STRING), count(*) FROM "
                                            f"{schema.FEATURES_TABLE} WHERE flight_date IN ({in_days}) GROUP BY 1"))
        for day in days:
            if overall is not None:
                result = dataclasses.replace(overall, where=partition_where(day), n_rows=int(rows.get(day, 0)))
            else:
                result = contract.validate_features(con, schema.FEATURES_TABLE, where=partition_where(day))
            quarantined = contract.quarantine_failures(con, result, partition_key=day, run_id=context.run.run_id)
            per_day[day] = (result, quarantined)
            if not result.passed:
                context.log.warning(
                    f"{day}: {result.n_failed_rows} of {result.n_rows} rows break the contract "
                    f"({', '.join(f'{k}: {v}' for k, v in result.failures_by_rule.items())}); quarantined"
                )

    def share(result) -> float:
        return result.n_failed_rows / result.n_rows if result.n_rows else 1.0

    def error(result) -> bool:
        return share(result) > MAX_FAILED_SHARE or bool(result.schema_errors)

    common = {"max_failed_share": MAX_FAILED_SHARE, "quarantine_table": schema.FEATURES_QUARANTINE_TABLE}
    if not ranged:
        ((result, quarantined),) = per_day.values()
        md = {k: dg.MetadataValue.json(v) if isinstance(v, (dict, list)) else v
              for k, v in result.to_metadata().items() if v is not None}
        md.update({"quarantined_rows": quarantined, "failed_share": share(result), **common})
        severity = dg.AssetCheckSeverity.ERROR if error(result) else dg.AssetCheckSeverity.WARN
        return dg.AssetCheckResult(check_name=CONTRACT_CHECK, passed=result.passed, severity=severity, metadata=md)
    n_rows = sum(r.n_rows for r, _ in per_day.values())
    n_failed = sum(r.n_failed_rows for r, _ in per_day.values())
    md = {
        "n_rows": n_rows,
        "n_failed_rows": n_failed,
        "quarantined_rows": sum(q for _, q in per_day.values()),
        "failed_share": n_failed / n_rows if n_rows else 1.0,
        **common,
        # per day, as a one-day run reports them (lineage reads a day's figures from here)
        "partitions": dg.MetadataValue.json({
            day: {"passed": r.passed, "n_rows": r.n_rows, "n_failed_rows": r.n_failed_rows,
                  "failed_share": share(r), "quarantined_rows": q, "error": error(r),
                  "failures_by_rule": r.failures_by_rule, "schema_errors": r.schema_errors}
            for day, (r, q) in per_day.items()}),
    }
    passed = all(r.passed for r, _ in per_day.values())
    severity = dg.AssetCheckSeverity.ERROR if any(error(r) for r, _ in per_day.values()) else dg.AssetCheckSeverity.WARN
    return dg.AssetCheckResult(check_name=CONTRACT_CHECK, passed=passed, severity=severity, metadata=md)


feature_contract = dg.AssetCheckKey(flight_features.key, CONTRACT_CHECK)
"""The contract's check key (the check runs in ``flight_features``' own step)."""
