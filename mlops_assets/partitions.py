"""The one daily partitions definition shared by raw, dbt, features, predictions and reports."""

import dagster as dg
from dagster._core.definitions.data_version import (
    CODE_VERSION_TAG,
    DATA_VERSION_IS_USER_PROVIDED_TAG,
    DATA_VERSION_TAG,
)

from mlops_assets import schema

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=schema.FIRST_DAY, end_date=schema.END_DAY_EXCLUSIVE
)


def follow_upstream() -> dg.AutomationCondition:
    """Like ``AutomationCondition.eager()`` but for every partition, not just the latest.

    The data is from 2013, so the wall clock's "latest time window" (2013-12-31)
    is not the day that just landed; eager() would ignore every replayed day but
    the last. This runs a partition when any of its dependencies updated, once
    nothing upstream is missing or in progress.
    """
    return (
        dg.AutomationCondition.any_deps_updated().since_last_handled()
        & ~dg.AutomationCondition.any_deps_missing()
        & ~dg.AutomationCondition.any_deps_in_progress()
        & ~dg.AutomationCondition.in_progress()
    ).with_label("follow_upstream")


def day_materialization(
    context: dg.AssetExecutionContext,
    day: str,
    metadata: dict,
    code_version: str,
    data_version: str,
    tags: dict[str, str] | None = None,
) -> dg.AssetMaterialization:
    """One day of a run over several days (a backfill's), recorded as a one-day run records it.

    Dagster 1.13 gives a ranged step's output one data version and one set of tags for all its
    partitions, but a day's data version here is its own (the landed file's hash, the day's
    content hash). So ranged steps (raw loads, features; ``output_required=False``) yield one of
    these per day, with the tags a one-day output carries: code version, data version (user
    provided), and ``tags`` (e.g. the day's input provenance).
    """
    return dg.AssetMaterialization(
        asset_key=context.asset_key,
        partition=day,
        metadata=metadata,
        tags={
            **(tags or {}),
            CODE_VERSION_TAG: code_version,
            DATA_VERSION_TAG: data_version,
            DATA_VERSION_IS_USER_PROVIDED_TAG: "true",
        },
    )
