"""The warehouse file is created, versioned and migrated on open."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from mca_pipeline.warehouse import SCHEMA_VERSION, SchemaTooNewError, Warehouse
from mca_pipeline_tests.conftest import reopened, warehouse_at_version


def test_new_file_gets_every_table_and_its_version(warehouse: Warehouse) -> None:
    with warehouse.connect() as con:
        tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
        versions = con.execute("SELECT version FROM schema_version ORDER BY version").fetchall()
    assert {"schema_version", "users", "media_items", "sync_log"} <= tables
    assert [v for (v,) in versions] == list(range(1, SCHEMA_VERSION + 1))


def test_reopening_does_not_migrate_twice(warehouse: Warehouse) -> None:
    with warehouse.connect():
        pass
    with reopened(warehouse).connect() as con:
        assert con.execute("SELECT count(*) FROM schema_version").fetchone() == (SCHEMA_VERSION,)


def test_a_file_from_a_newer_release_is_refused(warehouse: Warehouse) -> None:
    with warehouse.connect() as con:
        con.execute("INSERT INTO schema_version VALUES (?, now())", [SCHEMA_VERSION + 1])
    with pytest.raises(SchemaTooNewError, match="upgrade mca_pipeline"), reopened(warehouse).connect():
        pass


def test_media_items_reject_unknown_status_and_type(tmp_path: Path) -> None:
    """A file's check constraints (a lake has none: there, only the code's own validation)."""
    with Warehouse(tmp_path / "warehouse.duckdb").connect() as con:
        with pytest.raises(duckdb.ConstraintException):
            con.execute(
                "INSERT INTO media_items (user_id, platform, external_id, media_type, title, consumed_at, "
                "raw_metadata, status, first_seen_at, updated_at) "
                "VALUES ('a', 'p', 'x', 'music', 't', now(), '{}', 'done', now(), now())"
            )
        with pytest.raises(duckdb.ConstraintException):
            con.execute(
                "INSERT INTO media_items (user_id, platform, external_id, media_type, title, consumed_at, "
                "raw_metadata, first_seen_at, updated_at) "
                "VALUES ('a', 'p', 'x', 'song', 't', now(), '{}', now(), now())"
            )


def test_youtube_likes_stored_with_capitalised_topics_are_lowered_on_upgrade(tmp_path: Path) -> None:
    # A warehouse at version 9, with likes synced before topics were lower case.
    path = tmp_path / "old.duckdb"
    con = warehouse_at_version(path, 9)
    con.execute(
        """INSERT INTO media_items (user_id, platform, external_id, media_type, title, tags, raw_metadata, consumed_at, first_seen_at, updated_at)
        VALUES ('alice', 'youtube', 'LL:a', 'video', 'A', ['Music', 'Pop music'], '{}', now(), now(), now()),
               ('alice', 'spotify', 'x', 'music', 'B', ['Indie Pop'], '{}', now(), now(), now())"""
    )
    con.close()
    with Warehouse(path).connect() as con:
        rows = con.execute("SELECT platform, tags FROM media_items ORDER BY platform").fetchall()
    assert rows == [("spotify", ["Indie Pop"]), ("youtube", ["music", "pop music"])]
