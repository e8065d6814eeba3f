"""The code location: every domain's assets, checks, jobs, sensors and schedules."""

import dagster as dg

from mlops_assets.defs.features import definitions as features
from mlops_assets.defs.ingestion import definitions as ingestion
from mlops_assets.defs.monitoring import definitions as monitoring
from mlops_assets.defs.training import definitions as training
from mlops_assets.defs.transform import definitions as transform
from mlops_assets.resources import default_resources
from mlops_assets.settings import get_settings

defs = dg.Definitions.merge(
    ingestion.defs,
    transform.defs,
    features.defs,
    training.defs,
    monitoring.defs,
    dg.Definitions(
        resources=default_resources(),
        # MLOPS_RUN_EXECUTOR=in_process: one process per run instead of one per step (warehouse
        # writers are serialized by the pool anyway); the default keeps Dagster's multiprocess.
        executor=dg.in_process_executor if get_settings().run_executor == "in_process" else None,
        sensors=[
            # evaluates every asset's AutomationCondition (follow_upstream); on by default
            dg.AutomationConditionSensorDefinition(
                "automation_sensor",
                target=dg.AssetSelection.all(),
                default_status=dg.DefaultSensorStatus.RUNNING,
                minimum_interval_seconds=30,
            )
        ],
    ),
)
