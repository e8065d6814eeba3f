"""When to retrain: the pure decision behind the ``retrain_on_drift`` sensor (no dagster).

The sensor turns the Dagster instance's materialization events of ``drift_report`` and
``model_performance`` into :class:`DriftObservation` / :class:`PerformanceObservation`
(one per partition day, the newest event of each partition) and asks :func:`decide`.

The clock is the *partition day*: the data is from 2013, so "today" is the newest partition
day seen in either stream, and the cooldown is counted in partition days too.

Rules (thresholds in :class:`RetrainPolicy`):

* drift: the newest drift partition and the ``consecutive_drift_days - 1`` calendar days
  before it all have ``dataset_drift`` true (a missing day breaks the streak). Only reports
  computed against the same champion as the newest report count, so the old champion's
  reports cannot re-trigger a retrain once a new champion is in place.
* performance: the newest performance partition has a realized ROC AUC below ``auc_floor``
  (a day with no AUC -- one class only -- or fewer than ``min_performance_rows`` labelled rows
  is ignored).
* cooldown: no trigger while ``today - last_trigger_partition < cooldown_days``.

When both rules fire, the performance trigger wins (the model is measurably worse) and the
reason mentions both.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

__all__ = [
    "DriftObservation",
    "PerformanceObservation",
    "RetrainCursor",
    "RetrainDecision",
    "RetrainPolicy",
    "decide",
]


@dataclass(frozen=True)
class RetrainPolicy:
    consecutive_drift_days: int = 3  # dataset drift on this many consecutive partition days
    auc_floor: float = 0.6  # realized ROC AUC of the newest performance partition below this
    cooldown_days: int = 7  # partition days after a trigger during which no new one fires
    min_performance_rows: int = 50  # ignore AUC of smaller labelled samples

    def __post_init__(self) -> None:
        if self.consecutive_drift_days < 1:
            raise ValueError("consecutive_drift_days must be >= 1")
        if self.cooldown_days < 0:
            raise ValueError("cooldown_days must be >= 0")
        if not 0.0 <= self.auc_floor <= 1.0:
            raise ValueError("auc_floor must be within [0, 1]")


@dataclass(frozen=True)
class DriftObservation:
    partition: str  # YYYY-MM-DD
    dataset_drift: bool
    drift_share: float | None = None
    champion_version: str | None = None
    storage_id: int = 0


@dataclass(frozen=True)
class PerformanceObservation:
    partition: str
    roc_auc: float | None
    n: int | None = None
    model_version: str | None = None
    storage_id: int = 0


@dataclass
class RetrainCursor:
    """The sensor's cursor, stored as JSON."""

    last_trigger_partition: str | None = None
    last_trigger: str | None = None  # drift | performance
    last_storage_id: int = 0  # newest event storage id already evaluated

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> RetrainCursor:
        if not text:
            return cls()
        try:
            raw = json.loads(text)
        except ValueError:
            return cls()
        if not isinstance(raw, dict):
            return cls()
        return cls(
            last_trigger_partition=raw.get("last_trigger_partition"),
            last_trigger=raw.get("last_trigger"),
            last_storage_id=int(raw.get("last_storage_id") or 0),
        )


@dataclass(frozen=True)
class RetrainDecision:
    trigger: Literal["drift", "performance"] | None
    partition: str | None  # the partition day that completed the condition
    reason: str  # readable, with the numbers (also the skip reason)
    today: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def should_trigger(self) -> bool:
        return self.trigger is not None

    @property
    def run_key(self) -> str | None:
        if self.trigger is None:
            return None
        return f"retrain:{self.trigger}:{self.partition}"


def _day(s: str) -> date:
    return date.fromisoformat(s)


def _latest_per_partition(obs):
    """Newest observation (highest storage id) of each partition day."""
    out: dict[str, Any] = {}
    for o in obs:
        try:
            _day(o.partition)
        except (TypeError, ValueError):
            continue
        prev = out.get(o.partition)
        if prev is None or o.storage_id >= prev.storage_id:
            out[o.partition] = o
    return out


