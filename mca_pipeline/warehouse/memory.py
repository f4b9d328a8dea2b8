"""Holding a connection's DuckDB memory limit lower for one piece of work.

DuckDB keeps what it read in its buffer pool up to the limit, and a hash table grows to
it before it spills: under the warehouse's own limit (MCA_DUCKDB_MEMORY_LIMIT, 512 MB) a
query over a large history costs the process that much, where a lower limit costs the
same time and spills the rest to disk.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import duckdb


def bytes_of_size(size: str) -> float:
    """A size as DuckDB writes it (`488.2 MiB`, `1.5 GiB`, `512 bytes`) in bytes."""
    number, _, unit = size.partition(" ")
    units = {
        "KiB": 2**10,
        "MiB": 2**20,
        "GiB": 2**30,
        "TiB": 2**40,
        "KB": 1e3,
        "MB": 1e6,
        "GB": 1e9,
        "TB": 1e12,
    }
    return float(number) * units.get(unit, 1)


def memory_limit(con: duckdb.DuckDBPyConnection) -> str:
    """The connection's memory limit as DuckDB shows it."""
    [(limit,)] = con.execute("SELECT current_setting('memory_limit')").fetchall()
    return str(limit)


class LoweredLimit:
    """A connection held under a lower memory limit than its own; `double` gives it more
    for work that ran out, up to its own."""

    def __init__(self, con: duckdb.DuckDBPyConnection, limit: int) -> None:
        self._con = con
        own = memory_limit(con)
        #: The connection's own limit while it is held lower, else None.
        self._own: str | None = own if bytes_of_size(own) > limit else None
        self._limit = limit
        if self._own is not None:
            con.execute(f"SET memory_limit = '{limit}B'")

    def double(self) -> bool:
        """Twice the limit, up to the connection's own; False when it has its own already."""
        if self._own is None:
            return False
        self._limit *= 2
        if self._limit >= bytes_of_size(self._own):
            self.restore()
        else:
            self._con.execute(f"SET memory_limit = '{self._limit}B'")
        return True

    @contextlib.contextmanager
    def lifted(self) -> Iterator[None]:
        """The connection's own limit for the block, then the lowered one again: for a
        COMMIT, which flushes what the transaction appended and cannot spill. A COMMIT
        that runs out of memory invalidates the whole database (DuckDB's FatalException,
        every later statement refused until it is opened again), where a statement that
        runs out is only rolled back; 491,520 Netflix records in one page did that under
        128 MB."""
        if self._own is None:
            yield
            return
        self._con.execute(f"SET memory_limit = '{self._own}'")
        try:
            yield
        finally:
            self._con.execute(f"SET memory_limit = '{self._limit}B'")

    def restore(self) -> None:
        """The connection's own limit again."""
        if self._own is not None:
            self._con.execute(f"SET memory_limit = '{self._own}'")
            self._own = None


@contextlib.contextmanager
def memory_at_most(con: duckdb.DuckDBPyConnection, limit: int) -> Iterator[LoweredLimit]:
    """`con` under at most `limit` bytes while the block runs (a lower limit of its own is
    kept), then under its own limit again."""
    lowered = LoweredLimit(con, limit)
    try:
        yield lowered
    finally:
        with contextlib.suppress(duckdb.Error):  # a broken connection is dropped anyway
            lowered.restore()
