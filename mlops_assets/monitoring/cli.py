"""``mlops drift``: drift of one Parquet file against another (register ``drift`` on a group)."""

from __future__ import annotations

import json
from pathlib import Path

import click
import duckdb

from mlops_assets.monitoring.drift import DriftError, DriftResult, compute_drift, parquet_relation
from mlops_assets.monitoring.report import render_html


def _parquet(ctx: click.Context, param: click.Parameter, value: str) -> str:
    path = Path(value)
    if not path.exists():
        raise click.BadParameter(f"file {value!r} does not exist", ctx=ctx, param=param)
    if path.is_dir():
        # a directory of parquet parts is fine for DuckDB
        if not any(path.rglob("*.parquet")):
            raise click.BadParameter(f"directory {value!r} has no .parquet files", ctx, param)
        return str(path / "**" / "*.parquet")
    return str(path)


def _columns(ctx: click.Context, param: click.Parameter, value: str | None) -> list[str] | None:
    if value is None:
        return None
    cols = [c.strip() for c in value.split(",") if c.strip()]
    if not cols:
        raise click.BadParameter("give at least one column name", ctx=ctx, param=param)
    return cols


def format_table(result: DriftResult) -> str:
    header = ("feature", "method", "value", "threshold", "verdict")
    rows = [
        (
            f.feature,
            f.method,
            f"{f.value:.6g}",
            f"{f.threshold:g}",
            ("DRIFT" if f.drifted else "ok") + ("" if f.counts_in_share else " (info)"),
        )
        for f in result.features
    ]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [line.format(*header), line.format(*("-" * w for w in widths))]
    out += [line.format(*r) for r in rows]
    n = len(result.primary)
    out.append("")
    out.append(
        f"drifted features: {len(result.drifted_features)}/{n} "
        f"(share {result.drift_share:.3f}, threshold {result.drift_share_threshold:g}) -> "
        + ("DATASET DRIFT" if result.dataset_drift else "no dataset drift")
    )
    for name, reason in result.skipped.items():
        out.append(f"skipped {name}: {reason}")
    return "\n".join(out)


@click.command("drift")
@click.option(
    "--reference",
    "reference",
    required=True,
    callback=_parquet,
    help="Reference Parquet file (or directory of Parquet files).",
)
@click.option(
    "--current",
    "current",
    required=True,
    callback=_parquet,
    help="Current Parquet file (or directory of Parquet files).",
)
@click.option(
    "--columns",
    callback=_columns,
    default=None,
    help="Comma-separated columns (default: every shared numeric/string/boolean column).",
)
@click.option(
    "--categorical",
    callback=_columns,
    default=None,
    help="Comma-separated columns to treat as categorical.",
)
@click.option("--psi", is_flag=True, help="Add a PSI row per feature (informative only).")
@click.option(
    "--drift-share",
    type=click.FloatRange(0, 1),
    default=0.5,
    show_default=True,
    help="Dataset drift when the share of drifted features is at least this.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--html",
    "html_out",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Also write a self-contained HTML report here.",
)
def drift(
    reference: str,
    current: str,
    columns: list[str] | None,
    categorical: list[str] | None,
    psi: bool,
    drift_share: float,
    as_json: bool,
    html_out: str | None,
) -> None:
    """Per-feature data drift of CURRENT against REFERENCE (Evidently's default tests)."""
    con = duckdb.connect()
    try:
        try:
            result = compute_drift(
                con,
                parquet_relation(reference),
                parquet_relation(current),
                columns=columns,
                categorical=categorical,
                psi=psi,
                drift_share=drift_share,
            )
        except DriftError as e:
            if "unknown column" in str(e):
                raise click.BadParameter(str(e), param_hint="--columns") from e
            raise click.ClickException(str(e)) from e
    finally:
        con.close()
    if html_out:
        title = f"Drift: {Path(current).name} vs {Path(reference).name}"
        Path(html_out).write_text(render_html(result, title), encoding="utf-8")
    if as_json:
        click.echo(json.dumps(result.to_dict()))
    else:
        click.echo(format_table(result))
        if html_out:
            click.echo(f"HTML report: {html_out}")
