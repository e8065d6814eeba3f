"""Per-feature drift statistics computed inside DuckDB, matching Evidently's DataDriftPreset.

Only small aggregates leave the engine: per column the reference and current rows are grouped
by value and merged (``FULL OUTER JOIN``) into a temporary table of *distinct values with their
two counts*; every statistic is then an aggregate over that table:

* KS statistic: max |F_ref - F_cur| over the merged sorted distinct values (window ``SUM``
  running counts), only the two counts at the arg-max/arg-min leave the engine; scipy turns
  them into the p-value.
* Wasserstein-1: sum over consecutive distinct values of |F_ref - F_cur| * (v[i+1] - v[i])
  (the integral scipy computes), divided by the reference population std (two-pass, in SQL).
* Histograms (Jensen-Shannon / PSI on many-valued numeric columns, and the report): equal-width
  Sturges bins over reference + current, bin index = number of interior edges <= value (the
  edges are computed in Python with ``np.linspace`` exactly as numpy does, and inlined as exact
  ``CAST('<repr>' AS DOUBLE)`` literals), so the counts equal ``np.histogram``'s.
* Category counts (chi-square, z, Jensen-Shannon, PSI on few-valued columns): the merged table
  itself, which is small for categorical columns.

The SQL is plain ANSI (window functions, FULL OUTER JOIN, CASE) plus ``arg_max``/``arg_min``
(``max_by``/``min_by`` in Spark), written once in DuckDB's dialect; on Spark (pass a
SparkSession as ``con``) sqlglot transpiles every statement to Spark SQL (``isfinite`` becomes
``NOT isnan(x) AND abs(x) <> Infinity``) and the merged per-column table is a cached temporary
view. The same aggregates come back from both engines, so the statistics agree (to float
summation order, ~1e-15).

Rules (Evidently 0.7.23, read from its source):

* ``evidently/legacy/calculations/data_drift.py::get_one_column_drift``: per column, +-inf become
  NaN and NaN/NULL rows are dropped *before* anything else; an empty column raises.
* ``evidently/legacy/calculations/stattests/registry.py::_get_default_stattest``: with
  ``n_values = nunique(ref + cur)`` (non-null) and ``n_ref`` = non-null reference rows:
  n_ref <= 1000: numeric with n_values > 5 -> ``ks``; numeric with n_values <= 5 or categorical
  -> ``chisquare`` if n_values > 2 else ``z``.  n_ref > 1000: numeric with n_values > 5 ->
  ``wasserstein``; numeric with n_values <= 5 or categorical -> ``jensenshannon``.
* ``ks_stattest.py``: ``scipy.stats.ks_2samp`` p-value, drift when ``p <= 0.05``.
* ``chisquare_stattest.py``: expected = reference count * (n_cur / n_ref) over the union of
  categories (0 for unseen), ``scipy.stats.chisquare``; drift when ``p < 0.05`` (strict!).
* ``z_stattest.py``: two-proportion pooled z-test on "is not the smallest key", p =
  2 * (1 - Phi(|z|)); p = 1 when both sides hold the same single value; drift when ``p < 0.05``.
* ``wasserstein_distance_norm.py``: ``wasserstein_distance / max(np.std(ref), 0.001)``
  (population std, ddof=0); drift when ``>= 0.1``.
* ``jensenshannon.py`` + ``utils.py::get_binned_data(..., feel_zeroes=False)``: numeric columns
  whose *reference* has > 20 distinct values use ``np.histogram_bin_edges(ref + cur, "sturges")``
  bins, everything else uses value shares over the union of values; ``scipy`` jensenshannon with
  natural log; drift when ``>= 0.1``.
* ``psi.py``: same binning with ``feel_zeroes=True``: empty shares become 0.0001, or
  min(non-zero share) / 1e6 when that minimum is <= 0.0001 (per side); PSI =
  sum((r - c) * ln(r / c)); drift when ``>= 0.1``.  (Its ``n_bins=30`` argument is unused for
  numeric data: Sturges decides.)
* ``evidently/core/datasets.py::infer_column_type`` (the *current* dataset's definition is used):
  float dtypes -> numerical; integer dtypes -> categorical when nunique <= 10 else numerical;
  strings / bool -> categorical.  We map DuckDB types the same way (DECIMAL counts as float;
  strings are always categorical here: Evidently would call a string column with nunique >
  count / 2 "text" and skip it for drift, we do not).
* ``legacy/calculations/data_drift.py::get_dataset_drift``: dataset drift when
  share of drifted columns ``>=`` drift_share (0.5).  Caveat: Evidently's DriftedColumnsCount goes through
  ``get_drift_for_columns``, which passes ``is_contains_nans`` and so drops +-inf only from
  columns that also hold a NaN; its per-column ``ValueDrift`` always drops them. We follow
  ``ValueDrift`` (always drop), so with infinities but no NaN Evidently's own count can differ.

PSI rows (``psi=True``) are extra rows: they are reported but do *not* count in the drift share
(the primary test decides, as in Evidently where one column has one method).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import duckdb
import numpy as np
from scipy import stats
from scipy.spatial import distance

__all__ = [
    "DEFAULT_THRESHOLDS",
    "DriftError",
    "DriftResult",
    "FeatureDrift",
    "Histogram",
    "compute_drift",
]

Method = Literal["ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi"]
ColumnKind = Literal["numeric", "categorical"]

DEFAULT_THRESHOLDS: dict[str, float] = {
    "ks": 0.05,
    "chisquare": 0.05,
    "z": 0.05,
    "wasserstein": 0.1,
    "jensenshannon": 0.1,
    "psi": 0.1,
}
P_VALUE_METHODS = frozenset({"ks", "chisquare", "z"})

SMALL_REFERENCE_ROWS = 1000  # Evidently: reference_data.shape[0] <= 1000 -> p-value tests
FEW_VALUES = 5  # numeric with <= 5 distinct values is tested like a categorical
HISTOGRAM_MIN_REF_VALUES = 20  # get_binned_data: numeric with ref nunique > 20 -> Sturges bins
INTEGER_CARDINALITY_LIMIT = 10  # infer_column_type: int with nunique <= 10 is categorical
KS_MAX_EXACT_N = 10000  # scipy ks_2samp(method="auto"): exact when max(n1, n2) <= 10000
REPORT_MAX_CATEGORIES = 30  # categories drawn individually in the report histogram

_INT_TYPES = frozenset(
    {
        "tinyint",
        "smallint",
        "integer",
        "bigint",
        "hugeint",
        "utinyint",
        "usmallint",
        "uinteger",
        "ubigint",
        "uhugeint",
    }
)
_FLOAT_TYPES = frozenset({"float", "double"})
_NUMERIC_TYPES = _INT_TYPES | _FLOAT_TYPES | {"decimal"}
_CATEGORICAL_TYPES = frozenset({"varchar", "boolean", "enum"})


class DriftError(ValueError):
    """Bad input for a drift computation (unknown column, empty relation or column...)."""


@dataclass(frozen=True)
class Histogram:
    """Reference-vs-current counts of one feature, for the report.

    ``kind == "numeric"``: ``edges`` has len(counts) + 1 bin edges (last bin closed).
    ``kind == "categorical"``: ``labels`` names each bar (values, or "(other)").
    """

    kind: Literal["numeric", "categorical"]
    reference: tuple[int, ...]
    current: tuple[int, ...]
    edges: tuple[float, ...] | None = None
    labels: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "reference": list(self.reference),
            "current": list(self.current),
            "edges": None if self.edges is None else list(self.edges),
            "labels": None if self.labels is None else list(self.labels),
        }


@dataclass(frozen=True)
class FeatureDrift:
    feature: str
    method: str  # ks | chisquare | z | wasserstein | jensenshannon | psi
    value: float  # p-value for ks/chisquare/z, distance otherwise
    threshold: float
    drifted: bool
    column_type: ColumnKind = "numeric"
    n_reference: int = 0  # non-null, finite rows used
    n_current: int = 0
    n_unique: int = 0  # distinct values over reference + current
    counts_in_share: bool = True  # False for the extra PSI rows

    @property
    def is_p_value(self) -> bool:
        return self.method in P_VALUE_METHODS

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "method": self.method,
            "value": float(self.value),
            "threshold": float(self.threshold),
            "drifted": bool(self.drifted),
        }


@dataclass
class DriftResult:
    features: list[FeatureDrift]
    drift_share: float  # share of (primary) features that drifted
    dataset_drift: bool
    n_reference: int  # rows of the reference relation
    n_current: int
    drift_share_threshold: float = 0.5
    histograms: dict[str, Histogram] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)  # feature -> reason

    @property
    def primary(self) -> list[FeatureDrift]:
        return [f for f in self.features if f.counts_in_share]

    @property
    def drifted_features(self) -> list[str]:
        return [f.feature for f in self.primary if f.drifted]

    def to_dict(self) -> dict[str, Any]:
        return {
            "drift_share": float(self.drift_share),
            "dataset_drift": bool(self.dataset_drift),
            "features": [f.to_dict() for f in self.features],
        }


# --------------------------------------------------------------------------------------------
# SQL helpers


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _lit(x: float) -> str:
    """An exact DOUBLE literal (a string cast round-trips every finite double)."""
    return f"CAST('{float(x)!r}' AS DOUBLE)"


class _DuckDBSql:
    """Runs the drift SQL on a DuckDB connection."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con

    def rows(self, sql: str) -> list[tuple]:
        return self.con.execute(sql).fetchall()

    def columns(self, relation: str) -> dict[str, str]:
        rel = self.con.sql(f"SELECT * FROM {relation}")
        return {c: t.id for c, t in zip(rel.columns, rel.types, strict=True)}

    def create_temp(self, name: str, sql: str) -> None:
        self.con.execute(f"CREATE TEMP TABLE {name} AS {sql}")

    def drop_temp(self, name: str) -> None:
        self.con.execute(f"DROP TABLE IF EXISTS {name}")


