"""Monitoring: drift and realized-performance assets, the retrain and failure sensors."""

import dagster as dg

from mlops_assets.defs.monitoring.assets import drift_report, model_performance
from mlops_assets.defs.monitoring.sensors import retrain_on_drift, run_failure_alert

defs = dg.Definitions(
    assets=[drift_report, model_performance],
    sensors=[retrain_on_drift, run_failure_alert],
)
