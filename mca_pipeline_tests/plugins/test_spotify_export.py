"""SpotifyExportPlugin against fixture files shaped like real Spotify data exports.

Expected values were worked out by hand from the fixtures: consumed_at is the START of a
play (the export's `ts`/`endTime` is the end) minus ms_played, truncated to seconds.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

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
from mca_pipeline.plugins.spotify_export import PERSONAL_FIELDS, SpotifyExportPlugin, plausible_epoch_seconds
from mca_pipeline_tests.conftest import all_pages

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "spotify_export"
NEW_0 = FIXTURES / "Streaming_History_Audio_2023-2024_0.json"
NEW_1 = FIXTURES / "Streaming_History_Audio_2023-2024_1.json"
OVERLAP = FIXTURES / "Streaming_History_Audio_2024_0_overlap.json"
ENDSONG = FIXTURES / "endsong_0.json"

MUSIC, PODCAST = MediaType.MUSIC, MediaType.PODCAST
TRACK, EPISODE = "https://open.spotify.com/track/", "https://open.spotify.com/episode/"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def ms(value: int) -> timedelta:
    return timedelta(milliseconds=value)


def sync(path: Path | None, cursor: str = "", page_size: int = 10_000) -> SyncResult:
    ctx = SyncContext(user_id="alice", page_size=page_size)
    return SpotifyExportPlugin().sync(ctx, Credentials(file=path), cursor)


def read_all(path: Path) -> list[MediaItem]:
    result = sync(path)
    assert result.err is None, result.err
    assert result.has_more is False
    return result.items


def summary(item: MediaItem) -> tuple[Any, ...]:
    return (
        item.type,
        item.title,
        item.creator,
        item.consumed_at,
        item.time_spent,
        item.url,
        item.raw_metadata["kind"],
    )


def write_json(tmp_path: Path, name: str, rows: Any) -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(rows, indent=4, ensure_ascii=False), encoding="utf-8")
    return path


# --- plugin shape --------------------------------------------------------------------


def test_plugin_declares_a_file_import_with_skip_dedup() -> None:
    plugin = SpotifyExportPlugin()
    assert plugin.name == "spotify_export"
    assert plugin.auth_type is AuthType.FILE_IMPORT
    assert plugin.auth_config is None
    assert plugin.dedup_policy is DedupPolicy.SKIP
    assert isinstance(plugin, SourcePlugin)
    registry = PluginRegistry()
    registry.register(plugin)
    assert registry.names() == ["spotify_export"]


def test_enrich_without_a_lastfm_key_is_skipped_not_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LASTFM_API_KEY", raising=False)
    items = read_all(NEW_1)
    ctx = SyncContext(user_id="alice")
    with pytest.raises(EnrichmentSkipped, match="LASTFM_API_KEY"):
        SpotifyExportPlugin().enrich(ctx, Credentials(file=NEW_1), items)


# --- extended history, newer schema --------------------------------------------------


def test_newer_schema_maps_every_kind_of_row() -> None:
    items = read_all(NEW_0)
    assert [summary(i) for i in items] == [
        (
            MUSIC,
            "Lantern Street",
            "Marla Venn",
            at("2023-11-04 21:11:47"),
            ms(201443),
            TRACK + "6tYk2W9bQ1nVx8ZrP3mLcD",
            "track",
        ),
        (
            MUSIC,
            "Ночной поезд",
            "Сергей Лесной",
            at("2023-11-04 21:15:09"),
            ms(233000),
            TRACK + "3vQm8Xk1LpZ7rT2nW9bYcA",
            "track",
        ),
        (
            PODCAST,
            "Ep. 42 — Tides",
            "Shoreline Talks",
            at("2023-11-05 07:19:57"),
            ms(1532077),
            EPISODE + "2bQ9xL0mWc3YtR8nP5vKa1",
            "episode",
        ),
        (PODCAST, "The Salt Road", None, at("2023-11-06 19:40:00"), ms(1800000), None, "audiobook"),
        (MUSIC, "Unknown track", None, at("2023-11-07 12:00:31"), ms(9013), None, "unknown"),
        (
            MUSIC,
            "星の歌",
            "ゆめの森",
            at("2023-11-08 17:20:00"),  # offline: offline_timestamp, not ts - ms_played
            ms(187000),
            TRACK + "1aB2cD3eF4gH5iJ6kL7mN8",
            "track",
        ),
        (
            MUSIC,
            "Paper Boats",
            "The Quiet Hours",
            at("2023-11-08 17:23:00"),
            ms(215500),
            TRACK + "5pQ6rS7tU8vW9xY0zA1bC2",
            "track",
        ),
        (
            MUSIC,
            "Lantern Street",
            "Marla Venn",
            at("2023-11-09 09:04:55"),
            ms(4210),
            TRACK + "6tYk2W9bQ1nVx8ZrP3mLcD",
            "track",
        ),
    ]
    assert all(i.platform == "spotify_export" and i.duration is None and i.tags == () for i in items)


def test_newer_schema_track_keeps_play_details_in_raw_metadata() -> None:
    first = read_all(NEW_0)[0]
    assert first.external_id == "2023-11-04T21:15:09Z|spotify:track:6tYk2W9bQ1nVx8ZrP3mLcD|201443"
    assert first.raw_metadata == {
        "schema": "extended",
        "kind": "track",
        "ts": "2023-11-04T21:15:09Z",
        "ms_played": 201443,
        "client_platform": "android",
        "conn_country": "DE",
        "reason_start": "trackdone",
        "reason_end": "trackdone",
        "shuffle": False,
        "skipped": False,
        "offline": False,
        "offline_timestamp": None,
        "incognito_mode": False,
        "album": "Night Lines",
        "uri": "spotify:track:6tYk2W9bQ1nVx8ZrP3mLcD",
    }


def test_audiobook_row_keeps_book_and_chapter() -> None:
    book = read_all(NEW_0)[3]
    assert book.external_id == "2023-11-06T20:10:00Z|spotify:chapter:7hN3qW8eRt2YuI5oP9aSdF|1800000"
    assert book.raw_metadata["audiobook_title"] == "The Salt Road"
    assert book.raw_metadata["audiobook_chapter_title"] == "Chapter 3: The Ferry"
    assert book.raw_metadata["audiobook_uri"] == "spotify:audiobook:4kR2mT9sLp0QvX7nB1cYzE"
    assert book.raw_metadata["uri"] == "spotify:chapter:7hN3qW8eRt2YuI5oP9aSdF"


def test_all_null_row_is_kept_so_play_time_is_not_lost() -> None:
    unknown = read_all(NEW_0)[4]
    assert unknown.external_id == "2023-11-07T12:00:41Z||9013"
    assert unknown.raw_metadata["uri"] is None
    assert unknown.raw_metadata["album"] is None
    assert unknown.raw_metadata["reason_end"] == "unknown"


def test_rows_sharing_a_ts_stay_two_items_with_distinct_ids() -> None:
    items = read_all(NEW_0)
    shared = [i for i in items if i.raw_metadata["ts"] == "2023-11-08T18:30:12Z"]
    assert [i.external_id for i in shared] == [
        "2023-11-08T18:30:12Z|spotify:track:1aB2cD3eF4gH5iJ6kL7mN8|187000|offline 1699464000",
        "2023-11-08T18:30:12Z|spotify:track:5pQ6rS7tU8vW9xY0zA1bC2|215500|offline 1699464180",
    ]
    assert [i.raw_metadata["offline"] for i in shared] == [True, True]
    # seconds kept as is, milliseconds converted to seconds
    assert [i.raw_metadata["offline_timestamp"] for i in shared] == [1699464000, 1699464180]
    assert len({i.external_id for i in items}) == len(items) == 8


def test_skipped_null_and_incognito_are_stored_as_given() -> None:
    last = read_all(NEW_0)[7]
    assert last.raw_metadata["skipped"] is None
    assert last.raw_metadata["incognito_mode"] is True
    assert last.raw_metadata["reason_end"] == "fwdbtn"


# --- extended history, older schema --------------------------------------------------


def test_older_endsong_schema_maps_tracks_and_episodes() -> None:
    items = read_all(ENDSONG)
    assert [summary(i) for i in items] == [
        (
            MUSIC,
            "Lantern Street",
            "Marla Venn",
            at("2021-02-13 23:53:56"),
            ms(245000),
            TRACK + "6tYk2W9bQ1nVx8ZrP3mLcD",
            "track",
        ),
        (
            PODCAST,
            "Ep. 42 — Tides",
            "Shoreline Talks",
            at("2021-02-14 07:37:18"),
            ms(1532077),
            EPISODE + "2bQ9xL0mWc3YtR8nP5vKa1",
            "episode",
        ),
        (
            MUSIC,
            "Paper Boats",
            "The Quiet Hours",
            at("2021-02-14 09:09:29"),
            ms(30500),
            TRACK + "5pQ6rS7tU8vW9xY0zA1bC2",
            "track",
        ),
        (
            MUSIC,
            "星の歌",
            "ゆめの森",
            at("2021-02-14 09:10:00"),
            ms(240000),
            TRACK + "1aB2cD3eF4gH5iJ6kL7mN8",
            "track",
        ),
        (
            MUSIC,
            "Harbour Lights",
            "The Quiet Hours",
            at("2021-02-15 18:59:59"),
            ms(1000),
            TRACK + "0kJ9hG8fE7dC6bA5zY4xW3",
            "track",
        ),
    ]
    assert items[1].external_id == "2021-02-14T08:02:51Z|spotify:episode:2bQ9xL0mWc3YtR8nP5vKa1|1532077"
    assert items[1].raw_metadata["client_platform"] == "iOS 14.4 (iPhone12,1)"
    assert items[1].raw_metadata["skipped"] is None
    assert {i.raw_metadata["schema"] for i in items} == {"extended"}


def test_offline_timestamp_is_kept_only_when_plausible() -> None:
    stamps = [i.raw_metadata["offline_timestamp"] for i in read_all(ENDSONG)]
    # seconds, seconds, 41 (nonsense), milliseconds, 0 (nonsense)
    assert stamps == [1613260436, 1613289000, None, 1613300000, None]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1613289000, 1613289000),
        (1613289000999, 1613289000),
        (1613289000.5, 1613289000),
        (41, None),
        (0, None),
        (-5, None),
        (10**18, None),
        (None, None),
        ("1613289000", None),
        (True, None),
    ],
)
def test_plausible_epoch_seconds(value: Any, expected: int | None) -> None:
    assert plausible_epoch_seconds(value) == expected


def test_personal_fields_are_never_stored() -> None:
    for path in (NEW_0, NEW_1, OVERLAP, ENDSONG):
        for item in read_all(path):
            assert not PERSONAL_FIELDS & item.raw_metadata.keys()
            dumped = item.model_dump_json()
            for secret in ("198.51.100.23", "203.0.113.7", "mv_listener", "user_agent"):
                assert secret not in dumped


# --- basic history -------------------------------------------------------------------


def test_basic_music_history() -> None:
    items = read_all(FIXTURES / "StreamingHistory_music_0.json")
    assert [summary(i) for i in items] == [
        (MUSIC, "Lantern Street", "Marla Venn", at("2024-08-02 22:42:01"), ms(118990), None, "track"),
        (MUSIC, "Paper Boats", "The Quiet Hours", at("2024-08-02 22:46:57"), ms(2301), None, "track"),
        (MUSIC, "Ночной поезд", "Сергей Лесной", at("2024-08-02 22:47:00"), ms(0), None, "track"),
    ]
    assert [i.external_id for i in items] == [
        "basic|2024-08-02 22:44|Marla Venn|Lantern Street|118990",
        "basic|2024-08-02 22:47|The Quiet Hours|Paper Boats|2301",
        "basic|2024-08-02 22:47|Сергей Лесной|Ночной поезд|0",
    ]
    assert items[0].raw_metadata == {
        "schema": "basic",
        "kind": "track",
        "endTime": "2024-08-02 22:44",
        "msPlayed": 118990,
    }


def test_basic_podcast_history() -> None:
    items = read_all(FIXTURES / "StreamingHistory_podcast_0.json")
    assert [summary(i) for i in items] == [
        (
            PODCAST,
            "Ep. 43 — Currents",
            "Shoreline Talks",
            at("2024-08-03 07:00:00"),
            ms(1800000),
            None,
            "episode",
        ),
        (
            PODCAST,
            "Tuesday, 3 August",
            "Morning Brief",
            at("2024-08-03 08:03:24"),
            ms(95500),
            None,
            "episode",
        ),
    ]
    assert items[1].external_id == "basic|2024-08-03 08:05|Morning Brief|Tuesday, 3 August|95500"
    assert items[1].raw_metadata == {
        "schema": "basic",
        "kind": "episode",
        "endTime": "2024-08-03 08:05",
        "msPlayed": 95500,
    }


def test_old_mixed_basic_file_is_read_record_by_record() -> None:
    items = read_all(FIXTURES / "StreamingHistory0.json")
    assert [summary(i) for i in items] == [
        (MUSIC, "Paper Lanterns", "Marla Venn", at("2019-03-01 17:58:39"), ms(201000), None, "track"),
        (
            PODCAST,
            "Ep. 1 — Low Tide",
            "Shoreline Talks",
            at("2019-03-01 18:02:30"),
            ms(2250000),
            None,
            "episode",
        ),
        (MUSIC, "星の歌", "ゆめの森", at("2019-03-01 18:40:00"), ms(240000), None, "track"),
    ]


def test_variant_comes_from_the_records_not_the_file_name(tmp_path: Path) -> None:
    basic = [{"endTime": "2024-08-02 22:44", "artistName": "A", "trackName": "T", "msPlayed": 60000}]
    extended = [{"ts": "2024-08-02T22:44:00Z", "ms_played": 60000, "spotify_track_uri": "spotify:track:X"}]
    renamed_basic = read_all(write_json(tmp_path, "Streaming_History_Audio_2024_0.json", basic))
    renamed_extended = read_all(write_json(tmp_path, "StreamingHistory_music_0.json", extended))
    assert renamed_basic[0].raw_metadata["schema"] == "basic"
    assert renamed_basic[0].consumed_at == at("2024-08-02 22:43:00")
    assert renamed_extended[0].raw_metadata["schema"] == "extended"
    assert renamed_extended[0].url == TRACK + "X"
    assert renamed_extended[0].title == "Unknown track"


def test_row_with_names_but_no_uri_uses_the_names_in_its_id(tmp_path: Path) -> None:
    local = {
        "ts": "2024-03-01T10:00:00Z",
        "ms_played": 5000,
        "master_metadata_track_name": "Home Demo",
        "master_metadata_album_artist_name": "Me",
        "spotify_track_uri": None,
    }
    (item,) = read_all(write_json(tmp_path, "endsong_9.json", [local]))
    assert (item.type, item.title, item.creator, item.url) == (MUSIC, "Home Demo", "Me", None)
    assert item.raw_metadata["kind"] == "track"
    assert item.external_id == "2024-03-01T10:00:00Z|Me - Home Demo|5000"


def test_empty_array_gives_no_items_and_no_error(tmp_path: Path) -> None:
    result = sync(write_json(tmp_path, "endsong_0.json", []))
    assert (result.items, result.has_more, result.err) == ([], False, None)


# --- overlap between exports ---------------------------------------------------------


def test_external_id_is_stable_across_overlapping_exports() -> None:
    first = {i.external_id: i for i in read_all(NEW_1)}
    later = {i.external_id: i for i in read_all(OVERLAP)}
    repeated = first.keys() & later.keys()
    assert repeated == {
        "2024-01-03T22:14:59Z|spotify:track:3vQm8Xk1LpZ7rT2nW9bYcA|60001",
        "2024-01-04T06:30:00Z|spotify:episode:9zX8wV7uT6sR5qP4oN3mL2|2400000",
    }
    assert all(first[k] == later[k] for k in repeated)
    assert sorted(later.keys() - first.keys()) == [
        "2024-02-01T17:45:10Z|spotify:track:0kJ9hG8fE7dC6bA5zY4xW3|199999",
        "2024-02-02T08:00:00Z|spotify:episode:8yW7vU6tS5rQ4pO3nM2lK1|600000",
    ]
    assert not first.keys() & {i.external_id for i in read_all(NEW_0)}


# --- paging and cursors --------------------------------------------------------------


def pages(path: Path, page_size: int, cursor: str = "") -> list[SyncResult]:
    results = []
    while True:
        result = sync(path, cursor, page_size)
        assert result.err is None, result.err
        results.append(result)
        cursor = result.next_cursor
        if not result.has_more:
            return results


def test_pages_of_three_concatenate_to_the_one_shot_result() -> None:
    results = pages(NEW_0, 3)
    assert [len(r.items) for r in results] == [3, 3, 2]
    assert [r.has_more for r in results] == [True, True, False]
    assert [i for r in results for i in r.items] == read_all(NEW_0)


def test_a_page_ending_at_the_last_play_says_nothing_more() -> None:
    results = pages(NEW_0, 4)
    assert [len(r.items) for r in results] == [4, 4]
    assert [r.has_more for r in results] == [True, False]
    single = sync(NEW_0, page_size=8)
    assert (len(single.items), single.has_more) == (8, False)


def test_a_later_call_resumes_from_the_cursor() -> None:
    first = sync(NEW_0, page_size=3)
    assert json.loads(first.next_cursor)["offset"] > 0
    rest = SpotifyExportPlugin().sync(
        SyncContext(user_id="alice", page_size=100), Credentials(file=NEW_0), first.next_cursor
    )
    assert [i.title for i in rest.items] == [
        "The Salt Road",
        "Unknown track",
        "星の歌",
        "Paper Boats",
        "Lantern Street",
    ]
    assert rest.has_more is False
    again = sync(NEW_0, rest.next_cursor)
    assert (again.items, again.has_more, again.err, again.next_cursor) == ([], False, None, rest.next_cursor)


def test_a_cursor_from_another_file_starts_at_the_beginning() -> None:
    foreign = sync(NEW_0, page_size=3).next_cursor
    result = sync(NEW_1, foreign)
    assert [i.title for i in result.items] == [
        "Harbour Lights",
        "Lantern Street",
        "Ночной поезд",
        "Ep. 50 — Fog",
    ]
    assert json.loads(result.next_cursor)["file"] != json.loads(foreign)["file"]


@pytest.mark.parametrize("cursor", ["not json", '{"file": 3}', "[]", '{"offset": -4}'])
def test_an_unreadable_cursor_starts_at_the_beginning(cursor: str) -> None:
    assert len(sync(NEW_1, cursor).items) == 4


def test_cancelled_sync_returns_nothing_and_keeps_the_cursor() -> None:
    ctx = SyncContext(user_id="alice", page_size=3)
    ctx.cancelled.set()
    result = SpotifyExportPlugin().sync(ctx, Credentials(file=NEW_0), "keep-me")
    assert (result.items, result.next_cursor, result.err) == ([], "keep-me", None)


# --- broken files --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("truncated.json", ["line 62"]),
        ("not_array.json", ["line 1", "expected a JSON array"]),
        ("binary.json", ["line 3", "NUL"]),
        ("empty.json", ["line 1", "empty"]),
        ("some_export.zip", ["line 1", "zip"]),
    ],
)
def test_bad_files_give_a_located_file_parse_error(name: str, expected: list[str]) -> None:
    result = sync(FIXTURES / name)
    assert result.err is not None
    assert result.err.code is ErrorCode.FILE_PARSE_ERROR
    assert result.err.retry is False
    assert result.err.message.startswith(name)
    for text in expected:
        assert text in result.err.message
    assert result.has_more is False


def test_a_file_that_breaks_returns_the_good_plays_before_it() -> None:
    result = sync(FIXTURES / "truncated.json")
    assert [i.title for i in result.items] == ["Lantern Street", "Ночной поезд"]
    resumed = sync(FIXTURES / "truncated.json", result.next_cursor)
    assert resumed.items == []
    assert resumed.err is not None and "line 62" in resumed.err.message


@pytest.mark.parametrize(
    ("name", "line", "field", "reason"),
    [
        ("missing_field.json", 27, "ts", "ts is missing"),
        ("bad_type.json", 30, "ms_played", "ms_played is not a duration"),
    ],
)
def test_a_bad_record_of_a_fixture_is_skipped_with_its_line_and_the_rest_imported(
    name: str, line: int, field: str, reason: str
) -> None:
    result = sync(FIXTURES / name)
    assert result.err is None and result.items
    [skipped] = result.skipped
    assert (skipped.line, skipped.field, skipped.reason) == (line, field, reason)


def test_pages_move_past_a_bad_record_without_losing_or_repeating_any() -> None:
    whole = sync(FIXTURES / "missing_field.json")
    pages = all_pages(SpotifyExportPlugin(), FIXTURES / "missing_field.json", page_size=1)
    assert [i.external_id for p in pages for i in p.items] == [i.external_id for i in whole.items]
    assert [r.line for p in pages for r in p.skipped] == [27]


def test_skipped_excerpt_leaves_out_personal_fields() -> None:
    [skipped] = sync(FIXTURES / "bad_type.json").skipped
    assert skipped.excerpt is not None and "'abc'" in skipped.excerpt
    assert "198.51.100.23" not in skipped.excerpt and "ip_addr" not in skipped.excerpt


def test_no_file_given() -> None:
    result = sync(None, "c")
    assert result.err is not None and result.err.code is ErrorCode.FILE_PARSE_ERROR
    assert result.next_cursor == "c"


GOOD = {"ts": "2024-03-01T10:00:00Z", "ms_played": 1000, "spotify_track_uri": "spotify:track:A"}


@pytest.mark.parametrize(
    ("record", "field", "problem"),
    [
        ({"ms_played": 1000, "spotify_track_uri": "spotify:track:A"}, "ts", "missing"),
        ({**GOOD, "ts": None}, "ts", "missing"),
        ({**GOOD, "ts": 1709287200}, "ts", "not a time"),
        ({**GOOD, "ts": "yesterday"}, "ts", "not a time"),
        ({"ts": GOOD["ts"], "spotify_track_uri": "spotify:track:A"}, "ms_played", "missing"),
        ({**GOOD, "ms_played": "abc"}, "ms_played", "not a duration"),
        ({**GOOD, "ms_played": -1}, "ms_played", "not a duration"),
        ({**GOOD, "ms_played": True}, "ms_played", "not a duration"),
        ({**GOOD, "ms_played": 1.5}, "ms_played", "not a duration"),
        ({**GOOD, "ms_played": 10**20}, "ms_played", "not a duration"),
        ({"endTime": "2024-08-02 22:44", "msPlayed": 1}, "trackName", "not a play"),
        ({"endTime": "2024-08-02 22:44", "artistName": "A", "trackName": "T"}, "msPlayed", "missing"),
        (
            {"endTime": "02/08/2024 22:44", "artistName": "A", "trackName": "T", "msPlayed": 1},
            "endTime",
            "not a time",
        ),
        ({"artistName": "A", "trackName": "T", "msPlayed": 1}, "endTime", "missing"),
        ({"what": "ever"}, "ts", "not a play"),
        ({**GOOD, "master_metadata_track_name": 42}, "title", "cannot be stored"),
        ({"ts": GOOD["ts"], "ms_played": 1, "master_metadata_track_name": 42}, "title", "cannot be stored"),
        ({"ts": GOOD["ts"], "ms_played": 1, "episode_show_name": ["x"]}, "creator", "cannot be stored"),
    ],
)
def test_bad_records_are_skipped_naming_the_field_and_line(
    tmp_path: Path, record: dict[str, Any], field: str, problem: str
) -> None:
    path = write_json(tmp_path, "Streaming_History_Audio_2024_0.json", [GOOD, record])
    result = sync(path)
    assert len(result.items) == 1 and result.err is None
    [skipped] = result.skipped
    assert skipped.field == field
    assert problem in skipped.reason
    # the second record starts on line 7 of the indent=4 dump; a present field is on its own line
    lines = path.read_text(encoding="utf-8").splitlines()
    key = f'"{field}":'
    expected = (
        next((n for n, line in enumerate(lines, 1) if n > 7 and key in line), 7) if field in record else 7
    )
    assert skipped.line == expected


def test_a_5000_digit_ms_played_is_skipped_not_the_file(tmp_path: Path) -> None:
    path = tmp_path / "endsong_0.json"
    path.write_text(
        '[{"ts": "2024-03-01T10:00:00Z", "ms_played": ' + "9" * 5000 + "}, " + json.dumps(GOOD) + "]"
    )
    result = sync(path)
    assert len(result.items) == 1
    assert [r.reason for r in result.skipped] == ["ms_played is not a duration"]


def test_a_bad_field_is_located_on_its_own_line(tmp_path: Path) -> None:
    path = write_json(tmp_path, "endsong_1.json", [GOOD, {**GOOD, "ms_played": "abc"}])
    lines = path.read_text().splitlines()
    expected = next(n for n, line in enumerate(lines, 1) if '"abc"' in line)
    assert [r.line for r in sync(path).skipped] == [expected]


def test_a_non_object_element_is_skipped(tmp_path: Path) -> None:
    result = sync(write_json(tmp_path, "endsong_0.json", [GOOD, 7]))
    assert len(result.items) == 1
    [skipped] = result.skipped
    assert (skipped.reason, skipped.line) == ("record is not an object", 7)


# --- real exports (fixtures/spotify_export/real/, see SOURCES.md) ----------------------------

REAL = FIXTURES / "real"


def test_basic_audiobook_history_is_the_third_basic_format() -> None:
    result = sync(REAL / "StreamingHistory_audiobook_0.json")
    assert result.err is None and result.skipped == []
    items = result.items
    assert len(items) == 6
    first = items[0]
    assert (first.type, first.title, first.creator) == (
        PODCAST,
        "How to Keep House While Drowning",
        "KC Davis LPC",
    )
    assert first.consumed_at == at("2023-10-20 18:57:18")  # endTime 18:58 minus 41.192 s, whole seconds
    assert first.raw_metadata["kind"] == "audiobook"
    assert first.raw_metadata["audiobook_chapter_title"] == "How to Keep House While Drowning"
    assert items[5].creator == "Ichiro Kishimi, Fumitake Koga"
    assert len({i.external_id for i in items}) == 6


def test_two_offline_plays_of_one_track_synced_together_stay_two_and_are_dated_when_played(
    tmp_path: Path,
) -> None:
    play = {**GOOD, "ts": "2024-03-01T10:00:00Z", "ms_played": 1000, "offline": True}
    path = write_json(
        tmp_path,
        "Streaming_History_Audio_2024_0.json",
        [
            {**play, "offline_timestamp": 1709200000},  # seconds (newer exports)
            {**play, "offline_timestamp": 1709203600000},  # milliseconds (older exports)
            {**play, "offline": False, "offline_timestamp": 1709287199},
        ],
    )
    items = sync(path).items
    assert [i.consumed_at for i in items] == [
        datetime.fromtimestamp(1709200000, UTC),
        datetime.fromtimestamp(1709203600, UTC),
        at("2024-03-01 09:59:59"),  # online: ts - ms_played, as before
    ]
    assert [i.external_id for i in items] == [
        "2024-03-01T10:00:00Z|spotify:track:A|1000|offline 1709200000",
        "2024-03-01T10:00:00Z|spotify:track:A|1000|offline 1709203600",
        "2024-03-01T10:00:00Z|spotify:track:A|1000",
    ]


def test_recognizes_every_history_generation_and_none_of_the_account_files() -> None:
    plugin = SpotifyExportPlugin()
    histories = [
        NEW_0,
        NEW_1,
        ENDSONG,
        FIXTURES / "StreamingHistory0.json",
        REAL / "StreamingHistory_audiobook_0.json",
    ]
    histories += [FIXTURES / "StreamingHistory_music_0.json", FIXTURES / "StreamingHistory_podcast_0.json"]
    assert all(plugin.recognizes("renamed.json", path.read_bytes()[:65536]) for path in histories)
    assert plugin.recognizes("Streaming_History_Video_2024.json", b"[]")
    assert not plugin.recognizes("notes.json", b"[]")
    others = [
        *sorted((REAL / "account").iterdir()),
        FIXTURES.parent / "tiktok" / "user_data.json",
        FIXTURES.parent / "youtube_takeout" / "watch-history.json",
        FIXTURES / "binary.json",
        FIXTURES / "some_export.zip",
    ]
    assert not any(plugin.recognizes(path.name, path.read_bytes()[:65536]) for path in others)


@pytest.mark.parametrize(
    ("name", "count", "kinds"),
    [
        ("StreamingHistory_music_0.json", 12, {"track"}),
        ("StreamingHistory_podcast_0.json", 6, {"episode"}),
        ("Streaming_History_Video_2020-2024.json", 16, {"track", "episode"}),
    ],
)
def test_real_histories_of_each_generation_import_every_record(
    name: str, count: int, kinds: set[str]
) -> None:
    result = sync(REAL / name)
    assert result.err is None and result.skipped == []
    assert len(result.items) == count == len({i.external_id for i in result.items})
    assert {i.raw_metadata["kind"] for i in result.items} == kinds
    assert all("ip_addr" not in i.raw_metadata for i in result.items)
