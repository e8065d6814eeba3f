"""Landing sensor, bad-file job and the replay schedule (the platform's clock)."""


import datetime as dt
import json
from pathlib import Path

import dagster as dg

from mlops_assets.core import landing, rawfiles
from mlops_assets.settings import get_settings

# The landing sensor's runs load one file each: the step runs in the run's own process
# (in_process_executor) instead of a second, freshly started one that loads the code location
# again (the multiprocess default): a few seconds less from landing to materialization
# (benchmarks/sensor.py measures it).
ingest_daily_job = dg.define_asset_job(
    "ingest_daily",
    selection=dg.AssetSelection.assets("raw_flights", "raw_weather"),
    description="Load landed daily files into the raw tables.",
    executor_def=dg.in_process_executor,
)
ingest_reference_job = dg.define_asset_job(
    "ingest_reference",
    selection=dg.AssetSelection.assets("raw_planes", "raw_airports", "raw_airlines"),
    description="Load the reference tables (planes, airports, airlines).",
    executor_def=dg.in_process_executor,
)


class RejectConfig(dg.Config):
    path: str
    reason: str


@dg.op(description="Quarantine a landed file that cannot be a partition, and fail with why.")
def reject_landing_file(context: dg.OpExecutionContext, config: RejectConfig) -> None:
    path = Path(config.path)
    moved = None
    if path.exists():
        moved = rawfiles.quarantine_file(path, get_settings().quarantine_dir, config.reason, context.run_id)
    raise dg.Failure(
        description=f"bad landed file {path}: {config.reason}"
        + (f". Moved to {moved}." if moved else " (already gone)."),
        metadata={"file": str(path), "problem": config.reason},
    )


@dg.job(description="Quarantine a landed file whose name is not a valid partition.")
def quarantine_landing_file():
    reject_landing_file()


def _scan(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))


@dg.sensor(
    name="landing_sensor",
    jobs=[ingest_daily_job, ingest_reference_job, quarantine_landing_file],
    minimum_interval_seconds=15,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="New or changed files in landing/ become runs for their partitions "
    "(run_key = content hash: the same file never loads twice).",
)
def landing_sensor(context: dg.SensorEvaluationContext):
    s = get_settings()
    # cursor: {relative path: [size, mtime_ns, sha256]} so unchanged files are not re-hashed
    seen: dict[str, list] = json.loads(context.cursor) if context.cursor else {}
    requests: list[dg.RunRequest] = []
    for dataset in ("flights", "weather", "reference"):
        for path in _scan(s.landing_dir / dataset):
            rel = f"{dataset}/{path.name}"
            st = path.stat()
            prev = seen.get(rel)
            if prev and prev[0] == st.st_size and prev[1] == st.st_mtime_ns:
                continue
            digest = rawfiles.file_sha256(path)
            seen[rel] = [st.st_size, st.st_mtime_ns, digest]
            if prev and prev[2] == digest:
                continue  # touched, same content
            tags = {"mlops/file": str(path), "mlops/file_sha256": digest}
            if dataset == "reference":
                name = path.stem
                if path.suffix != ".csv" or name not in rawfiles.REFERENCE_COLUMNS:
                    requests.append(_reject(path, digest, f"unknown reference file {path.name!r}"))
                    continue
                requests.append(
                    dg.RunRequest(
                        run_key=f"reference:{name}:{digest}",
                        job_name=ingest_reference_job.name,
                        asset_selection=[dg.AssetKey(f"raw_{name}")],
                        tags=tags,
                    )
                )
                continue
            try:
                day = rawfiles.day_from_file_name(path)
            except rawfiles.BadLandingFile as e:
                requests.append(_reject(path, digest, e.problem))
                continue
            requests.append(
                dg.RunRequest(
                    run_key=f"{dataset}:{day.isoformat()}:{digest}",
                    job_name=ingest_daily_job.name,
                    partition_key=day.isoformat(),
                    asset_selection=[dg.AssetKey(f"raw_{dataset}")],
                    tags=tags,
                )
            )
    # forget files that are gone (quarantined or removed), so a re-landed copy is seen again
    present = {f"{d}/{p.name}" for d in ("flights", "weather", "reference") for p in _scan(s.landing_dir / d)}
    seen = {k: v for k, v in seen.items() if k in present}
    return dg.SensorResult(run_requests=requests, cursor=json.dumps(seen, sort_keys=True))


def _reject(path: Path, digest: str, reason: str) -> dg.RunRequest:
    return dg.RunRequest(
        run_key=f"reject:{path.name}:{digest}",
        job_name=quarantine_landing_file.name,
        run_config={"ops": {"reject_landing_file": {"config": {"path": str(path), "reason": reason}}}},
        tags={"mlops/file": str(path), "mlops/file_sha256": digest},
    )


@dg.op(description="Land the day after the newest landed day (the replay clock).")
def land_next_day(context: dg.OpExecutionContext) -> None:
    s = get_settings()
    newest = landing.newest_landed_day(s.landing_dir)
    first, end = rawfiles.partition_bounds()
    nxt = first if newest is None else newest + dt.timedelta(days=1)
    if nxt >= end:
        context.log.info(f"all of {first.year} is landed; nothing to do")
        return
    result = landing.replay(s.landing_dir, [nxt])
    context.log.info(f"landed {nxt}: {len(result.written)} files written")


@dg.job(description="Advance the replay clock by one day: land the next day's files.")
def replay_next_day():
    land_next_day()


replay_schedule = dg.ScheduleDefinition(
    name="daily_replay",
    job=replay_next_day,
    cron_schedule="0 6 * * *",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Each day, land the next 2013 day; the landing sensor and automation do the rest.",
)
