"""The quarantine table of the feature contract: DDL and the "clean rows" view.

Plain module (no pandera, no ibis, no dagster) so that training and prediction
can read clean rows without importing the validation stack.

Rows of ``features.flight_features`` that break the contract are written, one
row per (failing row, broken rule), to ``features.flight_features_quarantine``
by :func:`mlops_assets.features.contract.quarantine_failures`. Downstream
readers go through :func:`clean_rows_sql`, which excludes every quarantined
``flight_id``: failing rows are never silently dropped, they are set aside
with their reason.
"""

from __future__ import annotations

import re

from mlops_assets.schema import FEATURES_QUARANTINE_TABLE, FEATURES_TABLE

QUARANTINE_COLUMNS: dict[str, str] = {
    "flight_id": "VARCHAR",  # NULL only when the row has no flight_id (itself a failure)
    "partition_key": "VARCHAR NOT NULL",  # e.g. '2013-02-12'; quarantine is rewritten per key
    "rule": "VARCHAR NOT NULL",  # e.g. 'wind_speed: in_range(0, 100)'
    "column_name": "VARCHAR",  # column(s) the rule reads, comma separated
    "failing_value": "VARCHAR",  # the offending value(s) as text (JSON for several columns)
    "row_json": "VARCHAR",  # the whole row as a JSON object
    "quarantined_at": "TIMESTAMP NOT NULL",  # UTC
    "run_id": "VARCHAR",  # the Dagster run (or any caller id) that wrote it
}

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def check_table_name(name: str) -> str:
    """``name`` if it is a plain ``table`` or ``schema.table`` identifier, else ValueError."""
    if not _IDENT.match(name):
        raise ValueError(f"not a plain [schema.]table identifier: {name!r}")
    return name


def partition_where(partition_key: str, date_column: str = "flight_date") -> str:
    """The SQL filter selecting one daily partition of the feature table."""
    if not _DATE.match(partition_key):
        raise ValueError(f"daily partition keys look like 2013-02-12, got {partition_key!r}")
    check_table_name(date_column)
    return f"{date_column} = DATE '{partition_key}'"


def quarantine_ddl(quarantine_table: str = FEATURES_QUARANTINE_TABLE) -> list[str]:
    """Statements creating the quarantine schema and table if missing."""
    check_table_name(quarantine_table)
    stmts = []
    if "." in quarantine_table:
        stmts.append(f"CREATE SCHEMA IF NOT EXISTS {quarantine_table.split('.')[0]}")
    cols = ",\n  ".join(f"{c} {t}" for c, t in QUARANTINE_COLUMNS.items())
    stmts.append(f"CREATE TABLE IF NOT EXISTS {quarantine_table} (\n  {cols}\n)")
    return stmts


def quarantine_ddl_spark(quarantine_table: str = FEATURES_QUARANTINE_TABLE) -> list[str]:
    """Spark: the same columns, Parquet, partitioned by ``partition_key`` (rewritten per key)."""
    check_table_name(quarantine_table)
    stmts = []
    if "." in quarantine_table:
        stmts.append(f"CREATE SCHEMA IF NOT EXISTS {quarantine_table.split('.')[0]}")
    spark_types = {"VARCHAR": "STRING", "TIMESTAMP": "TIMESTAMP"}
    cols = [
        f"{c} {spark_types[t.split()[0]]}" for c, t in QUARANTINE_COLUMNS.items() if c != "partition_key"
    ]
    cols.append("partition_key STRING")  # Spark keeps partition columns last
    stmts.append(
        f"CREATE TABLE IF NOT EXISTS {quarantine_table} ({', '.join(cols)}) "
        "USING parquet PARTITIONED BY (partition_key)"
    )
    return stmts


def ensure_quarantine_table(con, quarantine_table: str = FEATURES_QUARANTINE_TABLE) -> None:
    """Create the quarantine table (and its schema) if missing, on DuckDB or on Spark."""
    if type(con).__name__ == "SparkSession":
        for stmt in quarantine_ddl_spark(quarantine_table):
            con.sql(stmt)
        return
    for stmt in quarantine_ddl(quarantine_table):
        con.execute(stmt)


def clean_rows_sql(
    table: str = FEATURES_TABLE,
    quarantine_table: str = FEATURES_QUARANTINE_TABLE,
    where: str | None = None,
) -> str:
    """SQL for the rows of ``table`` (optionally filtered by ``where``) that are not quarantined.

    A row is excluded when its ``flight_id`` appears in the quarantine table (for
    any partition and any rule) or when it has no ``flight_id`` at all (such a
    row cannot be told apart from others, and always breaks the contract).
    The quarantine table must exist: call :func:`ensure_quarantine_table` first,
    or run the contract check, which creates it.
    """
    check_table_name(table)
    check_table_name(quarantine_table)
    cond = f"({where}) AND " if where else ""
    return (
        f"SELECT f.* FROM {table} AS f\n"
        f"WHERE {cond}f.flight_id IS NOT NULL\n"
        f"  AND NOT EXISTS (SELECT 1 FROM {quarantine_table} AS q "
        f"WHERE q.flight_id = f.flight_id)"
    )
