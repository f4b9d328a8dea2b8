"""Driving one plugin sync page by page: call the plugin, store each page, log progress.

The plugin runs with no warehouse connection open (it may wait on a network or parse a
large file); each page is then stored in its own short transaction together with its
cursor and sync_log row. A crash between pages therefore loses at most the page in
flight, and the next run resumes from the last stored cursor.
"""

from __future__ import annotations

import gc
import logging
import traceback
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import duckdb

from mca_pipeline.clients.http import describe, redact
from mca_pipeline.core import (
    AuthType,
    ColumnarFileImportPlugin,
    Credentials,
    DedupPolicy,
    ErrorCode,
    MediaItem,
    PluginError,
    SourcePlugin,
    SyncContext,
    SyncResult,
)
from mca_pipeline.core.models import utc_now
from mca_pipeline.warehouse import SyncAttempt, Warehouse, store_sync
from mca_pipeline.warehouse.columnar_pages import ColumnarFile, read_columnar
from mca_pipeline.warehouse.import_report import SkipTally, rejection, too_many_unreadable
from mca_pipeline.warehouse.queries import resume_cursor, unfinished_import
from mca_pipeline.warehouse.store import StagedRows, StoreCounts, discard_import


class PluginCrashed(Exception):
    """A plugin raised instead of returning a SyncResult: a bug in mca, not the platform.

    Raised from the plugin's own exception (its traceback chained) after a sync_log row
    with error_code `programming_error` is stored, so `mca status` and the source checks
    show it; the caller fails the run without retrying, since a retry repeats the bug.
    """

    def __init__(self, plugin: str, user_id: str, exc: BaseException, creds: Credentials) -> None:
        secrets = [
            s.get_secret_value() for s in (creds.access_token, creds.refresh_token, creds.api_key) if s
        ]
        self.summary = redact(describe(exc), secrets)[:1000]
        #: The plugin's traceback, secrets masked, for the run's failure metadata.
        self.trace = redact("".join(traceback.format_exception(exc)), secrets)
        super().__init__(f"the {plugin} plugin failed for {user_id} with a programming error: {self.summary}")


@dataclass
class SyncSummary:
    """Totals over all pages of one sync, for logs and materialization metadata."""

    source: str | None
    received: int = 0
    new: int = 0
    updated: int = 0
    skipped: int = 0
    pages: int = 0
    cursor: str = ""
    has_more: bool = False
    error: PluginError | None = None
    sync_log_ids: list[int] = field(default_factory=list)
    tally: SkipTally = field(default_factory=SkipTally)
    #: True when the file was rejected for too many unreadable records: then nothing
    #: from it is stored (`discarded` rows of its earlier pages were taken back).
    too_many_unreadable: bool = False
    discarded: int = 0
    #: Items stored by an interrupted earlier run of this same file import.
    earlier_received: int = 0


