"""The one daily partitions definition shared by raw, dbt, features, predictions and reports."""

import dagster as dg

from mlops_assets import schema

daily_partitions = dg.DailyPartitionsDefinition(
    start_date=schema.FIRST_DAY, end_date=schema.END_DAY_EXCLUSIVE
)
