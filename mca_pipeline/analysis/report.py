"""The year-in-review report: one self-contained HTML page per user and year.

Everything is inline (CSS, charts as SVG drawn by svg_charts.py), so the file can be
mailed, opened offline or put anywhere, and the reader's browser draws every name in its
own script. The page is a single column with a max width, big
headline numbers as cards, then the charts and top-10 tables, readable on a phone.
Every string that came from a user's history is HTML-escaped.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from html import escape
from pathlib import Path

from mca_pipeline.analysis.report_data import CHART_SECTIONS, DIET_LABELS, TOP_N, ReportData
from mca_pipeline.analysis.svg_charts import Chart, render_svgs
from mca_pipeline.warehouse.metrics import VIEW_UNITS

#: What the top names of each view kind are, as a heading.
TOP_HEADINGS = {
    "music": "Top artists",
    "episode": "Top series",
    "video": "Top channels & creators",
    "podcast": "Top podcasts",
    "article": "Top authors & sites",
}
FULL_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

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
.est{color:#888;font-size:.8rem}
td.up{color:#1f7a3a}td.down{color:#a33}
figure{margin:0;background:#fff;border-radius:12px;padding:8px;box-shadow:0 1px 3px rgba(0,0,0,.08)}
figure svg{display:block;width:100%;height:auto;margin-top:4px}
figcaption{color:#666;font-size:.85rem;overflow-wrap:anywhere}
table{width:100%;border-collapse:collapse;background:#fff;border-radius:12px;overflow:hidden;table-layout:fixed}
th,td{padding:8px 10px;text-align:left;border-bottom:1px solid #eee;overflow-wrap:anywhere;vertical-align:top}
th{background:#fafafa;font-size:.85rem;color:#555}
td.n,th.n{text-align:right;width:6.2em}
th.n{overflow-wrap:normal}
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


def _card(value: str, label: str) -> str:
    return f'<div class="card"><span class="value">{_e(value)}</span><span class="label">{_e(label)}</span></div>'


def _count(n: int, kind: str) -> str:
    one, many = VIEW_UNITS.get(kind, ("view", "views"))
    return f"{n:,} {one if n == 1 else many}"


def views_line(data: ReportData) -> str:
    """'1,234 plays, 56 episodes, 12 videos · 81.5 hours (20.1 estimated)': every kind counted."""
    kinds = [k for k in VIEW_UNITS if data.views_by_kind.get(k)]
    counts = ", ".join(_count(data.views_by_kind[k], k) for k in kinds) or _count(data.real_plays, "music")
    hours = f"{_hours(data.total_hours)} hours"
    if data.estimated_hours >= 0.05:
        hours += f" ({_hours(data.estimated_hours)} estimated)"
    return f"{counts} · {hours}"


def _headline_cards(data: ReportData) -> str:
    top = data.top_creators_by_hours[0][0] if data.top_creators_by_hours else "—"
    streak = data.longest_streak_days
    estimated = data.estimated_hours >= 0.05
    cards = [
        _card(
            ("~" if estimated else "") + _hours(data.total_hours),
            f"hours in total, {_hours(data.estimated_hours)} of them estimated"
            if estimated
            else "hours in total",
        )
    ]
    kinds = [k for k in VIEW_UNITS if data.views_by_kind.get(k)] or ["music"]
    for kind in kinds:
        n = data.views_by_kind.get(kind, data.real_plays if kind == "music" else 0)
        one, many = VIEW_UNITS[kind]
        cards.append(_card(f"{n:,}", one if n == 1 else many))
    cards += [
        _card(top, "most time with"),
        _card(f"{streak} day" + ("" if streak == 1 else "s"), "longest streak"),
        _card(f"{data.binge_sessions:,}", "binge sessions"),
    ]
    return '<section class="cards" id="headline">' + "".join(cards) + "</section>"


def _figure(key: str, heading: str, chart: Chart, data: ReportData) -> str:
    caption = chart.title
    if chart.unit == "hours" and data.estimated_hours >= 0.05:
        caption += f" · {_hours(data.estimated_hours)} of the {_hours(data.total_hours)} hours estimated"
    return (
        f'<h2>{_e(heading)}</h2><figure id="chart-{_e(key)}"><figcaption>{_e(caption)}</figcaption>'
        f"{chart.svg}</figure>"
    )


def _table(caption: str, headers: list[str], rows: list[list[str]], numeric: set[int], key: str = "") -> str:
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
    table_id = f' id="{_e(key)}"' if key else ""
    return (
        f"<h2>{_e(caption)}</h2><table{table_id}><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def highlights(data: ReportData) -> list[str]:
    """The year in review in sentences: when you are most yourself, what you found, how
    the year compares with the one before, the longest binge; in the user's time zone."""
    lines = []
    if data.peak_slot is not None:
        weekday, hour, views = data.peak_slot
        lines.append(
            f"Most you: {FULL_WEEKDAYS[weekday]}s at {hour:02d}:00 ({views:,} started then, {data.time_zone})"
        )
    if data.busiest_day is not None:
        day, views, hours = data.busiest_day
        lines.append(f"Busiest day: {day}, {_hours(hours)} hours over {views:,} views")
    if data.longest_binge is not None:
        series, episodes = data.longest_binge
        lines.append(f"Longest binge: {episodes} episodes of {series} in one sitting")
    for name, kind, first, hours in data.new_favourites[:5]:
        label = {"episode": "series", "music": "artist", "video": "channel", "podcast": "podcast"}.get(
            kind, "name"
        )
        lines.append(f"New favourite: {name} ({label}, first on {first}; {_hours(hours)} h this year)")
    if data.top_genres:
        lines.append("Top genres: " + ", ".join(name for name, _, _ in data.top_genres[:5]))
    if data.top_moods:
        lines.append("Top moods: " + ", ".join(name for name, _, _ in data.top_moods[:3]))
    change = _year_change(data)
    if change:
        lines.append(change)
    return lines


