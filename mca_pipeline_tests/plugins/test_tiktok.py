"""TiktokPlugin against fixture files shaped like TikTok "Download your data" JSON exports.

Fixtures in fixtures/tiktok/ follow section 6 of PLATFORMS.md: the older `user_data.json`
(`Activity > Video Browsing History`) and the newer `user_data_tiktok.json`
(`Your Activity > Watch History`), each with sections the plugin must ignore (own posts
in another `VideoList`, share history with links, searches, logins). Expected values
are worked out by hand from those files; Dates are taken as UTC.
"""

from __future__ import annotations

import json
import logging
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from mca_pipeline.core import (
    AuthType,
    Credentials,
    DedupPolicy,
    ErrorCode,
    MediaItem,
    MediaType,
    PluginError,
    PluginRegistry,
    SourcePlugin,
    SyncContext,
    SyncResult,
)
from mca_pipeline.plugins import tiktok
from mca_pipeline.plugins.export_files import FileCursor, fingerprint
from mca_pipeline.plugins.tiktok import TiktokPlugin

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "tiktok"
OLDER = FIXTURES / "user_data.json"
NEWER = FIXTURES / "user_data_tiktok.json"
LIKES = FIXTURES / "user_data_tiktok_likes.json"
EMPTY_HISTORY = FIXTURES / "user_data_tiktok_empty_history.json"
NO_HISTORY = FIXTURES / "user_data_tiktok_no_history.json"
TRUNCATED = FIXTURES / "user_data_tiktok_truncated.json"
BINARY = FIXTURES / "user_data_binary.json"
EMPTY_FILE = FIXTURES / "user_data_empty.json"

SHARE = "https://www.tiktokv.com/share/video/"
OLDER_WATCH = "Activity > Video Browsing History > VideoList"
NEWER_WATCH = "Your Activity > Watch History > VideoList"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def sync(
    path: Path | None, cursor: str = "", page_size: int = 50_000, ctx: SyncContext | None = None
) -> SyncResult:
    ctx = ctx or SyncContext(user_id="alice", page_size=page_size)
    return TiktokPlugin().sync(ctx, Credentials(file=path), cursor)


def read_all(path: Path) -> list[MediaItem]:
    result = sync(path)
    assert result.err is None, result.err
    assert result.has_more is False
    return result.items


def error_of(path: Path | None) -> PluginError:
    result = sync(path)
    assert result.items == []
    assert result.err is not None
    assert result.err.code == ErrorCode.FILE_PARSE_ERROR
    assert result.err.retry is False
    return result.err


def summary(item: MediaItem) -> tuple[Any, ...]:
    return (item.raw_metadata["kind"], item.title, item.consumed_at, item.url, item.external_id)


