"""Sealed credentials per (user, plugin). What is stored here is already encrypted by
auth.vault: this module never sees a secret in the clear."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa

from mca_pipeline.core.models import utc_now
from mca_pipeline.warehouse.results import changed
from mca_pipeline.warehouse.upsert import upsert


def save_sealed(
    con: duckdb.DuckDBPyConnection,
    user_id: str,
    plugin: str,
    sealed: bytes,
    scopes: tuple[str, ...],
    expires_at: datetime | None,
) -> None:
    upsert(con, "users", {"user_id": user_id}, key=("user_id",))
    upsert(
        con,
        "credentials",
        {
            "user_id": user_id,
            "plugin": plugin,
            "sealed": sealed,
            "scopes": list(scopes),
            "expires_at": expires_at,
            "updated_at": utc_now(),
        },
        key=("user_id", "plugin"),
        update=("sealed", "scopes", "expires_at", "updated_at"),
    )


def load_sealed(
    con: duckdb.DuckDBPyConnection, user_id: str, plugin: str
) -> tuple[bytes, tuple[str, ...], datetime | None] | None:
    rows = con.execute(
        "SELECT sealed, scopes, expires_at FROM credentials WHERE user_id = ? AND plugin = ?",
        [user_id, plugin],
    ).fetchall()
    if not rows:
        return None
    sealed, scopes, expires_at = rows[0]
    return bytes(sealed), tuple(scopes or ()), expires_at


def delete_sealed(con: duckdb.DuckDBPyConnection, user_id: str, plugin: str) -> bool:
    return bool(
        changed(con.execute("DELETE FROM credentials WHERE user_id = ? AND plugin = ?", [user_id, plugin]))
    )


def users_with_credentials(con: duckdb.DuckDBPyConnection, plugin: str) -> list[str]:
    rows = con.execute(
        "SELECT user_id FROM credentials WHERE plugin = ? ORDER BY user_id", [plugin]
    ).fetchall()
    return [str(r[0]) for r in rows]


def all_sealed(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, bytes]]:
    return [
        (str(u), str(p), bytes(s))
        for u, p, s in con.execute("SELECT user_id, plugin, sealed FROM credentials").fetchall()
    ]


def replace_sealed(con: duckdb.DuckDBPyConnection, rows: list[tuple[str, str, bytes]]) -> int:
    """Write re-encrypted rows back in one statement (key rotation)."""
    if not rows:
        return 0
    staging = pa.table(
        {
            "user_id": [r[0] for r in rows],
            "plugin": [r[1] for r in rows],
            "sealed": pa.array([r[2] for r in rows], pa.binary()),
        }
    )
    con.register("mca_rotated", staging)
    try:
        updated = con.execute(
            """
            UPDATE credentials AS c SET sealed = r.sealed, updated_at = now()
            FROM mca_rotated AS r WHERE c.user_id = r.user_id AND c.plugin = r.plugin
            """
        ).fetchall()
    finally:
        con.unregister("mca_rotated")
    return int(updated[0][0]) if updated else 0


def load_key_check(con: duckdb.DuckDBPyConnection) -> bytes | None:
    """The vault's key check (a known text sealed with the current key), if written yet."""
    rows = con.execute("SELECT sealed FROM vault_check WHERE id = 1").fetchall()
    return bytes(rows[0][0]) if rows else None


def save_key_check(con: duckdb.DuckDBPyConnection, sealed: bytes) -> None:
    upsert(
        con,
        "vault_check",
        {"id": 1, "sealed": sealed, "updated_at": utc_now()},
        key=("id",),
        update=("sealed", "updated_at"),
    )


def any_sealed(con: duckdb.DuckDBPyConnection) -> bytes | None:
    """One stored credential, to tell whether a key opens what is already stored."""
    rows = con.execute("SELECT sealed FROM credentials LIMIT 1").fetchall()
    return bytes(rows[0][0]) if rows else None
