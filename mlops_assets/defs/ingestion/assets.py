"""Raw layer: landed CSV files loaded into the warehouse (DuckDB or Spark), one asset per dataset."""

from collections.abc import Iterator
from pathlib import Path

import dagster as dg

from mlops_assets.core import rawfiles
from mlops_assets.engine import engine_kind
from mlops_assets.partitions import daily_partitions, day_materialization
from mlops_assets.resources import WAREHOUSE_POOL, WarehouseResource
from mlops_assets.settings import get_settings

RAW_CODE_VERSION = "raw-v1"
RAW_DAYS_PER_BACKFILL_RUN = 31
"""A backfill loads the raw days in runs of up to this many days (``load_landed_files``), not
one run per day (each run is a process that loads the code location, ~4 s): a month in one run.
One run rather than several side by side: the backfill daemon requests the dbt models for the
days whose raw runs have finished at each of its ticks (every 30 s), so raw runs ending at
different ticks split the month's dbt build into several runs of ~20-45 s each (measured with
runs of 8 days: 4 dbt runs instead of 1)."""


def landed_path(dataset: str, partition_key: str | None) -> Path:
    s = get_settings()
    if partition_key is None:
        return s.landing_dir / "reference" / f"{dataset}.csv"
    return s.landing_dir / dataset / f"{partition_key}.csv"


def load_landed_file(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, dataset: str
) -> dg.MaterializeResult:
    """Check the landed file, load it in one transaction, or quarantine it and fail."""
    parsed = _parse_landed_file(context, dataset, context.partition_key if context.has_partition_key else None)
    with warehouse.handle() as con:  # DuckDB connection or SparkSession (MLOPS_ENGINE)
        metadata = _load_parsed(context, con, parsed)
    return dg.MaterializeResult(metadata=metadata, data_version=dg.DataVersion(parsed.sha256))


def load_landed_files(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, dataset: str
) -> Iterator[dg.AssetMaterialization]:
    """A run over a range of days (a backfill's): each day loaded and reported on its own.

    Dagster 1.13 gives a ranged step's output one data version and one set of tags for every
    partition it covers (``_get_output_asset_events``; per-partition metadata exists, per-partition
    data versions do not). A raw day's data version is its landed file's hash, so this yields one
    ``AssetMaterialization`` per day instead, with the tags the output would carry for a
    single-day run (code version, data version, user-provided), and no output: the asset has
    ``output_required=False``. A step of the same run that depends on the asset would then be
    skipped; a backfill never makes one, as the raw assets' backfill policy differs from every
    child's (different policies never share a run). A bad day is quarantined and the others load;
    the step fails at the end, naming the bad days: the backfill marks only those days failed.
    """
    failures: list[str] = []
    with warehouse.handle() as con:
        for key in context.partition_keys:
            try:
                parsed = _parse_landed_file(context, dataset, key)
            except dg.Failure as e:
                context.log.error(e.description or str(e))
                failures.append(f"{key}: {e.description}")
                continue
            yield day_materialization(context, key, _load_parsed(context, con, parsed), RAW_CODE_VERSION, parsed.sha256)
    if failures:
        raise dg.Failure(description=f"{len(failures)} of {len(context.partition_keys)} days of {dataset} "
                         f"not loaded:\n" + "\n".join(failures))


def _parse_landed_file(context: dg.AssetExecutionContext, dataset: str, key: str | None) -> rawfiles.ParsedFile:
    """Read and check one landed file (a day's, or a reference file), or quarantine it and fail."""
    if key is not None:
        rawfiles.parse_partition_key(key)
    path = landed_path(dataset, key)
    if not path.exists():
        raise dg.Failure(
            description=f"no landed file for {dataset} {key or ''} at {path}; "
            f"land it with `mlops replay` (or copy it there) first",
        )
    try:
        parsed = rawfiles.parse_csv(path, dataset)
    except rawfiles.BadLandingFile as e:
        moved = rawfiles.quarantine_file(path, get_settings().quarantine_dir, e.problem, context.run.run_id)
        raise dg.Failure(
            description=f"bad landed file {path}: {e.problem}. Moved to {moved}; "
            f"the warehouse keeps what it had for this partition.",
            metadata={"file": str(path), "problem": e.problem, "quarantined_as": str(moved)},
        ) from None
    return parsed


def _load_parsed(context: dg.AssetExecutionContext, con, parsed: rawfiles.ParsedFile) -> dict:
    """Load a checked file in one transaction on ``con``; the materialization's metadata."""
    rows = rawfiles.load_parsed(con, parsed)
    table = rawfiles.RAW_TABLES[parsed.dataset]
    context.log.info(f"loaded {rows} rows of {parsed.path} into {table}")
    return {
        "dagster/row_count": rows,
        "table": table,
        "file": dg.MetadataValue.path(str(parsed.path)),
        "file_sha256": parsed.sha256,
        "null_counts": dg.MetadataValue.json({k: v for k, v in parsed.null_counts.items() if v}),
    }


def _raw_asset(dataset: str, partitioned: bool) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"raw_{dataset}",
        group_name="raw",
        partitions_def=daily_partitions if partitioned else None,
        backfill_policy=dg.BackfillPolicy.multi_run(RAW_DAYS_PER_BACKFILL_RUN) if partitioned else None,
        # a run over several days reports each day itself (load_landed_files), not as the output
        output_required=not partitioned,
        code_version=RAW_CODE_VERSION,
        kinds={engine_kind(), "csv"},
        pool=WAREHOUSE_POOL,
        description=f"nycflights13 {dataset} as landed, loaded into {rawfiles.RAW_TABLES[dataset]}"
        + (" (one file per day; the partition is replaced on each load)" if partitioned else ""),
        metadata={"table": rawfiles.RAW_TABLES[dataset]},
    )
    def _asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        if context.has_partition_key or not partitioned:
            yield load_landed_file(context, warehouse, dataset)  # a day (sensor, UI, mlops materialize)
        else:
            yield from load_landed_files(context, warehouse, dataset)  # a range of days (a backfill's run)

    return _asset


raw_flights = _raw_asset("flights", partitioned=True)
raw_weather = _raw_asset("weather", partitioned=True)
raw_planes = _raw_asset("planes", partitioned=False)
raw_airports = _raw_asset("airports", partitioned=False)
raw_airlines = _raw_asset("airlines", partitioned=False)

daily_raw_assets = [raw_flights, raw_weather]
reference_raw_assets = [raw_planes, raw_airports, raw_airlines]
