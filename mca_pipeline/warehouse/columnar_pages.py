"""Reading an export file with DuckDB into pages of Arrow columns (the columnar path).

The file is read by an in-memory DuckDB of its own, never by the warehouse's
connection, so no warehouse lock is held while it is parsed. It is read once, into a
table there (spilled to a temporary folder past `MEMORY_LIMIT`, so a larger file costs
disk, not memory); every row is checked against MediaItem's rules and the plugin's own;
then pages of `page_size` rows are handed out as Arrow tables in the file's order.

A file that DuckDB cannot read, or with any row that breaks a rule, gets no pages at
all: the caller reads it with the plugin's streaming reader instead, which reports each
bad record by line, byte and field.
"""

from __future__ import annotations

import logging
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import pyarrow as pa

from mca_pipeline.core.columnar import MEDIA_ITEM_RULES, PAGE_COLUMNS, ColumnarRead

#: What the reading DuckDB may hold in memory before it spills to disk.
MEMORY_LIMIT = "128MB"

_CHECKS = " AND ".join(f"({rule})" for rule in MEDIA_ITEM_RULES.values())


@dataclass(frozen=True)
class ColumnarPage:
    """One page of a file read by DuckDB: its rows, the cursor after them, and whether
    rows of the file follow."""

    table: pa.Table
    cursor: str
    has_more: bool


class ColumnarFile:
    """A file read whole and checked; `pages()` hands it out. Close it when done."""

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        tmp: tempfile.TemporaryDirectory[str],
        rows: int,
        read: ColumnarRead,
    ) -> None:
        self._con = con
        self._tmp = tmp
        self.rows = rows
        self._read = read

    def pages(self, page_size: int) -> Iterator[ColumnarPage]:
        """Pages of up to `page_size` rows after the records already stored."""
        done = self._read.start
        relation = self._con.sql(
            f"SELECT {', '.join(PAGE_COLUMNS).replace('raw_metadata', 'raw_metadata::VARCHAR AS raw_metadata')}"
            f" FROM staged WHERE rowid >= {int(done)} ORDER BY rowid"
        )
        # DuckDB 2 renamed fetch_arrow_reader (which the lake's DuckDB 1.5 still has).
        batches = (
            relation.to_arrow_reader if hasattr(relation, "to_arrow_reader") else relation.fetch_arrow_reader
        )
        reader = batches(max(1, page_size))
        for batch in reader:
            if not batch.num_rows:
                continue
            done += batch.num_rows
            yield ColumnarPage(
                pa.Table.from_batches([batch]), self._read.cursor_at(done, self.rows), done < self.rows
            )

    def close(self) -> None:
        self._con.close()
        self._tmp.cleanup()


def read_columnar(read: ColumnarRead, log: logging.Logger | logging.LoggerAdapter) -> ColumnarFile | None:  # type: ignore[type-arg]
    """The file read and checked, or None when the streaming reader must take it: DuckDB
    could not read it, a row breaks a rule, or it holds no records after `read.start`
    (an empty file's report is the streaming reader's)."""
    tmp = tempfile.TemporaryDirectory(prefix="mca-columnar-")
    con = duckdb.connect(config={"memory_limit": MEMORY_LIMIT, "temp_directory": tmp.name})
    try:
        con.execute(f"CREATE TABLE staged AS SELECT * FROM ({read.sql})", dict(read.params))
        total, bad = con.execute(
            f"SELECT count(*), count(*) FILTER (WHERE NOT (coalesce(clean, false) AND {_CHECKS})) FROM staged"
        ).fetchall()[0]
    except Exception as exc:  # any bytes: whatever fails here, the streaming reader reports it
        # DuckDB's message may quote the record, personal fields and all: only its kind is logged.
        log.info(f"DuckDB does not read the file whole ({type(exc).__name__}): reading it record by record")
        con.close()
        tmp.cleanup()
        return None
    if bad or total <= read.start:
        if bad:
            log.info(f"{bad:,} of {total:,} records need a closer look: reading the file record by record")
        con.close()
        tmp.cleanup()
        return None
    return ColumnarFile(con, tmp, int(total), read)