def drift_streak(
    drift: dict[str, DriftObservation], newest: str, days: int
) -> tuple[bool, list[DriftObservation]]:
    """Whether ``newest`` and the ``days - 1`` days before it all drifted (same champion)."""
    head = drift[newest]
    streak: list[DriftObservation] = []
    d = _day(newest)
    for i in range(days):
        o = drift.get((d - timedelta(days=i)).isoformat())
        if o is None or not o.dataset_drift:
            return False, streak
        if (
            head.champion_version
            and o.champion_version
            and o.champion_version != head.champion_version
        ):
            return False, streak
        streak.append(o)
    return True, streak


def _share(o: DriftObservation) -> str:
    return "n/a" if o.drift_share is None else f"{o.drift_share:.2f}"


def decide(
    drift_obs: list[DriftObservation],
    perf_obs: list[PerformanceObservation],
    policy: RetrainPolicy | None = None,
    last_trigger_partition: str | None = None,
) -> RetrainDecision:
    """Whether to request a retrain now (see the module docstring for the rules)."""
    policy = policy or RetrainPolicy()
    drift = _latest_per_partition(drift_obs)
    perf = _latest_per_partition(perf_obs)
    if not drift and not perf:
        return RetrainDecision(None, None, "no drift_report or model_performance events yet")
    today = max([*drift, *perf])

    drift_reason: str | None = None
    drift_partition: str | None = None
    drift_note = "no drift events"
    if drift:
        newest = max(drift)
        fired, streak = drift_streak(drift, newest, policy.consecutive_drift_days)
        if fired:
            drift_partition = newest
            shares = ", ".join(f"{o.partition}={_share(o)}" for o in reversed(streak))
            champ = drift[newest].champion_version
            drift_reason = (
                f"dataset drift on {policy.consecutive_drift_days} consecutive partition days "
                f"ending {newest} (drift share {shares})"
                + (f" against champion v{champ}" if champ else "")
            )
        else:
            drift_note = (
                f"drift streak {len(streak)}/{policy.consecutive_drift_days} days ending {newest}"
            )
    perf_reason: str | None = None
    perf_partition: str | None = None
    perf_note = "no performance events"
    if perf:
        newest_p = max(perf)
        p = perf[newest_p]
        if p.roc_auc is None:
            perf_note = f"no ROC AUC for {newest_p} (single class)"
        elif p.n is not None and p.n < policy.min_performance_rows:
            perf_note = (
                f"ROC AUC {p.roc_auc:.3f} on {newest_p} ignored: only {p.n} labelled rows "
                f"(< {policy.min_performance_rows})"
            )
        elif p.roc_auc < policy.auc_floor:
            perf_partition = newest_p
            perf_reason = (
                f"realized ROC AUC {p.roc_auc:.3f} < floor {policy.auc_floor:.3f} on {newest_p}"
                + (f" (n={p.n})" if p.n is not None else "")
                + (f" for model v{p.model_version}" if p.model_version else "")
            )
        else:
            perf_note = f"ROC AUC {p.roc_auc:.3f} >= floor {policy.auc_floor:.3f} on {newest_p}"

    if perf_reason is not None:
        trigger, partition = "performance", perf_partition
        reason = perf_reason + (f"; also {drift_reason}" if drift_reason else "")
    elif drift_reason is not None:
        trigger, partition = "drift", drift_partition
        reason = drift_reason
    else:
        return RetrainDecision(None, None, f"no retrain: {drift_note}; {perf_note}", today=today)

    if last_trigger_partition:
        since = (_day(today) - _day(last_trigger_partition)).days
        if since < policy.cooldown_days:
            return RetrainDecision(
                None,
                None,
                f"cooldown: last retrain triggered at partition {last_trigger_partition}, "
                f"{since} partition day(s) before {today} (< {policy.cooldown_days}); "
                f"would have triggered: {reason}",
                today=today,
            )
    return RetrainDecision(trigger, partition, reason, today=today)  # type: ignore[arg-type]
