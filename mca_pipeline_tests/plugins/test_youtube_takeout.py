"""YoutubeTakeoutPlugin against Takeout watch-history files shaped like the real ones.

The JSON and HTML fixtures hold the same eight entries (newest first): five watches
(YouTube, YouTube Music, a URL-as-title watch, one without milliseconds, a re-watch
whose channel has no URL) and three skipped entries (an ad, a community post, a removed
video). The HTML shows the times in CET (UTC+1), so 7:23:45 PM CET is 18:23:45Z.
"""

from __future__ import annotations

import json
import logging
import re
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_datetime

from mca_pipeline.core import (
    AuthType,
    Credentials,
    DedupPolicy,
    EnrichmentSkipped,
    ErrorCode,
    MediaItem,
    MediaType,
    PluginRegistry,
    SourcePlugin,
    SyncContext,
    SyncResult,
)
from mca_pipeline.plugins.takeout_dates import LOCALES, parse_takeout_time
from mca_pipeline.plugins.youtube_takeout import (
    YoutubeTakeoutPlugin,
    parse_html_date,
    strip_watched,
    video_id_from_url,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "youtube_takeout"
JSON_FILE = FIXTURES / "watch-history.json"
HTML_FILE = FIXTURES / "watch-history.html"

VIDEO, MUSIC = MediaType.VIDEO, MediaType.MUSIC
WATCH = "https://www.youtube.com/watch?v="
MARLA_CHANNEL = "https://www.youtube.com/channel/UCz9y8x7w6v5u4t3s2r1q0pO"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def sync(path: Path | None, cursor: str = "", page_size: int = 10_000, **kwargs: Any) -> SyncResult:
    ctx = SyncContext(user_id="alice", page_size=page_size, **kwargs)
    return YoutubeTakeoutPlugin().sync(ctx, Credentials(file=path), cursor)


def read_all(path: Path) -> list[MediaItem]:
    result = sync(path)
    assert result.err is None, result.err
    assert result.has_more is False
    return result.items


def summary(item: MediaItem) -> tuple[Any, ...]:
    return (item.type, item.title, item.creator, item.url, item.external_id)


def pages(path: Path, page_size: int, cursor: str = "") -> list[SyncResult]:
    results = []
    while True:
        result = sync(path, cursor, page_size)
        assert result.err is None, result.err
        results.append(result)
        cursor = result.next_cursor
        if not result.has_more:
            return results


EXPECTED = [
    (
        VIDEO,
        "Marla Venn - Lantern Street (Official Video)",
        "MarlaVennVEVO",
        WATCH + "dQ3xY7kLmN0",
        "dQ3xY7kLmN0@2024-03-15T18:23:45Z",
    ),
    (
        MUSIC,
        "Paper Boats",
        "The Quiet Hours - Topic",
        "https://music.youtube.com/watch?v=Pb7Qk2mLx9A",
        "Pb7Qk2mLx9A@2024-03-15T17:45:10Z",
    ),
    (VIDEO, "YouTube video Xy12Ab34Cd5", None, WATCH + "Xy12Ab34Cd5", "Xy12Ab34Cd5@2024-03-13T21:05:33Z"),
    (
        VIDEO,
        "How to fold a paper boat & other crafts",
        "Craft Corner",
        WATCH + "K9pL2mN4qR8",
        "K9pL2mN4qR8@2024-03-12T07:30:00Z",
    ),
    (
        VIDEO,
        "Marla Venn - Lantern Street (Official Video)",
        "MarlaVennVEVO",
        WATCH + "dQ3xY7kLmN0",
        "dQ3xY7kLmN0@2024-03-10T12:00:00Z",
    ),
]


# --- plugin shape --------------------------------------------------------------------


def test_plugin_declares_a_file_import_with_skip_dedup() -> None:
    plugin = YoutubeTakeoutPlugin()
    assert plugin.name == "youtube_takeout"
    assert plugin.auth_type is AuthType.FILE_IMPORT
    assert plugin.auth_config is None
    assert plugin.dedup_policy is DedupPolicy.SKIP
    assert isinstance(plugin, SourcePlugin)
    registry = PluginRegistry()
    registry.register(plugin)
    assert registry.names() == ["youtube_takeout"]


def test_enrich_without_a_youtube_key_is_skipped_not_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("YOUTUBE_API_KEY", raising=False)
    items = read_all(JSON_FILE)
    with pytest.raises(EnrichmentSkipped, match="YOUTUBE_API_KEY"):
        YoutubeTakeoutPlugin().enrich(SyncContext(user_id="alice"), Credentials(), items)


# --- watch-history.json --------------------------------------------------------------


def test_json_watches_are_mapped_and_ads_posts_removed_are_skipped() -> None:
    items = read_all(JSON_FILE)
    assert [summary(i) for i in items] == EXPECTED
    assert [i.consumed_at for i in items] == [
        at("2024-03-15 18:23:45.123"),
        at("2024-03-15 17:45:10.002"),
        at("2024-03-13 21:05:33.870"),
        at("2024-03-12 07:30:00"),
        at("2024-03-10 12:00:00.500"),
    ]
    assert all(i.platform == "youtube_takeout" for i in items)
    assert all(i.duration is None and i.time_spent is None and i.tags == () for i in items)


def test_json_raw_metadata_keeps_the_original_title_and_channel_url() -> None:
    first, music, url_title, _, rewatch = read_all(JSON_FILE)
    assert first.raw_metadata == {
        "format": "json",
        "header": "YouTube",
        "title": "Watched Marla Venn - Lantern Street (Official Video)",
        "video_id": "dQ3xY7kLmN0",
        "channel_url": MARLA_CHANNEL,
        "products": ["YouTube"],
        "activity_controls": ["YouTube watch history"],
    }
    assert music.raw_metadata["header"] == "YouTube Music"
    # \u003d in the file decodes to "="
    assert url_title.raw_metadata["title"] == "Watched https://www.youtube.com/watch?v=Xy12Ab34Cd5"
    assert rewatch.raw_metadata["channel_url"] is None


def test_skipped_entries_are_counted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        result = sync(JSON_FILE)
    assert json.loads(result.next_cursor)["skipped"] == {"ad": 1, "removed": 1, "not_a_video": 1}
    logged = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert logged == [
        "youtube_takeout: watch-history.json: skipped 3 entries: 1 ads, "
        "1 removed or private videos, 1 not videos (posts, stories)"
    ]


def test_the_same_video_watched_twice_gives_two_items() -> None:
    items = read_all(JSON_FILE)
    assert len({i.external_id for i in items}) == len(items) == 5


def test_empty_array_gives_no_items_and_no_error(tmp_path: Path) -> None:
    path = tmp_path / "watch-history.json"
    path.write_text("[]\n")
    result = sync(path)
    assert (result.items, result.has_more, result.err) == ([], False, None)


def entry(**fields: Any) -> dict[str, Any]:
    base = {
        "header": "YouTube",
        "title": "Watched Paper Lanterns",
        "titleUrl": WATCH + "Pl4nT3rNs01",
        "time": "2024-05-01T10:00:00.000Z",
        "products": ["YouTube"],
        "activityControls": ["YouTube watch history"],
    }
    base.update(fields)
    return {k: v for k, v in base.items() if v is not None}


def write_json(tmp_path: Path, rows: list[Any], name: str = "watch-history.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(rows, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"titleUrl": None}, "removed"),
        ({"title": "Watched a video that has been removed", "titleUrl": None}, "removed"),
        ({"titleUrl": "https://www.youtube.com/post/UgkxAbCdEf"}, "not_a_video"),
        ({"titleUrl": "https://www.youtube.com/results?search_query=boats"}, "not_a_video"),
        ({"titleUrl": "https://www.youtube.com/watch?list=PL123"}, "not_a_video"),
        ({"details": [{"name": "From Google Ads"}]}, "ad"),
    ],
)
def test_entries_that_are_not_named_video_watches_are_skipped(
    tmp_path: Path, fields: dict[str, Any], reason: str
) -> None:
    result = sync(write_json(tmp_path, [entry(), entry(**fields)]))
    assert result.err is None
    assert len(result.items) == 1
    assert json.loads(result.next_cursor)["skipped"] == {reason: 1}


