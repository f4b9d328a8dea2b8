"""Importing one file both ways, for the columnar path's tests: as core imports it (DuckDB
reads the file whole where it can) and by the plugin's streaming reader alone."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from mca_pipeline.core import ColumnarFileImportPlugin, Credentials, SyncContext
from mca_pipeline.core.columnar import ColumnarRead
from mca_pipeline.warehouse import Warehouse
from mca_pipeline.warehouse.columnar_pages import ColumnarFile, read_columnar
from mca_pipeline.warehouse.sync_loop import SyncSummary, run_sync

LOG = logging.getLogger("test")

ROWS = """SELECT external_id, media_type, title, creator, consumed_at, duration_s, time_spent_s, tags, url,
                  raw_metadata::VARCHAR
           FROM media_items WHERE user_id = 'u' ORDER BY external_id"""


@dataclass(frozen=True)
class PageRows:
    """A columnar page as the warehouse's connection selects it, rows in record order."""

    table: pa.Table
    cursor: str
    has_more: bool


def page_rows(columnar: ColumnarFile, page_size: int) -> list[PageRows]:
    """Each page of `columnar` selected on a connection of its own, as store_sync selects it."""
    with duckdb.connect() as con, columnar.pages(con, page_size) as pages:
        return [
            PageRows(
                con.sql(f"SELECT * FROM ({p.rows.sql}) ORDER BY mca_record").to_arrow_table(),
                p.cursor,
                p.has_more,
            )
            for p in pages
        ]


def streaming_only(plugin: type[ColumnarFileImportPlugin]) -> ColumnarFileImportPlugin:
    """The plugin without its columnar path: the reference."""

    class StreamingOnly(plugin):  # type: ignore[valid-type,misc]
        def columnar_read(self, file: Path, cursor: str) -> ColumnarRead | None:
            return None

    return StreamingOnly()


def stored_rows(warehouse: Warehouse) -> list[tuple[Any, ...]]:
    with warehouse.connect() as con:
        return [(*r[:9], json.loads(r[9])) for r in con.execute(ROWS).fetchall()]


def import_both(
    tmp_path: Path, plugin: type[ColumnarFileImportPlugin], file: Path, page_size: int = 50_000
) -> tuple[SyncSummary, SyncSummary, Warehouse, Warehouse]:
    """`page_size` items a page on either path."""
    fast, slow = Warehouse(tmp_path / "fast.duckdb"), Warehouse(tmp_path / "slow.duckdb")
    results = []
    for reader, warehouse in ((plugin(), fast), (streaming_only(plugin), slow)):
        ctx = SyncContext(user_id="u", page_size=page_size, columnar_page_size=page_size)
        results.append(
            run_sync(reader, warehouse, "u", Credentials(file=file), log=LOG, source=file.name, ctx=ctx)
        )
    return results[0], results[1], fast, slow


def took_columnar_path(summary: SyncSummary) -> bool:
    return '"record":' in summary.cursor


def assert_same(fast: SyncSummary, slow: SyncSummary, a: Warehouse, b: Warehouse) -> None:
    """The same rows stored, the same counts, the same unreadable and left-out records."""
    assert (fast.received, fast.new, fast.skipped, fast.tally.unreadable) == (
        slow.received,
        slow.new,
        slow.skipped,
        slow.tally.unreadable,
    )
    assert dict(fast.tally.left_out) == dict(slow.tally.left_out)
    assert (fast.error is None) == (slow.error is None)
    assert stored_rows(a) == stored_rows(b)


def assert_fixture_stored_alike(tmp_path: Path, plugin: type[ColumnarFileImportPlugin], file: Path) -> None:
    """A fixture stores alike both ways: taken by the columnar path where the streaming
    reader reads it whole (and finds something), left to the streaming reader where not."""
    fast, slow, a, b = import_both(tmp_path, plugin, file)
    assert_same(fast, slow, a, b)
    if slow.error is None and not slow.tally.unreadable and slow.received:
        assert took_columnar_path(fast), file.name
    if slow.tally.unreadable or slow.error is not None:
        assert not took_columnar_path(fast), file.name


def assert_taken_and_stored_alike(
    tmp_path: Path, plugin: type[ColumnarFileImportPlugin], file: Path, data: bytes | None = None
) -> None:
    """A file (written with `data` where given) the streaming reader reads whole: the
    columnar path takes it and stores what the streaming reader stores."""
    if data is not None:
        file.write_bytes(data)
    fast, slow, a, b = import_both(tmp_path, plugin, file)
    assert slow.error is None and not slow.tally.unreadable and slow.new > 0
    assert took_columnar_path(fast)
    assert_same(fast, slow, a, b)


def assert_left_to_streaming(
    tmp_path: Path, plugin: type[ColumnarFileImportPlugin], file: Path, data: bytes | None = None
) -> None:
    """A file (written with `data` where given) with a record the streaming reader skips
    or reads otherwise: the columnar path leaves it to the streaming reader, and the
    outcome is the streaming reader's."""
    if data is not None:
        file.write_bytes(data)
    fast, slow, a, b = import_both(tmp_path, plugin, file)
    assert not took_columnar_path(fast)
    assert_same(fast, slow, a, b)


def assert_sql_leaves_it_to_streaming(
    tmp_path: Path, plugin: type[ColumnarFileImportPlugin], file: Path
) -> None:
    """The plugin's SQL reads the file but flags a record (`clean`), so core reads the
    file record by record, with the streaming reader's outcome."""
    read = plugin().columnar_read(file, "")
    assert read is not None and read_columnar(read, LOG) is None
    assert_left_to_streaming(tmp_path, plugin, file)


def assert_paged_in_file_order(
    plugin: ColumnarFileImportPlugin, file: Path, ids: list[str], page_size: int
) -> None:
    """The file's columnar pages hold `ids` (its records' ids, one item each, in the
    file's order) in that order, and a cursor after any page resumes at the next record:
    what record numbers taken from DuckDB's reading order must keep."""
    read = plugin.columnar_read(file, "")
    assert read is not None
    columnar = read_columnar(read, LOG)
    assert columnar is not None, "the file should take the columnar path"
    try:
        pages = page_rows(columnar, page_size)
    finally:
        columnar.close()
    assert [i for page in pages for i in page.table.column("external_id").to_pylist()] == ids
    assert len(pages) > 2
    cursor = pages[1].cursor
    resumed_read = plugin.columnar_read(file, cursor)
    assert resumed_read is not None
    resumed = read_columnar(resumed_read, LOG)
    assert resumed is not None
    try:
        rest = [
            i for page in page_rows(resumed, page_size) for i in page.table.column("external_id").to_pylist()
        ]
    finally:
        resumed.close()
    assert rest == ids[json.loads(cursor)["record"] :]
    assert json.loads(cursor)["record"] == 2 * page_size
