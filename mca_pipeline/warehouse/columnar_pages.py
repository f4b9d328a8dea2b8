"""Reading an export file with DuckDB into pages the warehouse stores (the columnar path).

The file is read by a DuckDB of its own, never by the warehouse's connection, so no
warehouse lock is held while it is parsed. It is read once, into a table of a database
file in a temporary folder (past `MEMORY_LIMIT` DuckDB spills there, so a larger file
costs disk, not memory); every row is checked against MediaItem's rules and the
plugin's own; then that DuckDB is closed. A file read ahead (while the one before it is
stored) therefore waits on disk, holding no memory.

Its pages are ranges of its record numbers: the warehouse's connection attaches the
read file and each page is one INSERT ... SELECT from it, so no row passes through
Python or Arrow between reading and storing.

A file that DuckDB cannot read, or with any row that breaks a rule, gets no pages at
all: the caller reads it with the plugin's streaming reader instead, which reports each
bad record by line, byte and field.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

from mca_pipeline.core.columnar import MEDIA_ITEM_RULES, PAGE_COLUMNS, ColumnarRead
from mca_pipeline.warehouse.memory import LoweredLimit, memory_at_most
from mca_pipeline.warehouse.store import StagedRows

#: What the reading DuckDB may hold in memory before it spills to disk.
MEMORY_LIMIT = "128MB"
#: What the warehouse's connection may hold while it stores a read file's pages, when
#: it may hold more: its buffer pool would otherwise keep every block of the attached
#: file it has read (1,000,000 plays: a peak of 477 MiB against 575 at 512 MB, for
#: 0.5 s more of 11). A page that needs more (the key index of a large warehouse stays
#: in memory) is stored again under twice the limit, up to the connection's own: see
#: `raise_limit`.
STORE_MEMORY_LIMIT = 128 * 2**20

_CHECKS = " AND ".join(f"({rule})" for rule in MEDIA_ITEM_RULES.values())
_STORED = "left_out IS NULL"
_PAGE_COLUMNS = ", ".join(PAGE_COLUMNS).replace("raw_metadata", "raw_metadata::VARCHAR AS raw_metadata")
#: Each attachment of a read file gets a name of its own on the warehouse's connection.
_ALIASES = itertools.count()


@dataclass(frozen=True)
class ColumnarPage:
    """One page of a file read by DuckDB: its rows (a SELECT over the attached file),
    the cursor after them, and whether rows of the file follow."""

    rows: StagedRows
    cursor: str
    has_more: bool


class ColumnarFile:
    """A file read whole and checked, waiting on disk; `pages()` hands it out. Close it
    when done.

    `rows` counts the file's records, `left_out` those after `start` left out on purpose
    (by reason), which no page holds."""

    def __init__(
        self, tmp: tempfile.TemporaryDirectory[str], rows: int, left_out: dict[str, int], read: ColumnarRead
    ) -> None:
        self._tmp = tmp
        self.rows = rows
        self.left_out = left_out
        self._read = read
        #: The lowered limit of the connection `pages` is storing on.
        self._store_limit: LoweredLimit | None = None

    @property
    def staged(self) -> Path:
        """The database file the rows wait in."""
        return Path(self._tmp.name) / "staged.duckdb"

    @contextlib.contextmanager
    def pages(self, con: duckdb.DuckDBPyConnection, page_size: int) -> Iterator[list[ColumnarPage]]:
        """The pages after the records already stored, each of the stored rows of up to
        `page_size` records, selectable on `con` while this lasts; the last page's cursor
        is past the file's last record, left out or not."""
        alias = f"mca_read_{next(_ALIASES)}"
        quoted = str(self.staged).replace("'", "''")
        con.execute(f"ATTACH '{quoted}' AS {alias} (READ_ONLY)")
        try:
            pages = self._plan(con, alias, max(1, page_size))
            with memory_at_most(con, STORE_MEMORY_LIMIT) as self._store_limit:
                yield pages
        finally:
            self._store_limit = None
            with contextlib.suppress(duckdb.Error):  # a broken connection drops it anyway
                con.execute(f"DETACH {alias}")

    def raise_limit(self) -> bool:
        """Double the lowered memory limit of the connection storing the pages, up to its
        own, for the rest of them (one ran out of memory); False when it has its own."""
        return self._store_limit is not None and self._store_limit.double()

    def commit_room(self) -> contextlib.AbstractContextManager[None]:
        """What a page's COMMIT runs in: the storing connection's own memory limit."""
        if self._store_limit is None:
            return contextlib.nullcontext()
        return self._store_limit.lifted()

    def _plan(self, con: duckdb.DuckDBPyConnection, alias: str, size: int) -> list[ColumnarPage]:
        """One scan of the record numbers and keys: which ranges hold rows to store, how
        many, and whether a key repeats within one (then the last of them is stored, as
        `items_table` keeps the last of repeated items)."""
        record = "mca_record" if self._read.numbered else "rowid"
        start = int(self._read.start)
        ranges = con.execute(
            f"""SELECT ({record} - $start) // $size AS page, count(*), count(DISTINCT external_id)
                FROM {alias}.staged WHERE {record} >= $start AND {_STORED}
                GROUP BY page ORDER BY page""",
            {"start": start, "size": size},
        ).fetchall()
        pages = []
        for index, (page, count, keys) in enumerate(ranges):
            low = start + int(page) * size
            has_more = index < len(ranges) - 1
            last_of_each_key = (
                f" QUALIFY row_number() OVER (PARTITION BY external_id ORDER BY {record} DESC) = 1"
                if keys < count
                else ""
            )
            sql = (
                f"SELECT {_PAGE_COLUMNS}, {record} AS mca_record FROM {alias}.staged "
                f"WHERE {record} >= {low} AND {record} < {low + size} AND {_STORED}{last_of_each_key}"
            )
            done = low + size if has_more else self.rows
            pages.append(
                ColumnarPage(StagedRows(sql, int(count)), self._read.cursor_at(done, self.rows), has_more)
            )
        return pages

    def close(self) -> None:
        """Drop what was read (closing twice is fine)."""
        self._tmp.cleanup()


