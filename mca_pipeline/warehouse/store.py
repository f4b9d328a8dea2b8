"""Storing one sync's items, its cursor and its sync_log row in ONE transaction.

The batch goes into DuckDB as an Arrow table (a columnar page: a SELECT over the file
DuckDB read) and is merged with set-based statements:
an UPDATE ... FROM for changed items (when the plugin asks for it) and an
INSERT ... SELECT ... WHERE NOT EXISTS (an anti-join) for new ones. Re-importing an
export that repeats the whole history is therefore one hash join, not a lookup per row.
The cursor lives in the sync_log row, so it can never run ahead of the data it covers:
both commit together or neither does.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime

import duckdb
import pyarrow as pa
import pydantic_core

from mca_pipeline.core import DedupPolicy, ErrorCode, MediaItem, PluginError
from mca_pipeline.core.models import utc_now
from mca_pipeline.warehouse.parsed_fields import assignments, from_raw_metadata
from mca_pipeline.warehouse.results import changed, first_row
from mca_pipeline.warehouse.transactions import retried, transaction
from mca_pipeline.warehouse.upsert import upsert

_STAGING = "mca_staging_items"

_ITEM_COLUMNS = (
    "external_id, media_type, title, creator, consumed_at, duration_s, time_spent_s, tags, url, raw_metadata"
)
_PARSED = from_raw_metadata("raw_metadata")


@dataclass(frozen=True)
class SyncAttempt:
    """What one call of a plugin's sync was asked and answered, for the sync_log row."""

    user_id: str
    platform: str
    started_at: datetime
    cursor_in: str
    cursor_out: str
    has_more: bool
    error: PluginError | None = None
    source: str | None = None
    run_id: str | None = None
    unreadable: int = 0
    #: The plugin raised instead of answering (a programming error, not a platform's):
    #: the exception's summary, stored under error_code PROGRAMMING_ERROR.
    crash: str | None = None


#: sync_log's error_code for a plugin that raised: deliberately none of the seven
#: PluginError codes, so nothing reads it as the platform's fault.
PROGRAMMING_ERROR = "programming_error"


@dataclass(frozen=True)
class StoreCounts:
    received: int
    new: int
    updated: int
    skipped: int
    sync_log_id: int
    outcome: str


def outcome_of(attempt: SyncAttempt, received: int) -> str:
    """success, partial (an error, but items before it are kept), rate_limited (asked to
    wait: not a failure in the statistics), or failed."""
    if attempt.crash is not None:
        return "failed"
    if attempt.error is None:
        return "success"
    if attempt.error.code == ErrorCode.RATE_LIMIT and not received:
        return "rate_limited"
    if attempt.error.code == ErrorCode.PARTIAL_SYNC or received:
        return "partial"
    return "failed"


def items_table(items: list[MediaItem]) -> pa.Table:
    """Columns for the staging relation; the last occurrence of a repeated key wins."""
    unique = list({item.external_id: item for item in items}.values())
    return pa.table(
        {
            "external_id": pa.array([i.external_id for i in unique], pa.string()),
            "media_type": pa.array([i.type.value for i in unique], pa.string()),
            "title": pa.array([i.title for i in unique], pa.string()),
            "creator": pa.array([i.creator for i in unique], pa.string()),
            "consumed_at": pa.array([i.consumed_at for i in unique], pa.timestamp("us", tz="UTC")),
            "duration_s": pa.array(
                [i.duration.total_seconds() if i.duration is not None else None for i in unique], pa.float64()
            ),
            "time_spent_s": pa.array(
                [i.time_spent.total_seconds() if i.time_spent is not None else None for i in unique],
                pa.float64(),
            ),
            "tags": pa.array([i.tags for i in unique], pa.list_(pa.string())),
            "url": pa.array([i.url for i in unique], pa.string()),
            "raw_metadata": pa.array(
                [pydantic_core.to_json(i.raw_metadata).decode() for i in unique], pa.string()
            ),
        }
    )


@dataclass(frozen=True)
class StagedRows:
    """A page DuckDB selects where it already is (a columnar file attached to the
    warehouse's connection): `sql` selects PAGE_COLUMNS, raw_metadata as JSON text and
    one row per external_id; `received` counts the records it stands for."""

    sql: str
    received: int


