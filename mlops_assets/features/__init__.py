"""Feature layer: the data contract of ``features.flight_features``.

Importing this package is cheap: it does not import pandera, ibis or dagster.
``contract`` (pandera + ibis) is imported on first use of one of its names, so
asset bodies can write ``from mlops_assets.features import validate_features``
inside the function; ``quarantine`` is plain SQL text.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from mlops_assets.features.quarantine import (
    clean_rows_sql,
    ensure_quarantine_table,
    partition_where,
)

_CONTRACT_NAMES = frozenset(  # loaded from .contract on first access
    {
        "FlightFeatures",
        "Rule",
        "ContractResult",
        "contract_rules",
        "rule_names",
        "validate_features",
        "validate_table",
        "quarantine_failures",
    }
)

__all__ = [  # noqa: RUF022 - the lazily loaded names come last
    "clean_rows_sql",
    "ensure_quarantine_table",
    "partition_where",
    "ContractResult",
    "FlightFeatures",
    "Rule",
    "contract_rules",
    "quarantine_failures",
    "rule_names",
    "validate_features",
    "validate_table",
]


def __getattr__(name: str) -> Any:
    if name in _CONTRACT_NAMES:
        return getattr(import_module("mlops_assets.features.contract"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
