"""Building one day of ``features.flight_features`` from the dbt mart, on DuckDB or Spark.

Plain module (no dagster). The SELECT is the same text on both engines (types both
understand: STRING, INTEGER, DOUBLE, BOOLEAN, DATE, TIMESTAMP); only the write differs:
DuckDB deletes the day and inserts it in one transaction, Spark overwrites the day's
partition of a Parquet table partitioned by ``flight_date``.
"""

from __future__ import annotations

from mlops_assets import schema
from mlops_assets.engine import date_literal

_INT_COLUMNS = {"sched_hour", "day_of_week", "month"}


def features_select_sql(day: str | None = None) -> str:
    """The feature table's columns from the dbt mart, cast to the contract's types.

    Without ``day`` the filter is a ``?`` parameter (DuckDB); with it, a date literal.
    """
    cols = ["CAST(flight_id AS STRING) AS flight_id", "CAST(flight_date AS DATE) AS flight_date",
            "CAST(sched_dep_ts AS TIMESTAMP) AS sched_dep_ts"]  # fmt: skip
    for c in schema.NUMERIC_FEATURES:
        cols.append(f"CAST({c} AS {'INTEGER' if c in _INT_COLUMNS else 'DOUBLE'}) AS {c}")
    cols += [f"CAST({c} AS STRING) AS {c}" for c in schema.CATEGORICAL_FEATURES]
    cols += ["CAST(arr_delay AS DOUBLE) AS arr_delay", "CAST(is_cancelled AS BOOLEAN) AS is_cancelled",
             "CAST(is_delayed AS BOOLEAN) AS is_delayed"]  # fmt: skip
    cond = "CAST(? AS DATE)" if day is None else date_literal(day)
    return f"SELECT {', '.join(cols)} FROM {schema.FCT_FLIGHTS} WHERE flight_date = {cond}"


def write_features(con, day: str) -> int:
    """(Re)write the day's rows of the feature table; return how many rows it holds now."""
    from mlops_assets.warehouse_sql import replace_day

    return replace_day(con, schema.FEATURES_TABLE, day, features_select_sql(day))
