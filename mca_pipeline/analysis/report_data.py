"""What the year in review shows, independent of how it is drawn.

`ReportData` holds one user's year (or all time), filled in from the warehouse's metrics
(analysis/insights.py). The chart specs below decide what each chart shows: its title,
bars, colours, months and empty state. Two renderers draw them: svg_charts.py for the
page (the browser draws the text, in every script, with the reader's fonts) and charts.py
for the PNGs in Dagster's metadata (matplotlib). Neither renderer decides what to show.
"""

from __future__ import annotations

from dataclasses import dataclass, field

TEXT_COLOUR = "#222222"
MUTED_COLOUR = "#777777"
BAR_COLOUR = "#3b6fb6"
ACCENT_COLOUR = "#d9822b"

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


def colour_for(name: str, known: dict[str, str], order: list[str]) -> str:
    """A kind's own colour, else the next of the fallback cycle in `order`."""
    if name in known:
        return known[name]
    others = [n for n in order if n not in known]
    return FALLBACK_COLOURS[others.index(name) % len(FALLBACK_COLOURS)] if name in others else BAR_COLOUR


def shorten(label: str, limit: int = MAX_LABEL) -> str:
    """One line of at most `limit` characters, an ellipsis where it was cut."""
    label = " ".join(str(label).split())
    return label if len(label) <= limit else label[: limit - 1] + "…"


def empty_message(data: ReportData) -> tuple[str, str]:
    """The message and hint a chart with nothing to draw shows instead."""
    if data.is_empty:
        message = f"Nothing in {data.year} yet" if data.year is not None else "Nothing yet"
        return message, "Connect a source or drop an export in the inbox"
    # Views there are, but none this chart can show (no creators, no times...).
    return f"Nothing of this kind in {data.period}", "Your sources for this period do not record it"


@dataclass(frozen=True)
class Bars:
    """Horizontal bars, best first: (name, value) with value > 0, at most TOP_N."""

    title: str
    items: list[tuple[str, float]]
    unit: str
    colours: list[str]


@dataclass(frozen=True)
class Stack:
    """One layer of a column chart: a label for the legend (None: no legend) and a value per column."""

    label: str | None
    colour: str
    values: list[float]


@dataclass(frozen=True)
class Columns:
    """Vertical (stacked) columns, one per month; empty when nothing is above zero."""

    title: str
    labels: list[str]
    stacks: list[Stack]
    unit: str
    #: Print each column's value above it.
    value_labels: bool = False

    @property
    def totals(self) -> list[float]:
        return (
            [sum(values) for values in zip(*(s.values for s in self.stacks), strict=True)]
            if self.stacks
            else []
        )

    @property
    def is_empty(self) -> bool:
        return sum(self.totals) <= 0


@dataclass(frozen=True)
class Heatmap:
    """Views per weekday (row, Monday first) and hour (column) in the user's time zone."""

    title: str
    grid: list[list[int]]

    @property
    def peak(self) -> int:
        return max(max(row) for row in self.grid)


def _months(data: ReportData, *series: dict[str, object]) -> list[str]:
    if data.year is not None:
        return [f"{data.year}-{m:02d}" for m in range(1, 13)]
    return sorted({k for s in series for k in s})


def month_labels(data: ReportData, months: list[str]) -> list[str]:
    """Jan..Dec for a year; "Mar\n2021" for all time."""
    if data.year is not None:
        return list(MONTH_NAMES)
    return [f"{MONTH_NAMES[int(m[5:7]) - 1]}\n{m[:4]}" if len(m) >= 7 else m for m in months]


def diet_columns(data: ReportData) -> Columns:
    """Hours per month, stacked by what they went to (music, series, video...) when that
    split is known: the media diet."""
    title = f"Your media diet: hours per month, {data.period}"
    by_type = data.hours_by_month_type
    months = _months(data, data.hours_by_month, by_type)
    labels = month_labels(data, months)
    if not by_type:
        values = [float(data.hours_by_month.get(m, 0.0)) for m in months]
        return Columns(title, labels, [Stack(None, BAR_COLOUR, values)], "hours")
    types = sorted({t for m in by_type.values() for t in m}, key=lambda t: (t not in TYPE_COLOURS, t))
    stacks = [
        Stack(
            DIET_LABELS.get(kind, kind),
            colour_for(kind, TYPE_COLOURS, types),
            [float(by_type.get(m, {}).get(kind, 0.0)) for m in months],
        )
        for kind in types
    ]
    return Columns(title, labels, stacks, "hours")


def discovery_columns(data: ReportData) -> Columns:
    """New artists/creators heard for the first time, per month."""
    months = _months(data, data.discoveries_by_month)
    values = [float(data.discoveries_by_month.get(m, 0)) for m in months]
    return Columns(
        f"New artists & creators discovered per month, {data.period}",
        month_labels(data, months),
        [Stack(None, ACCENT_COLOUR, values)],
        "first-time creators",
        value_labels=True,
    )


def _bars(title: str, items: list[tuple[str, float]], unit: str, colours: list[str] | None = None) -> Bars:
    kept = [(i, (name, float(value))) for i, (name, value) in enumerate(items) if value > 0][:TOP_N]
    return Bars(
        title,
        [item for _, item in kept],
        unit,
        [colours[i] for i, _ in kept] if colours else [BAR_COLOUR] * len(kept),
    )


def platform_bars(data: ReportData) -> Bars:
    """Hours per platform (source), largest first."""
    items = sorted(data.hours_by_platform.items(), key=lambda kv: (-kv[1], kv[0]))
    palette = (BAR_COLOUR, ACCENT_COLOUR, *FALLBACK_COLOURS, *TYPE_COLOURS.values())
    # Coloured by alphabetical platform order, so a platform keeps its colour between years of one user.
    alphabetical = sorted(data.hours_by_platform)
    colours = [palette[alphabetical.index(name) % len(palette)] for name, _ in items]
    return _bars(f"Hours per platform, {data.period}", items, "hours", colours)


def creator_bars(data: ReportData) -> Bars:
    """The top artists, series and channels: ranked by hours when any time is known (the
    list ranked by hours, not the one by plays), else by views."""
    by_hours = [(name, hours) for name, _, hours in data.top_creators_by_hours if hours > 0]
    if by_hours:
        return _bars(f"Top artists, series & channels by hours, {data.period}", by_hours, "hours")
    by_views = [(name, float(views)) for name, views, _ in data.top_creators]
    return _bars(f"Top artists, series & channels by views, {data.period}", by_views, "views")


def clock_heatmap(data: ReportData) -> Heatmap:
    """Views by weekday and hour of day, in the user's time zone."""
    grid = [[0] * 24 for _ in range(7)]
    for (weekday, hour), views in data.clock.items():
        if 0 <= weekday < 7 and 0 <= hour < 24:
            grid[weekday][hour] += int(views)
    return Heatmap(f"When you play: weekday x hour ({data.time_zone}), {data.period}", grid)


#: (key, section heading) of each chart, in the order the page shows them.
CHART_SECTIONS: tuple[tuple[str, str], ...] = (
    ("hours_by_month", "Your media diet"),
    ("hours_by_platform", "Hours per platform"),
    ("top_creators", "Top names across everything"),
    ("listening_clock", "Your clock"),
    ("discoveries", "Discoveries"),
)
