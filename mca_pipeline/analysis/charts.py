"""The year-in-review charts as PNGs, drawn with matplotlib (Agg, no display), for the
Dagster metadata: Markdown, where a chart is an image. The page draws the same charts as
SVG (svg_charts.py); what each chart shows is decided once, in report_data.py.

Each chart function takes a `ReportData` and returns the PNG file's bytes, 1000x600 px,
large type, fixed colours, a title that says what is shown. When there is nothing to draw,
a chart is still a picture: the title and a plain "Nothing in <year> yet" (or "Nothing
of this kind") in the middle, never an empty axis or an error.
"""

from __future__ import annotations

import contextlib
import functools
import io
from collections.abc import Callable, Iterable

from matplotlib import font_manager, rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ft2font import FT2Font
from matplotlib.ticker import MaxNLocator

from mca_pipeline.analysis.report_data import (
    CHART_SECTIONS,
    MUTED_COLOUR,
    TEXT_COLOUR,
    WEEKDAY_NAMES,
    Bars,
    Columns,
    ReportData,
    clock_heatmap,
    creator_bars,
    diet_columns,
    discovery_columns,
    empty_message,
    platform_bars,
    shorten,
)

WIDTH_IN, HEIGHT_IN, DPI = 10.0, 6.0, 100  # 1000 x 600 px
TITLE_SIZE = 24
LABEL_SIZE = 19
TICK_SIZE = 18
EMPTY_SIZE = 30
HEATMAP_CMAP = "YlOrRd"

#: Fonts tried in order, glyph by glyph (matplotlib falls back per glyph and, from 3.11,
#: shapes and orders Arabic, Hebrew and Indic text): DejaVu Sans (bundled with
#: matplotlib) for Latin, Greek and Cyrillic, then Debian's Noto fonts (packages
#: fonts-noto-core and fonts-noto-cjk, one CJK face covers Chinese, Japanese and Hangul)
#: and Symbola (fonts-symbola) for emoji: monochrome outlines, since matplotlib cannot
#: draw colour-bitmap emoji fonts. The README's set-up installs them; families that are
#: not installed are left out, so a chart still draws (with boxes for what is missing).
FONT_FALLBACK = (
    "DejaVu Sans",
    "Noto Sans",
    "Noto Sans CJK JP",
    "Noto Sans Arabic",
    "Noto Sans Hebrew",
    "Noto Sans Devanagari",
    "Noto Sans Bengali",
    "Noto Sans Gurmukhi",
    "Noto Sans Gujarati",
    "Noto Sans Tamil",
    "Noto Sans Telugu",
    "Noto Sans Kannada",
    "Noto Sans Malayalam",
    "Noto Sans Sinhala",
    "Noto Sans Thai",
    "Noto Sans Lao",
    "Noto Sans Khmer",
    "Noto Sans Myanmar",
    "Noto Sans Georgian",
    "Noto Sans Armenian",
    "Noto Sans Ethiopic",
    "Noto Sans Symbols",
    "Noto Sans Symbols2",
    "Symbola",
)


@functools.cache
def font_families() -> tuple[str, ...]:
    """The FONT_FALLBACK families installed on this machine, in order.

    matplotlib caches the system's fonts the first time it runs and never looks again,
    so fonts installed after that (the README's set-up, on a machine that had drawn a
    chart before) are added here, once per process."""
    manager = font_manager.fontManager
    known = {font.fname for font in manager.ttflist}
    for path in font_manager.findSystemFonts():
        if path not in known:
            with contextlib.suppress(RuntimeError, OSError, ValueError):  # a font FreeType cannot read
                manager.addfont(path)
    installed = {font.name for font in manager.ttflist}
    return tuple(name for name in FONT_FALLBACK if name in installed) or ("DejaVu Sans",)


