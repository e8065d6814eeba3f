"""Landed CSV files: name rules, validation, idempotent loading, quarantine.

Plain module (no dagster). The raw assets, the CLI and the tests call it.

A landed file is ``landing/<dataset>/<YYYY-MM-DD>.csv`` for the daily datasets
(flights, weather) and ``landing/reference/<dataset>.csv`` for the reference
tables. Every problem raises :class:`BadLandingFile`, whose message names the
file, the row (1-based, counting the header as row 1) and what is wrong.
Loading is one DuckDB transaction (delete the partition, insert), so a failed
or killed load leaves the table exactly as it was.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import json
import math
import os
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import duckdb
    import pandas as pd

from mlops_assets import schema

DAILY_COLUMNS: dict[str, dict[str, str]] = {
    "flights": schema.FLIGHTS_CSV_COLUMNS,
    "weather": schema.WEATHER_CSV_COLUMNS,
}
REFERENCE_COLUMNS: dict[str, dict[str, str]] = {
    "planes": schema.PLANES_CSV_COLUMNS,
    "airports": schema.AIRPORTS_CSV_COLUMNS,
    "airlines": schema.AIRLINES_CSV_COLUMNS,
}
RAW_TABLES = {
    "flights": schema.RAW_FLIGHTS,
    "weather": schema.RAW_WEATHER,
    "planes": schema.RAW_PLANES,
    "airports": schema.RAW_AIRPORTS,
    "airlines": schema.RAW_AIRLINES,
}
NA_VALUES = frozenset({"", "NA"})
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_LINE_CHARS = 10_000
_DATE_NAME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})\.csv$")


class BadLandingFile(ValueError):
    """A landed file cannot be loaded; the message says which file and why."""

    def __init__(self, path: Path | str, problem: str):
        self.path = Path(path)
        self.problem = problem
        super().__init__(f"{path}: {problem}")


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def partition_bounds() -> tuple[dt.date, dt.date]:
    """First day and the exclusive end of the daily partitions."""
    return dt.date.fromisoformat(schema.FIRST_DAY), dt.date.fromisoformat(schema.END_DAY_EXCLUSIVE)


def parse_partition_key(key: str) -> dt.date:
    """A partition key as a date, or a ValueError that says what is allowed."""
    first, end = partition_bounds()
    try:
        day = dt.date.fromisoformat(key)
    except (TypeError, ValueError):
        raise ValueError(
            f"partition key {key!r} is not a date; use YYYY-MM-DD between {first} and "
            f"{end - dt.timedelta(days=1)}"
        ) from None
    if not first <= day < end:
        raise ValueError(
            f"partition key {key} is outside the data; allowed {first} .. {end - dt.timedelta(days=1)}"
        )
    return day


def day_from_file_name(path: Path) -> dt.date:
    """The partition day a daily file name stands for (``2013-01-05.csv``)."""
    name = path.name
    if "/" in name or "\\" in name or ".." in name or name != os.path.basename(name):
        raise BadLandingFile(path, f"file name {name!r} contains a path separator or '..'")
    m = _DATE_NAME.match(name)
    if not m:
        raise BadLandingFile(path, f"file name {name!r} is not YYYY-MM-DD.csv")
    try:
        return parse_partition_key(name[:-4])
    except ValueError as e:
        raise BadLandingFile(path, f"file name {name!r}: {e}") from None


@dataclass
class ParsedFile:
    path: Path
    dataset: str
    sha256: str
    frame: pd.DataFrame
    day: dt.date | None = None
    null_counts: dict[str, int] = field(default_factory=dict)

    @property
    def row_count(self) -> int:
        return len(self.frame)

    @property
    def source_name(self) -> str:
        """The file as the raw tables' ``_source_file`` records it: relative to the landing
        folder (``flights/2013-01-05.csv``), so the same file landed under two data folders
        loads the same rows (an absolute path would tie the table to where it was loaded)."""
        return f"{self.path.parent.name}/{self.path.name}"


def _cast(value: str, sql_type: str):
    if sql_type == "VARCHAR":
        return value
    if sql_type == "INTEGER":
        f = float(value)  # "517" and "517.0" both fine, "5.5" is not an integer
        if not f.is_integer():
            raise ValueError("not an integer")
        return int(f)
    if sql_type == "DOUBLE":
        f = float(value)
        if not math.isfinite(f):
            raise ValueError("not a finite number")
        return f
    if sql_type == "TIMESTAMP":
        ts = dt.datetime.fromisoformat(value)
        return ts.astimezone(dt.UTC).replace(tzinfo=None) if ts.tzinfo else ts
    raise AssertionError(sql_type)


def parse_csv(path: Path, dataset: str) -> ParsedFile:
    """Read and check one landed file; raise BadLandingFile naming the first problem."""
    path = Path(path)
    columns = DAILY_COLUMNS.get(dataset) or REFERENCE_COLUMNS.get(dataset)
    if columns is None:
        raise ValueError(f"unknown dataset {dataset!r}")
    day = day_from_file_name(path) if dataset in DAILY_COLUMNS else None
    if not path.is_file():
        raise BadLandingFile(path, "file does not exist")
    size = path.stat().st_size
    if size == 0:
        raise BadLandingFile(path, "file is empty (0 bytes)")
    if size > MAX_FILE_BYTES:
        raise BadLandingFile(path, f"file is {size} bytes, over the {MAX_FILE_BYTES} byte limit")
    raw = path.read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if b"\x00" in raw:
        row = raw.count(b"\n", 0, raw.index(b"\x00")) + 1
        raise BadLandingFile(path, f"contains a NUL byte at row {row}")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        row = raw.count(b"\n", 0, e.start) + 1
        raise BadLandingFile(path, f"row {row} is not valid UTF-8 (byte {e.start}: {e.reason})") from None
    if not text.endswith("\n"):
        raise BadLandingFile(
            path, "file is truncated: the last line has no line ending (partial write?)"
        )
    lines = text.splitlines()
    for i, line in enumerate(lines, start=1):
        if len(line) > MAX_LINE_CHARS:
            raise BadLandingFile(path, f"row {i} is {len(line)} characters long (limit {MAX_LINE_CHARS})")
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise BadLandingFile(path, "file has no header row")
    expected = list(columns)
    missing = [c for c in expected if c not in header]
    extra = [c for c in header if c not in columns]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing columns: {', '.join(missing)}")
        if extra:
            parts.append(f"unexpected columns: {', '.join(extra)}")
        raise BadLandingFile(path, "; ".join(parts) + f" (expected: {', '.join(expected)})")
    if len(set(header)) != len(header):
        raise BadLandingFile(path, "header repeats a column name")
    index = {name: header.index(name) for name in expected}
    records: dict[str, list] = {name: [] for name in expected}
    nulls = dict.fromkeys(expected, 0)
    n = 0
    for rownum, row in enumerate(reader, start=2):
        if not row:
            continue
        if len(row) != len(header):
            raise BadLandingFile(
                path,
                f"row {rownum} has {len(row)} fields, expected {len(header)} (truncated or malformed line)",
            )
        for name, sql_type in columns.items():
            value = row[index[name]]
            if value in NA_VALUES:
                records[name].append(None)
                nulls[name] += 1
                continue
            if sql_type == "VARCHAR" and value.startswith(FORMULA_PREFIXES):
                raise BadLandingFile(
                    path, f"row {rownum}, column {name}: value {value[:40]!r} looks like a spreadsheet formula"
                )
            try:
                records[name].append(_cast(value, sql_type))
            except (ValueError, TypeError):
                raise BadLandingFile(
                    path,
                    f"row {rownum}, column {name}: {value[:40]!r} is not a valid {sql_type.lower()}",
                ) from None
        if day is not None:
            y, m, d = (records[k][-1] for k in ("year", "month", "day"))
            if (y, m, d) != (day.year, day.month, day.day):
                raise BadLandingFile(
                    path,
                    f"row {rownum} is dated {y}-{m}-{d} but the file is for {day.isoformat()}",
                )
        n += 1
    if n == 0:
        raise BadLandingFile(path, "file has a header but no data rows")
    import pandas as pd  # lazily: loading the Dagster definitions must stay fast

    frame = pd.DataFrame(records, columns=expected)
    return ParsedFile(path=path, dataset=dataset, sha256=digest, frame=frame, day=day, null_counts=nulls)


def _ddl(table: str, columns: Mapping[str, str], daily: bool) -> str:
    cols = [f'"{c}" {t}' for c, t in columns.items()]
    if daily:
        cols += [
            f"{schema.PARTITION_COLUMN} DATE NOT NULL",
            "_source_file VARCHAR",
            "_file_hash VARCHAR",
            "_loaded_at TIMESTAMP",
        ]
    return f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(cols)})"


def ensure_raw_tables(con: duckdb.DuckDBPyConnection) -> None:
    con.execute(f"CREATE SCHEMA IF NOT EXISTS {schema.RAW_SCHEMA}")
    for ds, cols in DAILY_COLUMNS.items():
        con.execute(_ddl(RAW_TABLES[ds], cols, daily=True))
    for ds, cols in REFERENCE_COLUMNS.items():
        con.execute(_ddl(RAW_TABLES[ds], cols, daily=False))


def load_parsed(con, parsed: ParsedFile) -> int:
    """Replace the file's partition (or the whole reference table) in one transaction.

    ``con`` is a DuckDB connection or a SparkSession (see :func:`load_parsed_spark`).
    """
    from mlops_assets.engine import is_spark

    if is_spark(con):
        return load_parsed_spark(con, parsed)
    ensure_raw_tables(con)
    table = RAW_TABLES[parsed.dataset]
    columns = list((DAILY_COLUMNS | REFERENCE_COLUMNS)[parsed.dataset])
    frame = parsed.frame
    col_sql = ", ".join(f'"{c}"' for c in columns)
    select_sql = ", ".join(
        f'CAST("{c}" AS {t})' for c, t in (DAILY_COLUMNS | REFERENCE_COLUMNS)[parsed.dataset].items()
    )
    view = f"_landing_{parsed.dataset}"
    con.register(view, frame)
    try:
        con.execute("BEGIN TRANSACTION")
        try:
            if parsed.day is not None:
                con.execute(
                    f"DELETE FROM {table} WHERE {schema.PARTITION_COLUMN} = ?", [parsed.day]
                )
                con.execute(
                    f"INSERT INTO {table} ({col_sql}, {', '.join(schema.LINEAGE_COLUMNS)}) "
                    f"SELECT {select_sql}, ?, ?, ?, now()::TIMESTAMP FROM {view}",
                    [parsed.day, parsed.source_name, parsed.sha256],
                )
            else:
                con.execute(f"DELETE FROM {table}")
                con.execute(f"INSERT INTO {table} ({col_sql}) SELECT {select_sql} FROM {view}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    finally:
        con.unregister(view)
    return len(frame)


SPARK_TYPES = {"VARCHAR": "STRING", "INTEGER": "INT", "DOUBLE": "DOUBLE", "TIMESTAMP": "TIMESTAMP"}


def _spark_ddl(table: str, columns: Mapping[str, str], daily: bool) -> str:
    cols = [f"`{c}` {SPARK_TYPES[t]}" for c, t in columns.items()]
    if not daily:
        return f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(cols)}) USING parquet"
    cols += ["_source_file STRING", "_file_hash STRING", "_loaded_at TIMESTAMP",
             f"{schema.PARTITION_COLUMN} DATE"]  # fmt: skip
    return (
        f"CREATE TABLE IF NOT EXISTS {table} ({', '.join(cols)}) USING parquet "
        f"PARTITIONED BY ({schema.PARTITION_COLUMN})"
    )


def ensure_raw_tables_spark(spark) -> None:
    """The raw tables on Spark: Parquet, the daily ones partitioned by ``partition_date``."""
    spark.sql(f"CREATE SCHEMA IF NOT EXISTS {schema.RAW_SCHEMA}")
    for ds, cols in DAILY_COLUMNS.items():
        spark.sql(_spark_ddl(RAW_TABLES[ds], cols, daily=True))
    for ds, cols in REFERENCE_COLUMNS.items():
        spark.sql(_spark_ddl(RAW_TABLES[ds], cols, daily=False))


def _python_columns(frame: pd.DataFrame, columns: Mapping[str, str]) -> list[list]:
    """Per column, plain Python values (None for missing), typed as the columns say."""
    import pandas as pd

    conv = {
        "VARCHAR": str,
        "INTEGER": int,
        "DOUBLE": float,
        "TIMESTAMP": lambda v: pd.Timestamp(v).to_pydatetime(),
    }
    cols = []
    for c, t in columns.items():
        f = conv[t]
        cols.append([None if v is None or pd.isna(v) else f(v) for v in frame[c].tolist()])
    return cols


def load_parsed_spark(spark, parsed: ParsedFile) -> int:
    """Spark: overwrite exactly the file's partition (or the whole reference table).

    ``INSERT OVERWRITE ... PARTITION (partition_date = DATE 'day')`` replaces one
    partition's Parquet files and leaves every other day alone, so re-running a
    partition gives the same table. Spark commits the new files of a partition with
    one rename of the job's output; for ACID tables use Delta or Iceberg.
    """
    import uuid

    import pyarrow as pa

    table = RAW_TABLES[parsed.dataset]
    columns = (DAILY_COLUMNS | REFERENCE_COLUMNS)[parsed.dataset]
    if not spark.catalog.tableExists(table):  # one metastore call on the usual path
        spark.sql(f"CREATE SCHEMA IF NOT EXISTS {schema.RAW_SCHEMA}")
        spark.sql(_spark_ddl(table, columns, daily=parsed.day is not None))
    arrow_type = {"VARCHAR": pa.string(), "INTEGER": pa.int32(), "DOUBLE": pa.float64(),
                  "TIMESTAMP": pa.timestamp("us")}  # fmt: skip  -- naive: Spark TIMESTAMP_NTZ
    values = _python_columns(parsed.frame, columns)
    arrow = pa.table(
        [pa.array(v, type=arrow_type[t]) for v, t in zip(values, columns.values(), strict=True)],
        names=list(columns),
    )
    df = spark.createDataFrame(arrow)  # Arrow: no per-row Python -> JVM conversion
    view = f"_landing_{parsed.dataset}_{uuid.uuid4().hex[:12]}"
    df.createOrReplaceTempView(view)
    col_sql = ", ".join(f"`{c}`" for c in columns)
    try:
        if parsed.day is not None:
            spark.sql(
                f"INSERT OVERWRITE TABLE {table} "
                f"PARTITION ({schema.PARTITION_COLUMN} = DATE '{parsed.day.isoformat()}') "
                f"SELECT {col_sql}, :source_file, :file_hash, "
                f"CAST(current_timestamp() AS TIMESTAMP_NTZ) FROM {view}",
                args={"source_file": parsed.source_name, "file_hash": parsed.sha256},
            )
        else:
            spark.sql(f"INSERT OVERWRITE TABLE {table} SELECT {col_sql} FROM {view}")
    finally:
        spark.catalog.dropTempView(view)
    return len(parsed.frame)


def quarantine_file(path: Path, quarantine_dir: Path, reason: str, run_id: str | None = None) -> Path:
    """Move a bad landed file aside with ``<name>.reason.json`` beside it; return its new path.

    The original name gets the content hash and a timestamp appended, so two bad
    versions of the same day never overwrite each other.
    """
    path = Path(path)
    dataset = path.parent.name
    target_dir = quarantine_dir / dataset
    target_dir.mkdir(parents=True, exist_ok=True)
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    try:
        digest = file_sha256(path)[:12]
    except OSError:
        digest = "unreadable"
    safe_name = path.name.replace(os.sep, "_").replace("..", "_")
    target = target_dir / f"{safe_name}.{stamp}.{digest}"
    shutil.move(str(path), target)
    reason_doc = {
        "file": str(path),
        "quarantined_as": str(target),
        "reason": reason,
        "sha256_prefix": digest,
        "at": dt.datetime.now(dt.UTC).isoformat(),
        "dagster_run_id": run_id,
    }
    target.with_name(target.name + ".reason.json").write_text(json.dumps(reason_doc, indent=2))
    return target
