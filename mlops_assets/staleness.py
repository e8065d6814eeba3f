"""What is stale, transitively: ``mlops stale [--json]``.

Dagster decides staleness one hop at a time. Its resolver (``CachingStaleStatusResolver``, what
the UI shows) marks an asset partition STALE when its own code version changed since it was
materialized, or when an input's data version changed; an edited dbt model's *downstream* turns
stale only after the model is re-materialized with a new data version. Until then the UI shows
one stale node, although everything built from that model was built by the old SQL.

This module starts from Dagster's own verdicts and walks the asset graph downstream: every
materialized partition built (directly or through others) from a stale one is reported
``STALE`` too, with the cause ``UPSTREAM`` naming the stale asset it was built from. Partitions
map downstream as the graph declares: a daily partition to the same day of a daily child, or to
the days a :class:`~dagster.TimeWindowPartitionMapping` with an offset reaches; any partition
to an unpartitioned child; an unpartitioned asset to every partition of its children.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from dataclasses import asdict, dataclass, field
from typing import Any

import click

Node = tuple[str, str | None]  # (asset, partition key or None)


@dataclass
class StaleEntry:
    asset: str
    partition: str | None
    causes: list[str] = field(default_factory=list)  # "CODE: ...", "DATA: ...", "UPSTREAM: <asset>[<p>]"

    @property
    def direct(self) -> bool:
        return any(not c.startswith("UPSTREAM") for c in self.causes)


def _resolver(instance, graph):
    from dagster._core.asset_graph_view.asset_graph_view import AssetGraphView, TemporalContext
    from dagster._core.definitions.data_version import CachingStaleStatusResolver
    from dagster._time import get_current_datetime

    view = AssetGraphView(
        temporal_context=TemporalContext(effective_dt=get_current_datetime(), last_event_id=None),
        instance=instance,
        asset_graph=graph,
    )
    return CachingStaleStatusResolver(instance=instance, asset_graph=graph, loading_context=view)


def _materialized(instance, graph) -> dict[str, list[str | None]]:
    out: dict[str, list[str | None]] = {}
    for key in graph.materializable_asset_keys:
        name = key.to_user_string()
        if graph.get(key).is_partitioned:
            out[name] = sorted(instance.get_materialized_partitions(key))
        elif instance.get_latest_materialization_event(key) is not None:
            out[name] = [None]
    return out


def _day_offsets(graph, child, parent) -> range:
    """Which child days a parent day feeds: ``day + k`` for k in the returned range."""
    import dagster as dg

    mapping = graph.get_partition_mapping(child, parent)
    if isinstance(mapping, dg.TimeWindowPartitionMapping):
        # child day D reads parent days D+start_offset .. D+end_offset: parent day P feeds
        # child days P-end_offset .. P-start_offset
        return range(-mapping.end_offset, -mapping.start_offset + 1)
    return range(1)


def _downstream(graph, materialized: dict, node: Node) -> list[Node]:
    import dagster as dg

    asset, partition = node
    key = dg.AssetKey.from_user_string(asset)
    out: list[Node] = []
    for child in sorted(graph.get(key).child_keys, key=lambda k: k.to_user_string()):
        name = child.to_user_string()
        done = materialized.get(name, [])
        if not done:
            continue
        if not graph.get(child).is_partitioned:
            out.append((name, None))
        elif partition is None:
            out.extend((name, p) for p in done)
        else:
            day = dt.date.fromisoformat(partition)
            wanted = {(day + dt.timedelta(days=k)).isoformat() for k in _day_offsets(graph, child, key)}
            out.extend((name, p) for p in done if p in wanted)
    return out


def stale_report(instance, graph) -> list[StaleEntry]:
    """Every stale materialized (asset, partition): Dagster's own causes plus ``UPSTREAM`` ones."""
    resolver = _resolver(instance, graph)
    materialized = _materialized(instance, graph)
    import dagster as dg

    entries: dict[Node, StaleEntry] = {}
    for asset, partitions in materialized.items():
        key = dg.AssetKey.from_user_string(asset)
        for p in partitions:
            if resolver.get_status(key, p).value != "STALE":
                continue
            causes = sorted({f"{c.category.value}: {c.reason}" for c in resolver.get_stale_causes(key, p)})
            entries[(asset, p)] = StaleEntry(asset, p, causes)

    queue = deque(sorted(entries, key=lambda n: (n[0], n[1] or "")))
    while queue:
        node = queue.popleft()
        label = f"{node[0]}[{node[1]}]" if node[1] else node[0]
        for child in _downstream(graph, materialized, node):
            entry = entries.get(child)
            if entry is None:
                entry = entries[child] = StaleEntry(*child)
                queue.append(child)
            cause = f"UPSTREAM: {label}"
            if cause not in entry.causes and not entry.direct:
                entry.causes.append(cause)
    return sorted(entries.values(), key=lambda e: (e.asset, e.partition or ""))


def render(entries: list[StaleEntry]) -> str:
    if not entries:
        return "nothing is stale"
    by_asset: dict[str, list[StaleEntry]] = {}
    for e in entries:
        by_asset.setdefault(e.asset, []).append(e)
    lines = [f"{len(entries)} stale materializations in {len(by_asset)} assets"]
    for asset, es in by_asset.items():
        parts = [e.partition for e in es if e.partition]
        where = f" ({len(parts)} partitions: {parts[0]}..{parts[-1]})" if parts else ""
        first = es[0].causes[0] if es[0].causes else ""
        more = f" (+{len(es[0].causes) - 1} more)" if len(es[0].causes) > 1 else ""
        lines.append(f"  {asset}{where}: {first}{more}")
    return "\n".join(lines)


@click.command(name="stale", help="Stale assets, transitively: Dagster's own verdicts plus everything built from them.")
@click.option("--json", "as_json", is_flag=True, help="machine-readable output")
def stale(as_json: bool) -> None:
    import json

    import dagster as dg

    from mlops_assets.definitions import defs

    graph = defs.get_repository_def().asset_graph
    with dg.DagsterInstance.get() as instance:
        entries = stale_report(instance, graph)
    if as_json:
        data: list[dict[str, Any]] = [asdict(e) for e in entries]
        click.echo(json.dumps(data, indent=2))
    else:
        click.echo(render(entries))
