"""The year-in-review charts, drawn with matplotlib (Agg, no display) as PNG bytes.

Each chart function takes a `ReportData` and returns the PNG file's bytes. The charts are
sized and lettered to be read on a phone (1000x600 px, large type, fixed colours, titles
that say what is shown). When there is nothing to draw, a chart is still a picture: the
title and a plain "Nothing in <year> yet" (or "Nothing of this kind") in the middle, never an empty axis or an error.

`ReportData` is this module's own input, independent of the warehouse's metrics: the
caller (an adapter from `mca_pipeline.warehouse.metrics.Metrics`) fills it in.
"""

from __future__ import annotations

import contextlib
import functools
import io
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from matplotlib import font_manager, rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.ft2font import FT2Font
from matplotlib.ticker import MaxNLocator

WIDTH_IN, HEIGHT_IN, DPI = 10.0, 6.0, 100  # 1000 x 600 px
TITLE_SIZE = 24
LABEL_SIZE = 19
TICK_SIZE = 18
EMPTY_SIZE = 30
TEXT_COLOUR = "#222222"
MUTED_COLOUR = "#777777"
BAR_COLOUR = "#3b6fb6"
ACCENT_COLOUR = "#d9822b"
HEATMAP_CMAP = "YlOrRd"

# One fixed colour per media type (MediaType values), then a fallback cycle for others.
TYPE_COLOURS: dict[str, str] = {
    "music": "#3b6fb6",
    "episode": "#c44e52",
    "video": "#d9822b",
    "podcast": "#3a9d5d",
    "article": "#8e5bb5",
}
#: What each view kind is called in the media diet.
DIET_LABELS: dict[str, str] = {
    "music": "music",
    "episode": "series",
    "video": "video",
    "podcast": "podcasts",
    "article": "reading",
}
FALLBACK_COLOURS = ("#c44e52", "#8c8c3a", "#4c9fb5", "#b5834c", "#6b6b6b")
MONTH_NAMES = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
TOP_N = 10
MAX_LABEL = 24

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


@dataclass(frozen=True)
class ReportData:
    """Everything the charts and the report show for one user and one year (or all time).

    Hours are floats; months are "YYYY-MM" keys; `clock` maps (weekday 0=Monday, hour
    0-23 in the user's own time zone) to a number of plays; top lists are already sorted,
    best first. `hours_by_month_type` (month -> view kind -> hours) is optional: when it
    is given, the month chart is stacked by media type, otherwise it shows totals.
    """

    user_id: str
    year: int | None
    time_zone: str = "UTC"
    hours_by_platform: dict[str, float] = field(default_factory=dict)
    hours_by_type: dict[str, float] = field(default_factory=dict)
    hours_by_month: dict[str, float] = field(default_factory=dict)
    top_creators: list[tuple[str, int, float]] = field(default_factory=list)  # (name, plays, hours)
    #: The same, ranked by hours (empty: no time known, the chart ranks by plays).
    top_creators_by_hours: list[tuple[str, int, float]] = field(default_factory=list)
    top_titles: list[tuple[str, int, float]] = field(default_factory=list)  # (title, plays, hours)
    top_tags: list[tuple[str, int]] = field(default_factory=list)  # (tag, plays)
    clock: dict[tuple[int, int], int] = field(default_factory=dict)
    binge_sessions: int = 0
    longest_binge: tuple[str, int] | None = None  # (series, episodes)
    longest_streak_days: int = 0
    current_streak_days: int = 0
    discoveries_by_month: dict[str, int] = field(default_factory=dict)
    skip_share: float | None = None  # 0..1, None when no source says
    music_rows: int = 0
    real_plays: int = 0
    hours_by_month_type: dict[str, dict[str, float]] = field(default_factory=dict)
    #: Views per view kind (music, episode, video, podcast, article): every view counts,
    #: with or without a known length.
    views_by_kind: dict[str, int] = field(default_factory=dict)
    hours_by_kind: dict[str, float] = field(default_factory=dict)
    #: The part of the hours estimated from a length or a typical length.
    estimated_hours: float = 0.0
    #: Per kind, the names credited with most hours: artists, series, channels, podcasts, authors.
    top_by_kind: dict[str, list[tuple[str, int, float]]] = field(default_factory=dict)
    top_genres: list[tuple[str, int, float]] = field(default_factory=list)
    top_moods: list[tuple[str, int, float]] = field(default_factory=list)
    #: The year before, per kind: (views, hours); empty for all time or no data then.
    previous_year: dict[str, tuple[int, float]] = field(default_factory=dict)
    busiest_day: tuple[str, int, float] | None = None  # (ISO date, views, hours)
    new_favourites: list[tuple[str, str, str, float]] = field(
        default_factory=list
    )  # (name, kind, first, hours)

    @property
    def period(self) -> str:
        """ "2024", or "all time" when no year is set."""
        return str(self.year) if self.year is not None else "all time"

    @property
    def total_hours(self) -> float:
        for hours in (self.hours_by_platform, self.hours_by_type, self.hours_by_month):
            if hours:
                return float(sum(hours.values()))
        return 0.0

    @property
    def views(self) -> int:
        return sum(self.views_by_kind.values()) if self.views_by_kind else self.real_plays

    @property
    def is_empty(self) -> bool:
        return self.views == 0 and self.total_hours <= 0

    @property
    def peak_slot(self) -> tuple[int, int, int] | None:
        """(weekday 0=Monday, hour, views) of the busiest weekday-hour, the earliest of equals."""
        if not self.clock:
            return None
        (weekday, hour), views = min(self.clock.items(), key=lambda kv: (-kv[1], kv[0]))
        return (weekday, hour, views) if views > 0 else None


