"""Read-side queries the pipeline needs: where a sync stands, and what a user has."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from mca_pipeline.warehouse.memory import memory_at_most
from mca_pipeline.warehouse.results import first_row


def last_cursor(con: duckdb.DuckDBPyConnection, user_id: str, platform: str) -> str:
    """The cursor of the last successful or partial sync; empty means first sync."""
    return resume_cursor(con, user_id, platform, only_unfinished=False)


def resume_cursor(
    con: duckdb.DuckDBPyConnection, user_id: str, platform: str, *, only_unfinished: bool
) -> str:
    """The cursor to pass to the next sync.

    With `only_unfinished` (file imports, which are always full) the cursor is only
    returned when the last sync stopped half-way (has_more, or partial), so that an
    interrupted import resumes while a finished one starts afresh.
    """
    row = first_row(
        con.execute(
            """
        SELECT cursor_out, has_more OR outcome = 'partial' FROM sync_log
        WHERE user_id = ? AND platform = ? AND outcome IN ('success', 'partial')
        ORDER BY id DESC LIMIT 1
        """,
            [user_id, platform],
        )
    )
    if row is None or (only_unfinished and not row[1]):
        return ""
    return str(row[0])


def stored_by_run(con: duckdb.DuckDBPyConnection, run_id: str, user_id: str, platform: str) -> int:
    """Items one run added or changed for a user's platform, over all its pages and retries
    (pages taken back with a rejected file are marked failed and do not count)."""
    row = first_row(
        con.execute(
            """
        SELECT coalesce(sum(new_count + updated_count), 0) FROM sync_log
        WHERE run_id = ? AND user_id = ? AND platform = ? AND outcome <> 'failed'
        """,
            [run_id, user_id, platform],
        )
    )
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class UnfinishedImport:
    """The pages an interrupted file import already stored: a resumed import judges the
    whole file (the 20% rule) and can take all of it back, not only its own pages."""

    sync_log_ids: list[int]
    received: int
    unreadable: int


def unfinished_import(con: duckdb.DuckDBPyConnection, user_id: str, platform: str) -> UnfinishedImport:
    """The newest unbroken run of sync_log pages that said more was waiting; empty when
    the last import of this plugin for this user finished."""
    rows = con.execute(
        """
        WITH recent AS (
            SELECT id, received_count, unreadable_count,
                   (has_more OR outcome = 'partial') AND outcome IN ('success', 'partial') AS unfinished
            FROM sync_log WHERE user_id = ? AND platform = ?
        )
        SELECT id, received_count, unreadable_count FROM recent
        WHERE unfinished AND id > coalesce((SELECT max(id) FROM recent WHERE NOT unfinished), -1)
        ORDER BY id
        """,
        [user_id, platform],
    ).fetchall()
    return UnfinishedImport(
        [int(r[0]) for r in rows], sum(int(r[1]) for r in rows), sum(int(r[2]) for r in rows)
    )


@dataclass(frozen=True)
class PlatformTotal:
    platform: str
    media_type: str
    items: int
    hours: float
    first: datetime | None
    last: datetime | None


def platform_totals(con: duckdb.DuckDBPyConnection, user_id: str) -> list[PlatformTotal]:
    """Items and hours per platform and media type for one user."""
    rows = con.execute(
        """
        SELECT platform, media_type, count(*), coalesce(sum(time_spent_s), 0) / 3600.0,
               min(consumed_at), max(consumed_at)
        FROM media_items WHERE user_id = ?
        GROUP BY ALL ORDER BY platform, media_type
        """,
        [user_id],
    ).fetchall()
    return [PlatformTotal(str(p), str(t), int(n), float(h), first, last) for p, t, n, h, first, last in rows]


def item_count(con: duckdb.DuckDBPyConnection, user_id: str, platform: str) -> int:
    row = first_row(
        con.execute(
            "SELECT count(*) FROM media_items WHERE user_id = ? AND platform = ?", [user_id, platform]
        )
    )
    return int(row[0]) if row else 0


@dataclass(frozen=True)
class SourceHealth:
    """What the per-source asset checks look at: things that would mean a parser bug."""

    duplicate_keys: int
    future_items: int
    latest: datetime | None


#: The duplicate count's hash table grows with the history: at 5,000,000 plays it took
#: 490 MiB under the warehouse's 512 MB, and 136 MiB in the same 0.75 s under this.
HEALTH_MEMORY_LIMIT = 128 * 2**20


def source_health(con: duckdb.DuckDBPyConnection, user_id: str, platform: str) -> SourceHealth:
    """Duplicate keys (the primary key forbids them; checked anyway, as a lake has no
    key) and items said to be consumed more than a day from now (a time-zone or unit
    mistake), counted under HEALTH_MEMORY_LIMIT, or the connection's own limit when
    DuckDB cannot spill what it needs."""
    query = """
        SELECT count(*) - count(DISTINCT external_id),
               count(*) FILTER (WHERE consumed_at > now() + INTERVAL 1 DAY),
               max(consumed_at)
        FROM media_items WHERE user_id = ? AND platform = ?
    """
    try:
        with memory_at_most(con, HEALTH_MEMORY_LIMIT):
            row = first_row(con.execute(query, [user_id, platform]))
    except duckdb.OutOfMemoryException:
        row = first_row(con.execute(query, [user_id, platform]))
    assert row is not None
    return SourceHealth(int(row[0]), int(row[1]), row[2])


def recent_cursors(con: duckdb.DuckDBPyConnection, user_id: str, platform: str, count: int = 2) -> list[str]:
    """The cursors stored by the last `count` successful or partial syncs, newest first."""
    rows = con.execute(
        """
        SELECT cursor_out FROM sync_log
        WHERE user_id = ? AND platform = ? AND outcome IN ('success', 'partial')
        ORDER BY id DESC LIMIT ?
        """,
        [user_id, platform, count],
    ).fetchall()
    return [str(r[0]) for r in rows]
