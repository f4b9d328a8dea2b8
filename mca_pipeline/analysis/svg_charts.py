"""The year-in-review charts as inline SVG, for the page.

Why SVG and not the PNGs of charts.py: the browser draws the text, so every script
renders with the reader's own fonts (per-glyph fallback, colour emoji, shaping and
bidi), the text is selectable and read out by screen readers, and a page costs no
matplotlib: drawing the five charts takes milliseconds rather than half a second, and
the page no longer imports matplotlib at all.

The charts are laid out on a 400-unit-wide canvas and scaled to the column, so on a
390 px phone a unit is about a pixel and the type stays readable. Names sit above their
bars rather than beside them, so a long name cannot squeeze its bar. SVG text does not
wrap or measure itself, so names are cut by an estimate of their width (wide East Asian
characters count twice). Every value is also in the element's tooltip (`<title>`).
"""

from __future__ import annotations

import math
import unicodedata
from html import escape
from typing import NamedTuple

from mca_pipeline.analysis.report_data import (
    MONTH_NAMES,
    MUTED_COLOUR,
    TEXT_COLOUR,
    WEEKDAY_NAMES,
    Bars,
    Columns,
    Heatmap,
    ReportData,
    clock_heatmap,
    creator_bars,
    diet_columns,
    discovery_columns,
    empty_message,
    platform_bars,
)

WIDTH = 400
LABEL = 13  # names and legend
SMALL = 11  # axis ticks and values
GRID_COLOUR = "#e4e4e4"
ZERO_COLOUR = "#f2f2f2"
#: ColorBrewer's YlOrRd in nine steps, the scale the PNG heatmap uses (matplotlib's "YlOrRd").
HEAT_STEPS = (
    "#ffffcc",
    "#ffeda0",
    "#fed976",
    "#feb24c",
    "#fd8d3c",
    "#fc4e2a",
    "#e31a1c",
    "#bd0026",
    "#800026",
)
#: How many half-width characters a name above a bar may take (about 300 units at 13 px).
NAME_WIDTH = 46


def _e(value: object) -> str:
    return escape(str(value), quote=True)


def _number(value: float) -> str:
    if value == int(value) or value >= 100:
        return f"{value:,.0f}"
    return f"{value:,.1f}"


def fit(name: str, width: float = NAME_WIDTH) -> str:
    """`name` on one line, cut with an ellipsis once its estimated width passes `width`
    lower-case Latin letters (a capital or a digit counts 1.4, a CJK character or an
    emoji 2)."""
    name = " ".join(str(name).split())
    used = 0.0
    for i, char in enumerate(name):
        wide = unicodedata.east_asian_width(char) in "WF"
        used += 2 if wide else 1.4 if char.isupper() or char.isdigit() else 1
        if used > width:
            return name[: max(i - 1, 0)] + "…"
    return name


def _svg(title: str, height: float, body: list[str]) -> str:
    return (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height:.0f}" role="img" aria-label="{_e(title)}" '
        f'xmlns="http://www.w3.org/2000/svg">{"".join(body)}</svg>'
    )


def _text(
    x: float, y: float, text: str, size: int = SMALL, anchor: str = "start", colour: str = TEXT_COLOUR
) -> str:
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" fill="{colour}">'
        f"{_e(text)}</text>"
    )


def _empty(title: str, data: ReportData) -> str:
    message, hint = empty_message(data)
    return _svg(
        title,
        150,
        [
            _text(WIDTH / 2, 70, message, 18, "middle", MUTED_COLOUR),
            _text(WIDTH / 2, 96, hint, SMALL + 1, "middle", MUTED_COLOUR),
        ],
    )