def test_a_localized_title_loses_its_prefix_but_keeps_it_in_raw(tmp_path: Path) -> None:
    (item,) = read_all(write_json(tmp_path, [entry(title="Vous avez regardé Paper Lanterns")]))
    assert item.title == "Paper Lanterns"
    assert item.raw_metadata["title"] == "Vous avez regardé Paper Lanterns"


@pytest.mark.parametrize(
    ("title", "expected"),
    [
        ("Watched Lantern Street", "Lantern Street"),
        ("Watched\xa0Lantern Street", "Lantern Street"),
        ("Angesehen: Lantern Street", "Lantern Street"),
        ("Lantern Street angesehen", "Lantern Street"),
        ("Lantern Street hat angesehen", "Lantern Street"),
        ("Vous avez regardé Lantern Street", "Lantern Street"),
        ("Has visto Lantern Street", "Lantern Street"),
        ("Lantern Street", "Lantern Street"),
        ("Watched Watched", "Watched"),
    ],
)
def test_strip_watched(title: str, expected: str) -> None:
    assert strip_watched(title) == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://www.youtube.com/watch?v=dQ3xY7kLmN0", "dQ3xY7kLmN0"),
        ("https://music.youtube.com/watch?v=Pb7Qk2mLx9A", "Pb7Qk2mLx9A"),
        ("https://www.youtube.com/watch?v=dQ3xY7kLmN0&t=42s", "dQ3xY7kLmN0"),
        ("https://m.youtube.com/watch?v=dQ3xY7kLmN0", "dQ3xY7kLmN0"),
        ("https://youtu.be/dQ3xY7kLmN0", "dQ3xY7kLmN0"),
        ("https://www.youtube.com/post/UgkxR3mQ8vLpZ2nW9bYcA1sT4uV6wX8yZ0aB", None),
        ("https://www.youtube.com/channel/UCz9y8x7w6v5u4t3s2r1q0pO", None),
        ("https://example.com/watch?v=dQ3xY7kLmN0", None),
        ("https://www.youtube.com/watch?v=", None),
        ("https://www.youtube.com/watch?v=<script>", None),
        ("not a url", None),
        ("http://[::1", None),
    ],
)
def test_video_id_from_url(url: str, expected: str | None) -> None:
    assert video_id_from_url(url) == expected