@functools.cache
def _coverage() -> tuple[tuple[str, frozenset[int]], ...]:
    """Each installed fallback family with the characters it has, read once per process."""
    found = []
    for family in font_families():
        try:
            path = font_manager.findfont(FontProperties(family=family), fallback_to_default=False)
            found.append((family, frozenset(FT2Font(path).get_charmap())))
        except (ValueError, RuntimeError, OSError):  # listed but unreadable: left out
            continue
    return tuple(found)


def families_for(texts: Iterable[str]) -> list[str]:
    """The fallback families these texts need, in order: the first one, then each later
    family that has a character no earlier one has. matplotlib opens every family of the
    list for every text it draws, so a list of all two dozen costs most of a chart's time."""
    coverage = _coverage()
    if not coverage:
        return ["DejaVu Sans"]
    wanted = {ord(c) for text in texts for c in text} - coverage[0][1]
    families = [coverage[0][0]]
    for family, chars in coverage[1:]:
        if wanted & chars:
            families.append(family)
            wanted -= chars
    return families


def chart_texts(data: ReportData) -> list[str]:
    """Every string from the user's history that a chart may draw."""
    return [
        data.time_zone,
        *data.hours_by_platform,
        *(name for name, _, _ in data.top_creators),
        *(name for name, _, _ in data.top_creators_by_hours),
    ]


def _plain_text(draw: Callable[[ReportData], bytes]) -> Callable[[ReportData], bytes]:
    """Draw with every text taken as plain text, in every script: matplotlib would read
    what is between two `$` as math (an artist named `$$` or `$\\foo{$` would fail every
    report), and the default font alone has no CJK, Indic or emoji glyphs."""

    @functools.wraps(draw)
    def plain(data: ReportData) -> bytes:
        with rc_context({"text.parse_math": False, "font.family": families_for(chart_texts(data))}):
            return draw(data)

    return plain


def _new_figure() -> Figure:
    fig = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, facecolor="white")
    FigureCanvasAgg(fig)
    return fig


def _png(fig: Figure) -> bytes:
    fig.tight_layout()
    buffer = io.BytesIO()
    # Fixed size (no bbox_inches="tight"): every chart is exactly 1000x600 px. zlib level 1:
    # a tenth of the drawing time saved for files about 15 % larger (flat colours compress well).
    fig.savefig(buffer, format="png", dpi=DPI, facecolor="white", pil_kwargs={"compress_level": 1})
    return buffer.getvalue()


def _style(ax, title: str) -> None:  # type: ignore[no-untyped-def]
    ax.set_title(title, fontsize=TITLE_SIZE, color=TEXT_COLOUR, pad=14, loc="left")
    ax.tick_params(labelsize=TICK_SIZE, colors=TEXT_COLOUR)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def _empty(title: str, data: ReportData) -> bytes:
    fig = _new_figure()
    ax = fig.add_subplot()
    ax.set_axis_off()
    ax.set_title(title, fontsize=TITLE_SIZE, color=TEXT_COLOUR, pad=14, loc="left")
    message, hint = empty_message(data)
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=EMPTY_SIZE, color=MUTED_COLOUR)
    ax.text(0.5, 0.36, hint, ha="center", va="center", fontsize=LABEL_SIZE, color=MUTED_COLOUR)
    return _png(fig)


def _columns(data: ReportData, chart: Columns) -> bytes:
    if chart.is_empty:
        return _empty(chart.title, data)
    fig = _new_figure()
    ax = fig.add_subplot()
    x = list(range(len(chart.labels)))
    bottom = [0.0] * len(x)
    for stack in chart.stacks:
        bars = ax.bar(x, stack.values, bottom=bottom, color=stack.colour, label=stack.label, width=0.75)
        bottom = [b + v for b, v in zip(bottom, stack.values, strict=True)]
    if chart.value_labels:
        ax.bar_label(bars, labels=[f"{v:,.0f}" if v else "" for v in bottom], padding=3, fontsize=TICK_SIZE)
    if any(stack.label for stack in chart.stacks):
        ax.legend(fontsize=TICK_SIZE, frameon=False, loc="upper left")
    ax.set_xticks(x, chart.labels)
    ax.set_ylabel(chart.unit, fontsize=LABEL_SIZE, color=TEXT_COLOUR)
    if chart.value_labels:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max(chart.totals) * (1.18 if chart.value_labels else 1.15))
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    _style(ax, chart.title)
    return _png(fig)