def bars_svg(data: ReportData, chart: Bars) -> str:
    """Horizontal bars, best first, each name above its bar and the value after it."""
    if not chart.items:
        return _empty(chart.title, data)
    row, longest = 36, max(value for _, value in chart.items)
    room = WIDTH - 78  # the widest value ("1,234 hours") still fits after the longest bar
    body = []
    for i, ((name, value), colour) in enumerate(zip(chart.items, chart.colours, strict=True)):
        top = 4 + i * row
        length = max(room * value / longest, 2.0)
        shown = _number(value) + (f" {chart.unit}" if i == 0 else "")
        body.append(
            f"<g><title>{_e(name)}: {_e(_number(value))} {_e(chart.unit)}</title>"
            + _text(2, top + 13, fit(name), LABEL)  # 2: room for a first glyph that leans left
            + f'<rect x="0" y="{top + 18}" width="{length:.1f}" height="13" rx="2" fill="{colour}"/>'
            + _text(length + 5, top + 29, shown, SMALL)
            + "</g>"
        )
    return _svg(chart.title, 8 + len(chart.items) * row, body)


def _ticks(top: float, whole: bool, count: int = 4) -> list[float]:
    """Round steps from 0 up to at least `top` (1, 2, 2.5 or 5 times a power of ten;
    whole numbers only when `whole`, for counts)."""
    raw = max(top / count, 1) if whole else top / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(
        m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw and (not whole or m * power % 1 == 0)
    )
    return [step * i for i in range(math.ceil(top / step - 1e-9) + 1)]


def _column_labels(labels: list[str], slot: float) -> list[tuple[str, str]]:
    """(month, year) under each column. A year: Jan..Dec. All time ("Mar\n2021"): the month
    names while they fit (a year or less), and the year under the first column and each
    January, leaving out those that would touch the one before."""
    if not any("\n" in label for label in labels):
        return [(label, "") for label in labels]
    shown, last = [], -math.inf
    for i, label in enumerate(labels):
        month, _, year = label.partition("\n")
        x = i * slot
        with_year = (i == 0 or month == MONTH_NAMES[0]) and x - last >= 34
        last = x if with_year else last
        shown.append((month if len(labels) <= 12 else "", year if with_year else ""))
    return shown


def columns_svg(data: ReportData, chart: Columns) -> str:
    """Vertical columns per month, stacked by kind, with a legend when the layers are named."""
    if chart.is_empty:
        return _empty(chart.title, data)
    named = [s for s in chart.stacks if s.label]
    left, right, plot_height = 36, 4, 170
    top = 26 + (14 if chart.value_labels else 0)  # a row for the unit and the legend
    plot_width = WIDTH - left - right
    ticks = _ticks(max(chart.totals), whole=chart.value_labels)
    scale = plot_height / ticks[-1]
    slot = plot_width / len(chart.labels)
    body = [_text(0, 14.5, chart.unit, SMALL, "start", MUTED_COLOUR)]
    x = 8.0 * len(chart.unit) + 14
    for stack in named:  # the legend, in one row
        body.append(f'<rect x="{x:.1f}" y="4" width="12" height="12" rx="2" fill="{stack.colour}"/>')
        body.append(_text(x + 16, 14.5, stack.label or "", SMALL + 1))
        x += 16 + 8 * len(stack.label or "") + 16
    base = top + plot_height
    for tick in ticks:
        y = base - tick * scale
        body.append(
            f'<line x1="{left}" x2="{WIDTH - right}" y1="{y:.1f}" y2="{y:.1f}" stroke="{GRID_COLOUR}"/>'
        )
        body.append(_text(left - 4, y + 4, _number(tick), SMALL, "end", MUTED_COLOUR))
    labels = _column_labels(chart.labels, slot)
    bottom = 30 if any(year for _, year in labels) else 20
    for i, (month, total) in enumerate(zip(chart.labels, chart.totals, strict=True)):
        x0 = left + i * slot + slot * 0.125
        parts = [f"{s.label}: {_number(s.values[i])}" for s in named if s.values[i] > 0]
        tip = f"{month.replace(chr(10), ' ')}: {_number(total)} {chart.unit}" + (
            f" ({', '.join(parts)})" if len(parts) > 1 else ""
        )
        body.append(f"<g><title>{_e(tip)}</title>")
        y = base
        for stack in chart.stacks:
            height = stack.values[i] * scale
            if height > 0:
                y -= height
                body.append(
                    f'<rect x="{x0:.1f}" y="{y:.1f}" width="{slot * 0.75:.1f}" height="{height:.1f}" '
                    f'fill="{stack.colour}"/>'
                )
        if chart.value_labels and total > 0 and len(chart.labels) <= 24:
            body.append(_text(x0 + slot * 0.375, y - 4, _number(total), SMALL, "middle"))
        body.append("</g>")
        month_name, year = labels[i]
        if month_name:
            body.append(_text(x0 + slot * 0.375, base + 14, month_name, SMALL, "middle", MUTED_COLOUR))
        if year:
            body.append(_text(x0, base + 27, year, SMALL, "start", MUTED_COLOUR))
    return _svg(chart.title, base + bottom, body)