# --- watch-history.html --------------------------------------------------------------


def test_html_gives_the_same_watches_and_ids_as_json() -> None:
    items = read_all(HTML_FILE)
    assert [summary(i) for i in items] == EXPECTED
    # the HTML has whole seconds only, and CET converted to UTC
    assert [i.consumed_at for i in items] == [
        at("2024-03-15 18:23:45"),
        at("2024-03-15 17:45:10"),
        at("2024-03-13 21:05:33"),
        at("2024-03-12 07:30:00"),
        at("2024-03-10 12:00:00"),
    ]
    assert [i.external_id for i in items] == [i.external_id for i in read_all(JSON_FILE)]


def test_html_raw_metadata_comes_from_the_content_and_caption_cells() -> None:
    first, music, url_title, *_ = read_all(HTML_FILE)
    assert first.raw_metadata == {
        "format": "html",
        "header": "YouTube",
        "title": "Watched Marla Venn - Lantern Street (Official Video)",
        "video_id": "dQ3xY7kLmN0",
        "channel_url": MARLA_CHANNEL,
        "products": ["YouTube"],
        "activity_controls": ["YouTube watch history"],
        "time_zone": {
            "written": "CET",
            "offset": "+01:00",
            "zone": "Africa/Algiers",
            "source": "cldr",
            "resolved": True,
        },
        "date_order": "month name",
    }
    assert music.type is MUSIC and music.raw_metadata["header"] == "YouTube Music"
    assert url_title.raw_metadata["title"] == "Watched https://www.youtube.com/watch?v=Xy12Ab34Cd5"


