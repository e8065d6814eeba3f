"""dbt layer: staging views (unpartitioned) and the incremental models (daily partitions)."""


import json
from collections.abc import Mapping
from typing import Any

import dagster as dg
from dagster_dbt import (
    DagsterDbtTranslator,
    DagsterDbtTranslatorSettings,
    DbtCliResource,
    DbtProject,
    dbt_assets,
)

from mlops_assets.defs.transform.project import dbt_project
from mlops_assets.partitions import daily_partitions, follow_upstream
from mlops_assets.resources import WAREHOUSE_POOL, WarehouseResource

INCREMENTAL = "config.materialized:incremental"


class MlopsDbtTranslator(DagsterDbtTranslator):
    """Sources map onto the raw assets (via ``meta.dagster.asset_key``); groups follow folders."""

    def get_group_name(self, dbt_resource_props: Mapping[str, Any]) -> str | None:
        fqn = dbt_resource_props.get("fqn", [])
        if dbt_resource_props.get("resource_type") == "model" and len(fqn) > 2:
            return fqn[1]
        return super().get_group_name(dbt_resource_props)

    def get_asset_key(self, dbt_resource_props: Mapping[str, Any]) -> dg.AssetKey:
        if dbt_resource_props.get("resource_type") in ("model", "seed", "snapshot"):
            return dg.AssetKey(dbt_resource_props["name"])  # fct_flights, not marts/fct_flights
        return super().get_asset_key(dbt_resource_props)

    def get_asset_spec(self, manifest, unique_id, project):
        spec = super().get_asset_spec(manifest, unique_id, project)
        props = manifest["nodes"].get(unique_id, {})
        if props.get("config", {}).get("materialized") == "incremental":
            # Staging models are views (always current), so raw partitions flow straight into
            # the incremental models: say which raw days each model's day reads, in the graph.
            raw_deps = raw_dependencies(props["name"], project)
            spec = spec.replace_attributes(
                deps=[*spec.deps, *(dg.AssetDep(k, partition_mapping=m) for k, m in raw_deps.items())],
                automation_condition=follow_upstream(),
            )
        return spec


def raw_dependencies(model: str, project: DbtProject | None) -> dict[dg.AssetKey, dg.PartitionMapping | None]:
    """The raw assets a daily partition D of an incremental model is declared to read.

    ``int_route_delay_history`` for day D reads the flights of D and of D - 28 .. D - 1, and no
    weather. Only the same-day edge is declared. Declaring the window
    (``TimeWindowPartitionMapping(start_offset=-28)``) is what Dagster's semantics call for, and
    was tried: every backfill of N days launched from the UI (one range for the roots) then also
    targets the 28 days *after* them downstream, days not landed yet, whose feature runs fail
    (seen in tests/test_services.py: a 3-day backfill ran flight_features for 2013-02-01).
    Until backfills can be told to stop at the landed days, the window is said here and in the
    README, and ``mlops_assets.staleness`` reads any mapping that is declared.
    ``fct_flights`` reads the flights and weather of its own day (and the route history of that
    day, a dbt ref the translator maps already).
    """
    if model == "int_route_delay_history":
        return {dg.AssetKey("raw_flights"): None}
    return {dg.AssetKey("raw_flights"): None, dg.AssetKey("raw_weather"): None}


translator = MlopsDbtTranslator(settings=DagsterDbtTranslatorSettings(enable_code_references=False))


def dbt_build_args(context: dg.AssetExecutionContext) -> list[str]:
    """``dbt build``, with tests limited to what this run builds when it builds a subset.

    dagster-dbt selects a subset's models by name with dbt's default *eager* indirect selection,
    which also runs every test with one parent in the subset: the relationships tests from
    ``stg_flights`` / ``fct_flights`` to ``stg_airlines`` / ``stg_airports`` then fail with
    "Table with name stg_flights does not exist" when a backfill builds the reference staging
    models first. ``buildable`` runs a test only when all its parents are built or upstream.
    """
    if not context.is_subset:
        return ["build"]
    checks_of_selected = {k for k in context.assets_def.check_keys if k.asset_key in context.selected_asset_keys}
    if not checks_of_selected <= set(context.selected_asset_check_keys):
        return ["build"]  # some checks deselected: dagster-dbt lists the tests itself (indirect selection off)
    return ["build", "--indirect-selection", "buildable"]


def build_dbt_assets(project: DbtProject) -> tuple[dg.AssetsDefinition, dg.AssetsDefinition]:
    """The two dbt asset definitions of ``project`` (the repo's, or a copy in tests).

    Code versions come from each model's SQL checksum in the project's manifest, so a
    copy with one edited model yields the same graph with that one code version changed.
    """

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        exclude=INCREMENTAL,
        dagster_dbt_translator=translator,
        name="dbt_staging_models",
        pool=WAREHOUSE_POOL,
    )
    def dbt_staging_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
    ):
        """Views over the raw tables: rename, cast, dedupe; dbt tests run as asset checks."""
        with warehouse.dbt_build():  # all models of the invocation land, or none
            events = list(dbt.cli(dbt_build_args(context), context=context).stream())
        yield from events

    @dbt_assets(
        manifest=project.manifest_path,
        project=project,
        select=INCREMENTAL,
        dagster_dbt_translator=translator,
        partitions_def=daily_partitions,
        backfill_policy=dg.BackfillPolicy.single_run(),
        name="dbt_daily_models",
        pool=WAREHOUSE_POOL,
    )
    def dbt_daily_models(
        context: dg.AssetExecutionContext, dbt: DbtCliResource, warehouse: WarehouseResource
    ):
        """Incremental models rebuilt for the partition window (dbt vars min_date / max_date)."""
        window = context.partition_time_window
        dbt_vars = {"min_date": window.start.date().isoformat(), "max_date": window.end.date().isoformat()}
        context.log.info(f"dbt build for {dbt_vars['min_date']} .. {dbt_vars['max_date']} (exclusive)")
        # A killed or failed run leaves the warehouse as it was: dbt builds into a copy that
        # replaces the warehouse only when every model and test passed (WarehouseResource.dbt_build).
        # The events are reported after the swap, so Dagster never records a model the warehouse
        # does not hold.
        with warehouse.dbt_build():
            args = [*dbt_build_args(context), "--vars", json.dumps(dbt_vars)]
            events = list(dbt.cli(args, context=context).stream())
        yield from events

    return dbt_staging_models, dbt_daily_models


dbt_staging_models, dbt_daily_models = build_dbt_assets(dbt_project)
