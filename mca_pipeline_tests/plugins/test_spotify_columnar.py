"""The columnar path of spotify_export against its streaming reader.

Every file is imported twice, into two warehouses: as core imports it (DuckDB reads the
file whole where it can) and by the streaming reader alone (a plugin without
`columnar_read`). Both must store the same rows, count the same and report the same
unreadable records; and files the streaming reader would skip a record of, or read
differently, must not take the columnar path at all.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from mca_pipeline.core import Credentials, ErrorCode, SyncContext
from mca_pipeline.plugins.spotify_export import SpotifyExportPlugin
from mca_pipeline.warehouse import Warehouse
from mca_pipeline.warehouse.columnar_pages import read_columnar
from mca_pipeline.warehouse.sync_loop import SyncSummary, run_sync
from mca_pipeline_tests.plugins import columnar_paths
from mca_pipeline_tests.plugins.columnar_paths import LOG, assert_same, page_rows, took_columnar_path
from mca_pipeline_tests.synthetic_exports import extended_plays

FIXTURES = Path(__file__).parent.parent / "fixtures" / "spotify_export"


def import_both(tmp_path: Path, file: Path) -> tuple[SyncSummary, SyncSummary, Warehouse, Warehouse]:
    return columnar_paths.import_both(tmp_path, SpotifyExportPlugin, file)


REAL_FILES = sorted(p for p in FIXTURES.rglob("*.json"))


@pytest.mark.parametrize("file", REAL_FILES, ids=[str(p.relative_to(FIXTURES)) for p in REAL_FILES])
def test_every_fixture_is_stored_alike_on_both_paths(tmp_path: Path, file: Path) -> None:
    fast, slow, a, b = import_both(tmp_path, file)
    assert_same(fast, slow, a, b)
    # Extended histories without a bad record go the columnar way; the rest do not.
    extended_and_clean = slow.error is None and not slow.tally.unreadable and b'"ts"' in file.read_bytes()
    if extended_and_clean and slow.received:
        assert took_columnar_path(fast), file.name
    if slow.tally.unreadable or slow.error is not None:
        assert not took_columnar_path(fast), file.name


def play(**changes: Any) -> dict[str, Any]:
    [record] = extended_plays(1, seed=7)
    record.update(changes)
    return record


#: Records the streaming reader reads, each with an oddity the SQL must map alike.
ODD_BUT_READABLE = {
    "offline play in seconds": play(offline=True, offline_timestamp=1_577_836_000),
    "offline play in milliseconds": play(offline=True, offline_timestamp=1_577_836_000_123),
    "offline play as a float": play(offline=True, offline_timestamp=1_577_836_000.75),
    "offline time after ts": play(offline=True, offline_timestamp=4_000_000_000),
    "offline time nonsense": play(offline=True, offline_timestamp=42),
    "offline time huge": play(offline=True, offline_timestamp=10**30),
    "offline time as text": play(offline=True, offline_timestamp="1577836000"),
    "offline not true": play(offline="true", offline_timestamp=1_577_836_000),
    "local file: names, no URI": play(spotify_track_uri=None),
    "empty URI and names": play(
        spotify_track_uri="", master_metadata_track_name="", master_metadata_album_artist_name=""
    ),
    "only an artist": play(spotify_track_uri=None, master_metadata_track_name=None),
    "URI of another kind": play(spotify_track_uri="spotify:episode:abc"),
    "bare URI prefix": play(spotify_track_uri="spotify:track:"),
    "episode without URI": play(
        spotify_track_uri=None,
        master_metadata_track_name=None,
        master_metadata_album_artist_name=None,
        episode_name="Ep",
        episode_show_name=None,
    ),
    "audiobook chapter": play(
        spotify_track_uri=None,
        master_metadata_track_name=None,
        master_metadata_album_artist_name=None,
        audiobook_title="",
        audiobook_chapter_title="Chapter 1",
        audiobook_chapter_uri="spotify:chapter:x",
    ),
    "audiobook by title only": play(
        spotify_track_uri=None, master_metadata_track_name=None, audiobook_title="A Book"
    ),
    "empty album": play(master_metadata_album_album_name=""),
    "a play of a week": play(ms_played=7 * 24 * 3600 * 1000),
    "a play of nothing": play(ms_played=0),
    "text in every script": play(master_metadata_track_name='夜に駆ける 😀 \u0000 \\ " / é'),
    "numbers where flags go": play(shuffle=1, skipped=0, incognito_mode=None),
    "ts with milliseconds": play(ts="2020-01-01T00:00:00.123Z"),
    "ts without a zone": play(ts="2020-01-01T00:00:00"),
    "ts with an offset": play(ts="2020-01-01T01:00:00+01:00"),
}

#: Records the streaming reader skips (with a reason in the import report).
UNREADABLE = {
    "ts missing": play(ts=None),
    "ts a number": play(ts=1577836800),
    "ts not a date": play(ts="2020-02-30T00:00:00Z"),
    "ms_played negative": play(ms_played=-5),
    "ms_played a float": play(ms_played=1000.5),
    "ms_played over a week": play(ms_played=7 * 24 * 3600 * 1000 + 1),
    "ms_played as text": play(ms_played="1000"),
    "URI not text": play(spotify_track_uri=12),
    "title not text": play(master_metadata_track_name=["a"]),
    "before the epoch started": play(ts="0001-01-01T00:00:00Z"),
}


def _write(path: Path, records: list[Any]) -> Path:
    path.write_text(json.dumps(records, ensure_ascii=False, indent=1), encoding="utf-8")
    return path


@pytest.mark.parametrize("case", sorted(ODD_BUT_READABLE))
def test_an_odd_but_readable_record_is_stored_alike(tmp_path: Path, case: str) -> None:
    records = [*extended_plays(3, seed=1), ODD_BUT_READABLE[case]]
    file = _write(tmp_path / "Streaming_History_Audio_2020_0.json", records)
    fast, slow, a, b = import_both(tmp_path, file)
    assert slow.received == 4 and not slow.tally.unreadable
    assert_same(fast, slow, a, b)


@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_a_record_the_streaming_reader_skips_sends_the_file_to_it(tmp_path: Path, case: str) -> None:
    records = [*extended_plays(30, seed=1), UNREADABLE[case]]
    file = _write(tmp_path / "Streaming_History_Audio_2020_0.json", records)
    plugin = SpotifyExportPlugin()
    read = plugin.columnar_read(file, "")
    assert read is not None
    assert read_columnar(read, LOG) is None, "the columnar path would have taken a file with a bad record"
    fast, slow, a, b = import_both(tmp_path, file)
    assert slow.tally.unreadable == 1 and slow.received == 30
    assert_same(fast, slow, a, b)
    assert not took_columnar_path(fast)


def test_pages_keep_their_cursor_and_an_interrupted_import_resumes(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    """Three pages of 400 plays (the last 200): each its own sync_log row with the cursor
    after it; stopped after the first, the next run stores the other two; a second
    import of the file adds nothing."""
    file = _write(tmp_path / "Streaming_History_Audio_2020_0.json", extended_plays(1000, seed=3))
    plugin = SpotifyExportPlugin()

    def sync(max_pages: int | None = None) -> SyncSummary:
        ctx = SyncContext(user_id="u", columnar_page_size=400)
        return run_sync(
            plugin,
            warehouse,
            "u",
            Credentials(file=file),
            log=LOG,
            source=file.name,
            ctx=ctx,
            max_pages=max_pages,
        )

    first = sync(max_pages=1)
    assert (first.received, first.new, first.has_more) == (400, 400, True)
    rest = sync()
    assert (rest.received, rest.new, rest.has_more, rest.pages) == (600, 600, False, 2)
    with warehouse.connect() as con:
        log = con.execute(
            "SELECT received_count, has_more, cursor_out::JSON ->> 'record', cursor_out::JSON ->> 'offset', "
            "(cursor_out::JSON ->> 'read')::BIGINT "
            "FROM sync_log WHERE user_id = 'u' ORDER BY id"
        ).fetchall()
        stored = con.execute(
            "SELECT count(*), count(DISTINCT sync_log_id) FROM media_items WHERE user_id = 'u'"
        ).fetchone()
    # `read`, for the progress bar: the share of the file's bytes, all of them at the end.
    size = file.stat().st_size
    assert log == [
        (400, True, "400", "0", size * 400 // 1000),
        (400, True, "800", "0", size * 800 // 1000),
        (200, False, "1000", "0", size),
    ]
    assert stored == (1000, 3)
    again = sync()
    assert (again.received, again.new, again.skipped) == (1000, 0, 1000)


def test_a_file_gone_from_the_inbox_is_reported_not_raised(tmp_path: Path) -> None:
    """The columnar read looks at the file before the streaming reader does; a file
    deleted in between ends as the streaming reader's report of it."""
    summary = run_sync(
        SpotifyExportPlugin(),
        Warehouse(tmp_path / "w.duckdb"),
        "u",
        Credentials(file=tmp_path / "gone.json"),
        log=LOG,
    )
    assert summary.error is not None and summary.error.code == ErrorCode.FILE_PARSE_ERROR


def test_a_file_read_ahead_waits_on_disk_and_is_stored_whole(tmp_path: Path) -> None:
    """A file read whole while another is stored waits in a database file of its own
    until its turn (its rows would otherwise sit in memory, one file per read ahead),
    its pages still hold every play, and closing it leaves nothing behind."""
    file = tmp_path / "Streaming_History_Audio_2024_0.json"
    file.write_text(json.dumps(extended_plays(60_000, seed=3)), encoding="utf-8")
    read = SpotifyExportPlugin().columnar_read(file, "")
    assert read is not None
    columnar = read_columnar(read, LOG)
    assert columnar is not None
    try:
        assert columnar.staged.stat().st_size < file.stat().st_size
        pages = page_rows(columnar, 25_000)
        assert [p.table.num_rows for p in pages] == [25_000, 25_000, 10_000]
        assert [p.has_more for p in pages] == [True, True, False]
    finally:
        columnar.close()
    assert not columnar.staged.parent.exists()