def test_html_skips_are_counted_and_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        result = sync(HTML_FILE)
    assert json.loads(result.next_cursor) == {
        "file": json.loads(result.next_cursor)["file"],
        "offset": HTML_FILE.stat().st_size,
        "skipped": {"ad": 1, "removed": 1, "not_a_video": 1},
    }
    logged = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(logged) == 1 and "watch-history.html: skipped 3 entries: 1 ads" in logged[0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Mar 15, 2024, 6:23:45 PM GMT", "2024-03-15 18:23:45"),
        ("Mar 15, 2024, 6:23:45\u202fPM UTC", "2024-03-15 18:23:45"),
        ("Mar 15, 2024, 7:23:45 PM CET", "2024-03-15 18:23:45"),
        ("Jul 1, 2024, 8:00:00 PM CEST", "2024-07-01 18:00:00"),
        ("Mar 15, 2024, 10:23:45 AM PST", "2024-03-15 18:23:45"),
        ("Jul 1, 2024, 11:00:00 AM PDT", "2024-07-01 18:00:00"),
        ("Jul 1, 2024, 7:00:00 PM BST", "2024-07-01 18:00:00"),
        ("Jan 1, 2024, 12:30:00 AM GMT", "2024-01-01 00:30:00"),
        ("Jan 1, 2024, 12:30:00 PM GMT", "2024-01-01 12:30:00"),
        ("Nov 28, 2013, 12:53:04 AM CET", "2013-11-27 23:53:04"),
        ("15 Mar 2024, 18:23:45 GMT", "2024-03-15 18:23:45"),
        ("15 Mar 2024, 19:23:45 GMT+01:00", "2024-03-15 18:23:45"),
        ("Sept 3, 2024, 5:30:00 AM IST".replace("IST", "GMT+5:30"), "2024-09-03 00:00:00"),
        ("Mar 15, 2024, 11:23:45 PM AEDT", "2024-03-15 12:23:45"),
    ],
)
def test_parse_html_date(text: str, expected: str) -> None:
    assert parse_html_date(text) == at(expected)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("Foo 15, 2024, 6:23:45 PM GMT", "not a date with a day, month and year"),
        ("Feb 30, 2024, 6:23:45 PM GMT", "impossible date"),
        ("Mar 15, 2024, 13:23:45 PM GMT", "not a 12-hour clock hour"),
        ("15.03.2024 GMT", "no time of day"),
        ("Jan 1, 0001, 12:00:01 AM GMT+05:00", "outside the calendar"),
        ("Jan 1, 99999999999999999999, 1:00:00 PM GMT", "impossible date"),
        ("", "no time of day"),
    ],
)
def test_parse_html_date_rejects(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        parse_html_date(text)


def test_html_without_takeout_markup_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "watch-history.html"
    path.write_text("<!DOCTYPE html><html><body><p>Saved from the browser</p></body></html>\n")
    result = sync(path)
    assert result.err is not None and result.err.code is ErrorCode.FILE_PARSE_ERROR
    assert "not a Takeout activity page" in result.err.message


def test_html_with_an_empty_grid_gives_no_items(tmp_path: Path) -> None:
    path = tmp_path / "watch-history.html"
    path.write_text('<html><body><div class="mdl-grid"></div></body></html>')
    assert (sync(path).items, sync(path).err) == ([], None)


def test_html_entries_written_without_the_usual_tag_still_parse_in_one_page(tmp_path: Path) -> None:
    """Offsets come from the exact `<div class="outer-cell` bytes; entries written
    differently cannot be resumed at, so the page simply grows past page_size."""
    text = HTML_FILE.read_text(encoding="utf-8").replace('<div class="outer-cell', "<div class='outer-cell")
    text = text.replace('mdl-shadow--2dp">', "mdl-shadow--2dp'>")
    path = tmp_path / "watch-history.html"
    path.write_text(text, encoding="utf-8")
    result = sync(path, page_size=2)
    assert result.err is None and result.has_more is False
    assert [summary(i) for i in result.items] == EXPECTED


# --- paging and cursors --------------------------------------------------------------


@pytest.mark.parametrize("path", [JSON_FILE, HTML_FILE], ids=["json", "html"])
def test_pages_of_two_concatenate_to_the_one_shot_result(path: Path) -> None:
    results = pages(path, 2)
    assert [len(r.items) for r in results] == [2, 2, 1]
    assert [r.has_more for r in results] == [True, True, False]
    assert [i for r in results for i in r.items] == read_all(path)
    # skips are carried in the cursor, so the last page knows the whole file's counts; a
    # page ends at the first watch that does not fit, so the ad and the post between the
    # second and the third watch are counted by the first page
    assert json.loads(results[0].next_cursor)["skipped"] == {"ad": 1, "not_a_video": 1}
    assert json.loads(results[1].next_cursor)["skipped"] == {"ad": 1, "not_a_video": 1}
    assert json.loads(results[2].next_cursor)["skipped"] == {"ad": 1, "removed": 1, "not_a_video": 1}


@pytest.mark.parametrize("path", [JSON_FILE, HTML_FILE], ids=["json", "html"])
def test_skips_are_logged_once_for_a_file_read_in_pages(path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO):
        results = pages(path, 2)
        again = sync(path, results[-1].next_cursor)
    assert (again.items, again.has_more, again.err) == ([], False, None)
    logged = [r.getMessage() for r in caplog.records if "skipped" in r.getMessage()]
    assert len(logged) == 1 and "skipped 3 entries" in logged[0]


@pytest.mark.parametrize("path", [JSON_FILE, HTML_FILE], ids=["json", "html"])
def test_a_page_ending_at_the_last_watch_says_nothing_more(path: Path) -> None:
    result = sync(path, page_size=5)
    assert (len(result.items), result.has_more) == (5, False)


@pytest.mark.parametrize("path", [JSON_FILE, HTML_FILE], ids=["json", "html"])
def test_a_later_call_resumes_from_the_cursor(path: Path) -> None:
    first = sync(path, page_size=3)
    assert json.loads(first.next_cursor)["offset"] > 0
    rest = sync(path, first.next_cursor)
    assert [summary(i) for i in rest.items] == EXPECTED[3:]
    assert rest.has_more is False


def test_a_cursor_from_another_file_starts_at_the_beginning() -> None:
    foreign = sync(JSON_FILE, page_size=2).next_cursor
    result = sync(HTML_FILE, foreign)
    assert [summary(i) for i in result.items] == EXPECTED


@pytest.mark.parametrize("path", [JSON_FILE, HTML_FILE], ids=["json", "html"])
@pytest.mark.parametrize("cursor", ["not json", '{"file": 3}', "[]", '{"offset": -4}'])
def test_an_unreadable_cursor_starts_at_the_beginning(path: Path, cursor: str) -> None:
    assert len(sync(path, cursor).items) == 5


def test_an_html_cursor_not_at_an_entry_starts_at_the_beginning() -> None:
    stored = json.loads(sync(HTML_FILE, page_size=2).next_cursor)
    stored["offset"] += 7
    assert len(sync(HTML_FILE, json.dumps(stored)).items) == 5


def test_cancelled_sync_returns_nothing_and_keeps_the_cursor() -> None:
    ctx = SyncContext(user_id="alice")
    ctx.cancelled.set()
    result = YoutubeTakeoutPlugin().sync(ctx, Credentials(file=JSON_FILE), "keep-me")
    assert (result.items, result.next_cursor, result.has_more, result.err) == ([], "keep-me", True, None)


# --- broken files --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected", "items"),
    [
        ("truncated.json", ["line 25", "truncated"], 2),
        ("not_array.json", ["line 1", "expected a JSON array"], 0),
        ("binary.json", ["line 1", "NUL"], 0),
        ("empty.json", ["line 1", "empty"], 0),
        ("truncated.html", ["line 9", "truncated"], 2),
    ],
)
def test_files_that_are_not_whole_takeout_histories_give_a_located_file_parse_error(
    name: str, expected: list[str], items: int
) -> None:
    result = sync(FIXTURES / name)
    assert result.err is not None
    assert result.err.code is ErrorCode.FILE_PARSE_ERROR
    assert result.err.retry is False
    assert result.err.message.startswith(name)
    for text in expected:
        assert text in result.err.message
    assert len(result.items) == items
    assert result.has_more is False


