"""Connection state per (user, plugin) and the notifications a user must read.

The state says whether syncing can go on by itself (connected) or needs the person:
disconnected (the refresh token was refused) or needs_reauth (missing permissions).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from mca_pipeline.core.models import utc_now
from mca_pipeline.warehouse.upsert import upsert

CONNECTED, DISCONNECTED, NEEDS_REAUTH = "connected", "disconnected", "needs_reauth"


@dataclass(frozen=True)
class Notification:
    id: int
    user_id: str
    plugin: str
    kind: str
    message: str
    created_at: datetime


def set_connection_state(
    con: duckdb.DuckDBPyConnection, user_id: str, plugin: str, state: str, reason: str | None = None
) -> None:
    upsert(
        con,
        "connections",
        {"user_id": user_id, "plugin": plugin, "state": state, "reason": reason, "changed_at": utc_now()},
        key=("user_id", "plugin"),
        update=("state", "reason", "changed_at"),
    )


def connection_state(
    con: duckdb.DuckDBPyConnection, user_id: str, plugin: str
) -> tuple[str, str | None] | None:
    rows = con.execute(
        "SELECT state, reason FROM connections WHERE user_id = ? AND plugin = ?", [user_id, plugin]
    ).fetchall()
    return (str(rows[0][0]), rows[0][1]) if rows else None


def connection_states(con: duckdb.DuckDBPyConnection, user_id: str) -> dict[str, tuple[str, str | None]]:
    """Every connection of a user: plugin -> (state, reason), in one query."""
    rows = con.execute(
        "SELECT plugin, state, reason FROM connections WHERE user_id = ?", [user_id]
    ).fetchall()
    return {str(plugin): (str(state), reason) for plugin, state, reason in rows}


@dataclass(frozen=True)
class AwaitingFirstSync:
    """A connected account that has never been synced, and when it became connected."""

    user_id: str
    plugin: str
    connected_at: datetime


def awaiting_first_sync(con: duckdb.DuckDBPyConnection) -> list[AwaitingFirstSync]:
    """Connected accounts with no sync_log row at all: their first sync has not run yet.
    Any sync writes a row, even a failed one, after which the plugin's schedule takes over."""
    rows = con.execute(
        """
        SELECT c.user_id, c.plugin, c.changed_at FROM connections AS c
        WHERE c.state = ?
          AND NOT EXISTS (SELECT 1 FROM sync_log AS s WHERE s.user_id = c.user_id AND s.platform = c.plugin)
        ORDER BY c.user_id, c.plugin
        """,
        [CONNECTED],
    ).fetchall()
    return [AwaitingFirstSync(str(user), str(plugin), at) for user, plugin, at in rows]


def add_notification(
    con: duckdb.DuckDBPyConnection, user_id: str, plugin: str, kind: str, message: str
) -> Notification:
    created = utc_now()
    rows = con.execute("SELECT mca_next_id('notification_id')").fetchall()
    con.execute(
        "INSERT INTO notifications (id, user_id, plugin, kind, message, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        [rows[0][0], user_id, plugin, kind, message, created],
    )
    return Notification(int(rows[0][0]), user_id, plugin, kind, message, created)


def notifications(
    con: duckdb.DuckDBPyConnection, user_id: str, *, unread_only: bool = True
) -> list[Notification]:
    rows = con.execute(
        f"""
        SELECT id, user_id, plugin, kind, message, created_at FROM notifications
        WHERE user_id = ? {"AND read_at IS NULL" if unread_only else ""} ORDER BY id
        """,
        [user_id],
    ).fetchall()
    return [Notification(int(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in rows]
