"""The champion / challenger decision (pure: no MLflow, no dagster, no I/O).

Both models are scored on the same most recent labelled window that neither
trained on (the caller's job, see ``registry.run_gate``); this module only
compares the resulting metric dicts. Metric dicts use the keys of
``training.metrics_from_scores``: ``roc_auc``, ``brier``, ``predicted_rate``,
``positive_rate``, ``n``, ``n_nan_scores``, plus optionally
``missing_features`` (a list of feature names the window lacks) and
``overlap_days`` (days of the window the model trained on; only meaningful for
the challenger -- a window it has seen flatters it).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class GatePolicy:
    """Thresholds of the gate.

    auc_tolerance: the challenger may be at most this much below the champion's AUC.
    brier_tolerance: the challenger's Brier score may be at most this much above
        the champion's.
    min_predicted_rate / max_predicted_rate: the mean predicted probability must
        lie in this range (a model predicting ~0 or ~1 everywhere is broken).
    min_auc: absolute floor, the only quality bar for the very first model.
    """

    auc_tolerance: float = 0.01
    brier_tolerance: float = 0.01
    min_predicted_rate: float = 0.01
    max_predicted_rate: float = 0.99
    min_auc: float = 0.55

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass(frozen=True)
class GateDecision:
    promote: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return "promoted" if self.promote else "rejected"

    def text(self) -> str:
        return f"{self.label}: " + " ".join(self.reasons)


def _num(metrics: Mapping[str, Any], key: str) -> float:
    v = metrics.get(key)
    try:
        return float(v)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan


def sanity_failures(metrics: Mapping[str, Any], policy: GatePolicy) -> list[str]:
    """Reasons why a model's scores on the window are unusable ([] when sane)."""
    out: list[str] = []
    missing = list(metrics.get("missing_features") or [])
    if missing:
        out.append(
            f"The evaluation window lacks {len(missing)} model feature(s): {', '.join(missing)}."
        )
    overlap = list(metrics.get("overlap_days") or [])
    if overlap:
        shown = ", ".join(sorted(overlap)[:5]) + (" ..." if len(overlap) > 5 else "")
        out.append(
            f"The evaluation window overlaps {len(overlap)} day(s) the model trained on "
            f"({shown}); evaluate on later days."
        )
    n_nan = _num(metrics, "n_nan_scores")
    n = _num(metrics, "n")
    if not math.isnan(n_nan) and n_nan > 0:
        out.append(f"{int(n_nan)} of {int(n) if not math.isnan(n) else '?'} scores are NaN.")
    if not math.isnan(n) and n <= 0:
        out.append("The evaluation window has no labelled rows.")
    auc = _num(metrics, "roc_auc")
    if math.isnan(auc):
        out.append("AUC is undefined on the evaluation window (one class only or no scores).")
    elif auc < policy.min_auc:
        out.append(f"AUC {auc:.4f} is below the minimum {policy.min_auc:.4f}.")
    rate = _num(metrics, "predicted_rate")
    if math.isnan(rate):
        out.append("The predicted rate is undefined (no finite scores).")
    elif not policy.min_predicted_rate <= rate <= policy.max_predicted_rate:
        out.append(
            f"Mean predicted probability {rate:.4f} is outside "
            f"[{policy.min_predicted_rate:.2f}, {policy.max_predicted_rate:.2f}]."
        )
    if math.isnan(_num(metrics, "brier")) and not missing:
        out.append("The Brier score is undefined (no finite scores).")
    return out


def decide(
    challenger_metrics: Mapping[str, Any],
    champion_metrics: Mapping[str, Any] | None,
    policy: GatePolicy | None = None,
) -> GateDecision:
    """Promote the challenger or not, with readable reasons carrying the numbers.

    * No champion: promote when the sanity checks pass alone (AUC >= min_auc,
      predicted rate in range, no NaN scores, no missing features).
    * Otherwise: sanity passes **and** challenger AUC >= champion AUC -
      auc_tolerance **and** challenger Brier <= champion Brier + brier_tolerance.
      A champion whose own metrics are unusable (NaN) never blocks a sane
      challenger.
    """
    policy = policy or GatePolicy()
    reasons: list[str] = []
    failures = sanity_failures(challenger_metrics, policy)
    sane = not failures
    if failures:
        reasons.extend(f"Sanity check failed: {f}" for f in failures)

    c_auc, c_brier = _num(challenger_metrics, "roc_auc"), _num(challenger_metrics, "brier")
    c_rate = _num(challenger_metrics, "predicted_rate")

    if champion_metrics is None:
        if sane:
            reasons.append(
                f"No current champion; the challenger passes the sanity checks on its own "
                f"(AUC {c_auc:.4f} >= {policy.min_auc:.2f}, mean predicted probability "
                f"{c_rate:.4f} within [{policy.min_predicted_rate:.2f}, "
                f"{policy.max_predicted_rate:.2f}], Brier {c_brier:.4f})."
            )
        else:
            reasons.append("No current champion, but the challenger is not usable.")
        return GateDecision(promote=sane, reasons=reasons)

    h_auc, h_brier = _num(champion_metrics, "roc_auc"), _num(champion_metrics, "brier")
    auc_ok = brier_ok = True
    if math.isnan(h_auc):
        reasons.append("The champion's AUC is undefined on this window; AUC not compared.")
    elif math.isnan(c_auc):
        auc_ok = False  # already explained by the sanity failure
    else:
        floor = h_auc - policy.auc_tolerance
        auc_ok = c_auc >= floor
        reasons.append(
            f"Challenger AUC {c_auc:.4f} {'>=' if auc_ok else '<'} champion AUC {h_auc:.4f} "
            f"- tolerance {policy.auc_tolerance:.4f} = {floor:.4f}"
            f"{'' if auc_ok else ' (too low)'}."
        )
    if math.isnan(h_brier):
        reasons.append("The champion's Brier score is undefined on this window; not compared.")
    elif math.isnan(c_brier):
        brier_ok = False
    else:
        ceiling = h_brier + policy.brier_tolerance
        brier_ok = c_brier <= ceiling
        reasons.append(
            f"Challenger Brier {c_brier:.4f} {'<=' if brier_ok else '>'} champion Brier "
            f"{h_brier:.4f} + tolerance {policy.brier_tolerance:.4f} = {ceiling:.4f}"
            f"{'' if brier_ok else ' (worse calibrated)'}."
        )
    promote = sane and auc_ok and brier_ok
    reasons.append(
        "Promote: the challenger is at least as good as the champion within tolerance."
        if promote
        else "Keep the champion."
    )
    return GateDecision(promote=promote, reasons=reasons)
