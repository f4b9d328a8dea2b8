"""Reading DuckDB results safely."""

from __future__ import annotations

from typing import Any

import duckdb


def changed(cursor: duckdb.DuckDBPyConnection) -> int:
    """How many rows an INSERT, UPDATE or DELETE changed: DuckDB answers with that count
    (rather than RETURNING, which a DuckLake table does not support for UPDATE and DELETE)."""
    row = first_row(cursor)
    return int(row[0]) if row else 0


def first_row(cursor: duckdb.DuckDBPyConnection) -> tuple[Any, ...] | None:
    """The first row of a result, consuming it whole: DuckDB refuses further work on a
    connection while a result is left half-read (as fetchone() leaves it)."""
    rows = cursor.fetchall()
    return rows[0] if rows else None
