"""Read-side queries behind `mca status` and `mca export`: the last sync per platform,
and one user's items written to a file by DuckDB itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

EXPORT_FORMATS = ("jsonl", "parquet")


@dataclass(frozen=True)
class LastSync:
    platform: str
    finished_at: datetime
    outcome: str
    new_count: int
    error_message: str | None


def last_syncs(con: duckdb.DuckDBPyConnection, user_id: str) -> list[LastSync]:
    """The newest sync_log row of each platform the user has synced, by platform."""
    rows = con.execute(
        """
        SELECT platform, finished_at, outcome, new_count, error_message FROM sync_log
        WHERE user_id = ?
        QUALIFY row_number() OVER (PARTITION BY platform ORDER BY id DESC) = 1
        ORDER BY platform
        """,
        [user_id],
    ).fetchall()
    return [LastSync(str(p), f, str(o), int(n), e) for p, f, o, n, e in rows]


def export_items(con: duckdb.DuckDBPyConnection, user_id: str, path: Path, fmt: str) -> int:
    """Write every media_items row of the user to `path` as JSON Lines (raw_metadata as a
    nested JSON object) or Parquet; returns the number of rows written. Times are UTC."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    con.execute("SET TimeZone = 'UTC'")
    rows = con.execute(
        f"""
        COPY (
            SELECT user_id, platform, external_id, media_type, title, creator, consumed_at,
                   duration_s, time_spent_s, tags, url, raw_metadata, status, status_reason,
                   first_seen_at, updated_at
            FROM media_items WHERE user_id = ? ORDER BY platform, consumed_at, external_id
        ) TO ? (FORMAT {"JSON" if fmt == "jsonl" else "PARQUET"})
        """,
        [user_id, str(path)],
    ).fetchall()
    return int(rows[0][0]) if rows else 0
