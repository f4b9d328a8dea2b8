"""Users: added with a sign-in token, listed with their items and connected sources, and
deleted with every row that names them, on the file and on a lake."""

from __future__ import annotations

from datetime import UTC, datetime

from mca_pipeline.warehouse import SyncAttempt, Warehouse, store_sync
from mca_pipeline.warehouse.accounts import set_connection_state
from mca_pipeline.warehouse.credentials import save_sealed
from mca_pipeline.warehouse.users import (
    add_user,
    delete_user_data,
    list_users,
    user_exists,
    user_for_token_hash,
)
from mca_pipeline_tests.conftest import play


def test_a_user_is_added_listed_and_deleted_with_all_their_rows(warehouse: Warehouse) -> None:
    with warehouse.connect() as con:
        add_user(con, "ada", "hash-1")
        add_user(con, "ada", "hash-2")  # a new token replaces the old one
        add_user(con, "bo", "hash-3")
        store_sync(
            con,
            SyncAttempt("ada", "spotify_export", datetime.now(UTC), "", "c", False),
            [play(n) for n in range(3)],
        )
        store_sync(con, SyncAttempt("bo", "spotify_export", datetime.now(UTC), "", "c", False), [play(0)])
        save_sealed(con, "ada", "lastfm", b"sealed", (), None)
        set_connection_state(con, "ada", "lastfm", "connected")
        assert (user_for_token_hash(con, "hash-1"), user_for_token_hash(con, "hash-2")) == (None, "ada")
        assert [(u.user_id, u.items, u.connections) for u in list_users(con)] == [
            ("ada", 3, ["lastfm"]),
            ("bo", 1, []),
        ]
        deleted = delete_user_data(con, "ada")
        assert {table: n for table, n in deleted.items() if n} == {
            "connections": 1,
            "credentials": 1,
            "media_items": 3,
            "sync_log": 1,
            "user_tokens": 1,
            "users": 1,
        }
        assert not user_exists(con, "ada") and user_exists(con, "bo")
        assert [(u.user_id, u.items) for u in list_users(con)] == [("bo", 1)]