def test_an_entry_without_a_time_is_skipped_with_its_line_and_the_rest_imported() -> None:
    result = sync(FIXTURES / "missing_time.json")
    assert result.err is None
    assert result.items[0].title == "Marla Venn - Lantern Street (Official Video)"
    [skipped] = result.skipped
    assert (skipped.field, skipped.reason, skipped.line) == ("time", "time is missing", 12)


def test_the_zone_that_rejected_a_file_now_resolves_from_the_tz_data() -> None:
    result = sync(FIXTURES / "unknown_zone.html")
    assert result.err is None and result.skipped == []
    ist = next(i for i in result.items if i.raw_metadata["time_zone"]["written"] == "IST")
    assert ist.consumed_at == at("2024-03-12 07:30:00")  # 1:00 PM at +05:30
    assert ist.raw_metadata["time_zone"]["offset"] == "+05:30"
    assert ist.raw_metadata["time_zone"]["zone"] == "Asia/Kolkata"


def test_a_zip_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "takeout-20240315T182345Z-001.zip"
    path.write_bytes(b"PK\x03\x04" + b"\x00" * 40)
    err = sync(path).err
    assert err is not None and "zip archive" in err.message


def test_no_file_given() -> None:
    result = sync(None, "c")
    assert result.err is not None and result.err.code is ErrorCode.FILE_PARSE_ERROR
    assert result.next_cursor == "c"


def test_a_missing_file() -> None:
    result = sync(FIXTURES / "nope.json")
    assert result.err is not None and "does not exist" in result.err.message


@pytest.mark.parametrize(
    ("bad", "field", "reason"),
    [
        (entry(time=None), "time", "time is missing"),
        (entry(time=1710527025), "time", "time is not a time"),
        (entry(time="15/03/2024 18:23"), "time", "time is not a time"),
        (entry(title=42), "title", "title is not text"),
        (entry(titleUrl=["https://www.youtube.com/watch?v=x"]), "titleUrl", "titleUrl is not text"),
        (entry(header=None, subtitles=[{"name": 7}]), None, None),
    ],
)
def test_bad_entries_are_skipped_naming_the_field_and_line(
    tmp_path: Path, bad: dict[str, Any], field: str | None, reason: str | None
) -> None:
    path = write_json(tmp_path, [entry(), bad])
    result = sync(path)
    assert result.err is None
    assert len(result.items) == (2 if field is None else 1)
    if field is None:  # a non-string channel name is dropped, not fatal
        assert result.items[1].creator is None and result.skipped == []
        return
    [skipped] = result.skipped
    assert (skipped.field, skipped.reason) == (field, reason)
    lines = path.read_text(encoding="utf-8").splitlines()
    start = next(n for n, line in enumerate(lines, 1) if n > 2 and line.strip() == "{")
    key = f'"{field}":'
    expected = next((n for n, line in enumerate(lines, 1) if n > start and key in line), start)
    assert skipped.line == expected