@retried
def store_sync(
    con: duckdb.DuckDBPyConnection,
    attempt: SyncAttempt,
    items: list[MediaItem] | StagedRows,
    policy: DedupPolicy = DedupPolicy.SKIP,
    commit_room: Callable[[], AbstractContextManager[None]] | None = None,
) -> StoreCounts:
    """Merge `items` and append the sync_log row atomically; return what happened.

    `items` may be a columnar page (`StagedRows`, checked against MediaItem's rules
    already) instead of MediaItems: its rows then go from where DuckDB read them straight
    into media_items. Anything that fails inside rolls the whole unit back: the warehouse
    is then exactly as it was before, items, cursor and log alike. `commit_room` is
    entered around the COMMIT (`transaction`).
    """
    if isinstance(items, StagedRows):
        received, staging = items.received, f"({items.sql})"
    else:
        received, staging = len(items), _STAGING
        con.register(_STAGING, items_table(items))
    now = utc_now()
    key = [attempt.user_id, attempt.platform]
    # On a lake, where no key keeps (user, platform, external_id) unique, writers of the
    # same user's platform take turns (warehouse/lake.py); a file's lock already does. The
    # turn is taken before the transaction begins, so that its snapshot shows what the
    # writer before stored.
    con.execute("SELECT mca_lock_source(?, ?)", key)
    try:
        # The stored rows a page can match lie between its least and greatest id: said as
        # constants, DuckDB skips every row group (a lake, every file) outside that range,
        # where a join alone reads all of the platform's rows for each page (a re-import
        # of 5,000,000 plays scanned 5,000,000 ids per page).
        low, high = _key_range(con, staging) if received else ("", "")
        with transaction(con, commit_room):
            upsert(con, "users", {"user_id": attempt.user_id}, key=("user_id",))
            updated = 0
            if policy is DedupPolicy.UPDATE_ON_CHANGE and received:
                updated = changed(
                    con.execute(
                        f"""
                        UPDATE media_items AS m SET
                            media_type = s.media_type, title = s.title, creator = s.creator,
                            consumed_at = s.consumed_at, duration_s = s.duration_s,
                            time_spent_s = s.time_spent_s, tags = s.tags, url = s.url,
                            raw_metadata = s.raw_metadata::JSON, {assignments(from_raw_metadata("s.raw_metadata"))},
                            status = 'pending', status_reason = NULL, updated_at = ?
                        FROM {staging} AS s
                        WHERE m.user_id = ? AND m.platform = ? AND m.external_id = s.external_id
                          AND m.external_id BETWEEN ? AND ?
                          AND (m.raw_metadata::VARCHAR IS DISTINCT FROM s.raw_metadata OR m.title IS DISTINCT FROM s.title)
                          AND NOT (coalesce(s.raw_metadata::JSON ->> 'consumed_at_unknown', 'false') = 'true'
                                   AND coalesce(m.raw_metadata ->> 'consumed_at_unknown', 'false') <> 'true')
                        """,
                        [now, *key, low, high],
                    )
                )
            log_id = _next_log_id(con)
            new = 0
            if received:
                new = changed(
                    con.execute(
                        f"""
                        INSERT INTO media_items (user_id, platform, {_ITEM_COLUMNS}, {", ".join(_PARSED)},
                            first_seen_at, updated_at, sync_log_id)
                        SELECT ?, ?, {_ITEM_COLUMNS.replace("raw_metadata", "raw_metadata::JSON")},
                            {", ".join(_PARSED.values())}, ?, ?, ?
                        FROM {staging} AS s
                        WHERE NOT EXISTS (
                            SELECT 1 FROM media_items AS m
                            WHERE m.user_id = ? AND m.platform = ? AND m.external_id = s.external_id
                              AND m.external_id BETWEEN ? AND ?
                        )
                        """,
                        [*key, now, now, log_id, *key, low, high],
                    )
                )
            outcome = outcome_of(attempt, received)
            _insert_sync_log(
                con, log_id, attempt, received, new, updated, received - new - updated, outcome, now
            )
    finally:
        if staging == _STAGING:
            con.unregister(_STAGING)
    return StoreCounts(received, new, updated, received - new - updated, log_id, outcome)


@retried
def discard_import(
    con: duckdb.DuckDBPyConnection, user_id: str, platform: str, sync_log_ids: list[int], reason: str
) -> int:
    """Take back what the given sync_log pages of one file added, in one transaction.

    Used when a file turns out to be mostly unreadable after some of its pages were
    stored: only rows those pages inserted go (rows that were already there stay), and
    the pages are marked failed so that no later import resumes from their cursors.
    Returns how many items were removed.
    """
    if not sync_log_ids:
        return 0
    with transaction(con):
        con.execute(
            """
            DELETE FROM unified_plays AS u USING media_items AS m
            WHERE u.user_id = m.user_id AND u.platform = m.platform AND u.external_id = m.external_id
              AND m.user_id = ? AND m.platform = ? AND list_contains(?, m.sync_log_id)
            """,
            [user_id, platform, sync_log_ids],
        )
        removed = changed(
            con.execute(
                "DELETE FROM media_items WHERE user_id = ? AND platform = ? AND list_contains(?, sync_log_id)",
                [user_id, platform, sync_log_ids],
            )
        )
        con.execute(
            """
            UPDATE sync_log SET outcome = 'failed', error_code = ?, error_message = ?
            WHERE list_contains(?, id) AND error_code IS NULL
            """,
            [ErrorCode.FILE_PARSE_ERROR.value, reason, sync_log_ids],
        )
    return removed


def _key_range(con: duckdb.DuckDBPyConnection, staging: str) -> tuple[str, str]:
    """The least and greatest external_id of the staged page, compared as DuckDB compares."""
    row = first_row(con.execute(f"SELECT min(external_id), max(external_id) FROM {staging}"))
    assert row is not None
    return str(row[0]), str(row[1])


def _next_log_id(con: duckdb.DuckDBPyConnection) -> int:
    row = first_row(con.execute("SELECT mca_next_id('sync_log_id')"))
    assert row is not None
    return int(row[0])


def _insert_sync_log(
    con: duckdb.DuckDBPyConnection,
    log_id: int,
    attempt: SyncAttempt,
    received: int,
    new: int,
    updated: int,
    skipped: int,
    outcome: str,
    finished_at: datetime,
) -> None:
    err = attempt.error
    con.execute(
        """
        INSERT INTO sync_log (id, user_id, platform, source, run_id, started_at, finished_at, cursor_in,
            cursor_out, has_more, received_count, new_count, updated_count, skipped_count, outcome,
            error_code, error_message, error_raw, unreadable_count)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """,
        [
            log_id,
            attempt.user_id,
            attempt.platform,
            attempt.source,
            attempt.run_id,
            attempt.started_at,
            finished_at,
            attempt.cursor_in,
            attempt.cursor_out,
            attempt.has_more,
            received,
            new,
            updated,
            skipped,
            outcome,
            PROGRAMMING_ERROR if attempt.crash is not None else err.code.value if err else None,
            attempt.crash if attempt.crash is not None else err.message if err else None,
            (err.raw or "")[:4000] if err else None,
            attempt.unreadable,
        ],
    )