# Spark type names -> the DuckDB type ids the inference rules use
_SPARK_TYPE_IDS = {
    "ByteType": "tinyint", "ShortType": "smallint", "IntegerType": "integer", "LongType": "bigint",
    "FloatType": "float", "DoubleType": "double", "DecimalType": "decimal",
    "StringType": "varchar", "VarcharType": "varchar", "CharType": "varchar",
    "BooleanType": "boolean", "DateType": "date", "TimestampType": "timestamp",
    "TimestampNTZType": "timestamp",
}  # fmt: skip


class _SparkSql:
    """Runs the same SQL on a SparkSession, transpiled by sqlglot (duckdb -> spark)."""

    def __init__(self, spark) -> None:
        self.spark = spark
        self._cache: dict[str, str] = {}

    def to_spark(self, sql: str) -> str:
        if sql not in self._cache:
            import sqlglot
            from sqlglot import exp

            def finite(node):
                if isinstance(node, exp.Anonymous) and node.name.lower() == "isfinite":
                    x = node.expressions[0]
                    inf = exp.cast(exp.Literal.string("Infinity"), "double")
                    return exp.and_(
                        exp.not_(exp.Anonymous(this="isnan", expressions=[x.copy()])),
                        exp.NEQ(this=exp.Abs(this=x.copy()), expression=inf),
                    )
                return node

            tree = sqlglot.parse_one(sql, read="duckdb").transform(finite)
            self._cache[sql] = tree.sql(dialect="spark")
        return self._cache[sql]

    def rows(self, sql: str) -> list[tuple]:
        return [tuple(r) for r in self.spark.sql(self.to_spark(sql)).collect()]

    def columns(self, relation: str) -> dict[str, str]:
        df = self.spark.sql(self.to_spark(f"SELECT * FROM {relation} AS _src"))
        return {f.name: _SPARK_TYPE_IDS.get(type(f.dataType).__name__, f.dataType.simpleString())
                for f in df.schema.fields}  # fmt: skip

    def create_temp(self, name: str, sql: str) -> None:
        df = self.spark.sql(self.to_spark(sql)).cache()
        df.createOrReplaceTempView(name)

    def drop_temp(self, name: str) -> None:
        if self.spark.catalog.tableExists(name):
            self.spark.catalog.uncacheTable(name)
        self.spark.catalog.dropTempView(name)