def _against_last_year(data: ReportData) -> list[tuple[str, float, float]]:
    """(kind, hours the year before, hours this year) for each kind seen in either year;
    empty for all time or when the year before has nothing."""
    if data.year is None or not data.previous_year:
        return []
    return [
        (kind, data.previous_year.get(kind, (0, 0.0))[1], data.hours_by_kind.get(kind, 0.0))
        for kind in VIEW_UNITS
        if data.views_by_kind.get(kind) or kind in data.previous_year
    ]


def _year_change(data: ReportData) -> str:
    """'Against 2023: more series (+12.0 h), less music (-3.5 h)', biggest changes first."""
    pairs = _against_last_year(data)
    if not pairs or data.year is None:
        return ""
    deltas = [(now - before, kind) for kind, before, now in pairs if abs(now - before) >= 0.05]
    if not deltas:
        return f"Against {data.year - 1}: about the same as the year before"
    deltas.sort(key=lambda d: -abs(d[0]))
    parts = [
        f"{'more' if d > 0 else 'less'} {DIET_LABELS.get(kind, kind)} ({'+' if d > 0 else '-'}{_hours(abs(d))} h)"
        for d, kind in deltas
    ]
    return f"Against {data.year - 1}: " + ", ".join(parts)


def highlights_md(data: ReportData) -> str:
    """The highlights and the views per kind as Markdown, for the Dagster metadata."""
    lines = [f"**{data.period}**: {views_line(data)}", ""]
    lines += [f"- {line}" for line in highlights(data)]
    for kind, entries in data.top_by_kind.items():
        if entries:
            names = ", ".join(name for name, _, _ in entries[:3])
            lines.append(f"- {TOP_HEADINGS.get(kind, kind)}: {names}")
    return "\n".join(lines)


def views_table(data: ReportData) -> str:
    """Views and hours per kind, as a Markdown table."""
    rows = [
        f"| {DIET_LABELS.get(k, k)} | {_count(data.views_by_kind[k], k)} | {_hours(data.hours_by_kind.get(k, 0.0))} |"
        for k in VIEW_UNITS
        if data.views_by_kind.get(k)
    ]
    return "\n".join(["| media | views | hours |", "|---|---|---|", *rows]) if rows else "nothing yet"


def _comparison(data: ReportData) -> str:
    """This year against the one before, per kind (only when the year before has data)."""
    pairs = _against_last_year(data)
    if not pairs or data.year is None:
        return ""
    rows = []
    for kind, before_hours, now_hours in pairs:
        delta = now_hours - before_hours
        cls = "up" if delta > 0.05 else "down" if delta < -0.05 else ""
        sign = "+" if delta > 0 else "\u2212" if delta < 0 else "\u00b1"
        rows.append(
            f'<tr><td>{_e(DIET_LABELS.get(kind, kind))}</td><td class="n">{_e(_hours(before_hours))}</td>'
            f'<td class="n">{_e(_hours(now_hours))}</td>'
            f'<td class="n {cls}">{sign}{_e(_hours(abs(delta)))}</td></tr>'
        )
    return (
        f'<h2>{_e(data.year)} against {_e(data.year - 1)}</h2><table id="comparison"><thead><tr><th>media</th>'
        f'<th class="n">{_e(data.year - 1)} h</th><th class="n">{_e(data.year)} h</th><th class="n">change</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table>"
    )