def test_a_non_object_element_is_skipped(tmp_path: Path) -> None:
    result = sync(write_json(tmp_path, [entry(), "Watched something"]))
    assert len(result.items) == 1 and result.err is None
    assert [r.reason for r in result.skipped] == ["entry is not an object"]


def test_an_html_entry_without_a_time_is_skipped_with_its_line_and_byte(tmp_path: Path) -> None:
    text = HTML_FILE.read_text(encoding="utf-8").replace("Mar 14, 2024, 10:00:00 AM CET", "")
    path = tmp_path / "watch-history.html"
    path.write_text(text, encoding="utf-8")
    result = sync(path)
    assert result.err is None
    [skipped] = result.skipped
    assert (skipped.field, skipped.line) == ("date", 10)
    assert path.read_bytes()[skipped.byte_offset or 0 :].startswith(b'<div class="outer-cell')
    assert len(result.items) == len(read_all(HTML_FILE))  # the entry was a post, left out before


def test_an_html_entry_with_an_unknown_zone_is_kept_as_utc_and_flagged(tmp_path: Path) -> None:
    text = HTML_FILE.read_text(encoding="utf-8").replace(
        "Mar 15, 2024, 7:23:45 PM CET", "Mar 15, 2024, 7:23:45 PM QQT"
    )
    path = tmp_path / "watch-history.html"
    path.write_text(text, encoding="utf-8")
    first = sync(path).items[0]
    assert first.consumed_at == at("2024-03-15 19:23:45")
    assert first.raw_metadata["time_zone"] == {
        "written": "QQT",
        "offset": "+00:00",
        "zone": None,
        "source": "unresolved",
        "resolved": False,
    }


# --- big files -----------------------------------------------------------------------


def _big_json(path: Path, count: int) -> None:
    """A Takeout-style file of `count` entries, newest first; every 100th is an ad."""
    with path.open("w", encoding="utf-8") as f:
        f.write("[")
        for n in range(count):
            seconds = 1_710_000_000 - n * 600
            stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S.123Z")
            ad = ',\n  "details": [{\n    "name": "From Google Ads"\n  }]' if n % 100 == 99 else ""
            f.write(
                ("" if n == 0 else ",")
                + '{\n  "header": "YouTube",\n'
                + f'  "title": "Watched Video number {n}",\n'
                + f'  "titleUrl": "https://www.youtube.com/watch?v\\u003dv{n:010d}",\n'
                + f'  "subtitles": [{{\n    "name": "Channel {n % 50}",\n'
                + f'    "url": "https://www.youtube.com/channel/UC{n % 50:022d}"\n  }}],\n'
                + f'  "time": "{stamp}",\n  "products": ["YouTube"]{ad},\n'
                + '  "activityControls": ["YouTube watch history"]\n}'
            )
        f.write("]\n")


def _page_peak(path: Path, cursor: str, page_size: int) -> tuple[int, int]:
    """Items and peak traced memory of one sync call (tracemalloc is slow, so it
    watches one page, resumed deep inside the file, rather than the whole file)."""
    tracemalloc.start()
    try:
        result = sync(path, cursor, page_size)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.err is None, result.err
    return len(result.items), peak


def test_a_120000_entry_json_file_is_paged_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "watch-history.json"
    _big_json(path, 120_000)
    counts, ids, cursors = [], set(), [""]
    while True:
        result = sync(path, cursors[-1], page_size=10_000)
        assert result.err is None, result.err
        counts.append(len(result.items))
        ids.update(i.external_id for i in result.items)
        cursors.append(result.next_cursor)
        if not result.has_more:
            break
    # 120,000 entries minus 1,200 ads
    assert counts == [10_000] * 11 + [8_800]
    assert len(ids) == 118_800
    assert json.loads(cursors[-1])["skipped"] == {"ad": 1_200}
    items, peak = _page_peak(path, cursors[6], 10_000)
    assert items == 10_000
    assert peak < 100 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def _big_html(path: Path, count: int) -> None:
    """Takeout markup on one long line, as real exports are; every 100th entry is an ad."""
    source = HTML_FILE.read_text(encoding="utf-8").splitlines()
    head, first, ad = "\n".join(source[:6]), source[6], source[8]
    with path.open("w", encoding="utf-8") as f:
        f.write(head)
        for n in range(count):
            template = ad if n % 100 == 99 else first
            f.write(template.replace("dQ3xY7kLmN0", f"v{n:010d}").replace("Mar 15", f"Mar {n % 28 + 1}"))
        f.write("</div></body></html>")