def run_sync(
    plugin: SourcePlugin,
    warehouse: Warehouse,
    user_id: str,
    creds: Credentials,
    *,
    log: logging.Logger | logging.LoggerAdapter,  # type: ignore[type-arg]
    source: str | None = None,
    run_id: str | None = None,
    max_pages: int | None = None,
    full_resync: bool = False,
    ctx: SyncContext | None = None,
    finish: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
    ahead: ColumnarFile | None = None,
) -> SyncSummary:
    """Sync until the plugin has no more, fails, or `max_pages` pages are stored.

    `full_resync` starts from an empty cursor (a first sync) instead of the stored one.
    `finish` runs on the connection that stored the last page of a sync that ended without
    an error, after that page's transaction: what the caller records of a success (the
    connection's state, the checks) then costs no opening of the warehouse of its own, a
    good share of a small sync's time when a batch syncs many users. `ahead` is the file
    read by `read_ahead` while the file before it was stored, used when the import starts
    at the file's beginning; the caller closes it.
    """
    ctx = ctx or SyncContext(user_id=user_id, log=logging.getLogger(f"mca_pipeline.plugins.{plugin.name}"))
    # File imports are always full: a stored cursor is only replayed to finish an import
    # that stopped half-way; API plugins always continue from where they left off.
    is_file = plugin.auth_type == AuthType.FILE_IMPORT
    cursor = ""
    summary = SyncSummary(source=source)
    label = f"{plugin.name}/{user_id}" + (f" {source}" if source else "")
    columnar_file = (
        is_file
        and isinstance(plugin, ColumnarFileImportPlugin)
        and creds.file is not None
        and not ctx.is_cancelled()
    )

    def store_columnar(
        columnar: ColumnarFile, started: datetime, con: duckdb.DuckDBPyConnection | None
    ) -> SyncSummary:
        with closing(columnar):
            return _store_columnar(
                columnar, plugin, warehouse, user_id, cursor, started, summary, ctx, source, run_id,
                max_pages, finish, log, label, con,
            )  # fmt: skip

    if not full_resync:
        with warehouse.connect() as con:
            cursor = resume_cursor(con, user_id, plugin.name, only_unfinished=is_file)
            if cursor and is_file:
                earlier = unfinished_import(con, user_id, plugin.name)
                summary.sync_log_ids.extend(earlier.sync_log_ids)
                summary.earlier_received = earlier.received
                summary.tally.add_earlier(earlier.unreadable)
            summary.cursor = cursor
            if columnar_file and ahead is not None and not cursor:
                # read already: stored on the opening that found its cursor
                return store_columnar(ahead, utc_now(), con)
    if columnar_file:
        started = utc_now()
        columnar = (
            ahead if ahead is not None and not cursor else _columnar_file(plugin, creds.file, cursor, log)  # type: ignore[arg-type]
        )
        if columnar is not None:
            return store_columnar(columnar, started, None)
    while True:
        started = utc_now()
        with _bulk_allocation():
            if is_file:
                result = _call_file_plugin(plugin, ctx, creds, cursor, source, log)
            else:
                try:
                    result = plugin.sync(ctx, creds, cursor)
                except Exception as exc:
                    crashed = PluginCrashed(plugin.name, user_id, exc, creds)
                    _record_crash(warehouse, plugin, user_id, cursor, started, source, run_id, crashed)
                    raise crashed from exc
        error = result.err or _foreign_items(plugin.name, result.items)
        items = result.items if error is None or error.code != ErrorCode.INVALID_DATA else []
        summary.tally.add(result.skipped, result.left_out)
        readable = summary.earlier_received + summary.received + len(items)
        rejected = (
            is_file
            and (error is None or error.code != ErrorCode.FILE_PARSE_ERROR)
            and (error is not None or not result.has_more)
            and too_many_unreadable(readable, summary.tally.unreadable)
        )
        if rejected:
            error = rejection(source, readable, summary.tally)
            items = []
        next_cursor = result.next_cursor or cursor
        attempt = SyncAttempt(
            user_id=user_id,
            platform=plugin.name,
            started_at=started,
            cursor_in=cursor,
            cursor_out=next_cursor if items or error is None else cursor,
            has_more=result.has_more,
            error=error,
            source=source,
            run_id=run_id,
            unreadable=len(result.skipped),
        )
        ends_well = error is None and (
            not result.has_more
            or ctx.is_cancelled()
            or (max_pages is not None and summary.pages + 1 >= max_pages)
        )
        with _bulk_allocation(), warehouse.connect() as con:
            counts = store_sync(con, attempt, items, plugin.dedup_policy)
            if rejected:
                assert error is not None
                summary.too_many_unreadable = True
                summary.discarded = discard_import(
                    con, user_id, plugin.name, summary.sync_log_ids, error.message
                )
            if ends_well and finish is not None:
                finish(con)
        _add_page(summary, counts, attempt, log, label)
        if error is not None:
            summary.error = error
            return summary
        cursor = next_cursor
        if not result.has_more or ctx.is_cancelled():
            return summary
        if max_pages is not None and summary.pages >= max_pages:
            return summary


def read_ahead(
    plugin: SourcePlugin,
    file: Path,
    log: logging.Logger | logging.LoggerAdapter,  # type: ignore[type-arg]
) -> ColumnarFile | None:
    """A file's columnar read from its beginning, made while the file before it is being
    stored (parsing and storing then share the machine's cores); for `run_sync`'s `ahead`."""
    return _columnar_file(plugin, file, "", log) if isinstance(plugin, ColumnarFileImportPlugin) else None


def _columnar_file(
    plugin: ColumnarFileImportPlugin,
    file: Path,
    cursor: str,
    log: logging.Logger | logging.LoggerAdapter,  # type: ignore[type-arg]
) -> ColumnarFile | None:
    """The file read whole by DuckDB, or None for the streaming reader: also when the
    plugin fails to say how (a file gone from the inbox, say), since the streaming reader
    turns any trouble with a file into its report."""
    try:
        read = plugin.columnar_read(file, cursor)
    except Exception as exc:
        log.info(
            f"{plugin.name}: no columnar read of {file.name} ({type(exc).__name__}): reading it record by record"
        )
        return None
    return read_columnar(read, log) if read is not None else None


def _add_page(
    summary: SyncSummary,
    counts: StoreCounts,
    attempt: SyncAttempt,
    log: logging.Logger | logging.LoggerAdapter,  # type: ignore[type-arg]
    label: str,
) -> None:
    """Count a stored page into the sync's totals and say so in the run's log."""
    summary.pages += 1
    summary.received += counts.received
    summary.new += counts.new
    summary.new -= summary.discarded
    summary.updated += counts.updated
    summary.skipped += counts.skipped
    summary.sync_log_ids.append(counts.sync_log_id)
    summary.cursor = attempt.cursor_out
    summary.has_more = attempt.has_more
    log.info(
        f"{label}: {summary.received:,} items so far "
        f"(new {summary.new:,}, updated {summary.updated:,}, skipped {summary.skipped:,})"
    )


