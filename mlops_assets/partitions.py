"""The one daily partitions definition shared by raw, dbt, features, predictions and reports."""

import dagster as dg

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