def _horizontal_bars(data: ReportData, chart: Bars) -> bytes:
    if not chart.items:
        return _empty(chart.title, data)
    fig = _new_figure()
    ax = fig.add_subplot()
    names = [shorten(name) for name, _ in chart.items][::-1]
    values = [value for _, value in chart.items][::-1]
    bars = ax.barh(range(len(values)), values, color=chart.colours[::-1], height=0.7)
    ax.set_yticks(range(len(values)), names)
    # At least four bar slots, so one or two bars stay bar-shaped (kept at the top).
    ax.set_ylim(len(values) - 0.5 - max(len(values), 4), len(values) - 0.5)
    ax.set_xlabel(chart.unit, fontsize=LABEL_SIZE, color=TEXT_COLOUR)
    if chart.unit == "views":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0, max(values) * 1.18)
    fmt = "{:,.0f}" if all(v == int(v) for v in values) else "{:,.1f}"
    ax.bar_label(
        bars, labels=[fmt.format(v) for v in values], padding=4, fontsize=TICK_SIZE, color=TEXT_COLOUR
    )
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    _style(ax, chart.title)
    return _png(fig)


@_plain_text
def hours_by_month_png(data: ReportData) -> bytes:
    """The media diet: hours per month, stacked by kind when the split is known."""
    return _columns(data, diet_columns(data))


@_plain_text
def hours_by_platform_png(data: ReportData) -> bytes:
    """Hours per platform (source), largest first, as horizontal bars."""
    return _horizontal_bars(data, platform_bars(data))


@_plain_text
def top_creators_png(data: ReportData) -> bytes:
    """The top artists/creators by hours (views when no time is known)."""
    return _horizontal_bars(data, creator_bars(data))


@_plain_text
def listening_clock_png(data: ReportData) -> bytes:
    """Views by weekday and hour of day (user's time zone) as a heatmap."""
    chart = clock_heatmap(data)
    if chart.peak <= 0:
        return _empty(chart.title, data)
    fig = _new_figure()
    ax = fig.add_subplot()
    image = ax.imshow(
        chart.grid, aspect="auto", cmap=HEATMAP_CMAP, vmin=0, vmax=chart.peak, interpolation="nearest"
    )
    ax.set_yticks(range(7), WEEKDAY_NAMES)
    ax.set_xticks(range(0, 24, 3), [f"{h:02d}:00" for h in range(0, 24, 3)])
    ax.set_xlabel("hour of day", fontsize=LABEL_SIZE, color=TEXT_COLOUR)
    bar = fig.colorbar(image, ax=ax, pad=0.02)
    bar.set_label("plays", fontsize=LABEL_SIZE, color=TEXT_COLOUR)
    bar.ax.tick_params(labelsize=TICK_SIZE)
    _style(ax, chart.title)
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    return _png(fig)


@_plain_text
def discoveries_png(data: ReportData) -> bytes:
    """New artists/creators heard for the first time, per month."""
    return _columns(data, discovery_columns(data))


_DRAW: dict[str, Callable[[ReportData], bytes]] = {
    "hours_by_month": hours_by_month_png,
    "hours_by_platform": hours_by_platform_png,
    "top_creators": top_creators_png,
    "listening_clock": listening_clock_png,
    "discoveries": discoveries_png,
}
# (key, section heading, function), in the order the report shows them.
CHARTS: tuple[tuple[str, str, Callable[[ReportData], bytes]], ...] = tuple(
    (key, heading, _DRAW[key]) for key, heading in CHART_SECTIONS
)


def render_charts(data: ReportData) -> dict[str, bytes]:
    """Every chart as PNG bytes, keyed as in CHARTS (for the Dagster metadata)."""
    return {key: draw(data) for key, _, draw in CHARTS}
