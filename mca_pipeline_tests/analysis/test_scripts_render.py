"""Names in every script are drawn in the charts, not as empty boxes.

matplotlib warns "Glyph N missing from font(s) ..." for each character no font in the
fallback list has; a chart with a name of each script must draw without one. The fonts
are Debian's fonts-noto-core, fonts-noto-cjk and fonts-symbola (the README's set-up and
.ci/run install them).
"""

from __future__ import annotations

import warnings

import pytest

from mca_pipeline.analysis import CHARTS, ReportData
from mca_pipeline.analysis.charts import FONT_FALLBACK, font_families

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
