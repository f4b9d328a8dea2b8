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


@contextlib.contextmanager
def memory_at_most(con: duckdb.DuckDBPyConnection, limit: int) -> Iterator[None]:
    """`con` under at most `limit` bytes while the block runs (a lower limit of its own is
    kept), then under its own limit again."""
    own = memory_limit(con)
    lowered = bytes_of_size(own) > limit
    if lowered:
        con.execute(f"SET memory_limit = '{limit}B'")
    try:
        yield
    finally:
        if lowered:
            with contextlib.suppress(duckdb.Error):  # a broken connection is dropped anyway
                con.execute(f"SET memory_limit = '{own}'")
