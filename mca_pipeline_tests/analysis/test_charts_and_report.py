"""Charts are real PNGs (for the Dagster metadata) for a full year, one day and nothing;
the report is one safe, self-contained HTML file at data/reports/<user>/<year>.html with
its charts as inline SVG, that a phone-sized headless Chromium shows without horizontal
scrolling and with every chart's text inside its chart.

Debian's chromium must be at /usr/bin/chromium (CI installs it); without it the browser
test fails, it does not skip.
"""

from __future__ import annotations

import dataclasses
import re
import struct
from pathlib import Path

import pytest

from mca_pipeline.analysis.charts import CHARTS, render_charts
from mca_pipeline.analysis.report import render_report, write_report
from mca_pipeline.analysis.report_data import ReportData, creator_bars

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EVIL = "<script>alert(1)</script>"
#: Per chart on the page: its width and height, and the texts that reach outside it.
SVG_LAYOUT = """Array.from(document.querySelectorAll('figure svg.chart')).map(svg => {
  const box = svg.getBoundingClientRect();
  const outside = Array.from(svg.querySelectorAll('text')).filter(t => {
    const r = t.getBoundingClientRect();
    return r.left < box.left - 0.5 || r.right > box.right + 0.5 || r.top < box.top - 0.5 || r.bottom > box.bottom + 0.5;
  }).map(t => t.textContent);
  return [box.width, box.height, outside];
})"""


def png_size(data: bytes) -> tuple[int, int]:
    """Width and height from the IHDR chunk, after checking the signature and chunk type."""
    assert len(data) > 100, "PNG is suspiciously small"
    assert data[:8] == PNG_SIGNATURE, "not a PNG signature"
    length, chunk = struct.unpack(">I4s", data[8:16])
    assert chunk == b"IHDR" and length == 13
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def full_year() -> ReportData:
    months = [f"2024-{m:02d}" for m in range(1, 13)]
    return ReportData(
        user_id="alice",
        year=2024,
        time_zone="Europe/Berlin",
        hours_by_platform={"spotify_export": 212.5, "lastfm": 40.25, "netflix": 88.0, "youtube": 12.0},
        hours_by_type={"music": 252.75, "video": 100.0},
        hours_by_month={m: 20.0 + i * 1.5 for i, m in enumerate(months)},
        hours_by_month_type={m: {"music": 15.0 + i, "video": 5.0 + i * 0.5} for i, m in enumerate(months)},
        top_creators=[
            ("Marla Venn", 420, 25.5),
            (EVIL, 300, 18.0),
            ("A BAND WITH A REALLY QUITE REMARKABLY LONG NAME INDEED, IN CAPITALS", 120, 7.5),
            *[(f"Artist {i}", 100 - i, 5.0 - i * 0.3) for i in range(10)],
        ],
        top_titles=[("Night Lines", 80, 4.4), ("Stranger Things: S1E1", 1, 0.9)],
        top_tags=[("synthwave", 500), ("drama", 40)],
        clock={(d, h): (d + 1) * (h % 7) for d in range(7) for h in range(24)},
        binge_sessions=7,
        longest_binge=("Stranger Things", 6),
        longest_streak_days=23,
        current_streak_days=4,
        discoveries_by_month={m: (i * 3) % 11 for i, m in enumerate(months)},
        skip_share=0.12,
        music_rows=5400,
        real_plays=4800,
        views_by_kind={"music": 4800, "episode": 61, "video": 12},
        hours_by_kind={"music": 252.75, "episode": 88.0, "video": 12.0},
        estimated_hours=12.0,
        top_by_kind={"music": [("Marla Venn", 420, 25.5)], "episode": [("Stranger Things", 40, 30.0)]},
        top_genres=[("synthwave", 500, 30.0)],
        previous_year={"music": (3000, 150.0), "episode": (80, 95.0)},
        busiest_day=("2024-03-09", 41, 7.5),
    )


def one_day() -> ReportData:
    return ReportData(
        user_id="bob",
        year=2024,
        time_zone="America/New_York",
        hours_by_platform={"spotify_export": 0.5},
        hours_by_type={"music": 0.5},
        hours_by_month={"2024-03": 0.5},
        top_creators=[("Marla Venn", 9, 0.5)],
        top_titles=[("Track 1", 1, 0.06)],
        clock={(4, 23): 9},
        longest_streak_days=1,
        current_streak_days=1,
        discoveries_by_month={"2024-03": 1},
        music_rows=9,
        real_plays=9,
    )


def nothing() -> ReportData:
    return ReportData(user_id="carol", year=2025)


CASES = {"full_year": full_year, "one_day": one_day, "nothing": nothing}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("chart", [key for key, _, _ in CHARTS])
def test_each_chart_is_a_valid_png(case: str, chart: str) -> None:
    draw = {key: fn for key, _, fn in CHARTS}[chart]
    width, height = png_size(draw(CASES[case]()))
    assert width > 0 and height > 0
    assert (width, height) == (1000, 600)


@pytest.mark.parametrize("name", ["$$", "$\\foo{$", "A$AP Rocky", "Ke$ha $ $", "\\$"])
def test_names_with_dollar_signs_are_drawn_as_plain_text(name: str) -> None:
    """matplotlib reads text between `$` as math: `$$` or `$\\foo{$` failed every report."""
    base = full_year()
    data = dataclasses.replace(
        base,
        top_creators=[(name, 50, 3.0), *base.top_creators],
        top_titles=[(name, 9, 1.0), *base.top_titles],
        hours_by_platform={name: 4.0, **base.hours_by_platform},
        hours_by_type={name: 4.0, **base.hours_by_type},
    )
    for png in render_charts(data).values():
        assert png_size(png) == (1000, 600)
    assert name.replace("&", "&amp;").replace("<", "&lt;") in render_report(data)


