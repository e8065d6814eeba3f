"""Drift monitoring: per-feature drift statistics computed inside DuckDB (no dagster import).

``compute_drift`` reproduces Evidently's ``DataDriftPreset`` defaults (see ``drift.py`` for the
rules and the places in Evidently's source they come from); ``render_html`` turns a result into
a self-contained HTML report; ``cli.drift`` is the ``mlops drift`` click command.
"""

from __future__ import annotations

from mlops_assets.monitoring.drift import (
    DriftError,
    DriftResult,
    FeatureDrift,
    Histogram,
    compute_drift,
)
from mlops_assets.monitoring.report import render_html

__all__ = [
    "DriftError",
    "DriftResult",
    "FeatureDrift",
    "Histogram",
    "compute_drift",
    "render_html",
]
