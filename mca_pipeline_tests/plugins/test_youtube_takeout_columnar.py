"""The columnar path of youtube_takeout (watch-history.json) against its streaming reader:
the same rows, counts, left-out and unreadable entries either way, and the streaming
reader for every file holding an entry it would skip or read otherwise."""

from __future__ import annotations

import html
import itertools
import json
import re
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_datetime

from mca_pipeline.plugins.takeout_dates import LOCALES
from mca_pipeline.plugins.youtube_takeout import REMOVED_TITLE, YoutubeTakeoutPlugin
from mca_pipeline.warehouse import Warehouse
from mca_pipeline.warehouse.sync_loop import SyncSummary
from mca_pipeline_tests.plugins import columnar_paths
from mca_pipeline_tests.plugins.columnar_paths import (
    assert_fixture_stored_alike,
    assert_same,
    assert_sql_leaves_it_to_streaming,
    assert_taken_and_stored_alike,
    took_columnar_path,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "youtube_takeout"
FILES = sorted([*FIXTURES.rglob("*.json"), *FIXTURES.rglob("*.html")])


def import_both(tmp_path: Path, file: Path) -> tuple[SyncSummary, SyncSummary, Warehouse, Warehouse]:
    return columnar_paths.import_both(tmp_path, YoutubeTakeoutPlugin, file)


@pytest.mark.parametrize("file", FILES, ids=[str(p.relative_to(FIXTURES)) for p in FILES])
def test_every_fixture_is_stored_alike_on_both_paths(tmp_path: Path, file: Path) -> None:
    assert_fixture_stored_alike(tmp_path, YoutubeTakeoutPlugin, file)


def watch(**changes: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "header": "YouTube",
        "title": "Watched Lantern Street",
        "titleUrl": "https://www.youtube.com/watch?v=dQ3xY7kLmN0",
        "subtitles": [{"name": "MarlaVennVEVO", "url": "https://www.youtube.com/channel/UCz9"}],
        "time": "2024-03-15T18:23:45.123Z",
        "products": ["YouTube"],
        "activityControls": ["YouTube watch history"],
    }
    entry.update(changes)
    return {k: v for k, v in entry.items() if v is not ...}


#: Entries the streaming reader stores or leaves out, each with an oddity the SQL maps alike.
READABLE = {
    "music": watch(header="YouTube Music", titleUrl="https://music.youtube.com/watch?v=Pb7Qk2mLx9A"),
    "no milliseconds": watch(time="2024-03-15T18:23:45Z"),
    "an ad": watch(details=[{"name": "From Google Ads"}], title=5),
    "an ad among other details": watch(details=["x", {"name": "From Google Ads"}]),
    "other details": watch(details=[{"name": "Something else"}]),
    "removed": watch(title=REMOVED_TITLE, titleUrl=...),
    "no link": watch(titleUrl=...),
    "empty link": watch(titleUrl=""),
    "a post": watch(titleUrl="https://www.youtube.com/post/UgkxAbc"),
    "a watch page without an id": watch(titleUrl="https://www.youtube.com/watch"),
    "French wording": watch(title="Vous avez regardé Lantern Street"),
    "French wording with a no-break space": watch(title="Vous\xa0avez\xa0regardé Lantern Street"),
    "Turkish wording": watch(title="Lantern Street adlı videoyu izlediniz"),
    "Korean wording": watch(title="Lantern Street을(를) 시청했습니다"),
    "unknown wording": watch(title="Guardato Lantern Street"),
    "white space around": watch(title="Watched \u3000Lantern Street\u2028 "),
    "no title": watch(title=...),
    "the URL as title": watch(title="Watched https://www.youtube.com/watch?v=dQ3xY7kLmN0"),
    "no channel": watch(subtitles=...),
    "empty subtitles": watch(subtitles=[]),
    "a channel without a name": watch(subtitles=[{"url": "https://www.youtube.com/channel/UCz9"}]),
    "a channel name that is a number": watch(subtitles=[{"name": 5}]),
    "a channel URL that is an object": watch(subtitles=[{"name": "Marla", "url": {"href": "x"}}]),
    "subtitles an object, not a list": watch(subtitles={"name": "Marla"}),
    "subtitles starting with a text": watch(subtitles=["Marla", {"name": "Marla"}]),
    "the channel in the second subtitle only": watch(subtitles=[{}, {"name": "Marla"}]),
    "no products": watch(products=[]),
    "products not a list": watch(products="YouTube"),
    "no header": watch(header=...),
    "a header that is a number": watch(header=3),
    "text in every script": watch(
        title='Watched 夜に駆ける 😀 \u0000 \\ " /', subtitles=[{"name": "ＹＯＡＳＯＢＩ"}]
    ),
}

#: Entries the streaming reader cannot read, or reads in a way the SQL leaves to it.
NOT_COLUMNAR = {
    "no time": watch(time=...),
    "time a number": watch(time=1710527025),
    "time not a date": watch(time="2024-02-30T00:00:00Z"),
    "time with an offset": watch(time="2024-03-15T19:23:45.123+01:00"),
    "time with microseconds": watch(time="2024-03-15T18:23:45.123456Z"),
    "title a list": watch(title=["x"]),
    "a short link": watch(titleUrl="https://youtu.be/dQ3xY7kLmN0"),
    "a link with more in its query": watch(titleUrl="https://www.youtube.com/watch?v=dQ3xY7kLmN0&t=10"),
    "products with a number": watch(products=["YouTube", 5]),
    "activity controls with a null": watch(activityControls=["YouTube watch history", None]),
    "products with a list": watch(products=[["YouTube"]]),
}


def _write(path: Path, entries: list[Any]) -> Path:
    path.write_text(json.dumps(entries, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


def _file(tmp_path: Path, odd: dict[str, Any]) -> Path:
    ordinary = [
        watch(
            titleUrl=f"https://www.youtube.com/watch?v=abcdefghij{n}", time=f"2024-01-0{n + 1}T10:00:00.000Z"
        )
        for n in range(3)
    ]
    return _write(tmp_path / "watch-history.json", [*ordinary, odd])


@pytest.mark.parametrize("case", sorted(READABLE))
def test_an_odd_but_readable_entry_is_stored_alike(tmp_path: Path, case: str) -> None:
    assert_taken_and_stored_alike(tmp_path, YoutubeTakeoutPlugin, _file(tmp_path, READABLE[case]))


@pytest.mark.parametrize("case", sorted(NOT_COLUMNAR))
def test_an_entry_the_sql_leaves_to_the_streaming_reader(tmp_path: Path, case: str) -> None:
    assert_sql_leaves_it_to_streaming(tmp_path, YoutubeTakeoutPlugin, _file(tmp_path, NOT_COLUMNAR[case]))


# --- watch-history.html ----------------------------------------------------------------

HTML_HEAD = '<html><head><title>My Activity History</title><style type="text/css"></style></head><body><div class="mdl-grid">'
HTML_TAIL = "</div></body></html>"
CAPTION = (
    "<b>Products:</b><br>&emsp;YouTube<br><b>Why is this here?</b><br>&emsp;This activity was saved to your "
    "Google Account because the following settings were on:&nbsp;YouTube watch history.&nbsp;You can control "
    'these settings &nbsp;<a href="https://myaccount.google.com/activitycontrols">here</a>.'
)
AD_CAPTION = CAPTION.replace("<b>Why", "<b>Details:</b><br>&emsp;From Google Ads<br><b>Why")


def html_watch(
    *,
    header: str = "YouTube",
    prefix: str = "Watched\xa0",
    url: str = "https://www.youtube.com/watch?v=Er5X_clRDZI",
    title: str = "Lantern Street",
    channel: str | None = '<a href="https://www.youtube.com/channel/UChnvGMz7_s0OAjeoXIWF9vA">Marla Venn</a>',
    time: str = "Jan 13, 2024, 4:16:16\u202fPM TRT",
    content: str | None = None,
    caption: str = CAPTION,
) -> str:
    """One entry as Takeout writes it (the markup of real/watch-history_TRT.html)."""
    if content is None:
        channel_line = f"{channel}<br>" if channel is not None else ""
        content = f'{prefix}<a href="{url}">{title}</a><br>{channel_line}{time}'
    return (
        '<div class="outer-cell mdl-cell mdl-cell--12-col mdl-shadow--2dp"><div class="mdl-grid">'
        '<div class="header-cell mdl-cell mdl-cell--12-col"><p class="mdl-typography--title">'
        f"{header}<br></p></div>"
        f'<div class="content-cell mdl-cell mdl-cell--6-col mdl-typography--body-1">{content}</div>'
        '<div class="content-cell mdl-cell mdl-cell--6-col mdl-typography--body-1 mdl-typography--text-right"></div>'
        f'<div class="content-cell mdl-cell mdl-cell--12-col mdl-typography--caption">{caption}</div></div></div>'
    )


#: HTML entries the streaming reader stores or leaves out, each with an oddity the SQL reads alike.
HTML_READABLE = {
    "music": html_watch(header="YouTube Music", url="https://music.youtube.com/watch?v=Pb7Qk2mLx9A"),
    "a channel without a page": html_watch(channel="Marla Venn"),
    "no channel": html_watch(channel=None),
    "an ad with its own line": html_watch(channel="Watched at 6:20 PM", caption=AD_CAPTION),
    "removed": html_watch(content=f"{REMOVED_TITLE}<br>Jan 13, 2024, 4:16:16\u202fPM TRT"),
    "a post": html_watch(url="https://www.youtube.com/post/UgkxAbc"),
    "entities": html_watch(
        title="Tom &amp; Jerry &#39;live&#39; &quot;4K&quot; &lt;3 &eacute;t&eacute; &amp"
    ),
    "an entity in the channel": html_watch(
        channel='<a href="https://www.youtube.com/channel/UCz9?a=1&amp;b=2">R&amp;B Hits</a>'
    ),
    "the wording as an entity": html_watch(prefix="Watched&nbsp;"),
    "white space around": html_watch(title=" \u3000Lantern\n\tStreet\u2028 ", channel=" Marla\xa0 Venn "),
    "the URL as title": html_watch(title="https://www.youtube.com/watch?v=Er5X_clRDZI"),
    "no title": html_watch(title=""),
    "a suffix wording": html_watch(prefix="", title="Lantern Street", content=None).replace(
        "Lantern Street</a>", "Lantern Street</a> を視聴しました"
    ),
    "a day-first English time": html_watch(time="29 Nov 2021, 18:06:16 AEDT"),
    "a time line ending in a break": html_watch(time="Jan 13, 2024, 4:16:16\u202fPM TRT<br>"),
    "UTC": html_watch(time="Mar 15, 2024, 12:05:00 AM UTC"),
    "noon": html_watch(time="Mar 15, 2024, 12:05:00 PM CET"),
    "a day the clocks change": html_watch(time="Mar 10, 2024, 1:30:00 AM EST"),
    "a summer name in winter": html_watch(time="Jan 10, 2024, 1:30:00 PM EDT"),
    "an unknown zone": html_watch(time="Jan 10, 2024, 1:30:00 PM XYZT"),
    "an offset": html_watch(time="Jan 10, 2024, 1:30:00 PM GMT+03:00"),
    "a French time": html_watch(time="11 juin 2026, 03:53:15\xa0EDT"),
    "a German time": html_watch(time="13.01.2024, 16:16:16 MEZ"),
    "a Korean time": html_watch(time="2024. 1. 13. 오후 4:16:16 KST"),
    "an older caption": html_watch(caption="<b>Products:</b><br>&emsp;YouTube<br>"),
    "an empty caption": html_watch(caption=""),
}

#: HTML entries the streaming reader cannot read, or that the SQL leaves to it.
HTML_NOT_COLUMNAR = {
    "a time that is no time": html_watch(time="yesterday"),
    "an impossible date": html_watch(time="Feb 30, 2024, 4:16:16 PM UTC"),
    "an impossible hour": html_watch(time="Jan 13, 2024, 13:16:16 PM UTC"),
    "a blank time line": html_watch(time=" "),
    "a blank channel link": html_watch(channel='<a href="https://www.youtube.com/channel/UCz9"> </a>'),
    "a short link": html_watch(url="https://youtu.be/Er5X_clRDZI"),
    "a link with more in its query": html_watch(url="https://www.youtube.com/watch?v=Er5X_clRDZI&amp;t=10"),
    "markup of another kind": html_watch(title="<i>Lantern</i> Street"),
    "a second link line": html_watch(channel='<a href="https://x">a</a><br><a href="https://y">b</a>'),
}


def _html_file(tmp_path: Path, odd: str, *, head: str = HTML_HEAD) -> Path:
    ordinary = [
        html_watch(
            url=f"https://www.youtube.com/watch?v=abcdefghij{n}", time=f"Jan {n + 1}, 2024, 10:00:00 AM UTC"
        )
        for n in range(3)
    ]
    path = tmp_path / "watch-history.html"
    # a lone surrogate stands for a byte that is not UTF-8
    path.write_bytes((head + "".join([*ordinary, odd]) + HTML_TAIL).encode("utf-8", "surrogateescape"))
    return path


@pytest.mark.parametrize("case", sorted(HTML_READABLE))
def test_an_odd_but_readable_html_entry_is_stored_alike(tmp_path: Path, case: str) -> None:
    assert_taken_and_stored_alike(tmp_path, YoutubeTakeoutPlugin, _html_file(tmp_path, HTML_READABLE[case]))


@pytest.mark.parametrize("case", sorted(HTML_NOT_COLUMNAR))
def test_an_html_entry_the_sql_leaves_to_the_streaming_reader(tmp_path: Path, case: str) -> None:
    assert_sql_leaves_it_to_streaming(
        tmp_path, YoutubeTakeoutPlugin, _html_file(tmp_path, HTML_NOT_COLUMNAR[case])
    )


@pytest.mark.parametrize(
    "head",
    [
        HTML_HEAD.replace("<body>", "<body><!-- "),
        HTML_HEAD.replace("</style>", ""),
        HTML_HEAD + "<div class='outer-cell'><div class='content-cell mdl-typography--body-1'>x</div></div>",
        HTML_HEAD.replace("<title>", "<title>\udcff"),
    ],
    ids=["an open comment", "an open style", "an entry written otherwise", "not UTF-8"],
)
def test_a_page_whose_head_could_change_its_entries_is_left_to_the_streaming_reader(
    tmp_path: Path, head: str
) -> None:
    file = _html_file(tmp_path, html_watch(), head=head)
    assert YoutubeTakeoutPlugin().columnar_read(file, "") is None


def test_an_entry_that_is_not_utf8_leaves_the_page_to_the_streaming_reader(tmp_path: Path) -> None:
    file = _html_file(tmp_path, html_watch(title="Lantern \udcff Street"))
    assert_sql_leaves_it_to_streaming(tmp_path, YoutubeTakeoutPlugin, file)


def test_a_large_page_is_taken_whole_and_resumed_by_record(tmp_path: Path) -> None:
    """Entries spanning the split's blocks, paged and resumed: the rows are the streaming
    reader's, and a cursor after some pages resumes after them."""
    entries = [
        html_watch(
            url=f"https://www.youtube.com/watch?v=abcdefg{n:04d}",
            title=f"Video {n} &amp; more",
            time=f"Jan {n % 28 + 1}, 2024, {n % 12 + 1}:{n % 60:02d}:00 PM UTC",
            caption=AD_CAPTION if n % 10 == 0 else CAPTION,
        )
        for n in range(12_000)
    ]
    file = tmp_path / "watch-history.html"
    file.write_text(HTML_HEAD + "\n".join(entries) + HTML_TAIL, encoding="utf-8")
    assert file.stat().st_size > 8 << 20  # more than one block of the split
    fast, slow, a, b = columnar_paths.import_both(tmp_path, YoutubeTakeoutPlugin, file, page_size=1_000)
    assert took_columnar_path(fast) and fast.new == 10_800 and fast.pages == 12
    assert_same(fast, slow, a, b)
    read = YoutubeTakeoutPlugin().columnar_read(file, fast.cursor.replace('"record":12000', '"record":5000'))
    assert read is not None and read.start == 5000


@pytest.mark.parametrize("locale", LOCALES)
def test_time_lines_of_every_language_are_read_alike(tmp_path: Path, locale: str) -> None:
    """Time lines built from CLDR's medium and long patterns of each language, with zones
    of several kinds and days the clocks change: the English ones read in SQL, the rest
    by parse_takeout_time, the same times and zone readings either way."""
    entries = []
    times = [datetime(2020, 4, 1, 16, 32, 9), datetime(2023, 12, 9, 7, 5, 0), datetime(2024, 3, 10, 2, 30, 0)]
    zones = ["UTC", "CET", "EST", "EDT", "AEDT", "IST", "PST", "BST", "TRT", "GMT+03:00"]
    for n, (when, width, zone) in enumerate(itertools.product(times, ("medium", "long"), zones)):
        line = format_datetime(when, width, tzinfo=ZoneInfo("UTC"), locale=locale)
        text = re.sub(r"\s*(UTC|GMT)\S*$", "", line) + "\u202f" + zone
        entries.append(
            html_watch(url=f"https://www.youtube.com/watch?v=abcdefg{n:04d}", time=html.escape(text))
        )
    file = tmp_path / "watch-history.html"
    file.write_text(HTML_HEAD + "".join(entries) + HTML_TAIL, encoding="utf-8")
    assert_taken_and_stored_alike(tmp_path, YoutubeTakeoutPlugin, file)
