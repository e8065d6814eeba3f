"""Runs over a range of days (a backfill's, BackfillPolicy.multi_run) report each day as a run of
that day alone would: the raw assets and flight_features yield one AssetMaterialization per day
with the day's own data version, metadata and input provenance, and the feature contract is
checked and quarantined per day, with the days' figures in its one result (lineage reads them).
"""

from __future__ import annotations

import datetime as dt

import dagster as dg
import duckdb

from mlops_assets.core import landing

DAYS = [dt.date(2013, 1, 1), dt.date(2013, 1, 2), dt.date(2013, 1, 3)]
RANGE = {"dagster/asset_partition_range_start": DAYS[0].isoformat(),
         "dagster/asset_partition_range_end": DAYS[-1].isoformat()}
DAY = DAYS[1].isoformat()


def _run(platform, assets, selection, **kw):
    r = dg.materialize(assets, selection=selection, instance=platform.instance,
                       resources=platform.resources, raise_on_error=False, **kw)
    assert r.success, selection
    return r


def _latest(platform, asset: str, day: str):
    return platform.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(asset), asset_partitions=[day]), limit=1).records[0]


def _plain(md) -> dict:
    return {k: v.value for k, v in md.items()}


def test_a_ranged_run_reports_each_day_as_a_one_day_run_would(platform):
    from mlops_assets.definitions import defs
    from mlops_assets.lineage import _contract_check

    assets = [*defs.assets, *(defs.asset_checks or [])]
    landing.replay(platform.settings.landing_dir, DAYS)
    _run(platform, assets, ["raw_planes", "raw_airports", "raw_airlines"])

    # raw: the day alone, then the range: the same tags (the file's sha256 as data version) and metadata
    _run(platform, assets, ["raw_flights", "raw_weather"], partition_key=DAY)
    one = {a: _latest(platform, a, DAY) for a in ("raw_flights", "raw_weather")}
    ranged = _run(platform, assets, ["raw_flights", "raw_weather"], tags=RANGE)
    for asset, single in one.items():
        mats = {m.partition_key: m for m in platform.instance.fetch_materializations(
            dg.AssetKey(asset), limit=10).records if m.run_id == ranged.run_id}
        assert sorted(mats) == [d.isoformat() for d in DAYS]
        assert mats[DAY].asset_materialization.tags == single.asset_materialization.tags
        assert _plain(mats[DAY].asset_materialization.metadata) == _plain(single.asset_materialization.metadata)
        assert len({m.asset_materialization.tags["dagster/data_version"] for m in mats.values()}) == 3

    _run(platform, assets, ["stg_flights", "stg_weather", "stg_planes", "stg_airports", "stg_airlines"])
    _run(platform, assets, ["int_route_delay_history", "fct_flights"], tags=RANGE)

    # features: the same for the day, input provenance (fct_flights' data version) included
    _run(platform, assets, ["flight_features"], partition_key=DAY)
    single = _latest(platform, "flight_features", DAY)
    assert "dagster/input_data_version/fct_flights" in single.asset_materialization.tags
    ranged = _run(platform, assets, ["flight_features"], tags=RANGE)
    mats = {m.partition_key: m for m in platform.instance.fetch_materializations(
        dg.AssetKey("flight_features"), limit=10).records if m.run_id == ranged.run_id}
    assert sorted(mats) == [d.isoformat() for d in DAYS]
    assert mats[DAY].asset_materialization.tags == single.asset_materialization.tags
    assert _plain(mats[DAY].asset_materialization.metadata) == _plain(single.asset_materialization.metadata)
    (check,) = ranged.get_asset_check_evaluations()
    assert check.passed and sorted(check.metadata["partitions"].value) == [d.isoformat() for d in DAYS]
    lineage = _contract_check(platform.instance, DAY)
    assert lineage["status"] == "SUCCEEDED" and lineage["run_id"] == ranged.run_id
    assert lineage["n_rows"] == single.asset_materialization.metadata["dagster/row_count"].value

    # one bad row on the last day: that day alone fails and is quarantined, the others stay clean
    bad_day = DAYS[-1].isoformat()
    with duckdb.connect(str(platform.settings.warehouse_path)) as con:
        flight_id = con.execute(f"SELECT min(flight_id) FROM marts.fct_flights WHERE flight_date = DATE '{bad_day}'"
                                ).fetchone()[0]
        con.execute("UPDATE marts.fct_flights SET wind_speed = 500 WHERE flight_id = ?", [flight_id])
    ranged = _run(platform, assets, ["flight_features"], tags=RANGE)  # WARN: under 1% of the day's rows
    (check,) = ranged.get_asset_check_evaluations()
    days = check.metadata["partitions"].value
    assert not check.passed and check.severity == dg.AssetCheckSeverity.WARN
    assert [days[d.isoformat()]["passed"] for d in DAYS] == [True, True, False]
    assert days[bad_day]["n_failed_rows"] == 1 and days[bad_day]["quarantined_rows"] >= 1
    with duckdb.connect(str(platform.settings.warehouse_path), read_only=True) as con:
        quarantined = con.execute("SELECT partition_key, flight_id FROM features.flight_features_quarantine"
                                  ).fetchall()
    assert {q[0] for q in quarantined} == {bad_day} and {q[1] for q in quarantined} == {flight_id}
    assert _contract_check(platform.instance, bad_day)["status"] == "FAILED"
    assert _contract_check(platform.instance, DAY)["status"] == "SUCCEEDED"