def _colour_for(name: str, known: dict[str, str], order: list[str]) -> str:
    if name in known:
        return known[name]
    others = [n for n in order if n not in known]
    return FALLBACK_COLOURS[others.index(name) % len(FALLBACK_COLOURS)] if name in others else BAR_COLOUR


def _shorten(label: str, limit: int = MAX_LABEL) -> str:
    label = " ".join(str(label).split())
    return label if len(label) <= limit else label[: limit - 1] + "…"


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
    if data.is_empty:
        message = f"Nothing in {data.year} yet" if data.year is not None else "Nothing yet"
        hint = "Connect a source or drop an export in the inbox"
    else:  # views there are, but none this chart can show (no creators, no times...)
        message = f"Nothing of this kind in {data.period}"
        hint = "Your sources for this period do not record it"
    ax.text(0.5, 0.5, message, ha="center", va="center", fontsize=EMPTY_SIZE, color=MUTED_COLOUR)
    ax.text(
        0.5,
        0.36,
        hint,
        ha="center",
        va="center",
        fontsize=LABEL_SIZE,
        color=MUTED_COLOUR,
    )
    return _png(fig)


def _months(data: ReportData, *series: dict[str, object]) -> list[str]:
    if data.year is not None:
        return [f"{data.year}-{m:02d}" for m in range(1, 13)]
    keys = sorted({k for s in series for k in s})
    return keys


def _month_labels(data: ReportData, months: list[str]) -> list[str]:
    if data.year is not None:
        return list(MONTH_NAMES)
    return [f"{MONTH_NAMES[int(m[5:7]) - 1]}\n{m[:4]}" if len(m) >= 7 else m for m in months]


@_plain_text
def hours_by_month_png(data: ReportData) -> bytes:
    """Hours per month, stacked by what they went to (music, series, video...) when that
    split is known: the media diet."""
    title = f"Your media diet: hours per month, {data.period}"
    by_type = data.hours_by_month_type
    months = _months(data, data.hours_by_month, by_type)
    totals = [
        sum(by_type.get(m, {}).values()) if by_type else float(data.hours_by_month.get(m, 0.0))
        for m in months
    ]
    if not months or sum(totals) <= 0:
        return _empty(title, data)
    fig = _new_figure()
    ax = fig.add_subplot()
    x = list(range(len(months)))
    if by_type:
        types = sorted({t for m in by_type.values() for t in m}, key=lambda t: (t not in TYPE_COLOURS, t))
        bottom = [0.0] * len(months)
        for media_type in types:
            values = [float(by_type.get(m, {}).get(media_type, 0.0)) for m in months]
            colour = _colour_for(media_type, TYPE_COLOURS, types)
            ax.bar(
                x,
                values,
                bottom=bottom,
                color=colour,
                label=DIET_LABELS.get(media_type, media_type),
                width=0.75,
            )
            bottom = [b + v for b, v in zip(bottom, values, strict=True)]
        ax.legend(fontsize=TICK_SIZE, frameon=False, loc="upper left")
    else:
        ax.bar(x, totals, color=BAR_COLOUR, width=0.75)
    ax.set_xticks(x, _month_labels(data, months))
    ax.set_ylabel("hours", fontsize=LABEL_SIZE, color=TEXT_COLOUR)
    ax.set_ylim(0, max(totals) * 1.15)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    _style(ax, title)
    return _png(fig)


def _horizontal_bars(
    data: ReportData, title: str, items: list[tuple[str, float]], unit: str, colours: list[str] | None = None
) -> bytes:
    items = [(name, value) for name, value in items if value > 0][:TOP_N]
    if not items:
        return _empty(title, data)
    fig = _new_figure()
    ax = fig.add_subplot()
    names = [_shorten(name) for name, _ in items][::-1]
    values = [float(value) for _, value in items][::-1]
    bars = ax.barh(range(len(items)), values, color=(colours[::-1] if colours else BAR_COLOUR), height=0.7)
    ax.set_yticks(range(len(items)), names)
    # At least four bar slots, so one or two bars stay bar-shaped (kept at the top).
    ax.set_ylim(len(items) - 0.5 - max(len(items), 4), len(items) - 0.5)
    ax.set_xlabel(unit, fontsize=LABEL_SIZE, color=TEXT_COLOUR)
    if unit == "views":
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlim(0, max(values) * 1.18)
    fmt = "{:,.0f}" if all(v == int(v) for v in values) else "{:,.1f}"
    ax.bar_label(
        bars, labels=[fmt.format(v) for v in values], padding=4, fontsize=TICK_SIZE, color=TEXT_COLOUR
    )
    ax.grid(axis="x", alpha=0.3)
    ax.set_axisbelow(True)
    _style(ax, title)
    return _png(fig)