def write_json(tmp_path: Path, data: Any, name: str = "user_data_tiktok.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    return path


def newer_with(records: list[Any], **sections: Any) -> dict[str, Any]:
    return {"Your Activity": {"Watch History": {"VideoList": records}, **sections}}


# --- plugin shape ------------------------------------------------------------------------


def test_plugin_declares_a_file_import_with_skip_dedup_and_registers() -> None:
    plugin = TiktokPlugin()
    assert isinstance(plugin, SourcePlugin)
    assert (plugin.name, plugin.auth_type, plugin.auth_config) == ("tiktok", AuthType.FILE_IMPORT, None)
    assert plugin.dedup_policy is DedupPolicy.SKIP
    registry = PluginRegistry()
    registry.register(plugin)
    assert registry.names() == ["tiktok"]


def test_enrich_returns_the_items_unchanged() -> None:
    items = read_all(NEWER)
    assert TiktokPlugin().enrich(SyncContext(user_id="alice"), Credentials(file=NEWER), items) == items


# --- older export: user_data.json --------------------------------------------------------


def test_older_export_gives_watches_then_favourites_in_file_order() -> None:
    assert [summary(i) for i in read_all(OLDER)] == [
        (
            "watch",
            "TikTok video 7284561230987654321",
            at("2023-10-01 21:04:17"),
            SHARE + "7284561230987654321/",
            "watch|7284561230987654321|2023-10-01 21:04:17",
        ),
        (
            "watch",
            "TikTok video 7281122334455667788",
            at("2023-10-01 21:03:59"),
            SHARE + "7281122334455667788/",
            "watch|7281122334455667788|2023-10-01 21:03:59",
        ),
        (  # the VideoLink key variant
            "watch",
            "TikTok video 7279988776655443322",
            at("2023-10-01 20:58:12"),
            SHARE + "7279988776655443322/",
            "watch|7279988776655443322|2023-10-01 20:58:12",
        ),
        (  # the tiktok.com/@user/video/<id> link format, kept as exported
            "watch",
            "TikTok video 7283300000000000005",
            at("2023-09-30 23:41:08"),
            "https://www.tiktok.com/@inkandroller/video/7283300000000000005",
            "watch|7283300000000000005|2023-09-30 23:41:08",
        ),
        (  # a rewatch of the first video: same id, own external_id
            "watch",
            "TikTok video 7284561230987654321",
            at("2023-09-30 23:40:51"),
            SHARE + "7284561230987654321/",
            "watch|7284561230987654321|2023-09-30 23:40:51",
        ),
        (
            "favorite",
            "TikTok video 7283300000000000005",
            at("2023-09-29 19:12:44"),
            SHARE + "7283300000000000005/",
            "favorite|7283300000000000005|2023-09-29 19:12:44",
        ),
    ]


def test_items_are_videos_without_creator_duration_or_tags() -> None:
    for item in read_all(OLDER) + read_all(NEWER):
        assert item.platform == "tiktok"
        assert item.type is MediaType.VIDEO
        assert item.creator is None
        assert (item.duration, item.time_spent, item.tags) == (None, None, ())


def test_raw_metadata_keeps_kind_id_link_and_raw_date_only() -> None:
    items = read_all(OLDER)
    assert items[0].raw_metadata == {
        "kind": "watch",
        "video_id": "7284561230987654321",
        "link": SHARE + "7284561230987654321/",
        "date": "2023-10-01 21:04:17",
    }
    assert items[2].raw_metadata["link"] == SHARE + "7279988776655443322/"


def test_own_posts_share_history_and_logins_are_not_watches() -> None:
    ids = {i.raw_metadata["video_id"] for i in read_all(OLDER) + read_all(NEWER)}
    assert "7267000000000000001" not in ids  # Video > Videos > VideoList (own post, older)
    assert "7451000000000000009" not in ids  # Post > Posts > VideoList (own post, newer)
    assert len(read_all(OLDER)) == 6  # the share of 7284561230987654321 added no item


# --- newer export: user_data_tiktok.json -----------------------------------------------------


def test_newer_export_reads_watch_history_and_ignores_searches() -> None:
    assert [summary(i) for i in read_all(NEWER)] == [
        (
            "watch",
            "TikTok video 7458000000000000001",
            at("2025-01-12 08:15:40"),
            SHARE + "7458000000000000001/",
            "watch|7458000000000000001|2025-01-12 08:15:40",
        ),
        (
            "watch",
            "TikTok video 7457123456789012345",
            at("2025-01-12 08:14:02"),
            SHARE + "7457123456789012345/",
            "watch|7457123456789012345|2025-01-12 08:14:02",
        ),
        (
            "watch",
            "TikTok video 7456000000000000042",
            at("2025-01-11 22:30:19"),
            "https://www.tiktok.com/@sourdough.sam/video/7456000000000000042",
            "watch|7456000000000000042|2025-01-11 22:30:19",
        ),
    ]


# --- likes and favourites --------------------------------------------------------------------


def test_likes_with_lower_case_keys_and_favourites_are_separate_items() -> None:
    assert [summary(i) for i in read_all(LIKES)] == [
        (
            "watch",
            "TikTok video 7375500000000000100",
            at("2024-06-02 19:20:11"),
            SHARE + "7375500000000000100/",
            "watch|7375500000000000100|2024-06-02 19:20:11",
        ),
        (
            "like",
            "TikTok video 7375500000000000100",
            at("2024-06-02 19:20:40"),
            SHARE + "7375500000000000100/",
            "like|7375500000000000100|2024-06-02 19:20:40",
        ),
        (
            "like",
            "TikTok video 7373000000000000777",
            at("2024-05-28 07:02:13"),
            SHARE + "7373000000000000777/",
            "like|7373000000000000777|2024-05-28 07:02:13",
        ),
        (
            "favorite",
            "TikTok video 7375500000000000100",
            at("2024-06-02 19:21:05"),
            SHARE + "7375500000000000100/",
            "favorite|7375500000000000100|2024-06-02 19:21:05",
        ),
    ]
    like = read_all(LIKES)[1]
    assert like.raw_metadata == {
        "kind": "like",
        "video_id": "7375500000000000100",
        "link": SHARE + "7375500000000000100/",
        "date": "2024-06-02 19:20:40",
    }


def test_watch_count_is_recoverable_by_filtering_on_kind() -> None:
    watches = [i for i in read_all(LIKES) if i.raw_metadata["kind"] == "watch"]
    assert [i.external_id for i in watches] == ["watch|7375500000000000100|2024-06-02 19:20:11"]


def test_likes_and_favorites_root_and_older_activity_root_are_read(tmp_path: Path) -> None:
    data = {
        "Activity": {
            "Video Browsing History": {"VideoList": []},
            "Like List": {
                "ItemFavoriteList": [
                    {"Date": "2022-02-01 10:00:00", "VideoLink": SHARE + "7060000000000000001/"}
                ]
            },
        },
        "Likes and Favorites": {
            "Like List": {
                "ItemFavoriteList": [{"date": "2022-03-01 10:00:00", "link": SHARE + "7070000000000000002/"}]
            },
            "Favorite Videos": {
                "FavoriteVideoList": [{"Date": "2022-04-01 10:00:00", "Link": SHARE + "7080000000000000003/"}]
            },
        },
    }
    ids = [i.external_id for i in read_all(write_json(tmp_path, data, "user_data.json"))]
    assert ids == [
        "like|7060000000000000001|2022-02-01 10:00:00",
        "like|7070000000000000002|2022-03-01 10:00:00",
        "favorite|7080000000000000003|2022-04-01 10:00:00",
    ]


def test_null_like_and_favourite_sections_are_empty(tmp_path: Path) -> None:
    data = newer_with([], **{"Like List": None, "Favorite Videos": {"FavoriteVideoList": None}})
    assert read_all(write_json(tmp_path, data)) == []


# --- empty and missing watch history -----------------------------------------------------------


def test_empty_video_list_is_a_valid_empty_import() -> None:
    result = sync(EMPTY_HISTORY)
    assert (result.items, result.err, result.has_more) == ([], None, False)
    assert json.loads(result.next_cursor)["offset"] == 0


@pytest.mark.parametrize("section", [None, {}, {"VideoList": None}])
def test_watch_section_present_but_null_or_empty_is_an_empty_import(tmp_path: Path, section: Any) -> None:
    data = {"Your Activity": {"Watch History": section}}
    assert read_all(write_json(tmp_path, data)) == []


def test_a_tiktok_export_without_any_list_we_read_imports_nothing_without_error() -> None:
    result = sync(NO_HISTORY)
    assert (result.err, result.items, result.skipped, result.has_more) == (None, [], [], False)


def test_json_from_another_platform_is_rejected(tmp_path: Path) -> None:
    err = error_of(write_json(tmp_path, {"ts": "2024-01-01T00:00:00Z"}))
    assert "none of TikTok's sections" in err.message and "Top-level keys: ['ts']" in err.message


# --- malformed files ---------------------------------------------------------------------------


def test_truncated_file_names_line_and_column() -> None:
    err = error_of(TRUNCATED)
    # line 11 is `          "Link": "https://www.tiktokv.com/share/video/74571`: the string opens at column 19
    assert err.details["line"] == 11
    assert err.details["column"] == 19
    assert err.message.startswith("user_data_tiktok_truncated.json, line 11, byte ")
    assert "file is truncated: Unterminated string starting at (line 11, column 19)" in err.message
    text = TRUNCATED.read_bytes()
    assert err.details["byte_offset"] == text.index(b'"https://www.tiktokv.com/share/video/74571')


def test_invalid_json_in_the_middle_is_not_called_truncated(tmp_path: Path) -> None:
    path = tmp_path / "user_data_tiktok.json"
    path.write_text('{"Your Activity": {\n  "Watch History": {"VideoList": [,]}\n}}\n', encoding="utf-8")
    err = error_of(path)
    assert (err.details["line"], err.details["column"], err.details["byte_offset"]) == (
        2,
        35,
        54,
    )  # the "," after "[" on line 2; line 1 is 20 bytes
    assert "invalid JSON: Expecting value (line 2, column 35)" in err.message


def test_binary_file_is_rejected() -> None:
    err = error_of(BINARY)
    assert err.message == "user_data_binary.json, line 1, byte 3: binary data (NUL byte), not a text export"


def test_empty_file_is_rejected() -> None:
    assert error_of(EMPTY_FILE).message == "user_data_empty.json, line 1, byte 0: file is empty"


def test_white_space_only_file_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "user_data.json"
    path.write_text("\n  \n", encoding="utf-8")
    assert "file holds only white space, expected a JSON object" in error_of(path).message


def test_zip_archive_is_rejected(tmp_path: Path) -> None:
    path = tmp_path / "user_data_tiktok.json"
    path.write_bytes(b"PK\x03\x04" + b"\x14" * 40)
    assert "zip archive" in error_of(path).message


def test_invalid_utf8_is_located(tmp_path: Path) -> None:
    path = tmp_path / "user_data_tiktok.json"
    path.write_bytes(b'{"Your Activity":\n {"Watch History": "\xe9t\xe9"}}')
    err = error_of(path)
    assert (err.details["line"], err.details["byte_offset"]) == (
        2,
        38,
    )  # 18 bytes of line 1, then 20 of line 2
    assert "not valid UTF-8" in err.message


def test_utf8_bom_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "user_data_tiktok.json"
    path.write_bytes("\ufeff".encode() + NEWER.read_bytes())
    assert [i.external_id for i in read_all(path)] == [i.external_id for i in read_all(NEWER)]


def test_top_level_array_is_rejected(tmp_path: Path) -> None:
    err = error_of(write_json(tmp_path, [{"Date": "2025-01-12 08:15:40", "Link": SHARE + "1/"}]))
    assert "expected one JSON object (a TikTok user_data export), found a JSON array" in err.message


@pytest.mark.parametrize(
    ("data", "where", "found"),
    [
        ({"Your Activity": {"Watch History": ["x"]}}, "Your Activity > Watch History", "array"),
        ({"Activity": "none"}, "Activity", "string"),
    ],
)
def test_a_section_of_the_wrong_type_rejects_the_file_naming_the_path(
    tmp_path: Path, data: Any, where: str, found: str
) -> None:
    err = error_of(write_json(tmp_path, data))
    assert err.details["field"] == where
    assert f"expected a JSON object at {where!r}, found a JSON {found}" in err.message


def test_a_list_of_the_wrong_type_is_one_skipped_record_and_the_other_lists_import(tmp_path: Path) -> None:
    data = {
        "Your Activity": {
            "Watch History": {
                "VideoList": [{"Date": "2025-01-12 08:15:40", "Link": SHARE + "7458000000000000001/"}]
            },
            "Like List": {"ItemFavoriteList": "oops"},
        }
    }
    result = sync(write_json(tmp_path, data))
    assert result.err is None and len(result.items) == 1
    [skipped] = result.skipped
    assert skipped.reason == "list is not a list"
    assert "Your Activity > Like List > ItemFavoriteList" in (skipped.detail or "")


@pytest.mark.parametrize("date", ["0001-01-01 00:00:00+01:00", "9999-12-31 23:59:59-01:00"])
def test_a_date_outside_the_calendar_in_utc_is_skipped(tmp_path: Path, date: str) -> None:
    records = [{"Date": date, "Link": SHARE + "1/"}, {"Date": "2025-01-12 08:15:40", "Link": SHARE + "2/"}]
    result = sync(write_json(tmp_path, newer_with(records)))
    assert result.err is None and len(result.items) == 1
    assert [r.reason for r in result.skipped] == ["Date is not a time"]


# --- bad records ------------------------------------------------------------------------------


def test_an_unparseable_date_is_skipped_with_path_field_and_line_and_the_rest_imported(
    tmp_path: Path,
) -> None:
    records = [
        {"Date": "2025-01-12 08:15:40", "Link": SHARE + "7458000000000000001/"},
        {"Date": "12/01/2025 08:14", "Link": SHARE + "7457123456789012345/"},
        {"Date": "2025-01-12 08:10:00", "Link": SHARE + "7457000000000000009/"},
    ]
    result = sync(write_json(tmp_path, newer_with(records)))
    assert result.err is None
    assert [i.external_id for i in result.items] == [
        "watch|7458000000000000001|2025-01-12 08:15:40",
        "watch|7457000000000000009|2025-01-12 08:10:00",
    ]
    [skipped] = result.skipped
    assert (skipped.field, skipped.reason, skipped.line) == ("Date", "Date is not a time", 10)
    assert skipped.detail == f"at {NEWER_WATCH}[1]: '12/01/2025 08:14' is not a 'YYYY-MM-DD HH:MM:SS' time"


@pytest.mark.parametrize(
    ("record", "field", "reason"),
    [
        ({"Link": SHARE + "7458000000000000001/"}, "Date", "Date is missing"),
        ({"date": 1736669740, "link": SHARE + "7458000000000000001/"}, "date", "Date is not a time"),
        ({"Date": ["2025"] * 3, "Link": SHARE + "7458000000000000001/"}, "Date", "Date is not a time"),
        ("2025-01-12 08:15:40", None, "record is not an object"),
    ],
)
def test_bad_records_are_skipped_with_their_json_path(
    tmp_path: Path, record: Any, field: str | None, reason: str
) -> None:
    result = sync(write_json(tmp_path, newer_with([record])))
    assert result.err is None and result.items == []
    [skipped] = result.skipped
    assert (skipped.field, skipped.reason) == (field, reason)
    assert (skipped.detail or "").startswith(f"at {NEWER_WATCH}[0]: ")


def test_links_without_a_video_id_are_left_out_and_counted(tmp_path: Path) -> None:
    records = [
        {"Date": "2025-01-12 08:15:40", "Link": "https://www.tiktokv.com/share/user/6812345678901234567/"},
        {"Date": "2025-01-12 08:14:02", "Link": SHARE + "7457123456789012345/"},
        {"Date": "2025-01-12 08:13:00", "Link": ""},
        {"Date": "2025-01-12 08:12:00", "Link": "https://www.tiktokv.com/share/photo/7457123456789012399/"},
        {"Date": "not a date either", "Link": None},
    ]
    result = sync(write_json(tmp_path, newer_with(records)))
    assert [i.external_id for i in result.items] == ["watch|7457123456789012345|2025-01-12 08:14:02"]
    assert result.left_out == {"link names no video (photo post or other page)": 3}
    assert [r.reason for r in result.skipped] == ["Link is missing"]


def test_nesting_deeper_than_any_export_rejects_the_file(tmp_path: Path) -> None:
    path = tmp_path / "user_data.json"
    path.write_text('{"Activity": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert "nested too deeply" in error_of(path).message


def test_a_5000_digit_number_does_not_cost_the_other_records(tmp_path: Path) -> None:
    records = [{"Date": "2025-01-12 08:15:40", "Link": SHARE + "7458000000000000001/"}]
    path = write_json(tmp_path, newer_with(records))
    path.write_text(path.read_text().replace('"Date": "2025', '"Size": ' + "9" * 5000 + ', "Date": "2025'))
    assert len(sync(path).items) == 1


def test_optional_timepertiktok_is_kept_raw(tmp_path: Path) -> None:
    record = {
        "Date": "2025-01-12 08:15:40",
        "Link": SHARE + "7458000000000000001/",
        "timepertiktok": "0:00:21",
    }
    (item,) = read_all(write_json(tmp_path, newer_with([record])))
    assert item.raw_metadata["timepertiktok"] == "0:00:21"


def test_date_with_a_zone_is_converted_to_utc(tmp_path: Path) -> None:
    record = {"Date": "2025-01-12T10:15:40+02:00", "Link": SHARE + "7458000000000000001/"}
    (item,) = read_all(write_json(tmp_path, newer_with([record])))
    assert item.consumed_at == at("2025-01-12 08:15:40")
    assert item.external_id == "watch|7458000000000000001|2025-01-12T10:15:40+02:00"


# --- paging, cursor, cancellation ----------------------------------------------------------------


def test_pages_by_item_index_and_resumes_from_the_cursor() -> None:
    full = read_all(OLDER)
    pages, cursor = [], ""
    while True:
        page = sync(OLDER, cursor=cursor, page_size=2)
        assert page.err is None
        pages.append(page)
        cursor = page.next_cursor
        if not page.has_more:
            break
    assert [len(p.items) for p in pages] == [2, 2, 2]
    assert [p.has_more for p in pages] == [True, True, False]
    assert [json.loads(p.next_cursor) for p in pages] == [
        {"file": fingerprint(OLDER), "offset": offset} for offset in (2, 4, 6)
    ]
    assert [i for p in pages for i in p.items] == full


def test_cursor_at_the_end_gives_nothing_more() -> None:
    cursor = FileCursor(fingerprint(NEWER), 3).encode()
    result = sync(NEWER, cursor=cursor)
    assert (result.items, result.has_more, result.err) == ([], False, None)


def test_cursor_of_another_file_starts_from_the_beginning() -> None:
    cursor = FileCursor(fingerprint(OLDER), 2).encode()
    assert sync(NEWER, cursor=cursor).items == read_all(NEWER)
    assert sync(NEWER, cursor="not json").items == read_all(NEWER)


def test_cancelled_sync_reads_nothing_and_keeps_the_cursor() -> None:
    cancelled = threading.Event()
    cancelled.set()
    ctx = SyncContext(user_id="alice", cancelled=cancelled)
    result = sync(NEWER, cursor="previous", ctx=ctx)
    assert (result.items, result.next_cursor, result.has_more, result.err) == ([], "previous", True, None)


def test_sections_found_are_logged_once_on_the_first_page(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="mca_pipeline.plugin"):
        read_all(LIKES)
    assert (
        "tiktok: user_data_tiktok_likes.json: records found ("
        f"'{NEWER_WATCH}': 1, 'Your Activity > Like List > ItemFavoriteList': 2, "
        "'Your Activity > Favorite Videos > FavoriteVideoList': 1)"
    ) in caplog.text


# --- missing file -------------------------------------------------------------------------------


def test_no_file_given_is_a_file_parse_error() -> None:
    assert error_of(None).message == "tiktok: no export file was given to import"


def test_missing_file_is_a_file_parse_error(tmp_path: Path) -> None:
    err = error_of(tmp_path / "user_data_tiktok.json")
    assert err.message == "user_data_tiktok.json: file does not exist or is not a regular file"


# --- real exports (fixtures/tiktok/real/, see SOURCES.md) ------------------------------------

REAL_LIKES_ONLY = FIXTURES / "real" / "user_data_tiktok_likes_only_2026.json"


def test_a_real_export_with_only_likes_and_favourites_imports_them() -> None:
    result = sync(REAL_LIKES_ONLY)
    assert result.err is None and result.skipped == []
    kinds = [item.raw_metadata["kind"] for item in result.items]
    assert kinds == ["like"] * 6 + ["favorite"] * 5
    first_like = result.items[0]
    assert first_like.external_id == "like|7631024397754600735|2026-04-25 23:35:34"
    assert first_like.consumed_at == datetime(2026, 4, 25, 23, 35, 34, tzinfo=UTC)


def test_recognizes_every_generation_by_its_first_section_and_nothing_else() -> None:
    plugin = TiktokPlugin()
    ours = [FIXTURES / "user_data.json", FIXTURES / "user_data_tiktok.json", NO_HISTORY, REAL_LIKES_ONLY]
    assert all(plugin.recognizes("renamed.json", path.read_bytes()[:65536]) for path in ours)
    assert plugin.recognizes(
        "user_data.json", b'\xef\xbb\xbf{\n  "Ads and data": {\n    "Off TikTok Activity": {'
    )
    others = [
        FIXTURES.parent / "spotify_export" / "StreamingHistory0.json",
        FIXTURES.parent / "spotify_export" / "endsong_0.json",
        FIXTURES.parent / "youtube_takeout" / "watch-history.json",
        FIXTURES.parent / "netflix" / "ViewingActivity.csv",
        FIXTURES / "user_data_binary.json",
    ]
    assert not any(plugin.recognizes(path.name, path.read_bytes()[:65536]) for path in others)
    assert not plugin.recognizes("x.json", b'{"ts": "2024"}')


@pytest.mark.parametrize(
    ("name", "kinds"),
    [
        ("user_data_tiktok_2024_activity_likes_no_history.json", {"like": 5, "favorite": 4}),
        ("user_data_tiktok_2025_your_activity.json", {"watch": 8, "like": 5, "favorite": 4}),
    ],
)
def test_real_exports_of_other_generations_import_every_list(name: str, kinds: dict[str, int]) -> None:
    path = FIXTURES / "real" / name
    result = sync(path)
    assert result.err is None and result.skipped == []
    counts: dict[str, int] = {}
    for item in result.items:
        counts[item.raw_metadata["kind"]] = counts.get(item.raw_metadata["kind"], 0) + 1
    assert counts == kinds
    assert TiktokPlugin().recognizes("user_data_tiktok.json", path.read_bytes()[:65536])


def test_a_date_holding_a_lone_surrogate_is_skipped_without_a_location(tmp_path: Path) -> None:
    path = tmp_path / "user_data.json"
    path.write_text(
        '{"Activity": {"Video Browsing History": {"VideoList": [{"Date": "\\ud800", "Link": "'
        + SHARE
        + '1/"}, {"Date": "2025-01-12 08:15:40", "Link": "'
        + SHARE
        + '2/"}]}}}'
    )
    result = sync(path)
    assert result.err is None and len(result.items) == 1
    [skipped] = result.skipped
    assert (skipped.reason, skipped.line) == ("Date is not a time", None)


def test_a_file_larger_than_any_export_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "user_data.json"
    with path.open("wb") as f:
        f.write(b'{"Activity": {}}')
        f.truncate(tiktok.MAX_FILE_BYTES + 1)  # sparse: no disk, no memory
    assert "more than a TikTok export holds" in error_of(path).message
