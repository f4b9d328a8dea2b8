"""The page's SVG charts show what the chart specs say, with hand-counted expectations:
bars in proportion and best first, the heatmap's darkest cell at the peak, month labels
that do not crowd, names cut to fit."""

from __future__ import annotations

import re

from mca_pipeline.analysis.report_data import ReportData
from mca_pipeline.analysis.svg_charts import HEAT_STEPS, ZERO_COLOUR, fit, render_svgs


def year(**fields: object) -> ReportData:
    return ReportData(user_id="ada", year=2024, real_plays=1, views_by_kind={"music": 1}, **fields)  # type: ignore[arg-type]


def bar_widths(svg: str) -> list[float]:
    return [float(w) for w in re.findall(r'<rect x="0" y="[\d.]+" width="([\d.]+)"', svg)]


def test_bars_are_best_first_in_proportion_with_the_unit_on_the_first() -> None:
    data = year(
        top_creators_by_hours=[("Marla Venn", 40, 30.0), ("Odo Kline", 20, 15.0), ("Nobody", 1, 0.0)],
        hours_by_platform={"lastfm": 1.5, "spotify_export": 6.0},
    )
    title, _, svg = render_svgs(data)["top_creators"]
    assert title == "Top artists, series & channels by hours, 2024"
    names = re.findall(r'font-size="13"[^>]*>([^<]+)</text>', svg)
    assert names == ["Marla Venn", "Odo Kline"]  # a name with no time is left out
    first, second = bar_widths(svg)
    assert (first, second) == (322.0, 161.0)  # 400 - 78 units for the longest, half for half
    assert ">30 hours</text>" in svg and ">15</text>" in svg
    platforms = render_svgs(data)["hours_by_platform"].svg
    assert re.findall(r'font-size="13"[^>]*>([^<]+)</text>', platforms) == ["spotify_export", "lastfm"]
    assert bar_widths(platforms) == [322.0, 80.5]


def test_the_heatmap_is_darkest_at_the_peak_and_grey_where_nothing() -> None:
    # Monday 08:00 nine views, Friday 22:00 one view, nothing else.
    svg = render_svgs(year(clock={(0, 8): 9, (4, 22): 1}))["listening_clock"].svg
    cells = re.findall(r'fill="(#[0-9a-f]{6})"><title>(\w+) (\d\d):00 · (\d+) views</title>', svg)
    assert len(cells) == 7 * 24
    colour = {(day, hour): fill for fill, day, hour, _ in cells}
    assert colour["Mon", "08"] == HEAT_STEPS[-1]
    assert colour["Fri", "22"] == HEAT_STEPS[0]  # 1/9 of the peak: the first step
    assert sum(fill == ZERO_COLOUR for fill, *_ in cells) == 7 * 24 - 2
    assert "more (peak 9 views)" in svg


def test_a_stacked_month_shows_each_kind_and_its_total() -> None:
    data = year(hours_by_month_type={"2024-03": {"music": 3.0, "episode": 1.0}})
    title, unit, svg = render_svgs(data)["hours_by_month"]
    assert (title, unit) == ("Your media diet: hours per month, 2024", "hours")
    assert "<title>Mar: 4 hours (series: 1, music: 3)</title>" in svg
    assert re.findall(r">(Jan|Feb|Mar|Dec)</text>", svg) == ["Jan", "Feb", "Mar", "Dec"]
    assert ">series</text>" in svg and ">music</text>" in svg  # the legend


def test_all_time_labels_the_years_without_crowding() -> None:
    # 2010-01 .. 2024-12: 180 columns of 2 units, a year every 24 units: every second year.
    months = {f"{y}-{m:02d}": 1 for y in range(2010, 2025) for m in range(1, 13)}
    svg = render_svgs(ReportData(user_id="ada", year=None, real_plays=1, discoveries_by_month=months))[
        "discoveries"
    ].svg
    years = re.findall(r">(20\d\d)</text>", svg)
    assert years == [str(y) for y in range(2010, 2025, 2)]
    assert ">Jan</text>" not in svg  # no month names under 180 columns


def test_nothing_to_draw_says_why() -> None:
    svg = render_svgs(ReportData(user_id="ada", year=2025))["top_creators"].svg
    assert "Nothing in 2025 yet" in svg and "<rect" not in svg
    svg = render_svgs(year())["listening_clock"].svg  # views, but no times of day
    assert "Nothing of this kind in 2024" in svg


def test_names_are_cut_by_their_width() -> None:
    assert fit("Marla Venn") == "Marla Venn"
    assert fit("a" * 46) == "a" * 46
    assert fit("a" * 47) == "a" * 45 + "…"
    assert fit("夜" * 23) == "夜" * 23  # 46 half-widths
    assert fit("夜" * 24) == "夜" * 22 + "…"
    assert fit("  two\n lines ") == "two lines"
