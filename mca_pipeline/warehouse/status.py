"""Read-side queries behind `mca status` and `mca export`: the last sync per platform,
and one user's data written to files by DuckDB itself."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import duckdb

EXPORT_FORMATS = ("jsonl", "parquet")


@dataclass(frozen=True)
class LastSync:
    """The newest run of one platform, summed over its pages (an API sync) or its files
    (an import): the last page alone would call a run that imported three files and then
    met a broken fourth "partial, 0 new"."""

    platform: str
    finished_at: datetime
    #: The outcome and message of the run's last page or file.
    outcome: str
    new_count: int
    error_message: str | None
    #: Records the run could not read (over all its pages or files).
    unreadable: int = 0
    #: Export files the run imported, and those it rejected (file_parse_error).
    files_imported: int = 0
    files_rejected: int = 0
    #: The error code of the run's last page or file (one of the seven), if it failed.
    error_code: str | None = None


def last_syncs(con: duckdb.DuckDBPyConnection, user_id: str) -> list[LastSync]:
    """The newest run of each platform the user has synced, by platform. Rows written
    outside a Dagster run (no run_id) count as runs of their own."""
    rows = con.execute(
        """
        WITH pages AS (
            SELECT *, coalesce(run_id, 'row ' || id) AS run FROM sync_log WHERE user_id = ?
        ), runs AS (
            SELECT platform, max(id) AS last_id, sum(new_count) AS new,
                   sum(unreadable_count) AS unreadable,
                   count(DISTINCT source) FILTER (
                       WHERE source IS NOT NULL AND coalesce(error_code, '') <> 'file_parse_error'
                   ) AS imported,
                   count(DISTINCT source) FILTER (WHERE error_code = 'file_parse_error') AS rejected
            FROM pages GROUP BY platform, run
            QUALIFY row_number() OVER (PARTITION BY platform ORDER BY max(id) DESC) = 1
        )
        SELECT r.platform, l.finished_at, l.outcome, r.new, l.error_message, r.unreadable,
               r.imported, r.rejected, l.error_code
        FROM runs AS r JOIN sync_log AS l ON l.id = r.last_id
        ORDER BY r.platform
        """,
        [user_id],
    ).fetchall()
    return [
        LastSync(str(p), f, str(o), int(n), e, int(u or 0), int(i), int(r), c)
        for p, f, o, n, e, u, i, r, c in rows
    ]


#: What `mca export` writes per user: everything stored about them except credentials
#: (secrets stay in the vault) and sign-in token hashes: the items with their tags, the
#: links between one play's rows on several sources and why each was made, the user's
#: aliases and "not the same play" rules, and the time zone reports use.
EXPORT_QUERIES = {
    "user": "SELECT user_id, created_at, timezone FROM users WHERE user_id = ?",
    "media_items": """
        SELECT user_id, platform, external_id, media_type, title, creator, consumed_at, duration_s,
               time_spent_s, tags, universal_tags, url, raw_metadata, status, status_reason,
               first_seen_at, updated_at
        FROM media_items WHERE user_id = ? ORDER BY platform, consumed_at, external_id""",
    "unified_plays": """
        SELECT user_id, play_key, platform, external_id, linked_to, rule, seconds_apart FROM unified_plays
        WHERE user_id = ? ORDER BY play_key, platform, external_id""",
    "aliases": "SELECT * FROM aliases WHERE user_id = ? ORDER BY field, spelling",
    "separate_plays": "SELECT * FROM separate_plays WHERE user_id = ? ORDER BY row_a, row_b",
    "sync_log": "SELECT * FROM sync_log WHERE user_id = ? ORDER BY id",
    "connections": "SELECT * FROM connections WHERE user_id = ? ORDER BY plugin",
    "notifications": "SELECT * FROM notifications WHERE user_id = ? ORDER BY id",
}


def export_user(con: duckdb.DuckDBPyConnection, user_id: str, folder: Path, fmt: str) -> dict[str, int]:
    """Write each of the user's tables to `folder/<table>.<fmt>` (JSON Lines with
    raw_metadata as a nested object, or Parquet); returns rows written per table. UTC."""
    if fmt not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {fmt!r}: use one of {', '.join(EXPORT_FORMATS)}")
    con.execute("SET TimeZone = 'UTC'")
    folder.mkdir(parents=True, exist_ok=True)
    written: dict[str, int] = {}
    for table, query in EXPORT_QUERIES.items():
        # The target is a quoted literal, not a parameter: DuckDB 1.5 (the lake's) takes a
        # parameter there, writes nothing and reports 0 rows.
        target = str(folder / f"{table}.{fmt}").replace("'", "''")
        rows = con.execute(
            f"COPY ({query}) TO '{target}' (FORMAT {'JSON' if fmt == 'jsonl' else 'PARQUET'})",
            [user_id],
        ).fetchall()
        written[table] = int(rows[0][0]) if rows else 0
    return written
