"""Evidently's ``DataDriftPreset``, run and read the one way the parity tests and the benchmarks use.

Evidently is not a runtime dependency (the platform computes drift in the warehouse); it is in the
``dev`` group, for the parity tests (``tests/test_drift.py``) and ``benchmarks/run.py``. Evidently is
imported when :func:`run_evidently` is called, never by importing this module.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

EVIDENTLY_METHODS = {
    "K-S p_value": "ks",
    "chi-square p_value": "chisquare",
    "Z-test p_value": "z",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensenshannon",
    "PSI": "psi",
}
"""Evidently's label of a drift method -> the method's name in ``mlops_assets.monitoring.drift``."""
# with an explicit method Evidently reports the method's registered name instead
EVIDENTLY_METHODS.update({v: v for v in list(EVIDENTLY_METHODS.values())})


def run_evidently(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    numeric: list[str],
    categorical: list[str],
    method: str | None = None,
) -> dict[str, Any]:
    """``{"columns": {column: {method, value, threshold, drifted}}, "share": drifted share}``."""
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    dd = DataDefinition(numerical_columns=numeric, categorical_columns=categorical)
    report = Report([DataDriftPreset(method=method)], include_tests=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        snap = report.run(
            Dataset.from_pandas(current, data_definition=dd),
            Dataset.from_pandas(reference, data_definition=dd),
        ).dict()
    cols: dict[str, dict[str, Any]] = {}
    share = None
    for m in snap["metrics"]:
        cfg = m["config"]
        if cfg["type"].endswith("ValueDrift"):
            cols[cfg["column"]] = {
                "method": EVIDENTLY_METHODS.get(cfg["method"], cfg["method"]),
                "value": float(m["value"]),
                "threshold": float(cfg["threshold"]),
            }
        elif cfg["type"].endswith("DriftedColumnsCount"):
            share = m["value"]["share"]
    for t in snap["tests"]:
        params = t["metric_config"]["params"]
        if params["type"].endswith("ValueDrift"):
            cols[params["column"]]["drifted"] = t["status"] == "FAIL"
    return {"columns": cols, "share": share}