def _heat(views: int, peak: int) -> str:
    if views <= 0:
        return ZERO_COLOUR
    return HEAT_STEPS[min(len(HEAT_STEPS) - 1, math.ceil(views / peak * len(HEAT_STEPS)) - 1)]


def heatmap_svg(data: ReportData, chart: Heatmap) -> str:
    """Weekday rows by hour columns, darker for more views; a scale from fewer to the peak."""
    peak = chart.peak
    if peak <= 0:
        return _empty(chart.title, data)
    left, cell_h = 34, 20
    cell_w = (WIDTH - left) / 24
    body = []
    for day, row in enumerate(chart.grid):
        y = day * cell_h
        body.append(_text(0, y + 14, WEEKDAY_NAMES[day], SMALL, "start", MUTED_COLOUR))
        for hour, views in enumerate(row):
            body.append(
                f'<rect x="{left + hour * cell_w:.2f}" y="{y + 1}" width="{cell_w - 1:.2f}" height="{cell_h - 2}" '
                f'fill="{_heat(views, peak)}"><title>{WEEKDAY_NAMES[day]} {hour:02d}:00 · {views:,} views</title></rect>'
            )
    axis = 7 * cell_h + 14
    for hour in range(0, 24, 3):
        body.append(_text(left + hour * cell_w, axis, f"{hour:02d}", SMALL, "start", MUTED_COLOUR))
    legend = axis + 14
    body.append(_text(left, legend + 10, "fewer", SMALL, "start", MUTED_COLOUR))
    for i, colour in enumerate(HEAT_STEPS):
        body.append(f'<rect x="{left + 38 + i * 16}" y="{legend}" width="15" height="12" fill="{colour}"/>')
    body.append(
        _text(
            left + 38 + len(HEAT_STEPS) * 16 + 5,
            legend + 10,
            f"more (peak {peak:,} views)",
            SMALL,
            "start",
            MUTED_COLOUR,
        )
    )
    return _svg(chart.title, legend + 16, body)


class Chart(NamedTuple):
    title: str
    #: What the chart measures: "hours", "views", "first-time creators".
    unit: str
    svg: str


def render_svgs(data: ReportData) -> dict[str, Chart]:
    """Every chart, keyed as in report_data.CHART_SECTIONS."""
    diet, platforms, names = diet_columns(data), platform_bars(data), creator_bars(data)
    clock, found = clock_heatmap(data), discovery_columns(data)
    return {
        "hours_by_month": Chart(diet.title, diet.unit, columns_svg(data, diet)),
        "hours_by_platform": Chart(platforms.title, platforms.unit, bars_svg(data, platforms)),
        "top_creators": Chart(names.title, names.unit, bars_svg(data, names)),
        "listening_clock": Chart(clock.title, "views", heatmap_svg(data, clock)),
        "discoveries": Chart(found.title, found.unit, columns_svg(data, found)),
    }
