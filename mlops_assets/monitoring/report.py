"""Self-contained HTML drift report: a feature table and inline-SVG histograms (no JS/CSS links)."""

from __future__ import annotations

import html
import math
from datetime import UTC, datetime

from mlops_assets.monitoring.drift import DriftResult, FeatureDrift, Histogram

_REF_COLOR = "#4c78a8"
_CUR_COLOR = "#f58518"

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:24px;color:#222}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;margin:28px 0 6px}
.summary{margin:8px 0 18px;font-size:15px}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;color:#fff;font-weight:600}
.drift{background:#c0392b} .ok{background:#2e8b57} .info{background:#888}
table{border-collapse:collapse;font-size:14px} th,td{padding:5px 10px;border-bottom:1px solid #ddd}
th{text-align:left;background:#f4f4f4} td.num{text-align:right;font-variant-numeric:tabular-nums}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
.feature{display:inline-block;vertical-align:top;margin:0 18px 18px 0}
.feature h3{font-size:14px;margin:4px 0}
"""


def _fmt(value: float) -> str:
    if math.isnan(value):
        return "nan"
    if value == 0 or 1e-4 <= abs(value) < 1e6:
        return f"{value:.4f}"
    return f"{value:.3e}"


def _verdict(f: FeatureDrift) -> str:
    if not f.counts_in_share:
        cls = "drift" if f.drifted else "info"
        return f'<span class="badge {cls}">{"drift" if f.drifted else "no drift"} (info)</span>'
    cls = "drift" if f.drifted else "ok"
    return f'<span class="badge {cls}">{"drift" if f.drifted else "no drift"}</span>'


def _rule(f: FeatureDrift) -> str:
    op = "<=" if f.method == "ks" else ("<" if f.is_p_value else ">=")
    return f"drift if {'p' if f.is_p_value else 'value'} {op} {f.threshold:g}"


def histogram_svg(hist: Histogram, width: int = 420, height: int = 200) -> str:
    """Reference vs current shares per bin/category as an inline SVG (grouped bars)."""
    n = len(hist.reference)
    tot_r = sum(hist.reference) or 1
    tot_c = sum(hist.current) or 1
    shares = [(r / tot_r, c / tot_c) for r, c in zip(hist.reference, hist.current, strict=True)]
    top = max([max(s) for s in shares] + [1e-12])
    left, bottom, pad_top = 40, 40, 10
    plot_w, plot_h = width - left - 10, height - bottom - pad_top
    slot = plot_w / max(n, 1)
    bar = max(slot * 0.4, 0.5)
    base = pad_top + plot_h
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        + f'viewBox="0 0 {width} {height}" role="img">',
        f'<line x1="{left}" y1="{base}" x2="{left + plot_w}" y2="{base}" stroke="#999"/>',
        f'<line x1="{left}" y1="{pad_top}" x2="{left}" y2="{base}" stroke="#999"/>',
        f'<text x="{left - 4}" y="{pad_top + 4}" font-size="10" text-anchor="end">{top:.0%}</text>',
        f'<text x="{left - 4}" y="{base}" font-size="10" text-anchor="end">0%</text>',
    ]
    for i, (sr, sc) in enumerate(shares):
        x = left + i * slot + slot * 0.1
        for j, (s, color, label, count) in enumerate(
            (
                (sr, _REF_COLOR, "reference", hist.reference[i]),
                (sc, _CUR_COLOR, "current", hist.current[i]),
            )
        ):
            h = plot_h * s / top
            parts.append(
                f'<rect x="{x + j * bar:.2f}" y="{pad_top + plot_h - h:.2f}" width="{bar:.2f}" '
                f'height="{h:.2f}" fill="{color}"><title>{html.escape(_bin_label(hist, i))}: '
                f"{label} {count} ({s:.2%})</title></rect>"
            )
    # x labels: every k-th bin so they do not overlap
    step = max(1, round(n / 8))
    for i in range(0, n, step):
        x = left + i * slot + slot / 2
        label = html.escape(_bin_label(hist, i, short=True))
        parts.append(
            f'<text x="{x:.2f}" y="{pad_top + plot_h + 14}" font-size="10" '
            f'text-anchor="middle">{label}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _bin_label(hist: Histogram, i: int, short: bool = False) -> str:
    if hist.kind == "categorical":
        label = (hist.labels or ())[i]
        return label if not short or len(label) <= 8 else label[:7] + "…"
    assert hist.edges is not None
    lo, hi = hist.edges[i], hist.edges[i + 1]
    if short:
        return f"{lo:.4g}"
    close = "]" if i == len(hist.edges) - 2 else ")"
    return f"[{lo:.6g}, {hi:.6g}{close}"


def render_html(result: DriftResult, title: str = "Data drift report") -> str:
    """The whole report as one self-contained HTML string."""
    t = html.escape(title)
    drifted = result.dataset_drift
    n_primary = len(result.primary)
    n_drifted = len(result.drifted_features)
    rows = []
    for f in result.features:
        rows.append(
            "<tr>"
            f"<td>{html.escape(f.feature)}</td><td>{html.escape(f.column_type)}</td>"
            f"<td>{html.escape(f.method)}</td>"
            f'<td class="num">{_fmt(f.value)}</td><td class="num">{f.threshold:g}</td>'
            f"<td>{html.escape(_rule(f))}</td><td>{_verdict(f)}</td>"
            f'<td class="num">{f.n_reference}</td><td class="num">{f.n_current}</td>'
            "</tr>"
        )
    skipped = "".join(
        f"<li>{html.escape(k)}: {html.escape(v)}</li>" for k, v in result.skipped.items()
    )
    figures = []
    for name, hist in result.histograms.items():
        verdict = next((f for f in result.primary if f.feature == name), None)
        badge = _verdict(verdict) if verdict else ""
        figures.append(
            f'<div class="feature"><h3>{html.escape(name)} {badge}</h3>{histogram_svg(hist)}</div>'
        )
    generated = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{t}</title><style>{_CSS}</style></head>
<body>
<h1>{t}</h1>
<div class="summary">
<span class="badge {"drift" if drifted else "ok"}">{
        "dataset drift" if drifted else "no dataset drift"
    }</span>
&nbsp;{n_drifted} of {n_primary} features drifted (share {result.drift_share:.3f};
dataset drift when share &ge; {result.drift_share_threshold:g}).
Reference rows: {result.n_reference}, current rows: {result.n_current}.
</div>
<table>
<thead><tr><th>feature</th><th>type</th><th>method</th><th>value</th><th>threshold</th>
<th>rule</th><th>verdict</th><th>ref. n</th><th>cur. n</th></tr></thead>
<tbody>
{"".join(rows)}
</tbody></table>
{f"<p>Skipped:</p><ul>{skipped}</ul>" if skipped else ""}
<h2>Reference vs current distributions</h2>
<div class="legend">share of non-null rows:<span style="background:{_REF_COLOR}"></span>reference
<span style="background:{_CUR_COLOR}"></span>current</div>
{"".join(figures)}
<p style="color:#888;font-size:12px">Generated {generated}. Methods and thresholds follow
Evidently's DataDriftPreset defaults; p-value tests (ks, chisquare, z) flag drift on small
p-values, distances (wasserstein, jensenshannon, psi) on large values.</p>
</body></html>
"""