def test_a_long_one_line_html_file_is_paged_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "watch-history.html"
    _big_html(path, 10_000)
    results, cursors, seen = [], [""], set()
    while True:
        result = sync(path, cursors[-1], page_size=2_500)
        assert result.err is None, result.err
        results.append((len(result.items), result.has_more))
        seen.update(i.url for i in result.items)
        cursors.append(result.next_cursor)
        if not result.has_more:
            break
    assert results == [(2_500, True)] * 3 + [(2_400, False)]
    assert len(seen) == 9_900  # every watch exactly once across 64 KiB block edges
    assert json.loads(cursors[-1])["skipped"] == {"ad": 100}
    items, peak = _page_peak(path, cursors[2], 2_500)
    assert items == 2_500
    assert peak < 50 * 2**20, f"peak {peak / 2**20:.1f} MiB"


@pytest.mark.parametrize("opened", ["</", "<!--", '<a href="'], ids=["end-tags", "comment", "attribute"])
def test_a_construct_left_open_for_pages_is_rejected_there_keeping_the_entries_before(
    tmp_path: Path, opened: str
) -> None:
    """A crafted file (a Takeout entry, then `</` repeated over 400 KB) once took the
    standard library's HTML parser time growing as the square of its size."""
    path = tmp_path / "watch-history.html"
    real = HTML_FILE.read_text()
    body_end = real.rindex("</div>") + len("</div>")
    path.write_text(real[:body_end] + '<div class="outer-cell">' + opened * 200_000)
    result = sync(path)
    assert result.err is not None and result.err.code is ErrorCode.FILE_PARSE_ERROR
    assert "left open for more than 32 KiB" in result.err.message
    assert len(result.items) == len(read_all(HTML_FILE)), "the entries before it are read"


# --- real exports, languages and zones (fixtures/youtube_takeout/real/, see SOURCES.md) -------

REAL = FIXTURES / "real"


def test_a_real_turkish_account_s_trt_times_import_at_plus_three() -> None:
    result = sync(REAL / "watch-history_TRT.html")
    assert result.err is None and result.skipped == []
    assert len(result.items) == 8
    first = result.items[0]
    assert first.title == "Google Cloud Ücretsiz Deneme Nasıl Kullanılır"
    assert first.consumed_at == at("2024-01-13 13:16:16")  # Jan 13, 2024, 4:16:16 PM TRT
    assert first.raw_metadata["time_zone"] == {
        "written": "TRT",
        "offset": "+03:00",
        "zone": "Europe/Istanbul",
        "source": "retired",
        "resolved": True,
    }


def test_a_real_us_account_with_ads_keeps_the_watches_and_counts_the_ads() -> None:
    result = sync(REAL / "watch-history_EST.html")
    assert result.err is None and result.skipped == []
    assert len(result.items) == 3
    assert result.left_out == {"ad (From Google Ads)": 5}
    assert result.items[0].consumed_at == at("2025-02-19 16:19:14")  # 11:19:14 AM EST


def test_a_french_page_imports_with_its_titles_times_and_zones() -> None:
    items = sync(REAL / "watch-history_fr_rebuilt.html").items
    assert [i.title for i in items] == [
        "Google Cloud Ücretsiz Deneme Nasıl Kullanılır",
        "Derivative of ln(x^2)",
        "İstatistik : Hipotez Testlerinde P Değeri Kavramı (P Value)",
    ]
    assert [i.consumed_at for i in items] == [
        at("2026-06-11 07:53:15"),
        at("2026-05-01 00:25:45"),
        at("2020-04-01 16:32:09"),
    ]
    assert items[0].raw_metadata["title"].startswith("Vous avez regardé")


