"""Sensor latency: a file landing -> its raw partition materialized, with a real daemon.

A temporary data folder gets its instance from ``mlops init`` (``mlops_assets/instance.py``
writes dagster.yaml: SQLite storage, queued runs, the default run launcher), then
``dagster-daemon run -w workspace.yaml`` is started on it. Each trial writes one day's flights
CSV atomically into ``landing/flights/`` (``landing.atomic_write_bytes``: temp file +
``os.replace``) and polls the instance for the ``raw_flights`` materialization of that
partition. The run's own event log splits the latency into:

* ``sensor``: landing -> the run created by the landing sensor (waiting for the next tick of
  ``minimum_interval_seconds=15``, plus the tick itself);
* ``launch``: run created -> ``RUN_START`` (queued-run coordinator dequeue, the run worker
  process start, loading the code location in it);
* ``run``: ``RUN_START`` -> the ``ASSET_MATERIALIZATION`` event (parse, load, commit).

The automation sensor is stopped for the measurement (``dagster sensor stop``), so each trial
is the landing path alone: otherwise the dbt runs it starts after each raw load hold the
warehouse pool and the next raw run waits in the queue behind them.
"""

from __future__ import annotations

import datetime as dt
import os
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TRIAL_DAYS = [dt.date(2013, 3, 1) + dt.timedelta(days=i) for i in range(20)]


def _bin(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


def _env(root: Path) -> dict[str, str]:
    drop = ("MLOPS_WAREHOUSE", "MLFLOW_TRACKING_URI", "PYTHONDONTWRITEBYTECODE")  # see run.child_env
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(MLOPS_DATA_DIR=str(root), DAGSTER_HOME=str(root / "dagster_home"))
    return env


def _wait(pred, timeout: float, what: str, poll: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = pred()
        if out:
            return out
        time.sleep(poll)
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}")


def _materialization(instance, day: str):
    import dagster as dg

    recs = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey("raw_flights"), asset_partitions=[day]), limit=1
    ).records
    return recs[0] if recs else None


def _run_parts(instance, run_id: str) -> dict[str, float]:
    """Timestamps of the run's creation and lifecycle events, keyed RUN_ENQUEUED .. RUN_START."""
    import dagster as dg

    wanted = {dg.DagsterEventType[n].value: n  # the stored names are PIPELINE_* in 1.13
              for n in ("RUN_ENQUEUED", "RUN_DEQUEUED", "RUN_STARTING", "RUN_START")}  # fmt: skip
    rec = instance.get_run_record_by_id(run_id)
    ts = {"created": rec.create_timestamp.timestamp()}
    for e in instance.all_logs(run_id):
        if e.dagster_event is not None and e.dagster_event.event_type_value in wanted:
            ts.setdefault(wanted[e.dagster_event.event_type_value], e.timestamp)
    return ts


def run_sensor_latency(data: Path, trials: int = 5, echo=print, timeout: float = 240) -> dict:
    import dagster as dg

    from mlops_assets.core import landing

    root = (data / "sensor").resolve()
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    env = _env(root)
    logs = root / "logs"
    logs.mkdir()

    def sh(args: list[str], name: str) -> None:
        with open(logs / f"{name}.log", "wb") as fh:
            subprocess.run(args, env=env, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT,
                           check=True, timeout=300)  # fmt: skip

    sh([_bin("mlops"), "init"], "init")
    sh([_bin("dagster"), "sensor", "stop", "automation_sensor", "-w", "workspace.yaml"], "stop_automation")
    daemon_log = open(logs / "daemon.log", "wb")  # noqa: SIM115 -- closed in finally
    daemon = subprocess.Popen(
        [_bin("dagster-daemon"), "run", "-w", "workspace.yaml"],
        env=env, cwd=REPO, stdout=daemon_log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    landing_dir = root / "landing" / "flights"
    rows: list[dict] = []
    try:
        with dg.DagsterInstance.from_config(str(root / "dagster_home")) as instance:
            # warm-up: the daemon starts its code server and its first ticks; not counted
            days = [d.isoformat() for d in TRIAL_DAYS[: trials + 1]]
            for i, day in enumerate(days):
                data_bytes = landing.day_csv_bytes("flights", dt.date.fromisoformat(day))
                if i:
                    time.sleep(random.uniform(0, 5))  # land at an arbitrary phase of the tick
                landing.atomic_write_bytes(landing_dir / f"{day}.csv", data_bytes)
                t_land = time.time()
                if daemon.poll() is not None:
                    raise RuntimeError(f"dagster-daemon exited ({daemon.returncode}); see {logs}")
                rec = _wait(lambda d=day: _materialization(instance, d),
                            timeout * (2 if i == 0 else 1), f"raw_flights {day}")  # fmt: skip
                t_mat = rec.event_log_entry.timestamp
                parts = _run_parts(instance, rec.run_id)
                row = {
                    "day": day,
                    "warmup": i == 0,
                    "total_s": t_mat - t_land,
                    "sensor_s": parts["created"] - t_land,
                    "launch_s": parts.get("RUN_START", t_mat) - parts["created"],
                    "queue_s": parts.get("RUN_DEQUEUED", parts["created"]) - parts["created"],
                    "run_s": t_mat - parts.get("RUN_START", t_mat),
                    "run_id": rec.run_id,
                }
                rows.append(row)
                label = "warm-up" if i == 0 else f"trial {i}"
                echo(f"  sensor  {label:8} {day}: total {row['total_s']:5.1f}s = sensor "
                     f"{row['sensor_s']:5.1f}s + launch {row['launch_s']:5.1f}s (queue "
                     f"{row['queue_s']:4.1f}s) + run {row['run_s']:5.1f}s")  # fmt: skip
    finally:
        try:
            os.killpg(daemon.pid, signal.SIGTERM)
            daemon.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(daemon.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            daemon.wait(timeout=10)
        daemon_log.close()
    measured = [r for r in rows if not r["warmup"]]
    summary = {"trials": len(measured), "rows": rows}
    for k in ("total_s", "sensor_s", "launch_s", "queue_s", "run_s"):
        vals = [r[k] for r in measured]
        summary[k] = {"median": statistics.median(vals), "max": max(vals), "min": min(vals)}
    return summary


if __name__ == "__main__":
    import json

    out = run_sensor_latency(REPO / "benchmarks" / ".data", trials=int(sys.argv[1]) if len(sys.argv) > 1 else 3)
    print(json.dumps({k: v for k, v in out.items() if k != "rows"}, indent=2))
