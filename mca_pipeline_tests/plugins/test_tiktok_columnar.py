"""The columnar path of tiktok against its streaming reader: the same rows, counts,
left-out and unreadable records either way, and the streaming reader for every file
holding a record it would skip or read otherwise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mca_pipeline.plugins.tiktok import TiktokPlugin
from mca_pipeline.warehouse import Warehouse
from mca_pipeline.warehouse.columnar_pages import read_columnar
from mca_pipeline.warehouse.sync_loop import SyncSummary
from mca_pipeline_tests.plugins import columnar_paths
from mca_pipeline_tests.plugins.columnar_paths import (
    LOG,
    assert_fixture_stored_alike,
    assert_same,
    assert_sql_leaves_it_to_streaming,
    assert_taken_and_stored_alike,
    took_columnar_path,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "tiktok"
FILES = sorted(FIXTURES.rglob("*.json"))


def import_both(
    tmp_path: Path, file: Path, page_size: int = 50_000
) -> tuple[SyncSummary, SyncSummary, Warehouse, Warehouse]:
    return columnar_paths.import_both(tmp_path, TiktokPlugin, file, page_size)


@pytest.mark.parametrize("file", FILES, ids=[str(p.relative_to(FIXTURES)) for p in FILES])
def test_every_fixture_is_stored_alike_on_both_paths(tmp_path: Path, file: Path) -> None:
    assert_fixture_stored_alike(tmp_path, TiktokPlugin, file)


def watch(**changes: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "Date": "2024-06-02 19:20:11",
        "Link": "https://www.tiktokv.com/share/video/7375500000000000100/",
    }
    record.update(changes)
    return {k: v for k, v in record.items() if v is not ...}


#: Records the streaming reader stores or leaves out, each with an oddity the SQL maps alike.
READABLE = {
    "lower-case keys": {
        "date": "2024-06-02 19:20:11",
        "link": "https://www.tiktok.com/@a/video/7375500000000000101",
    },
    "VideoLink": watch(Link=..., VideoLink="https://www.tiktokv.com/share/video/7375500000000000102/"),
    "a null Link beside a VideoLink": watch(
        Link=None, VideoLink="https://www.tiktokv.com/share/video/7375500000000000103/"
    ),
    "both Date keys": watch(date="1999-01-01 00:00:00"),
    "a photo post": watch(Link="https://www.tiktokv.com/share/photo/7375500000000000104/"),
    "an empty link": watch(Link=""),
    "a photo post without a date": watch(Link="https://www.tiktok.com/@a/photo/1", Date=...),
    "white space around the link": watch(
        Link=" https://www.tiktokv.com/share/video/7375500000000000105/\u3000\n"
    ),
    "more keys": watch(Extra=[1, {"x": None}]),
    "the first day of the calendar": watch(Date="0001-01-01 00:00:00"),
}

#: Records the streaming reader cannot read, or reads in a way the SQL leaves to it.
NOT_COLUMNAR = {
    "no link": watch(Link=...),
    "no date": watch(Date=...),
    "a date that is no date": watch(Date="2024-02-30 10:00:00"),
    "a date with a T": watch(Date="2024-06-02T19:20:11"),
    "a date with a zone": watch(Date="2024-06-02 19:20:11+02:00"),
    "a date in other digits": watch(Date="٢٠٢٤-06-02 19:20:11"),
    "a number as date": watch(Date=1717355000),
    "a link in other digits": watch(Link="https://www.tiktokv.com/share/video/٧٣٧٥/"),
    "a record that is a list": ["2024-06-02 19:20:11", "https://www.tiktokv.com/share/video/1/"],
    "a record that is null": None,
    "year zero": watch(Date="0000-06-02 19:20:11"),
}


def _file(tmp_path: Path, odd: Any, *, extra: dict[str, Any] | None = None) -> Path:
    ordinary = [
        watch(
            Date=f"2024-06-0{n + 1} 10:00:00",
            Link=f"https://www.tiktokv.com/share/video/737550000000000000{n}/",
        )
        for n in range(3)
    ]
    data = {
        "Activity": {
            "Video Browsing History": {"VideoList": [*ordinary, odd]},
            "Like List": {"ItemFavoriteList": ordinary},
        },
        **(extra or {}),
    }
    path = tmp_path / "user_data_tiktok.json"
    path.write_text(json.dumps(data, ensure_ascii=False, indent=2), encoding="utf-8")
    return path


@pytest.mark.parametrize("case", sorted(READABLE))
def test_an_odd_but_readable_record_is_stored_alike(tmp_path: Path, case: str) -> None:
    assert_taken_and_stored_alike(tmp_path, TiktokPlugin, _file(tmp_path, READABLE[case]))


@pytest.mark.parametrize("case", sorted(NOT_COLUMNAR))
def test_a_record_the_sql_leaves_to_the_streaming_reader(tmp_path: Path, case: str) -> None:
    assert_sql_leaves_it_to_streaming(tmp_path, TiktokPlugin, _file(tmp_path, NOT_COLUMNAR[case]))


def test_timepertiktok_leaves_the_file_to_the_streaming_reader(tmp_path: Path) -> None:
    file = _file(tmp_path, watch(timepertiktok=None))
    assert TiktokPlugin().columnar_read(file, "") is None
    fast, slow, a, b = import_both(tmp_path, file)
    assert_same(fast, slow, a, b)


def test_a_list_that_is_not_a_list_leaves_the_file_to_the_streaming_reader(tmp_path: Path) -> None:
    file = _file(tmp_path, watch(), extra={"Your Activity": {"Watch History": {"VideoList": {"x": 1}}}})
    read = TiktokPlugin().columnar_read(file, "")
    assert read is not None and read_columnar(read, LOG) is None
    fast, slow, a, b = import_both(tmp_path, file)
    assert_same(fast, slow, a, b)
    assert slow.tally.unreadable == 1


def test_every_list_is_paged_and_resumed_in_the_streaming_readers_order(tmp_path: Path) -> None:
    """Watches, likes and favourites over several pages and Arrow batches: the rows and
    the record numbers are the streaming reader's, so a cursor means the same record."""
    watches = [
        watch(
            Date=f"2024-06-02 10:{n // 60 % 60:02d}:{n % 60:02d}", Link=f"https://www.tiktok.com/@a/video/{n}"
        )
        for n in range(70_000)
    ]
    likes = [
        {
            "date": "2024-06-03 10:00:00",
            "link": f"https://www.tiktok.com/@a/{'video' if n % 3 else 'photo'}/{n}",
        }
        for n in range(2_000)
    ]
    data = {
        "Activity": {
            "Video Browsing History": {"VideoList": watches},
            "Favorite Videos": {"FavoriteVideoList": watches[:5]},
        },
        "Likes and Favorites": {"Like List": {"ItemFavoriteList": likes}},
    }
    file = tmp_path / "user_data_tiktok.json"
    file.write_text(json.dumps(data), encoding="utf-8")
    fast, slow, a, b = import_both(tmp_path, file, page_size=7_000)
    assert took_columnar_path(fast) and fast.pages > 10
    assert_same(fast, slow, a, b)
    assert json.loads(fast.cursor)["record"] == 72_005


def test_the_run_log_says_what_each_list_held_on_either_path(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    likes = [
        {"date": "2024-06-03 10:00:00", "link": f"https://www.tiktok.com/@a/video/{n}"} for n in range(3)
    ]
    data = {
        "Activity": {"Video Browsing History": {"VideoList": [watch()]}},
        "Likes and Favorites": {"Like List": {"ItemFavoriteList": likes}},
    }
    file = tmp_path / "user_data_tiktok.json"
    file.write_text(json.dumps(data), encoding="utf-8")
    with caplog.at_level("INFO"):
        fast, slow, a, b = import_both(tmp_path, file)
    assert took_columnar_path(fast) and not took_columnar_path(slow)
    assert_same(fast, slow, a, b)
    found = [r.getMessage() for r in caplog.records if "records found" in r.getMessage()]
    assert (
        found
        == [
            "tiktok: user_data_tiktok.json: records found ('Activity > Video Browsing History > VideoList': 1, "
            "'Likes and Favorites > Like List > ItemFavoriteList': 3)"
        ]
        * 2
    )