def _runner(con: Any) -> _DuckDBSql | _SparkSql:
    if isinstance(con, (_DuckDBSql, _SparkSql)):
        return con
    if type(con).__name__ == "SparkSession":
        return _SparkSql(con)
    return _DuckDBSql(con)


def _schema(run: _DuckDBSql | _SparkSql, relation: str, label: str) -> dict[str, str]:
    try:
        return run.columns(relation)
    except Exception as e:  # duckdb.Error, pyspark AnalysisException, sqlglot ParseError
        raise DriftError(f"cannot read the {label} relation {relation!r}: {e}") from e


def _scalar(run: _DuckDBSql | _SparkSql, sql: str) -> Any:
    rows = run.rows(sql)
    return rows[0][0] if rows else None


@dataclass(frozen=True)
class _Col:
    name: str
    kind: ColumnKind
    integer: bool  # both sides integer-typed (numpy's width >= 1 rule for Sturges)
    value_expr: str  # SQL expression of the value
    where: str  # SQL filter dropping NULL / NaN / inf


def _column_spec(name: str, kind: ColumnKind, ref_type: str, cur_type: str) -> _Col:
    col = _q(name)
    both_numeric = ref_type in _NUMERIC_TYPES and cur_type in _NUMERIC_TYPES
    where = f"{col} IS NOT NULL"
    if ref_type in _FLOAT_TYPES or cur_type in _FLOAT_TYPES:
        # Evidently: replace([-inf, inf], nan).dropna()
        where += f" AND isfinite(CAST({col} AS DOUBLE))"
    if kind == "numeric":
        return _Col(
            name,
            kind,
            ref_type in _INT_TYPES and cur_type in _INT_TYPES,
            f"CAST({col} AS DOUBLE)",
            where,
        )
    if ref_type == cur_type or both_numeric:
        expr = col if ref_type == cur_type else f"CAST({col} AS DOUBLE)"
    else:
        expr = f"CAST({col} AS VARCHAR)"
    return _Col(name, kind, False, expr, where)


