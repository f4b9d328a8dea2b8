"""Migration 8: offline Spotify plays stored before get their offline time and id, so a
re-import of the same export adds nothing and the second of two colliding plays comes in."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from mca_pipeline.core import Credentials, SyncContext
from mca_pipeline.plugins.spotify_export import SpotifyExportPlugin
from mca_pipeline.warehouse import SyncAttempt, Warehouse, store_sync
from mca_pipeline_tests.conftest import warehouse_at_version

TS = "2023-11-08T18:30:12Z"
PLAYS = [
    # two offline plays of one track, synced together: the old id scheme gave them one id
    {"ts": TS, "ms_played": 187000, "spotify_track_uri": "spotify:track:A", "master_metadata_track_name": "A",
     "master_metadata_album_artist_name": "X", "offline": True, "offline_timestamp": 1699464000},
    {"ts": TS, "ms_played": 187000, "spotify_track_uri": "spotify:track:A", "master_metadata_track_name": "A",
     "master_metadata_album_artist_name": "X", "offline": True, "offline_timestamp": 1699464300000},
    {"ts": "2023-11-08T19:00:00Z", "ms_played": 200000, "spotify_track_uri": "spotify:track:B",
     "master_metadata_track_name": "B", "master_metadata_album_artist_name": "X", "offline": False,
     "offline_timestamp": 1699469800},
]  # fmt: skip


def old_file(path: Path) -> None:
    """A version-7 warehouse holding the first offline play and the online one as the
    previous release stored them: id without the offline suffix, dated ts - ms_played."""
    con = warehouse_at_version(path, 7)
    rows = [
        (f"{TS}|spotify:track:A|187000", "2023-11-08 18:27:05+00", 1699464000, True, TS),
        ("2023-11-08T19:00:00Z|spotify:track:B|200000", "2023-11-08 18:56:40+00", 1699469800, False,
         "2023-11-08T19:00:00Z"),
    ]  # fmt: skip
    for external_id, consumed, offline_ts, offline, ts in rows:
        raw = {"schema": "extended", "ts": ts, "offline": offline, "offline_timestamp": offline_ts}
        con.execute(
            "INSERT INTO media_items (user_id, platform, external_id, media_type, title, consumed_at, "
            "raw_metadata, first_seen_at, updated_at) VALUES ('ada', 'spotify_export', ?, 'music', 't', ?, ?, "
            "now(), now())",
            [external_id, consumed, json.dumps(raw)],
        )
        con.execute(
            "INSERT INTO unified_plays VALUES ('ada', 'spotify_export', ?, 'spotify_export:' || ?)",
            [external_id, external_id],
        )
    con.execute(
        "INSERT INTO unified_plays VALUES ('ada', 'lastfm', 'scrobble-1', 'spotify_export:' || ?)",
        [f"{TS}|spotify:track:A|187000"],
    )
    con.close()


def test_stored_offline_plays_get_their_offline_time_and_id_and_links_follow(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    old_file(path)

    with Warehouse(path).connect() as con:
        items = dict(con.execute("SELECT external_id, consumed_at FROM media_items").fetchall())
        links = sorted(con.execute("SELECT platform, external_id, play_key FROM unified_plays").fetchall())

    new_id = f"{TS}|spotify:track:A|187000|offline 1699464000"
    assert items == {
        new_id: datetime(2023, 11, 8, 17, 20, tzinfo=UTC),
        "2023-11-08T19:00:00Z|spotify:track:B|200000": datetime(2023, 11, 8, 18, 56, 40, tzinfo=UTC),
    }
    assert ("lastfm", "scrobble-1", f"spotify_export:{new_id}") in links
    assert ("spotify_export", new_id, f"spotify_export:{new_id}") in links


def test_re_importing_after_the_migration_adds_only_the_play_that_was_lost(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    old_file(path)
    export = tmp_path / "Streaming_History_Audio_2023_0.json"
    export.write_text(json.dumps(PLAYS))
    result = SpotifyExportPlugin().sync(SyncContext(user_id="ada"), Credentials(file=export), "")
    assert result.err is None and len(result.items) == 3

    with Warehouse(path).connect() as con:
        attempt = SyncAttempt("ada", "spotify_export", datetime(2024, 5, 1, tzinfo=UTC), "", "c", False)
        counts = store_sync(con, attempt, result.items)

    assert counts.new == 1
    assert [i.consumed_at for i in result.items][:2] == [
        datetime(2023, 11, 8, 17, 20, tzinfo=UTC),
        datetime(2023, 11, 8, 17, 25, tzinfo=UTC),
    ]
