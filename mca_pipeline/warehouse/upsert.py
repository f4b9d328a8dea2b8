"""Insert-or-update of one row by its key, as MERGE INTO.

`INSERT ... ON CONFLICT` needs a primary key or unique index to find the conflict, and a
DuckLake table has neither (warehouse/lake.py). MERGE INTO finds the row by a join on
the key columns instead, so the same statement runs on a DuckDB file and on a lake.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import duckdb


def upsert(
    con: duckdb.DuckDBPyConnection,
    table: str,
    row: Mapping[str, object],
    key: tuple[str, ...],
    update: Iterable[str] = (),
) -> None:
    """Insert `row` into `table`, or, when a row with the same `key` columns is there,
    set its `update` columns (none: keep it as it is). Table and column names are the
    caller's constants, never user input."""
    columns = list(row)
    sets = ", ".join(f"{c} = s.{c}" for c in update)
    con.execute(
        f"MERGE INTO {table} AS t USING (SELECT {', '.join(f'? AS {c}' for c in columns)}) AS s "
        f"ON {' AND '.join(f't.{k} = s.{k}' for k in key)} "
        + (f"WHEN MATCHED THEN UPDATE SET {sets} " if sets else "")
        + f"WHEN NOT MATCHED THEN INSERT ({', '.join(columns)}) VALUES ({', '.join(f's.{c}' for c in columns)})",
        list(row.values()),
    )