def _over_arrays(function: Callable[[str], str | None]) -> Callable[[pa.Array], pa.Array]:
    """A function of one text as a vectorised DuckDB function: one crossing into Python
    per vector, and one Python call per distinct value in it (a Takeout page's few
    captions and time zones cost a call per vector, not per entry)."""

    def over(values: pa.Array | pa.ChunkedArray) -> pa.Array:
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        encoded = values.dictionary_encode()
        results = pa.array([function(v) for v in encoded.dictionary.to_pylist()], pa.string())
        return results.take(encoded.indices)

    return over


def read_columnar(read: ColumnarRead, log: logging.Logger | logging.LoggerAdapter) -> ColumnarFile | None:  # type: ignore[type-arg]
    """The file read and checked, or None when the streaming reader must take it: DuckDB
    could not read it, a row breaks a rule, or it holds nothing to store after
    `read.start` (an empty file's report is the streaming reader's)."""
    tmp = tempfile.TemporaryDirectory(prefix="mca-columnar-")
    staged = Path(tmp.name) / "staged.duckdb"
    counts = None
    try:
        with duckdb.connect(
            str(staged), config={"memory_limit": MEMORY_LIMIT, "temp_directory": tmp.name}
        ) as con:
            counts = _read_and_count(con, read)
    except Exception as exc:  # any bytes: whatever fails here, the streaming reader reports it
        # DuckDB's message may quote the record, personal fields and all: only its kind is logged.
        log.info(f"DuckDB does not read the file whole ({type(exc).__name__}): reading it record by record")
        counts = None
    total = sum(int(n) for _, n, _, _ in counts or [])
    bad = sum(int(b) for _, _, b, _ in counts or [])
    left_out = {
        str(reason): int(after) for reason, _, _, after in counts or [] if reason is not None and after
    }
    to_store = sum(int(after) for reason, _, _, after in counts or [] if reason is None)
    if bad:
        log.info(f"{bad:,} of {total:,} records need a closer look: reading the file record by record")
    if counts is None or bad or not to_store:
        tmp.cleanup()
        return None
    if read.read_note is not None:
        log.info(read.read_note())
    return ColumnarFile(tmp, total, left_out, read)


def _read_and_count(con: duckdb.DuckDBPyConnection, read: ColumnarRead) -> list[tuple[object, ...]]:
    """The file into table `staged`; per reason left out (NULL: to store) the records,
    the bad ones and those after `start`, in one scan."""
    for name, function in read.functions.items():
        con.create_function(name, _over_arrays(function), ["VARCHAR"], "VARCHAR", type="arrow")
    for name, open_stream in read.tables.items():
        con.register(name, open_stream())
    if read.numbered and not read.in_file_order:
        # Rows that carry their number need not be staged in order, and kept in
        # order under MEMORY_LIMIT DuckDB stages them on one thread (twice as long).
        con.execute("SET preserve_insertion_order = false")
    # The file lives for one import: compressing it took a third of the time of reading
    # 100,000 plays (0.3 s of 0.9), and unpacked it is smaller than the export file.
    con.execute("SET force_compression = 'uncompressed'")
    con.execute(f"CREATE TABLE staged AS SELECT * FROM ({read.sql})", dict(read.params))
    record = "mca_record" if read.numbered else "rowid"
    return con.execute(
        f"""SELECT left_out, count(*),
                   count(*) FILTER (WHERE NOT (coalesce(clean, false) AND (NOT {_STORED} OR {_CHECKS}))),
                   count(*) FILTER (WHERE {record} >= $start)
            FROM staged GROUP BY left_out""",
        {"start": read.start},
    ).fetchall()
