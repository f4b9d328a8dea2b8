"""The columnar path of youtube_takeout (watch-history.json) against its streaming reader:
the same rows, counts, left-out and unreadable entries either way, and the streaming
reader for every file holding an entry it would skip or read otherwise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mca_pipeline.plugins.youtube_takeout import REMOVED_TITLE, YoutubeTakeoutPlugin
from mca_pipeline.warehouse import Warehouse
from mca_pipeline.warehouse.columnar_pages import read_columnar
from mca_pipeline.warehouse.sync_loop import SyncSummary
from mca_pipeline_tests.plugins import columnar_paths
from mca_pipeline_tests.plugins.columnar_paths import LOG, assert_same, took_columnar_path

FIXTURES = Path(__file__).parent.parent / "fixtures" / "youtube_takeout"
FILES = sorted(FIXTURES.rglob("*.json"))


def import_both(tmp_path: Path, file: Path) -> tuple[SyncSummary, SyncSummary, Warehouse, Warehouse]:
    return columnar_paths.import_both(tmp_path, YoutubeTakeoutPlugin, file)


@pytest.mark.parametrize("file", FILES, ids=[str(p.relative_to(FIXTURES)) for p in FILES])
def test_every_fixture_is_stored_alike_on_both_paths(tmp_path: Path, file: Path) -> None:
    fast, slow, a, b = import_both(tmp_path, file)
    assert_same(fast, slow, a, b)
    if slow.error is None and not slow.tally.unreadable and slow.received:
        assert took_columnar_path(fast), file.name
    if slow.tally.unreadable or slow.error is not None:
        assert not took_columnar_path(fast), file.name


def test_the_html_page_is_read_by_the_streaming_reader(tmp_path: Path) -> None:
    assert YoutubeTakeoutPlugin().columnar_read(FIXTURES / "watch-history.html", "") is None


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
    fast, slow, a, b = import_both(tmp_path, _file(tmp_path, READABLE[case]))
    assert not slow.tally.unreadable and slow.error is None
    assert_same(fast, slow, a, b)
    assert took_columnar_path(fast)


@pytest.mark.parametrize("case", sorted(NOT_COLUMNAR))
def test_an_entry_the_sql_leaves_to_the_streaming_reader(tmp_path: Path, case: str) -> None:
    file = _file(tmp_path, NOT_COLUMNAR[case])
    read = YoutubeTakeoutPlugin().columnar_read(file, "")
    assert read is not None
    assert read_columnar(read, LOG) is None
    fast, slow, a, b = import_both(tmp_path, file)
    assert_same(fast, slow, a, b)
    assert not took_columnar_path(fast)
