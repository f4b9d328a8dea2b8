"""Names in every script are drawn in the charts, not as empty boxes.

The page's charts are SVG, drawn by the browser: in headless Chromium, every character of
a name of each script, drawn as the charts draw their text, must differ from the box
drawn for a character no font has, and every chart's text must stay inside its chart.

The PNG charts of the Dagster metadata are matplotlib's: it warns "Glyph N missing from
font(s) ..." for each character no font in the fallback list has; a chart with a name of
each script must draw without one.

The fonts are Debian's fonts-noto-core, fonts-noto-cjk and fonts-symbola (the README's
set-up and .ci/run install them); Chromium finds them through fontconfig.
"""

from __future__ import annotations

import unicodedata
import warnings
from pathlib import Path

import pytest
from playwright.sync_api import Page

from mca_pipeline.analysis.charts import CHARTS, FONT_FALLBACK, font_families
from mca_pipeline.analysis.report import write_report
from mca_pipeline.analysis.report_data import ReportData
from mca_pipeline_tests.analysis.test_charts_and_report import CHROMIUM, CHROMIUM_ARGS, SVG_LAYOUT

# Real names people have in their histories, one or more per script.
NAMES = {
    "fullwidth latin and japanese": "ＹＯＡＳＯＢＩ — 夜に駆ける",
    "chinese": "周杰倫 稻香",
    "hangul": "사랑의 불시착",
    "arabic": "عمرو دياب",
    "hebrew": "עומר אדם",
    "devanagari": "अरिजीत सिंह",
    "bengali": "অনুপম রায়",
    "tamil": "அனிருத்",
    "thai": "บอดี้สแลม",
    "greek and cyrillic": "Μίκης Θεοδωράκης / Кино",
    "emoji": "🎵 Lo-fi 🔥 beats ❤️ 😂",
}


def data_named(name: str) -> ReportData:
    months = [f"2024-{m:02d}" for m in range(1, 13)]
    return ReportData(
        user_id="ines",
        year=2024,
        hours_by_platform={name: 3.0, "spotify_export": 1.0},
        hours_by_type={"music": 4.0},
        hours_by_month={m: 1.0 for m in months},
        hours_by_month_type={m: {"music": 1.0} for m in months},
        top_creators=[(name, 12, 3.0), ("Marla Venn", 4, 1.0)],
        top_creators_by_hours=[(name, 12, 3.0), ("Marla Venn", 4, 1.0)],
        clock={(0, 20): 12},
        discoveries_by_month={"2024-03": 2},
        real_plays=16,
        views_by_kind={"music": 16},
    )


def test_the_fonts_of_every_script_are_installed() -> None:
    missing = [f for f in FONT_FALLBACK if f not in font_families()]
    assert not missing, (
        f"fonts not installed: {', '.join(missing)}; install Debian's fonts-noto-core fonts-noto-cjk "
        "fonts-symbola (the README's set-up and .ci/run do)"
    )


@pytest.mark.parametrize("script", NAMES)
def test_every_chart_draws_a_name_in_this_script_without_a_missing_glyph(script: str) -> None:
    data = data_named(NAMES[script])
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for _, _, draw in CHARTS:
            assert draw(data)[:8] == b"\x89PNG\r\n\x1a\n"
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert missing == []


def test_a_missing_glyph_is_what_the_check_sees() -> None:
    """The check above can fail: a character in no installed font (a private-use code
    point) is reported."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        CHARTS[2][2](data_named("\ue000 private"))
    assert any("missing from font" in str(w.message) for w in caught)


def test_a_chart_asks_only_for_the_fonts_its_names_need() -> None:
    """matplotlib opens every family of the list for every text: a chart of Latin names
    uses one font, and a name in another script adds the font that has it."""
    from mca_pipeline.analysis.charts import families_for

    assert families_for(["Marla Venn", "spotify_export", "Europe/Berlin"]) == ["DejaVu Sans"]
    assert families_for(["周杰倫", "Marla Venn"]) == ["DejaVu Sans", "Noto Sans CJK JP"]
    assert families_for(["अरिजीत सिंह", "사랑의 불시착"]) == [
        "DejaVu Sans",
        "Noto Sans CJK JP",
        "Noto Sans Devanagari",
    ]


#: A cell the size of a chart's title-sized text, inside a chart figure so the page's
#: fonts apply; each character is drawn in it alone and photographed.
PROBE = """() => {
  const figure = document.querySelector('figure');
  figure.insertAdjacentHTML('beforeend',
    '<svg class="chart" id="probe" viewBox="0 0 48 40" style="width:48px;height:40px">' +
    '<text x="4" y="30" font-size="26" fill="#222"></text></svg>');
}"""
#: Code points no font has (private use): what a missing glyph looks like.
NO_GLYPH = ("\ue000", "\ue001")


def _drawn_alone(char: str) -> bool:
    """Characters that draw nothing of their own when alone: spaces, joiners, variation
    selectors and combining marks (a vowel sign alone is drawn on a dotted circle)."""
    return not (char.isspace() or unicodedata.category(char) in {"Cf", "Mn", "Mc", "Me"})


def _photograph(page: Page, char: str) -> bytes:
    """The probe cell with `char` drawn in it, as PNG bytes."""
    page.eval_on_selector("#probe text", "(t, c) => { t.textContent = c; }", char)
    return page.locator("#probe").screenshot()


def test_the_page_draws_every_script_in_headless_chromium(tmp_path: Path) -> None:
    assert CHROMIUM.exists(), f"{CHROMIUM} is missing: install Debian's chromium (CI does)"
    from playwright.sync_api import sync_playwright

    missing: dict[str, list[str]] = {}
    outside: dict[str, list[str]] = {}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 390, "height": 844})
            for script, name in {**NAMES, "check: no font has these": "".join(NO_GLYPH)}.items():
                page.goto(write_report(data_named(name), tmp_path / script.replace(" ", "-")).as_uri())
                # The name is in the charts' own text, not only in the tables.
                drawn = page.evaluate(
                    "Array.from(document.querySelectorAll('svg.chart text')).map(t => t.textContent)"
                )
                assert name.split()[0] in " ".join(drawn), (script, drawn)
                outside[script] = [text for *_, texts in page.evaluate(SVG_LAYOUT) for text in texts]
                page.evaluate(PROBE)
                boxes = {_photograph(page, char) for char in NO_GLYPH}
                missing[script] = [
                    c for c in dict.fromkeys(name) if _drawn_alone(c) and _photograph(page, c) in boxes
                ]
        finally:
            browser.close()
    # The check can fail: the private-use characters are seen as missing.
    assert missing.pop("check: no font has these") == list(NO_GLYPH)
    assert missing == {script: [] for script in NAMES}
    assert {s: t for s, t in outside.items() if t} == {}
