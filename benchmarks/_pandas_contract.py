"""The feature contract on Pandera's *pandas* backend, derived from the Ibis model.

Coverage (the same rules as ``FlightFeatures``; see ``schema()``):

* every column of the model, ``strict=True`` (no other column), its nullability, its dtype
  (mapped to the dtype pandas gets from the same Parquet: int32, float64, object strings,
  ``datetime64`` timestamps, ``datetime.date`` objects via pandera's ``Date``, ``bool``; the
  nullable ``is_delayed`` is converted to pandas ``boolean`` when loading, since Arrow gives it
  as an ``object`` column);
* every column check, built with the same Pandera check name and statistics
  (``in_range``, ``greater_than``, ``less_than``, ``greater_than_or_equal_to``, ``isin``,
  ``str_matches``);
* ``unique=["flight_id"]``;
* the four cross-column ``dataframe_check``s, rewritten as vectorised pandas expressions with
  the same meaning.

Not covered: nothing of the model is left out; our DuckDB path additionally computes exact
per-rule failing-row counts and a sample of failing flight_ids, which Pandera does not.
"""

from __future__ import annotations

import pandas as pd
import pandera.pandas as pa
from pandera.engines import pandas_engine

from mlops_assets.features.contract import DELAY_THRESHOLD_MIN, FlightFeatures


def _dtype(ibis_dtype: str, name: str, ts_dtype: str):
    s = str(ibis_dtype)
    if s == "string":
        return str
    if s == "date":
        return pandas_engine.Date()
    if s.startswith("timestamp"):
        return ts_dtype
    if s == "boolean":
        return "boolean" if name == "is_delayed" else bool
    return s  # int32 / float64


def schema(ts_dtype: str = "datetime64[ns]") -> pa.DataFrameSchema:
    ib = FlightFeatures.to_schema()
    cols = {}
    for name, c in ib.columns.items():
        checks = [getattr(pa.Check, k.name)(**k.statistics) for k in c.checks]
        cols[name] = pa.Column(_dtype(c.dtype, name, ts_dtype), checks=checks, nullable=c.nullable)

    def dewp_le_temp(df):
        return df.dewp.isna() | df.temp.isna() | (df.dewp <= df.temp + 0.5)

    def gust_ge_speed(df):
        return df.wind_gust.isna() | df.wind_speed.isna() | (df.wind_gust >= df.wind_speed)

    def is_delayed_matches(df):
        both_null = df.arr_delay.isna() & df.is_delayed.isna()
        consistent = (
            df.arr_delay.notna()
            & df.is_delayed.notna()
            & (df.is_delayed == (df.arr_delay > DELAY_THRESHOLD_MIN)).fillna(False)
        )
        return both_null | consistent.astype(bool)

    def cancelled_no_arrival(df):
        return ~df.is_cancelled | df.arr_delay.isna()

    return pa.DataFrameSchema(
        cols,
        checks=[
            pa.Check(dewp_le_temp, name="dewp_le_temp"),
            pa.Check(gust_ge_speed, name="gust_ge_speed"),
            pa.Check(is_delayed_matches, name="is_delayed_matches_arr_delay"),
            pa.Check(cancelled_no_arrival, name="cancelled_has_no_arrival"),
        ],
        unique=["flight_id"],
        strict=True,
        name="flight_features_pandas",
    )


def load(path_glob: str) -> pd.DataFrame:
    import glob

    import duckdb  # only to expand the glob into files; pandas reads the Parquet itself

    files = sorted(glob.glob(path_glob))
    df = pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)
    df["is_delayed"] = df["is_delayed"].astype("boolean")
    del duckdb
    return df
