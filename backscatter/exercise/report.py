"""The score report: ``report.json`` (every figure) and a self-contained ``report.html``.

The HTML page holds its charts as inline SVG (per-class hit rates, the ROC-space point, decision
times, and the trainee's trend across exercises), so it opens anywhere with no other files.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from backscatter.exercise import svg
from backscatter.exercise.score import Score

CSS = """
body { font-family: sans-serif; margin: 24px; color: #1a202c; max-width: 1100px; }
h1 { font-size: 22px; margin-bottom: 4px; } h2 { font-size: 16px; margin-top: 28px; }
.sub { color: #4a5568; margin-top: 0; }
table { border-collapse: collapse; margin: 8px 0; } td, th { padding: 3px 10px;
  border-bottom: 1px solid #e2e8f0; text-align: left; font-size: 13px; }
th { background: #f7fafc; } .num { text-align: right; font-variant-numeric: tabular-nums; }
.charts { display: flex; flex-wrap: wrap; gap: 12px; } .charts svg { border: 1px solid #e2e8f0; }
.hit { color: #2f855a; } .miss { color: #c53030; } .fa { color: #c05621; } .cr { color: #4a5568; }
.note { color: #718096; font-size: 12px; }
"""


def _fmt(v: float | None, spec: str = ".3f") -> str:
    return "n/a" if v is None else format(v, spec)


def _pct(v: float | None) -> str:
    return "n/a" if v is None else f"{v:.1%}"


def write_report(
    score: Score, out_dir: str | Path, *, trend: Sequence[dict[str, Any]] = ()
) -> tuple[Path, Path]:
    """Write ``report.json`` and ``report.html`` into ``out_dir``; returns both paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    data = score.to_dict()
    data["trend"] = [dict(r) for r in trend]
    json_path = out / "report.json"
    json_path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")
    html_path = out / "report.html"
    html_path.write_text(render_html(score, trend=trend), encoding="utf-8")
    return json_path, html_path


def render_html(score: Score, *, trend: Sequence[dict[str, Any]] = ()) -> str:
    s = score
    summary = [
        ("Threat scans", str(s.n_threat)),
        ("Clean scans", str(s.n_clean)),
        ("Hits / misses", f"{s.hits} / {s.misses}"),
        ("False alarms / correct rejections", f"{s.false_alarms} / {s.correct_rejections}"),
        ("Unanswered (counted as CLEAR)", str(s.unanswered)),
        ("Hit rate H", _pct(s.hit_rate)),
        ("False alarm rate F", _pct(s.false_alarm_rate)),
        ("Threat prevalence", _pct(s.prevalence)),
        ("d' = z(H) - z(F)", _fmt(s.d_prime, ".2f")),
        (f"d_a (z-ROC slope {s.zroc_slope:.2f}, {s.zroc_slope_source})", _fmt(s.d_a, ".2f")),
        ("A'", _fmt(s.a_prime)),
        ("Hits located (IoU >= 0.1 or centre inside)", f"{s.located} ({_pct(s.located_rate)})"),
        ("Mean / median decision time", f"{_fmt(s.mean_time_s, '.1f')} s / "
         f"{_fmt(s.median_time_s, '.1f')} s"),
    ]  # fmt: skip
    rows = "".join(f"<tr><th>{escape(k)}</th><td class='num'>{v}</td></tr>" for k, v in summary)
    classes = list(s.per_class)
    class_rows = "".join(
        f"<tr><td>{escape(c)}</td><td class='num'>{v.threats}</td><td class='num'>{v.hits}</td>"
        f"<td class='num'>{_pct(v.hit_rate)}</td><td class='num'>{v.located}</td></tr>"
        for c, v in s.per_class.items()
    )
    charts = [
        svg.bar_chart(
            "Hit rate per threat class", classes, [v.hit_rate for v in s.per_class.values()]
        ),
        svg.roc_point("Sensitivity (ROC space)", s.hit_rate, s.false_alarm_rate),
        svg.histogram(
            "Decision times", [r["seconds"] for r in s.per_scan if r["seconds"] is not None]
        ),
    ]
    trend_rows = ""
    if trend:
        labels = [f"#{i + 1}" for i in range(len(trend))]
        charts.append(
            svg.line_chart(
                f"Trend of {s.trainee} across exercises",
                labels,
                {
                    "hit rate": [r["hit_rate"] for r in trend],
                    "false alarms": [r["false_alarm_rate"] for r in trend],
                    "A'": [r["a_prime"] for r in trend],
                },
                ymax=1.0,
            )
        )
        trend_rows = "".join(
            f"<tr><td class='num'>#{i + 1}</td><td>{escape(str(r['exercise']))}</td>"
            f"<td>{escape(str(r['scored_at'])[:10])}</td><td class='num'>{_pct(r['hit_rate'])}</td>"
            f"<td class='num'>{_pct(r['false_alarm_rate'])}</td>"
            f"<td class='num'>{_fmt(r['d_prime'], '.2f')}</td>"
            f"<td class='num'>{_fmt(r['a_prime'])}</td></tr>"
            for i, r in enumerate(trend)
        )
        trend_rows = (
            "<h2>History</h2><table><tr><th>#</th><th>exercise</th><th>scored</th>"
            f"<th>H</th><th>F</th><th>d'</th><th>A'</th></tr>{trend_rows}</table>"
        )
    block_rows = ""
    if len(s.blocks) > 1:
        block_rows = "".join(
            f"<tr><td class='num'>{b['block']}</td><td class='num'>{b['scans']}</td>"
            f"<td class='num'>{_pct(b['prevalence'])}</td><td class='num'>{b['threat_scans']}</td>"
            f"<td class='num'>{_pct(b['hit_rate'])}</td><td class='num'>{_pct(b['miss_rate'])}</td>"
            f"<td class='num'>{_pct(b['false_alarm_rate'])}</td></tr>"
            for b in s.blocks
        )
        block_rows = (
            "<h2>Prevalence blocks</h2><table><tr><th>block</th><th>scans</th>"
            "<th>prevalence</th><th>threats</th><th>H</th><th>misses</th><th>F</th></tr>"
            f"{block_rows}</table>"
        )
    scan_rows = "".join(
        f"<tr><td class='num'>{r['index']}</td><td>{escape(str(r['file']))}</td>"
        f"<td>{escape(', '.join(r['classes'])) or '-'}</td><td>{escape(r['decision'])}</td>"
        f"<td class='{r['outcome']}'>{r['outcome'].upper()}</td>"
        f"<td>{'' if r['located'] is None else ('yes' if r['located'] else 'no')}</td>"
        f"<td class='num'>{_fmt(r['seconds'], '.1f')}</td><td>{escape(r['note'])}</td></tr>"
        for r in s.per_scan
    )
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Exercise report: {escape(s.trainee)}</title>
<style>{CSS}</style></head><body>
<h1>Exercise report: {escape(s.trainee)}</h1>
<p class="sub">exercise {escape(s.exercise)} &middot; {s.n_threat + s.n_clean} scans</p>
<div class="charts">{"".join(charts)}</div>
<h2>Summary</h2><table>{rows}</table>
<p class="note">d' uses corrected rates: {escape(s.correction)}
(H {s.hit_rate_corrected:.4f}, F {s.false_alarm_rate_corrected:.4f}).
A' (Grier 1971) uses the raw rates. d_a (Simpson &amp; Fitter 1973) allows unequal
variances: its z-ROC slope is fitted through the ALARM and ALARM-or-INSPECT points when they
differ, else assumed 1 (then d_a = d').</p>
<h2>Per threat class</h2>
<table><tr><th>class</th><th>threats</th><th>hits</th><th>hit rate</th><th>located</th></tr>
{class_rows}</table>
{block_rows}
{trend_rows}
<h2>Per scan</h2>
<table><tr><th>#</th><th>file</th><th>threat</th><th>decision</th><th>outcome</th>
<th>located</th><th>time (s)</th><th>note</th></tr>{scan_rows}</table>
</body></html>
"""
