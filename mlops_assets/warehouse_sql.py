"""Small SQL helpers shared by assets (plain module: no dagster)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # duckdb loads lazily: the definitions import this module
    import duckdb


def replace_rows(con: duckdb.DuckDBPyConnection, table: str, where: str, select_sql: str, params=None) -> int:
    """Delete ``where`` rows of ``table`` and insert ``select_sql`` in one transaction.

    The table is created from the select's shape when it does not exist yet.
    Returns the number of rows inserted.
    """
    schema_name = table.split(".")[0]
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema_name}")
    con.execute(f"CREATE TABLE IF NOT EXISTS {table} AS SELECT * FROM ({select_sql}) WHERE false", params or [])
    con.execute("BEGIN TRANSACTION")
    try:
        con.execute(f"DELETE FROM {table} WHERE {where}")
        con.execute(f"INSERT INTO {table} BY NAME {select_sql}", params or [])
        n = con.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0]
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return int(n)


def content_hash(con: duckdb.DuckDBPyConnection, select_sql: str, order_by: str = "flight_id") -> str:
    """An md5 over the rows of a query (32 hex chars: fits MLflow's dataset digest)."""
    row = con.execute(
        f"SELECT md5(coalesce(string_agg(md5(CAST(q AS VARCHAR)), ',' ORDER BY {order_by}), '')) "
        f"FROM ({select_sql}) AS q"
    ).fetchone()
    return row[0]


def content_hash_spark(spark, select_sql: str) -> str:
    """Spark: an md5 over the rows of a query (row md5s of their JSON, sorted; 32 hex chars).

    Not the same digest as :func:`content_hash` on DuckDB (rows are rendered differently),
    but stable across re-runs on Spark, which is what a data version needs.
    """
    row = spark.sql(
        "SELECT md5(concat_ws(',', array_sort(collect_list(md5(to_json(struct(*))))))) "
        f"FROM ({select_sql}) AS q"
    ).collect()[0]
    return row[0]
