"""Users of the warehouse: their sign-in token hashes, and deleting one user's data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from mca_pipeline.core.models import utc_now
from mca_pipeline.warehouse.results import changed
from mca_pipeline.warehouse.transactions import retried, transaction
from mca_pipeline.warehouse.upsert import upsert


@dataclass(frozen=True)
class UserSummary:
    user_id: str
    created_at: datetime | None
    items: int
    connections: list[str]


@retried
def add_user(con: duckdb.DuckDBPyConnection, user_id: str, token_hash: str) -> None:
    """Create the user (or keep it) and replace its sign-in token hash."""
    now = utc_now()
    with transaction(con):
        upsert(con, "users", {"user_id": user_id, "created_at": now}, key=("user_id",))
        upsert(
            con,
            "user_tokens",
            {"user_id": user_id, "token_hash": token_hash, "created_at": now},
            key=("user_id",),
            update=("token_hash", "created_at"),
        )


def user_for_token_hash(con: duckdb.DuckDBPyConnection, token_hash: str) -> str | None:
    rows = con.execute("SELECT user_id FROM user_tokens WHERE token_hash = ?", [token_hash]).fetchall()
    return str(rows[0][0]) if rows else None


def list_users(con: duckdb.DuckDBPyConnection) -> list[UserSummary]:
    rows = con.execute(
        """
        SELECT u.user_id, u.created_at,
               (SELECT count(*) FROM media_items m WHERE m.user_id = u.user_id),
               (SELECT list(c.plugin ORDER BY c.plugin) FROM credentials c WHERE c.user_id = u.user_id)
        FROM users u ORDER BY u.user_id
        """
    ).fetchall()
    return [
        UserSummary(str(u), created, int(items), list(plugins or [])) for u, created, items, plugins in rows
    ]


def user_exists(con: duckdb.DuckDBPyConnection, user_id: str) -> bool:
    return bool(con.execute("SELECT 1 FROM users WHERE user_id = ?", [user_id]).fetchall())


@retried
def delete_user_data(con: duckdb.DuckDBPyConnection, user_id: str) -> dict[str, int]:
    """Remove every row of the user from every table with a user_id column (found in the
    schema, so a table added later cannot be forgotten; `users` last), in one transaction;
    returns rows deleted per table."""
    tables = [
        str(name)
        for (name,) in con.execute(
            """
            SELECT table_name FROM information_schema.columns
            WHERE column_name = 'user_id' AND table_schema = 'main' AND table_catalog = current_database()
            ORDER BY table_name = 'users', table_name
            """
        ).fetchall()
    ]
    deleted: dict[str, int] = {}
    with transaction(con):
        for table in tables:
            deleted[table] = changed(con.execute(f"DELETE FROM {table} WHERE user_id = ?", [user_id]))
    return deleted