# --------------------------------------------------------------------------------------------
# statistics on aggregates (the only work done outside the engine)


def ks_p_value(n1: int, n2: int, cum1: int, cum2: int) -> tuple[float, float]:
    """scipy.stats.ks_2samp's (statistic, two-sided p-value) from the ECDF counts at the argmax.

    ``cum1``/``cum2`` are the reference/current counts <= the value where |F1 - F2| is largest.
    In scipy's exact regime (max(n1, n2) <= 10000) we call ks_2samp itself on two tiny
    two-valued samples with the same sizes and the same ECDF difference (same D bit for bit);
    otherwise scipy's asymptotic formula ``kstwo.sf(D, round(n1*n2/(n1+n2)))``.
    """
    d = abs(cum1 / n1 - cum2 / n2)
    if max(n1, n2) <= KS_MAX_EXACT_N:
        a = np.concatenate([np.zeros(cum1), np.ones(n1 - cum1)])
        b = np.concatenate([np.zeros(cum2), np.ones(n2 - cum2)])
        res = stats.ks_2samp(a, b)
        return float(res.statistic), float(res.pvalue)
    m, n = sorted([float(n1), float(n2)], reverse=True)
    en = m * n / (m + n)
    p = float(np.clip(stats.kstwo.sf(d, np.round(en)), 0, 1))
    return d, p