def _store_columnar(
    columnar: ColumnarFile,
    plugin: SourcePlugin,
    warehouse: Warehouse,
    user_id: str,
    cursor: str,
    started: datetime,
    summary: SyncSummary,
    ctx: SyncContext,
    source: str | None,
    run_id: str | None,
    max_pages: int | None,
    finish: Callable[[duckdb.DuckDBPyConnection], None] | None,
    log: logging.Logger | logging.LoggerAdapter,  # type: ignore[type-arg]
    label: str,
    opened: duckdb.DuckDBPyConnection | None = None,
) -> SyncSummary:
    """Store a file DuckDB read whole, page by page, as run_sync stores the streaming
    reader's pages (a transaction, cursor and sync_log row each), on one connection
    (`opened`, or one of its own): the file is parsed already, so holding the warehouse
    costs no parsing time."""
    summary.tally.add([], columnar.left_out)
    with (
        nullcontext(opened) if opened is not None else warehouse.connect() as con,
        columnar.pages(con, ctx.columnar_page_size) as pages,
    ):
        for page in pages:
            attempt = SyncAttempt(
                user_id=user_id,
                platform=plugin.name,
                started_at=started,
                cursor_in=cursor,
                cursor_out=page.cursor,
                has_more=page.has_more,
                source=source,
                run_id=run_id,
            )
            counts = _store_page(columnar, con, attempt, page.rows, plugin.dedup_policy, log, label)
            last = (
                not page.has_more
                or ctx.is_cancelled()
                or (max_pages is not None and summary.pages + 1 >= max_pages)
            )
            if last and finish is not None:
                finish(con)
            _add_page(summary, counts, attempt, log, label)
            if last:
                break
            cursor = page.cursor
            started = utc_now()
    return summary


def _store_page(
    columnar: ColumnarFile,
    con: duckdb.DuckDBPyConnection,
    attempt: SyncAttempt,
    rows: StagedRows,
    policy: DedupPolicy,
    log: logging.Logger | logging.LoggerAdapter,  # type: ignore[type-arg]
    label: str,
) -> StoreCounts:
    """One columnar page, stored again under a higher memory limit while it runs out
    (rolled back whole each time: nothing half-stored) and the connection has more."""
    while True:
        try:
            return store_sync(con, attempt, rows, policy, columnar.commit_room)
        except duckdb.OutOfMemoryException:
            if not columnar.raise_limit():
                raise
            log.info(
                f"{label}: a page needed more memory than a file's pages are first given: storing it again"
            )


def _record_crash(
    warehouse: Warehouse,
    plugin: SourcePlugin,
    user_id: str,
    cursor: str,
    started: datetime,
    source: str | None,
    run_id: str | None,
    crashed: PluginCrashed,
) -> None:
    """The sync_log row of a plugin that raised: the cursor stays where it was."""
    attempt = SyncAttempt(
        user_id=user_id,
        platform=plugin.name,
        started_at=started,
        cursor_in=cursor,
        cursor_out=cursor,
        has_more=False,
        source=source,
        run_id=run_id,
        crash=crashed.summary,
    )
    with warehouse.connect() as con:
        store_sync(con, attempt, [], plugin.dedup_policy)


@contextmanager
def _bulk_allocation() -> Iterator[None]:
    """Pause the cyclic garbage collector while a page is built or stored.

    A page allocates tens of thousands of long-lived objects (items and their metadata
    dicts), which makes CPython run full collections over and over for nothing: that was
    a third of import time. Reference counting still frees everything; the collector
    resumes, and catches any cycles, as soon as the page is done.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _call_file_plugin(
    plugin: SourcePlugin,
    ctx: SyncContext,
    creds: Credentials,
    cursor: str,
    source: str | None,
    log: logging.Logger | logging.LoggerAdapter,  # type: ignore[type-arg]
) -> SyncResult:
    """One page of a file import. Any bytes in a file must end as skipped records or a
    rejected file with a report, so an exception a file plugin did not expect becomes a
    file_parse_error for this file instead of a crashed, retried step."""
    try:
        return plugin.sync(ctx, creds, cursor)
    except Exception as exc:
        log.exception(f"{plugin.name}: reading {source or 'the file'} failed unexpectedly")
        problem = f"the file could not be read ({type(exc).__name__}: {str(exc)[:300]})"
        return SyncResult(
            next_cursor=cursor,
            err=PluginError(
                code=ErrorCode.FILE_PARSE_ERROR,
                message=f"{source or 'file'}: {problem}",
                details={"file": source, "problem": problem},
            ),
        )


def _foreign_items(platform: str, items: list[MediaItem]) -> PluginError | None:
    """A plugin may only report items of its own platform: the dedup key depends on it."""
    wrong = next((i for i in items if i.platform != platform), None)
    if wrong is None:
        return None
    return PluginError(
        code=ErrorCode.INVALID_DATA,
        message=f"plugin {platform!r} returned an item of platform {wrong.platform!r} ({wrong.external_id})",
    )
