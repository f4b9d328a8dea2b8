"""Sealed credentials per (user, plugin). What is stored here is already encrypted by
auth.vault: this module never sees a secret in the clear."""

from __future__ import annotations

from datetime import datetime

import duckdb
import pyarrow as pa

from mca_pipeline.core.models import utc_now


def save_sealed(
    con: duckdb.DuckDBPyConnection,
    user_id: str,
    plugin: str,
    sealed: bytes,
    scopes: tuple[str, ...],
    expires_at: datetime | None,
) -> None:
    con.execute("INSERT INTO users (user_id) VALUES (?) ON CONFLICT DO NOTHING", [user_id])
    con.execute(
        """
        INSERT INTO credentials (user_id, plugin, sealed, scopes, expires_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)
        ON CONFLICT (user_id, plugin) DO UPDATE SET sealed = excluded.sealed, scopes = excluded.scopes,
            expires_at = excluded.expires_at, updated_at = excluded.updated_at
        """,
        [user_id, plugin, sealed, list(scopes), expires_at, utc_now()],
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
    rows = con.execute(
        "DELETE FROM credentials WHERE user_id = ? AND plugin = ? RETURNING plugin", [user_id, plugin]
    ).fetchall()
    return bool(rows)


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
    con.execute(
        """
        INSERT INTO vault_check (id, sealed, updated_at) VALUES (1, ?, ?)
        ON CONFLICT (id) DO UPDATE SET sealed = excluded.sealed, updated_at = excluded.updated_at
        """,
        [sealed, utc_now()],
    )


def any_sealed(con: duckdb.DuckDBPyConnection) -> bytes | None:
    """One stored credential, to tell whether a key opens what is already stored."""
    rows = con.execute("SELECT sealed FROM credentials LIMIT 1").fetchall()
    return bytes(rows[0][0]) if rows else None