def chisquare_p_value(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Evidently's chi-square: expected = reference counts scaled to the current size."""
    n1, n2 = int(ref_counts.sum()), int(cur_counts.sum())
    k_norm = n2 / n1
    f_exp = [float(c) * k_norm for c in ref_counts]
    f_obs = [int(c) for c in cur_counts]
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(stats.chisquare(f_obs, f_exp)[1])


def z_p_value(keys: Sequence[Any], ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    """Evidently's two-proportion z-test (keys are the <= 2 distinct values)."""
    ref_present = [k for k, c in zip(keys, ref_counts, strict=True) if c > 0]
    cur_present = [k for k, c in zip(keys, cur_counts, strict=True) if c > 0]
    if len(ref_present) == 1 and len(cur_present) == 1 and ref_present[0] == cur_present[0]:
        return 1.0
    first = min(keys)  # Evidently: sorted(keys)[0]
    i = list(keys).index(first)
    n1, n2 = int(ref_counts.sum()), int(cur_counts.sum())
    # the tested indicator is "value != first key"
    p1 = float(n1 - int(ref_counts[i])) / n1
    p2 = float(n2 - int(cur_counts[i])) / n2
    pooled = float(p1 * n1 + p2 * n2) / (n1 + n2)
    z = (p1 - p2) / np.sqrt(pooled * (1 - pooled) * (1.0 / n1 + 1.0 / n2))
    return float(2 * (1 - stats.norm.cdf(np.abs(z))))


def _fill_zeroes(p: np.ndarray) -> np.ndarray:
    """Evidently get_binned_data(feel_zeroes=True)."""
    p = p.copy()
    low = p[p != 0].min()
    np.place(p, p == 0, low / 10**6 if low <= 0.0001 else 0.0001)
    return p


def jensenshannon_distance(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    r = ref_counts / ref_counts.sum()
    c = cur_counts / cur_counts.sum()
    return float(distance.jensenshannon(r, c))  # natural log (base=None)


def psi_value(ref_counts: np.ndarray, cur_counts: np.ndarray) -> float:
    r = _fill_zeroes(ref_counts / ref_counts.sum())
    c = _fill_zeroes(cur_counts / cur_counts.sum())
    return float(np.sum((r - c) * np.log(r / c)))


def sturges_edges(lo: float, hi: float, n: int, integer: bool) -> np.ndarray:
    """np.histogram_bin_edges(data, bins="sturges") from min, max and size of the data."""
    if lo == hi:  # numpy widens an empty range
        lo, hi = lo - 0.5, hi + 0.5
    width = (hi - lo) / (np.log2(n) + 1.0)
    if integer and width < 1:
        width = 1
    n_bins = int(np.ceil((hi - lo) / width)) if width else 1
    return np.linspace(lo, hi, n_bins + 1, endpoint=True)


# --------------------------------------------------------------------------------------------
# the engine


class _Engine:
    def __init__(self, run: _DuckDBSql | _SparkSql, reference: str, current: str) -> None:
        self.run = run
        self.reference = reference
        self.current = current

    def one(self, sql: str) -> tuple:
        return self.run.rows(sql)[0]

    def merged(self, col: _Col) -> str:
        """Temporary table (v, rc, cc): distinct non-null values with reference/current counts."""
        name = f"_drift_m_{uuid.uuid4().hex}"
        self.run.create_temp(
            name,
            f"""
            WITH r AS (
                SELECT {col.value_expr} AS v, COUNT(*) AS n
                FROM {self.reference} AS _src WHERE {col.where} GROUP BY 1
            ), c AS (
                SELECT {col.value_expr} AS v, COUNT(*) AS n
                FROM {self.current} AS _src WHERE {col.where} GROUP BY 1
            )
            SELECT COALESCE(r.v, c.v) AS v,
                   CAST(COALESCE(r.n, 0) AS BIGINT) AS rc,
                   CAST(COALESCE(c.n, 0) AS BIGINT) AS cc
            FROM r FULL OUTER JOIN c ON r.v = c.v
            """,
        )
        return name

    def totals(self, m: str) -> tuple[int, int, int, int]:
        n1, n2, nu, nu_ref = self.one(
            f"""SELECT COALESCE(SUM(rc), 0), COALESCE(SUM(cc), 0), COUNT(*),
                       COALESCE(SUM(CASE WHEN rc > 0 THEN 1 ELSE 0 END), 0) FROM {m}"""
        )
        return int(n1), int(n2), int(nu), int(nu_ref)

    def value_counts(self, m: str) -> tuple[list[Any], np.ndarray, np.ndarray]:
        rows = self.run.rows(f"SELECT v, rc, cc FROM {m}")
        keys = [r[0] for r in rows]
        return (
            keys,
            np.array([r[1] for r in rows], dtype=np.int64),
            np.array([r[2] for r in rows], dtype=np.int64),
        )

    def ecdf_stats(self, m: str, n1: int, n2: int) -> dict[str, float]:
        """KS extreme points and the Wasserstein-1 integral over the merged distinct values."""
        row = self.one(
            f"""
            WITH cum AS (
                SELECT v,
                       SUM(rc) OVER w AS cr,
                       SUM(cc) OVER w AS cu,
                       LEAD(v) OVER (ORDER BY v) AS v_next
                FROM {m}
                WINDOW w AS (ORDER BY v ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
            ), d AS (
                SELECT v, v_next, cr, cu,
                       CAST(cr AS DOUBLE) / CAST({n1} AS DOUBLE)
                     - CAST(cu AS DOUBLE) / CAST({n2} AS DOUBLE) AS diff
                FROM cum
            )
            SELECT MAX(diff), ARG_MAX(cr, diff), ARG_MAX(cu, diff),
                   MIN(diff), ARG_MIN(cr, diff), ARG_MIN(cu, diff),
                   SUM(CASE WHEN v_next IS NULL THEN 0.0 ELSE ABS(diff) * (v_next - v) END),
                   MIN(v), MAX(v)
            FROM d
            """
        )
        keys = ("max", "max_cr", "max_cu", "min", "min_cr", "min_cu", "w1", "lo", "hi")
        return dict(zip(keys, row, strict=True))

    def reference_std(self, m: str) -> float:
        """Population std of the reference (two passes, like numpy's np.std)."""
        return float(
            _scalar(
                self.run,
                f"""
                WITH mu AS (SELECT SUM(rc * v) / SUM(rc) AS mean FROM {m} WHERE rc > 0)
                SELECT SQRT(SUM(rc * (v - mu.mean) * (v - mu.mean)) / SUM(rc))
                FROM {m} CROSS JOIN mu WHERE rc > 0
                """,
            )
        )

    def histogram(self, m: str, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """np.histogram counts of both sides over fixed edges (last bin closed)."""
        k = len(edges) - 1
        terms = " + ".join(f"CASE WHEN v >= {_lit(e)} THEN 1 ELSE 0 END" for e in edges[1:-1])
        bin_expr = f"LEAST({k - 1}, {terms})" if terms else "0"
        rows = self.run.rows(f"SELECT {bin_expr} AS b, SUM(rc), SUM(cc) FROM {m} GROUP BY 1")
        ref = np.zeros(k, dtype=np.int64)
        cur = np.zeros(k, dtype=np.int64)
        for b, rc, cc in rows:
            ref[int(b)] += int(rc)
            cur[int(b)] += int(cc)
        return ref, cur

    def drop(self, m: str) -> None:
        self.run.drop_temp(m)


def _category_histogram(keys: list[Any], rc: np.ndarray, cc: np.ndarray) -> Histogram:
    order = sorted(range(len(keys)), key=lambda i: (-(int(rc[i]) + int(cc[i])), str(keys[i])))
    top, rest = order[:REPORT_MAX_CATEGORIES], order[REPORT_MAX_CATEGORIES:]
    labels = [str(keys[i]) for i in top]
    ref = [int(rc[i]) for i in top]
    cur = [int(cc[i]) for i in top]
    if rest:
        labels.append("(other)")
        ref.append(int(sum(int(rc[i]) for i in rest)))
        cur.append(int(sum(int(cc[i]) for i in rest)))
    return Histogram("categorical", tuple(ref), tuple(cur), labels=tuple(labels))


def _binned_shares(
    eng: _Engine,
    m: str,
    col: _Col,
    n1: int,
    n2: int,
    nu_ref: int,
    lo: float | None,
    hi: float | None,
    cache: dict[str, Any],
) -> tuple[np.ndarray, np.ndarray]:
    """Evidently get_binned_data: counts per Sturges bin, or per distinct value."""
    if col.kind == "numeric" and nu_ref > HISTOGRAM_MIN_REF_VALUES:
        if "hist" not in cache:
            edges = sturges_edges(float(lo), float(hi), n1 + n2, col.integer)
            cache["edges"] = edges
            cache["hist"] = eng.histogram(m, edges)
        return cache["hist"]
    if "vc" not in cache:
        cache["vc"] = eng.value_counts(m)
    _, rc, cc = cache["vc"]
    return rc, cc


def _one_feature(
    eng: _Engine, col: _Col, psi: bool, thresholds: dict[str, float]
) -> tuple[list[FeatureDrift], Histogram]:
    m = eng.merged(col)
    try:
        n1, n2, nu, nu_ref = eng.totals(m)
        if n1 == 0 or n2 == 0:
            side = "reference" if n1 == 0 else "current"
            raise DriftError(f"column {col.name!r} has no non-null values in the {side} data")
        cache: dict[str, Any] = {}
        lo = hi = None
        small = n1 <= SMALL_REFERENCE_ROWS
        if col.kind == "numeric" and nu > FEW_VALUES:
            e = eng.ecdf_stats(m, n1, n2)
            lo, hi = e["lo"], e["hi"]
            if small:
                method = "ks"
                max_s, min_s = e["max"], min(max(-e["min"], 0.0), 1.0)
                cum = (e["min_cr"], e["min_cu"]) if min_s > max_s else (e["max_cr"], e["max_cu"])
                _, value = ks_p_value(n1, n2, int(cum[0]), int(cum[1]))
            else:
                method = "wasserstein"
                value = float(e["w1"]) / max(eng.reference_std(m), 0.001)
        else:
            if col.kind == "numeric":
                lo, hi = eng.one(f"SELECT MIN(v), MAX(v) FROM {m}")
            keys, rc, cc = eng.value_counts(m)
            cache["vc"] = (keys, rc, cc)
            if small:
                if nu > 2:
                    method, value = "chisquare", chisquare_p_value(rc, cc)
                else:
                    method, value = "z", z_p_value(keys, rc, cc)
            else:
                method = "jensenshannon"
                r, c = _binned_shares(eng, m, col, n1, n2, nu_ref, lo, hi, cache)
                value = jensenshannon_distance(r, c)
        threshold = thresholds[method]
        drifted = (
            value <= threshold
            if method == "ks"
            else (value < threshold if method in P_VALUE_METHODS else value >= threshold)
        )
        common: dict[str, Any] = {
            "column_type": col.kind,
            "n_reference": n1,
            "n_current": n2,
            "n_unique": nu,
        }
        rows = [FeatureDrift(col.name, method, float(value), threshold, bool(drifted), **common)]
        if psi:
            r, c = _binned_shares(eng, m, col, n1, n2, nu_ref, lo, hi, cache)
            pv = psi_value(r, c)
            rows.append(
                FeatureDrift(
                    col.name,
                    "psi",
                    pv,
                    thresholds["psi"],
                    bool(pv >= thresholds["psi"]),
                    counts_in_share=False,
                    **common,
                )
            )
        # report histogram
        if col.kind == "numeric" and nu > HISTOGRAM_MIN_REF_VALUES:
            if "edges" not in cache:
                cache["edges"] = sturges_edges(float(lo), float(hi), n1 + n2, col.integer)
                cache["hist"] = eng.histogram(m, cache["edges"])
            hr, hc = cache["hist"]
            hist = Histogram(
                "numeric",
                tuple(int(x) for x in hr),
                tuple(int(x) for x in hc),
                edges=tuple(float(x) for x in cache["edges"]),
            )
        else:
            if "vc" not in cache:
                cache["vc"] = eng.value_counts(m)
            keys, rc, cc = cache["vc"]
            if col.kind == "numeric":
                order = sorted(range(len(keys)), key=lambda i: keys[i])
                keys = [keys[i] for i in order]
                rc, cc = rc[order], cc[order]
                keys = [f"{k:g}" for k in keys]
            hist = _category_histogram(keys, rc, cc)
        return rows, hist
    finally:
        eng.drop(m)


def compute_drift(
    con: Any,
    reference: str,
    current: str,
    columns: Sequence[str] | None = None,
    categorical: Sequence[str] | None = None,
    psi: bool = False,
    drift_share: float = 0.5,
    *,
    numerical: Sequence[str] | None = None,
    thresholds: dict[str, float] | None = None,
    on_empty_column: Literal["raise", "skip"] = "raise",
) -> DriftResult:
    """Per-feature drift of ``current`` against ``reference`` (Evidently DataDriftPreset rules).

    ``con`` is a DuckDB connection or a SparkSession. ``reference``/``current`` are SQL relation
    expressions for it (in DuckDB's dialect; transpiled for Spark): a table name,
    ``read_parquet('x.parquet')`` (DuckDB) or a parenthesised subquery.  ``columns`` defaults to every
    column of ``current`` that ``reference`` also has and whose type is numeric, string or
    boolean.  Column kinds are inferred like Evidently (floats numeric, integers categorical when
    the current data has <= 10 distinct values, strings/booleans categorical); ``categorical``
    and ``numerical`` force a kind.  With ``psi=True`` each feature gets an extra ``psi`` row that
    does not count in the drift share.  ``on_empty_column="skip"`` records columns without
    non-null values in ``DriftResult.skipped`` instead of raising (Evidently raises).
    """
    if not 0 <= drift_share <= 1:
        raise DriftError(f"drift_share must be within [0, 1], got {drift_share}")
    thr = {**DEFAULT_THRESHOLDS, **(thresholds or {})}
    run = _runner(con)
    ref_schema = _schema(run, reference, "reference")
    cur_schema = _schema(run, current, "current")
    forced_cat = set(categorical or ())
    forced_num = set(numerical or ())
    both = forced_cat & forced_num
    if both:
        raise DriftError(f"columns both categorical and numerical: {sorted(both)}")
    for name in forced_cat | forced_num:
        if columns is not None and name not in columns:
            continue
        if name not in cur_schema or name not in ref_schema:
            raise DriftError(f"unknown column {name!r}")

    if columns is None:
        names = [
            c
            for c, t in cur_schema.items()
            if c in ref_schema
            and (
                c in forced_cat
                or c in forced_num
                or (
                    t in _NUMERIC_TYPES | _CATEGORICAL_TYPES
                    and ref_schema[c] in _NUMERIC_TYPES | _CATEGORICAL_TYPES
                )
            )
        ]
    else:
        names = list(dict.fromkeys(columns))
        missing = [c for c in names if c not in cur_schema or c not in ref_schema]
        if missing:
            where = []
            for c in missing:
                sides = [
                    s
                    for s, sch in (("reference", ref_schema), ("current", cur_schema))
                    if c not in sch
                ]
                where.append(f"{c!r} (not in {' and '.join(sides)})")
            raise DriftError(f"unknown column(s): {', '.join(where)}")
    if not names:
        raise DriftError("no columns to compare")

    n_reference = int(_scalar(run, f"SELECT COUNT(*) FROM {reference} AS _src"))
    n_current = int(_scalar(run, f"SELECT COUNT(*) FROM {current} AS _src"))
    if n_reference == 0:
        raise DriftError("the reference data is empty")
    if n_current == 0:
        raise DriftError("the current data is empty")

    specs: list[_Col] = []
    for name in names:
        rt, ct = ref_schema[name], cur_schema[name]
        if name in forced_num:
            if rt not in _NUMERIC_TYPES or ct not in _NUMERIC_TYPES:
                raise DriftError(f"column {name!r} is not numeric ({rt} / {ct})")
            kind: ColumnKind = "numeric"
        elif name in forced_cat:
            kind = "categorical"
        elif ct in _FLOAT_TYPES or ct == "decimal":
            kind = "numeric" if rt in _NUMERIC_TYPES else "categorical"
        elif ct in _INT_TYPES:
            n_distinct = _scalar(run, f"SELECT COUNT(DISTINCT {_q(name)}) FROM {current} AS _src")
            numeric_ok = rt in _NUMERIC_TYPES
            kind = (
                "numeric"
                if numeric_ok and n_distinct > INTEGER_CARDINALITY_LIMIT
                else "categorical"
            )
        elif ct in _CATEGORICAL_TYPES:
            kind = "categorical"
        else:
            raise DriftError(
                f"column {name!r} has type {ct}; pass it in `categorical` to compare its values"
            )
        specs.append(_column_spec(name, kind, rt, ct))

    eng = _Engine(run, reference, current)
    features: list[FeatureDrift] = []
    histograms: dict[str, Histogram] = {}
    skipped: dict[str, str] = {}
    for spec in specs:
        try:
            rows, hist = _one_feature(eng, spec, psi, thr)
        except DriftError as e:
            if on_empty_column == "skip" and "no non-null values" in str(e):
                skipped[spec.name] = str(e)
                continue
            raise
        features.extend(rows)
        histograms[spec.name] = hist

    primary = [f for f in features if f.counts_in_share]
    share = (sum(f.drifted for f in primary) / len(primary)) if primary else 0.0
    return DriftResult(
        features=features,
        drift_share=share,
        dataset_drift=bool(primary) and share >= drift_share,
        n_reference=n_reference,
        n_current=n_current,
        drift_share_threshold=drift_share,
        histograms=histograms,
        skipped=skipped,
    )


def sql_string(value: str) -> str:
    """A SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def parquet_relation(path: str) -> str:
    return f"read_parquet({sql_string(path)})"