def _ranked(
    caption: str, header: str, entries: list[tuple[str, int, float]], key: str, kind: str = ""
) -> str:
    """A top list of (name, views, hours), views named by the kind when there is one."""
    unit = VIEW_UNITS[kind][1] if kind in VIEW_UNITS else "views"
    rows = [[name, f"{views:,}", _hours(hours)] for name, views, hours in entries]
    return _table(caption, [header, unit, "hours"], rows, {1, 2}, key=key)


def _facts(data: ReportData) -> str:
    facts = list(highlights(data))
    if data.current_streak_days:
        facts.append(
            f"Current streak: {data.current_streak_days} day" + ("" if data.current_streak_days == 1 else "s")
        )
    if data.skip_share is not None:
        facts.append(f"Skipped: {data.skip_share:.0%} of the plays whose source reports skips")
    if data.music_rows and data.music_rows != data.real_plays:
        facts.append(
            f"{data.music_rows:,} music rows from all sources, counted once across sources as {data.real_plays:,} plays"
        )
    if data.estimated_hours >= 0.05:
        share = (
            f"All {_hours(data.total_hours)} hours are"
            if data.estimated_hours >= data.total_hours - 0.005
            else f"{_hours(data.estimated_hours)} of the {_hours(data.total_hours)} hours are"
        )
        facts.append(
            f"{share} estimated: those views came without a time spent, so their length (or a typical "
            "length for the source) stands in"
        )
    if not facts:
        return ""
    return (
        '<h2>Your year in review</h2><ul class="facts" id="highlights">'
        + "".join(f"<li>{_e(f)}</li>" for f in facts)
        + "</ul>"
    )


def render_report(data: ReportData) -> str:
    """The whole report as one self-contained HTML page."""
    charts = render_svgs(data)
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
        empty = f"Nothing in {period} yet." if data.year is not None else "Nothing yet."
        parts.append(
            f'<p class="empty" id="empty">{_e(empty)} Connect a source or drop an export in the inbox, '
            "and this page fills in after the next run.</p>"
        )
    else:
        parts.append(f'<p class="sub" id="views">{_e(views_line(data))}</p>')
    parts.append(_headline_cards(data))
    parts.append(_facts(data))
    for key, heading in CHART_SECTIONS[:1]:
        parts.append(_figure(key, heading, charts[key], data))
    parts.append(_comparison(data))
    for kind in VIEW_UNITS:
        entries = data.top_by_kind.get(kind, [])
        parts.append(
            _ranked(f"{TOP_HEADINGS.get(kind, kind)}, by hours", "Name", entries, f"top-{kind}", kind)
        )
    parts.append(_ranked("Top genres", "Genre", data.top_genres, "top-genres"))
    parts.append(_ranked("Top moods", "Mood", data.top_moods, "top-moods"))
    for key, heading in CHART_SECTIONS[1:]:
        parts.append(_figure(key, heading, charts[key], data))
    parts.append(
        _ranked("Top 10 across everything", "Artist, series, channel…", data.top_creators, "top-all")
    )
    parts.append(_ranked("Top 10 titles", "Title", data.top_titles, "top-titles"))
    parts.append(
        _table(
            "Top 10 tags",
            ["Tag", "views"],
            [[tag, f"{n:,}"] for tag, n in data.top_tags],
            {1},
            key="top-tags",
        )
    )
    platforms = sorted(data.hours_by_platform.items(), key=lambda kv: (-kv[1], kv[0]))
    parts.append(
        _table("Hours per platform", ["Platform", "hours"], [[p, _hours(h)] for p, h in platforms], {1})
    )
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
    write_atomically(target, render_report(data))
    return target


def write_atomically(target: Path, text: str) -> None:
    """Write `text` to `target` through a temp file in the same folder and a rename, so a
    reader sees the old file or the new one, never half of one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp_name, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
        raise
