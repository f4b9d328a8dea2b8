"""`mca warehouse migrate`: a DuckDB warehouse file copied into a DuckLake, every row once,
resumable, with counts checked; and `mca warehouse downgrade`, the copy DuckDB 1.5 (the
lake's) can read of a file a newer DuckDB wrote."""

from __future__ import annotations

import struct
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from mca_pipeline.warehouse import SyncAttempt, Warehouse, store_sync
from mca_pipeline.warehouse.accounts import add_notification
from mca_pipeline.warehouse.credentials import save_sealed
from mca_pipeline.warehouse.lake import LakeWarehouse
from mca_pipeline.warehouse.lake_copy import copy_into_lake, downgraded_copy
from mca_pipeline_tests.conftest import play


def stored(warehouse: Warehouse, user: str, first: int, count: int, cursor: str) -> None:
    with warehouse.connect() as con:
        attempt = SyncAttempt(user, "spotify_export", datetime.now(UTC), "", cursor, False)
        store_sync(con, attempt, [play(n) for n in range(first, first + count)])


@pytest.mark.lake
def test_a_file_is_copied_once_resumed_and_its_ids_continue(lake: LakeWarehouse, tmp_path: Path) -> None:
    file = Warehouse(tmp_path / "warehouse.duckdb")
    stored(file, "ada", 0, 30, "a1")
    stored(file, "ada", 20, 30, "a2")  # 20 new, 10 seen
    stored(file, "bob", 0, 5, "b1")
    with file.connect() as con:
        save_sealed(con, "ada", "lastfm", b"sealed-bytes", ("scope",), None)
        add_notification(con, "ada", "lastfm", "needs_reauth", "Sign in to Last.fm again")

    first = {c.table: (c.copied, c.in_file, c.in_lake) for c in copy_into_lake(lake, file.path)}
    assert first["media_items"] == (55, 55, 55)  # ada 50, bob 5
    assert first["sync_log"] == (3, 3, 3)
    assert first["users"] == (2, 2, 2)
    assert first["credentials"] == (1, 1, 1)
    assert first["notifications"] == (1, 1, 1)

    # Run again (as after a copy that stopped): nothing twice. Then only what is new.
    assert all(c.copied == 0 for c in copy_into_lake(lake, file.path))
    stored(file, "bob", 5, 5, "b2")
    again = {c.table: (c.copied, c.in_file, c.in_lake) for c in copy_into_lake(lake, file.path)}
    assert again["media_items"] == (5, 60, 60) and again["sync_log"] == (1, 4, 4)

    with lake.connect() as con:
        assert con.execute(
            "SELECT count(*), count(DISTINCT (user_id, platform, external_id)) FROM media_items"
        ).fetchall() == [(60, 60)]
        copied_ids = [i for (i,) in con.execute("SELECT id FROM sync_log ORDER BY id").fetchall()]
        assert con.execute("SELECT sealed FROM credentials").fetchall() == [(b"sealed-bytes",)]
    # The lake's next sync gets an id after the copied ones; a re-import adds nothing.
    stored(lake, "bob", 0, 10, "b3")
    with lake.connect() as con:
        [(new_id, new)] = con.execute("SELECT id, new_count FROM sync_log WHERE cursor_out = 'b3'").fetchall()
    assert new_id > max(copied_ids) and new == 0


def test_a_downgraded_copy_is_in_duckdb_1_5s_format(tmp_path: Path) -> None:
    """The file header's storage version: DuckDB 1.5 reads 64-68 (a DuckDB 2 file is 999)."""
    file = Warehouse(tmp_path / "warehouse.duckdb")
    stored(file, "ada", 0, 12, "a1")
    target = tmp_path / "for-lake.duckdb"
    downgraded_copy(file.path, target)
    header = target.read_bytes()[8:20]
    assert header[:4] == b"DUCK" and 64 <= struct.unpack("<Q", header[4:])[0] <= 68
    con = duckdb.connect(str(target), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM media_items").fetchall() == [(12,)]
    finally:
        con.close()
