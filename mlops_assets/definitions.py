"""The code location: every domain's assets, checks, jobs, sensors and schedules."""

import dagster as dg

from mlops_assets.defs.features import definitions as features
from mlops_assets.defs.ingestion import definitions as ingestion
from mlops_assets.defs.monitoring import definitions as monitoring
from mlops_assets.defs.training import definitions as training
from mlops_assets.defs.transform import definitions as transform
from mlops_assets.resources import default_resources

defs = dg.Definitions.merge(
    ingestion.defs,
    transform.defs,
    features.defs,
    training.defs,
    monitoring.defs,
    dg.Definitions(resources=default_resources()),
)