@_plain_text
def hours_by_platform_png(data: ReportData) -> bytes:
    """Hours per platform (source), largest first, as horizontal bars."""
    items = sorted(data.hours_by_platform.items(), key=lambda kv: (-kv[1], kv[0]))
    platform_palette = (BAR_COLOUR, ACCENT_COLOUR, *FALLBACK_COLOURS, *TYPE_COLOURS.values())
    # Colour by alphabetical platform order, so a platform keeps its colour between years of one user.
    alphabetical = sorted(data.hours_by_platform)
    colours = [platform_palette[alphabetical.index(name) % len(platform_palette)] for name, _ in items]
    return _horizontal_bars(data, f"Hours per platform, {data.period}", items, "hours", colours[:TOP_N])


@_plain_text
def top_creators_png(data: ReportData) -> bytes:
    """The top artists/creators by hours (plays when no time is known)."""
    title, items, unit = top_creator_bars(data)
    return _horizontal_bars(data, f"{title}, {data.period}", items, unit)


def top_creator_bars(data: ReportData) -> tuple[str, list[tuple[str, float]], str]:
    """Title, bars and unit of the top-creators chart: ranked by hours when any time is
    known (the list ranked by hours, not the one by plays), else by plays."""
    by_hours = [(name, hours) for name, _, hours in data.top_creators_by_hours if hours > 0]
    if by_hours:
        return "Top artists, series & channels by hours", by_hours[:TOP_N], "hours"
    return (
        "Top artists, series & channels by views",
        [(n, p) for n, p, _ in data.top_creators[:TOP_N]],
        "views",
    )


@_plain_text
def listening_clock_png(data: ReportData) -> bytes:
    """Plays by weekday and hour of day (user's time zone) as a heatmap."""
    title = f"When you play: weekday x hour ({data.time_zone}), {data.period}"
    grid = [[0] * 24 for _ in range(7)]
    for (weekday, hour), plays in data.clock.items():
        if 0 <= weekday < 7 and 0 <= hour < 24:
            grid[weekday][hour] += int(plays)
    peak = max(max(row) for row in grid)
    if peak <= 0:
        return _empty(title, data)
    fig = _new_figure()
    ax = fig.add_subplot()
    image = ax.imshow(grid, aspect="auto", cmap=HEATMAP_CMAP, vmin=0, vmax=peak, interpolation="nearest")
    ax.set_yticks(range(7), WEEKDAY_NAMES)
    ax.set_xticks(range(0, 24, 3), [f"{h:02d}:00" for h in range(0, 24, 3)])
    ax.set_xlabel("hour of day", fontsize=LABEL_SIZE, color=TEXT_COLOUR)
    bar = fig.colorbar(image, ax=ax, pad=0.02)
    bar.set_label("plays", fontsize=LABEL_SIZE, color=TEXT_COLOUR)
    bar.ax.tick_params(labelsize=TICK_SIZE)
    _style(ax, title)
    for side in ("left", "bottom"):
        ax.spines[side].set_visible(False)
    return _png(fig)


@_plain_text
def discoveries_png(data: ReportData) -> bytes:
    """New artists/creators heard for the first time, per month."""
    title = f"New artists & creators discovered per month, {data.period}"
    months = _months(data, data.discoveries_by_month)
    values = [int(data.discoveries_by_month.get(m, 0)) for m in months]
    if not months or sum(values) <= 0:
        return _empty(title, data)
    fig = _new_figure()
    ax = fig.add_subplot()
    x = list(range(len(months)))
    bars = ax.bar(x, values, color=ACCENT_COLOUR, width=0.75)
    ax.bar_label(bars, labels=[str(v) if v else "" for v in values], padding=3, fontsize=TICK_SIZE)
    ax.set_xticks(x, _month_labels(data, months))
    ax.set_ylabel("first-time creators", fontsize=LABEL_SIZE, color=TEXT_COLOUR)
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max(values) * 1.18)
    ax.grid(axis="y", alpha=0.3)
    ax.set_axisbelow(True)
    _style(ax, title)
    return _png(fig)


# (key, section heading, function), in the order the report shows them.
CHARTS: tuple[tuple[str, str, Callable[[ReportData], bytes]], ...] = (
    ("hours_by_month", "Your media diet", hours_by_month_png),
    ("hours_by_platform", "Hours per platform", hours_by_platform_png),
    ("top_creators", "Top names across everything", top_creators_png),
    ("listening_clock", "Your clock", listening_clock_png),
    ("discoveries", "Discoveries", discoveries_png),
)


def render_charts(data: ReportData) -> dict[str, bytes]:
    """Every chart as PNG bytes, keyed as in CHARTS (e.g. for Dagster metadata)."""
    return {key: draw(data) for key, _, draw in CHARTS}
