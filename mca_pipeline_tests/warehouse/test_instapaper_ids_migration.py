"""Migration 7: stored Instapaper ids lose default ports and the empty host of a lost
slash, so re-importing an export after the upgrade adds nothing."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from mca_pipeline.core import Credentials, SyncContext
from mca_pipeline.plugins.instapaper import InstapaperPlugin
from mca_pipeline.warehouse import SyncAttempt, Warehouse, store_sync
from mca_pipeline_tests.conftest import warehouse_at_version

OLD_IDS = {
    "https://theoatmeal.com:443/": "https://theoatmeal.com/",
    "http://example.com:80/a?x=1": "http://example.com/a?x=1",
    "https:///example.org/lost-slash": "https://example.org/lost-slash",
    "https://example.com:8443/kept": "https://example.com:8443/kept",
    "https://unchanged.example/": "https://unchanged.example/",
}


def version_6_file(path: Path) -> None:
    con = warehouse_at_version(path, 6)
    for external_id in [*OLD_IDS, "https://dup.example:443/", "https://dup.example/"]:
        con.execute(
            "INSERT INTO media_items (user_id, platform, external_id, media_type, title, consumed_at, "
            "raw_metadata, first_seen_at, updated_at) VALUES ('ada', 'instapaper', ?, 'article', 't', now(), "
            "'{}', now(), now())",
            [external_id],
        )
    con.execute(
        "INSERT INTO media_items (user_id, platform, external_id, media_type, title, consumed_at, "
        "raw_metadata, first_seen_at, updated_at) VALUES ('ada', 'netflix', 'https://x:443/', 'video', 't', "
        "now(), '{}', now(), now())"
    )
    con.close()


def test_stored_instapaper_ids_are_rewritten_once_and_duplicates_collapse(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    version_6_file(path)

    with Warehouse(path).connect() as con:
        ids = {
            r[0]
            for r in con.execute(
                "SELECT external_id FROM media_items WHERE platform = 'instapaper'"
            ).fetchall()
        }
        other = con.execute("SELECT external_id FROM media_items WHERE platform = 'netflix'").fetchall()

    assert ids == {*OLD_IDS.values(), "https://dup.example/"}
    assert other == [("https://x:443/",)]


def test_re_importing_the_export_after_the_migration_adds_nothing(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    version_6_file(path)
    export = tmp_path / "instapaper-export.csv"
    export.write_text(
        "URL,Title,Selection,Folder,Timestamp\nhttps://theoatmeal.com:443/,,,Unread,1690000000\n"
    )
    result = InstapaperPlugin().sync(SyncContext(user_id="ada"), Credentials(file=export), "")

    with Warehouse(path).connect() as con:
        attempt = SyncAttempt("ada", "instapaper", datetime(2024, 5, 1, tzinfo=UTC), "", "c", False)
        counts = store_sync(con, attempt, result.items)

    assert counts.new == 0