def test_the_chart_by_hours_is_ranked_by_hours() -> None:
    """It was titled "by hours" but kept the order of the list ranked by plays."""
    data = dataclasses.replace(
        one_day(),
        top_creators=[("Many Short Plays", 50, 1.0), ("Long Listens", 10, 9.0)],
        top_creators_by_hours=[("Long Listens", 10, 9.0), ("Many Short Plays", 50, 1.0)],
    )
    bars = creator_bars(data)
    assert bars.title == "Top artists, series & channels by hours, 2024"
    assert (bars.items, bars.unit) == ([("Long Listens", 9.0), ("Many Short Plays", 1.0)], "hours")
    no_time = creator_bars(dataclasses.replace(data, top_creators_by_hours=[("Long Listens", 10, 0.0)]))
    assert (no_time.items, no_time.unit) == ([("Many Short Plays", 50), ("Long Listens", 10)], "views")


def test_empty_chart_is_not_a_blank_image() -> None:
    """The "Nothing in 2025 yet" picture carries ink (text), not just a white canvas."""
    from io import BytesIO

    import matplotlib.image as mpimg

    for png in render_charts(nothing()).values():
        pixels = mpimg.imread(BytesIO(png), format="png")
        assert pixels[..., :3].min() < 0.7, "empty-state chart has no visible text"


def test_report_embeds_every_chart_and_escapes_user_strings() -> None:
    data = full_year()
    html = render_report(data)
    assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in html
    assert html.count('<svg class="chart"') == len(CHARTS)
    for key, _, _ in CHARTS:
        assert re.search(f'<figure id="chart-{key}"><figcaption>[^<]+</figcaption><svg class="chart"', html)
    assert "data:image" not in html
    assert EVIL not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script" not in html.lower()
    # No external assets: nothing fetched over the network or from disk.
    assert not re.search(r'(src|href)="(https?:|//|file:)', html)
    assert "@import" not in html and "url(" not in html
    for headline in (
        "hours in total",
        "plays",
        "episodes",
        "most time with",
        "longest streak",
        "binge sessions",
    ):
        assert headline in html
    assert "Marla Venn" in html and "23 days" in html


def test_nothing_yet_says_so() -> None:
    html = render_report(nothing())
    assert "Nothing in 2025 yet" in html and "No plays" not in html
    # Each chart says so too, rather than drawing an empty axis.
    assert html.count('<svg class="chart"') == len(CHARTS)
    assert html.count("Nothing in 2025 yet") == 1 + len(CHARTS)


def test_write_report_path_and_atomic(tmp_path: Path) -> None:
    path = write_report(full_year(), tmp_path)
    assert path == tmp_path / "reports" / "alice" / "2024.html"
    assert path.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    again = write_report(full_year(), tmp_path)  # overwriting works and leaves no temp files
    assert again == path
    assert sorted(p.name for p in path.parent.iterdir()) == ["2024.html"]
    with pytest.raises(ValueError):
        write_report(ReportData(user_id="../escape", year=2024), tmp_path)


@pytest.mark.parametrize("case", ["full_year", "one_day", "nothing"])
def test_report_in_headless_chromium_on_a_phone(tmp_path: Path, case: str) -> None:
    assert CHROMIUM.exists(), (
        f"{CHROMIUM} is missing: install Debian's chromium (CI does) to run the browser test"
    )
    from playwright.sync_api import sync_playwright

    data = CASES[case]()
    path = write_report(data, tmp_path)
    shot = tmp_path / f"{case}.png"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            page.goto(path.as_uri())
            page.wait_for_load_state("load")
            assert page.locator("h1").is_visible()
            headline = page.locator("#headline")
            assert headline.is_visible()
            assert "hours in total" in headline.inner_text()
            if case == "nothing":
                assert page.locator("#empty").is_visible()
                assert "Nothing in 2025 yet" in page.locator("#empty").inner_text()
            # Every chart laid out within the column, every text of a chart inside its chart.
            charts = page.evaluate(SVG_LAYOUT)
            assert len(charts) == len(CHARTS)
            for width, height, outside in charts:
                assert 0 < width <= 390 and height >= 30
                assert outside == [], f"chart text drawn outside its chart: {outside}"
            scroll_width = page.evaluate("document.documentElement.scrollWidth")
            assert scroll_width <= 390 + 1, f"page scrolls sideways on a phone: scrollWidth={scroll_width}"
            # A rank of two digits stays on one line ("10" had wrapped to "1" over "0").
            ranks = page.evaluate(
                "Array.from(document.querySelectorAll('td.rank')).map(c => { const r = document.createRange(); "
                "r.selectNodeContents(c); return [c.innerText, r.getClientRects().length]; })"
            )
            assert all(lines == 1 for _, lines in ranks), ranks
            assert case != "full_year" or "10" in [rank for rank, _ in ranks]
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    width, height = png_size(shot.read_bytes())
    assert width == 390 and height >= 844


def test_charts_in_hours_say_how_much_is_estimated() -> None:
    """full_year: 352.75 hours, 12 of them estimated. The month and platform charts are in
    hours; the top names are ranked by views (no list by hours), the clock counts views."""
    html = render_report(full_year())
    assert html.count(" · 12.0 of the 353 hours estimated</figcaption>") == 2
    for key in ("hours_by_month", "hours_by_platform"):
        assert re.search(f'id="chart-{key}"><figcaption>[^<]* · 12.0 of the 353 hours estimated<', html)
    assert "estimated" not in render_report(one_day()).split("<figure")[1]
