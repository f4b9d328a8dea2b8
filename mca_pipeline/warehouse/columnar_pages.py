"""Reading an export file with DuckDB into pages of Arrow columns (the columnar path).

The file is read by an in-memory DuckDB of its own, never by the warehouse's
connection, so no warehouse lock is held while it is parsed. It is read once, into a
table there (spilled to a temporary folder past `MEMORY_LIMIT`, so a larger file costs
disk, not memory); every row is checked against MediaItem's rules and the plugin's own;
then pages of `page_size` rows are handed out as Arrow tables in the file's order.
Between the read and the first page (a file read ahead waits while the one before it is
stored) it keeps `WAITING_MEMORY_LIMIT` in memory and the rest in its temporary folder.

A file that DuckDB cannot read, or with any row that breaks a rule, gets no pages at
all: the caller reads it with the plugin's streaming reader instead, which reports each
bad record by line, byte and field.
"""

from __future__ import annotations

import contextlib
import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from mca_pipeline.core.columnar import MEDIA_ITEM_RULES, PAGE_COLUMNS, ColumnarRead

#: What the reading DuckDB may hold in memory before it spills to disk.
MEMORY_LIMIT = "128MB"
#: ... and what a file read whole may hold while it waits to be stored (the files read
#: ahead during another's storing): the rest waits on disk, compressed.
WAITING_MEMORY_LIMIT = "16MB"

_CHECKS = " AND ".join(f"({rule})" for rule in MEDIA_ITEM_RULES.values())
_STORED = "left_out IS NULL"


@dataclass(frozen=True)
class ColumnarPage:
    """One page of a file read by DuckDB: its rows, the cursor after them, and whether
    rows of the file follow."""

    table: pa.Table
    cursor: str
    has_more: bool


class ColumnarFile:
    """A file read whole and checked; `pages()` hands it out. Close it when done.

    `rows` counts the file's records, `left_out` those after `start` left out on purpose
    (by reason), which no page holds."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        tmp: tempfile.TemporaryDirectory[str],
        rows: int,
        left_out: dict[str, int],
        read: ColumnarRead,
    ) -> None:
        self._con = con
        self._tmp = tmp
        self.rows = rows
        self.left_out = left_out
        self._read = read

    def memory_held(self) -> int:
        """Bytes of the read DuckDB keeps in memory (the rest waits in its temporary folder)."""
        [(held,)] = self._con.execute("SELECT sum(memory_usage_bytes) FROM duckdb_memory()").fetchall()
        return int(held or 0)

    def pages(self, page_size: int) -> Iterator[ColumnarPage]:
        """Pages of up to `page_size` items after the records already stored; the last
        page's cursor is past the file's last record, left out or not."""
        _set_memory_limit(self._con, MEMORY_LIMIT)
        pending: pa.Table | None = None
        for table in self._tables(max(1, page_size)):
            if not table.num_rows:
                continue
            if pending is not None:
                yield self._page(pending, has_more=True)
            pending = table
        if pending is not None:
            yield self._page(pending, has_more=False)

    def _tables(self, page_size: int) -> Iterator[pa.Table]:
        columns = ", ".join(PAGE_COLUMNS).replace("raw_metadata", "raw_metadata::VARCHAR AS raw_metadata")
        start = int(self._read.start)
        if self._read.numbered:
            # Staged in any order: each page is the stored rows of a range of record
            # numbers, sorted (the scan skips the row groups outside the range).
            for low in range(start, self.rows, page_size):
                yield self._con.sql(
                    f"SELECT {columns}, mca_record FROM staged WHERE mca_record >= {low} "
                    f"AND mca_record < {low + page_size} AND {_STORED} ORDER BY mca_record"
                ).to_arrow_table()
            return
        # No ORDER BY: a filtered scan of one table keeps its insertion order (DuckDB's
        # preserve_insertion_order), where sorting a large file's rows would spill or fail.
        relation = self._con.sql(
            f"SELECT {columns}, rowid AS mca_record FROM staged WHERE rowid >= {start} AND {_STORED}"
        )
        for batch in relation.to_arrow_reader(page_size):
            yield pa.Table.from_batches([batch])

    def _page(self, table: pa.Table, *, has_more: bool) -> ColumnarPage:
        done = int(table.column("mca_record")[-1].as_py()) + 1 if has_more else self.rows
        return ColumnarPage(
            table.drop_columns(["mca_record"]), self._read.cursor_at(done, self.rows), has_more
        )

    def close(self) -> None:
        """Drop what was read (closing twice is fine)."""
        self._con.close()
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
    con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "temp_directory": tmp.name})
    try:
        for name, function in read.functions.items():
            con.create_function(name, _over_arrays(function), ["VARCHAR"], "VARCHAR", type="arrow")
        for name, open_stream in read.tables.items():
            con.register(name, open_stream())
        if read.numbered and not read.in_file_order:
            # Rows that carry their number need not be staged in order, and kept in
            # order under MEMORY_LIMIT DuckDB stages them on one thread (twice as long).
            con.execute("SET preserve_insertion_order = false")
        con.execute(f"CREATE TABLE staged AS SELECT * FROM ({read.sql})", dict(read.params))
        record = "mca_record" if read.numbered else "rowid"
        # One scan: per reason left out (NULL: to store), the records, the bad ones, and those after `start`.
        counts = con.execute(
            f"""SELECT left_out, count(*),
                       count(*) FILTER (WHERE NOT (coalesce(clean, false) AND (NOT {_STORED} OR {_CHECKS}))),
                       count(*) FILTER (WHERE {record} >= $start)
                FROM staged GROUP BY left_out""",
            {"start": read.start},
        ).fetchall()
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
        con.close()
        tmp.cleanup()
        return None
    _set_memory_limit(con, WAITING_MEMORY_LIMIT)
    if read.read_note is not None:
        log.info(read.read_note())
    return ColumnarFile(con, tmp, total, left_out, read)


def _set_memory_limit(con: duckdb.DuckDBPyConnection, limit: str) -> None:
    """DuckDB moves what is over the new limit to its temporary folder at once (a file
    read ahead then waits for its turn in about 15 MiB instead of 100)."""
    with contextlib.suppress(duckdb.Error):  # nothing it cannot move is lost: it stays in memory
        con.execute(f"SET memory_limit = '{limit}'")
