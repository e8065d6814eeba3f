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


# --- engine-neutral helpers (a DuckDB connection or a SparkSession) -------------------------
# The ML and monitoring assets use these, so the whole graph runs on MLOPS_ENGINE=spark too.


def query_df(con, sql: str):
    """The result of ``sql`` as a pandas DataFrame, on DuckDB or Spark."""
    from mlops_assets.engine import is_spark

    if is_spark(con):
        return con.sql(sql).toPandas()
    return con.execute(sql).df()


def table_hash(con, select_sql: str) -> str:
    """A content digest of a query's rows on either engine (see :func:`content_hash`)."""
    from mlops_assets.engine import is_spark

    return content_hash_spark(con, select_sql) if is_spark(con) else content_hash(con, select_sql)


def replace_table(con, table: str, select_sql: str) -> int:
    """Replace all of ``table`` with ``select_sql``; return its row count.

    DuckDB: one ``CREATE OR REPLACE TABLE`` (atomic). Spark: ``DROP`` then a Parquet
    CTAS (a Hive-catalog table cannot be replaced atomically; a failed run leaves the
    table missing, and the next run rebuilds it).
    """
    from mlops_assets.engine import is_spark

    schema_name = table.split(".")[0]
    if is_spark(con):
        con.sql(f"CREATE SCHEMA IF NOT EXISTS {schema_name}")
        con.sql(f"DROP TABLE IF EXISTS {table}")
        con.sql(f"CREATE TABLE {table} USING parquet AS {select_sql}")
        return int(con.sql(f"SELECT count(*) FROM {table}").collect()[0][0])
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema_name}")
    con.execute(f"CREATE OR REPLACE TABLE {table} AS {select_sql}")
    return int(con.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def replace_day(con, table: str, day: str, select_sql: str, date_column: str = "flight_date") -> int:
    """Replace the ``day`` rows of ``table`` with ``select_sql``; return how many it holds now.

    DuckDB: delete + insert in one transaction (:func:`replace_rows`). Spark:
    :func:`replace_partition_spark` on a Parquet table partitioned by ``date_column``.
    """
    from mlops_assets.engine import date_literal, is_spark

    if is_spark(con):
        return replace_partition_spark(con, table, date_column, day, select_sql)
    return replace_rows(con, table, f"{date_column} = {date_literal(day)}", select_sql)


def replace_partition_spark(spark, table: str, partition_column: str, day: str, select_sql: str) -> int:
    """Spark: create ``table`` (Parquet, partitioned by ``partition_column``) from the select's
    shape if missing, overwrite the ``day`` partition with the select, return its row count."""
    from mlops_assets.engine import date_literal

    spark.sql(f"CREATE SCHEMA IF NOT EXISTS {table.split('.')[0]}")
    if not spark.catalog.tableExists(table):
        spark.sql(
            f"CREATE TABLE {table} USING parquet PARTITIONED BY ({partition_column}) "
            f"AS SELECT * FROM ({select_sql}) AS _s WHERE false"
        )
    cols = [c for c in spark.table(table).columns if c != partition_column]
    spark.sql(
        f"INSERT OVERWRITE TABLE {table} PARTITION ({partition_column} = {date_literal(day)}) "
        f"SELECT {', '.join(cols)} FROM ({select_sql}) AS _s"
    )
    where = f"{partition_column} = {date_literal(day)}"
    return int(spark.sql(f"SELECT count(*) FROM {table} WHERE {where}").collect()[0][0])


def register_frame(con, name: str, frame) -> None:
    """Expose a pandas frame to SQL as ``name`` (a DuckDB view or a Spark temp view)."""
    from mlops_assets.engine import is_spark

    if is_spark(con):
        con.createDataFrame(frame).createOrReplaceTempView(name)
    else:
        con.register(name, frame)


def unregister_frame(con, name: str) -> None:
    from mlops_assets.engine import is_spark

    if is_spark(con):
        con.catalog.dropTempView(name)
    else:
        con.unregister(name)
