"""The year-in-review report: one self-contained HTML page per user and year.

Everything is inline (CSS, charts as base64 PNG data URIs), so the file can be mailed,
opened offline or put anywhere. The page is a single column with a max width, big
headline numbers as cards, then the charts and top-10 tables, readable on a phone.
Every string that came from a user's history is HTML-escaped.
"""

from __future__ import annotations

import base64
import contextlib
import os
import tempfile
from html import escape
from pathlib import Path

from mca_pipeline.analysis.charts import CHARTS, TOP_N, ReportData

CSS = """
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;background:#f4f5f7;color:#222;font:16px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:760px;margin:0 auto;padding:16px}
h1{font-size:1.9rem;line-height:1.2;margin:.5rem 0 .25rem}
h2{font-size:1.35rem;margin:2rem 0 .75rem}
.sub{color:#666;margin:0 0 1rem;overflow-wrap:anywhere}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:12px}
.card{background:#fff;border-radius:12px;padding:14px 16px;box-shadow:0 1px 3px rgba(0,0,0,.08);min-width:0}
.card .value{display:block;font-size:1.9rem;font-weight:700;line-height:1.15;overflow-wrap:anywhere}
.card .label{display:block;color:#666;font-size:.9rem}
.empty{background:#fff;border-radius:12px;padding:20px;font-size:1.2rem;text-align:center}
figure{margin:0;background:#fff;border-radius:12px;padding:8px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
figure img{display:block;width:100%;height:auto}
table{width:100%;border-collapse:collapse;background:#fff;border-radius:12px;overflow:hidden;table-layout:fixed}
th,td{padding:8px 10px;text-align:left;border-bottom:1px solid #eee;overflow-wrap:anywhere;vertical-align:top}
th{background:#fafafa;font-size:.85rem;color:#555}
td.n,th.n{text-align:right;width:5.5em}
td.rank,th.rank{width:3.4em;color:#888;overflow-wrap:normal;white-space:nowrap}
ul.facts{background:#fff;border-radius:12px;padding:12px 16px 12px 32px;margin:0}
footer{color:#888;font-size:.85rem;margin:2rem 0 1rem;overflow-wrap:anywhere}
"""


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _hours(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _card(value: str, label: str) -> str:
    return f'<div class="card"><span class="value">{_e(value)}</span><span class="label">{_e(label)}</span></div>'


def _headline_cards(data: ReportData) -> str:
    top = data.top_creators[0][0] if data.top_creators else "—"
    streak = data.longest_streak_days
    cards = [
        _card(_hours(data.total_hours), "hours in total"),
        _card(f"{data.real_plays:,}", "plays"),
        _card(top, "top artist / creator"),
        _card(f"{streak} day" + ("" if streak == 1 else "s"), "longest streak"),
        _card(f"{data.binge_sessions:,}", "binge sessions"),
    ]
    return '<section class="cards" id="headline">' + "".join(cards) + "</section>"


def _table(caption: str, headers: list[str], rows: list[list[str]], numeric: set[int]) -> str:
    if not rows:
        return ""
    head = '<th class="rank">#</th>' + "".join(
        f'<th class="n">{_e(h)}</th>' if i in numeric else f"<th>{_e(h)}</th>" for i, h in enumerate(headers)
    )
    body = []
    for rank, row in enumerate(rows[:TOP_N], start=1):
        cells = "".join(
            f'<td class="n">{_e(c)}</td>' if i in numeric else f"<td>{_e(c)}</td>" for i, c in enumerate(row)
        )
        body.append(f'<tr><td class="rank">{rank}</td>{cells}</tr>')
    return (
        f"<h2>{_e(caption)}</h2><table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"
    )


def _facts(data: ReportData) -> str:
    facts = []
    if data.current_streak_days:
        facts.append(
            f"Current streak: {data.current_streak_days} day" + ("" if data.current_streak_days == 1 else "s")
        )
    if data.longest_binge is not None:
        series, episodes = data.longest_binge
        facts.append(f"Longest binge: {episodes} episodes of {series} in one sitting")
    if data.skip_share is not None:
        facts.append(f"Skipped: {data.skip_share:.0%} of the plays whose source reports skips")
    if data.music_rows and data.music_rows != data.real_plays:
        facts.append(
            f"{data.music_rows:,} music rows from all sources, counted once across sources as {data.real_plays:,} plays"
        )
    if data.hours_by_type:
        split = ", ".join(
            f"{t} {_hours(h)} h" for t, h in sorted(data.hours_by_type.items(), key=lambda kv: -kv[1])
        )
        facts.append(f"By media type: {split}")
    if not facts:
        return ""
    return '<h2>More numbers</h2><ul class="facts">' + "".join(f"<li>{_e(f)}</li>" for f in facts) + "</ul>"


def render_report(data: ReportData) -> str:
    """The whole report as one self-contained HTML page."""
    period = data.period
    title = f"Your {period} in media" if data.year is not None else "Your media, all time"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)} · {_e(data.user_id)}</title>",
        f"<style>{CSS}</style></head><body><main>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="sub">{_e(data.user_id)} · times in {_e(data.time_zone)}</p>',
    ]
    if data.is_empty:
        empty = f"No plays in {period} yet." if data.year is not None else "No plays yet."
        parts.append(
            f'<p class="empty" id="empty">{_e(empty)} Connect a source or drop an export in the inbox, '
            "and this page fills in after the next run.</p>"
        )
    parts.append(_headline_cards(data))
    for key, heading, draw in CHARTS:
        png = draw(data)
        parts.append(
            f'<h2>{_e(heading)}</h2><figure id="chart-{_e(key)}"><img alt="{_e(heading)}, {_e(period)}" '
            f'src="{_data_uri(png)}"></figure>'
        )
    parts.append(
        _table(
            "Top 10 artists & creators",
            ["Artist / creator", "plays", "hours"],
            [[name, f"{plays:,}", _hours(hours)] for name, plays, hours in data.top_creators],
            {1, 2},
        )
    )
    parts.append(
        _table(
            "Top 10 titles",
            ["Title", "plays", "hours"],
            [[name, f"{plays:,}", _hours(hours)] for name, plays, hours in data.top_titles],
            {1, 2},
        )
    )
    parts.append(_table("Top 10 tags", ["Tag", "plays"], [[tag, f"{n:,}"] for tag, n in data.top_tags], {1}))
    platforms = sorted(data.hours_by_platform.items(), key=lambda kv: (-kv[1], kv[0]))
    parts.append(
        _table("Hours per platform", ["Platform", "hours"], [[p, _hours(h)] for p, h in platforms], {1})
    )
    parts.append(_facts(data))
    parts.append(
        "<footer>Made by mca_pipeline from your own history; nothing here left your machine.</footer>"
    )
    parts.append("</main></body></html>")
    return "\n".join(p for p in parts if p) + "\n"


def report_path(data_dir: Path, user_id: str, year: int | None) -> Path:
    """`data_dir/reports/<user>/<year>.html` (`all.html` without a year)."""
    if not user_id or user_id in {".", ".."} or any(c in user_id for c in "/\\\0"):
        raise ValueError(f"user id {user_id!r} cannot be used as a folder name")
    return Path(data_dir) / "reports" / user_id / f"{year if year is not None else 'all'}.html"


def write_report(data: ReportData, data_dir: Path) -> Path:
    """Render and write the report atomically (temp file in the same folder + rename)."""
    target = report_path(data_dir, data.user_id, data.year)
    target.parent.mkdir(parents=True, exist_ok=True)
    html = render_report(data)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(html)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
    return target