@pytest.mark.parametrize(
    ("text", "utc", "offset", "zone"),
    [
        ("Jan 13, 2024, 4:16:16 PM TRT", "2024-01-13 13:16:16", "+03:00", "Europe/Istanbul"),
        ("Jan 13, 2024, 4:16:16\u202fPM PKT", "2024-01-13 11:16:16", "+05:00", "Asia/Karachi"),
        ("Jan 13, 2024, 4:16:16 PM IST", "2024-01-13 10:46:16", "+05:30", "Asia/Kolkata"),
        ("13 Jan 2024, 16:16:16 BST".replace("Jan", "Jul"), "2024-07-13 15:16:16", "+01:00", "Europe/London"),
        ("Jan 5, 2024, 9:05:00 AM CST", "2024-01-05 15:05:00", "-06:00", "America/Chicago"),
        ("2024年1月5日 9:05:00 CST", "2024-01-05 01:05:00", "+08:00", "Asia/Shanghai"),
        ("15.03.2024, 18:23:45 MEZ", "2024-03-15 17:23:45", "+01:00", None),
        ("1 Nis 2020 16:32:09 TSİ", "2020-04-01 13:32:09", "+03:00", "Europe/Istanbul"),
        ("1 de abr. de 2020 16:32:09 BRT", "2020-04-01 19:32:09", "-03:00", None),
        ("1 апр. 2020 г., 16:32:09 MSK", "2020-04-01 13:32:09", "+03:00", "Europe/Moscow"),
        ("2024. 3. 15. 오후 6:23:45 KST", "2024-03-15 09:23:45", "+09:00", "Asia/Seoul"),
        ("Mar 15, 2024, 7:23:45 PM GMT+01:00", "2024-03-15 18:23:45", "+01:00", None),
    ],
)
def test_zone_abbreviations_resolve_from_cldr_and_the_tz_database(
    text: str, utc: str, offset: str, zone: str | None
) -> None:
    reading = parse_takeout_time(text)
    assert reading.at == at(utc)
    assert reading.zone.resolved and reading.zone.as_metadata()["offset"] == offset
    if zone is not None:
        assert reading.zone.zone == zone


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("when", [datetime(2020, 4, 1, 16, 32, 9), datetime(2023, 12, 9, 7, 5, 0)])
def test_every_language_takeout_writes_reads_back_to_the_same_time(locale: str, when: datetime) -> None:
    """Time lines built from CLDR's own medium and long patterns of each language."""
    for width in ("medium", "long"):
        line = format_datetime(when, width, tzinfo=ZoneInfo("UTC"), locale=locale)
        text = re.sub(r"\s*(UTC|GMT)\S*$", "", line) + " UTC"
        assert parse_takeout_time(text).at == when.replace(tzinfo=UTC), (locale, width, text)


def test_recognizes_watch_histories_by_content_and_not_other_takeout_pages() -> None:
    plugin = YoutubeTakeoutPlugin()
    ours = [JSON_FILE, HTML_FILE, *sorted(REAL.iterdir())]
    assert all(plugin.recognizes("renamed", path.read_bytes()[:65536]) for path in ours)
    stylesheet_only = b"<html><head><title>My Activity History</title><style>.mdl-typography--title{}"
    assert plugin.recognizes("watch-history.html", stylesheet_only)
    assert not plugin.recognizes("search-history.html", stylesheet_only)
    search = b'[{"header": "YouTube", "title": "Searched for cats", "titleUrl": "https://www.youtube.com/results?search_query\\u003dcats"}]'
    assert not plugin.recognizes("search-history.json", search)
    others = [
        FIXTURES.parent / "spotify_export" / "StreamingHistory0.json",
        FIXTURES.parent / "tiktok" / "user_data.json",
        FIXTURES / "binary.json",
    ]
    assert not any(plugin.recognizes(path.name, path.read_bytes()[:65536]) for path in others)


def test_a_real_italian_json_history_loses_its_hai_guardato_prefix() -> None:
    result = sync(REAL / "it-hai-guardato.json")
    assert result.err is None and result.skipped == []
    assert len(result.items) == 8
    assert not any(i.title.startswith("Hai guardato") for i in result.items)
    assert all(i.raw_metadata["title"].startswith("Hai guardato ") for i in result.items)


def test_a_real_australian_page_reads_day_first_dates_in_aedt() -> None:
    items = sync(REAL / "en-AU-AEDT.html").items
    assert len(items) == 10
    assert items[0].consumed_at == at("2021-11-29 07:06:16")  # 29 Nov 2021, 18:06:16 AEDT
    assert items[0].raw_metadata["time_zone"]["offset"] == "+11:00"


def test_a_real_json_history_with_ads_counts_them_as_left_out() -> None:
    result = sync(REAL / "en-es-ads.json")
    assert result.err is None and result.skipped == []
    assert (len(result.items), result.left_out) == (22, {"ad (From Google Ads)": 8})
