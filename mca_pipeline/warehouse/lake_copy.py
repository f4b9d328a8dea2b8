"""Copying a DuckDB warehouse file into a DuckLake: `mca warehouse migrate --to`.

Table by table, each in its own transaction, only the rows the lake does not have yet
(found by the file's primary key), so a copy that stopped half-way is resumed by running
it again, and running it twice copies nothing the second time. Afterwards every table's
row count is compared, and the lake's id sequences are moved past the copied ids.

A file written by a newer DuckDB than this process's cannot be read here (a lake needs
DuckDB 1.5.5; the default install has DuckDB 2): `downgraded_copy` writes, from the
default install, a copy that DuckDB 1.5 reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import duckdb

from mca_pipeline.warehouse.lake import LakeWarehouse
from mca_pipeline.warehouse.results import changed
from mca_pipeline.warehouse.schema import SCHEMA_VERSION
from mca_pipeline.warehouse.transactions import retried, transaction

SOURCE = "mca_source"
#: Each id sequence and the table whose ids it gives.
SEQUENCE_TABLES = {"sync_log_id": "sync_log", "notification_id": "notifications"}


class CopyError(RuntimeError):
    """The file cannot be copied (unreadable, another schema version, counts differ)."""


@dataclass(frozen=True)
class CopiedTable:
    table: str
    copied: int  # rows added by this run
    in_file: int
    in_lake: int


def downgraded_copy(source: Path, target: Path) -> None:
    """Write `source` again as `target` in DuckDB 1.5's storage format (run where DuckDB
    2 is installed, the default install)."""
    if target.exists():
        raise CopyError(f"{target} exists; choose a new file")
    con = duckdb.connect()
    try:
        con.execute(f"ATTACH '{_quoted(str(source))}' AS {SOURCE} (READ_ONLY)")
        con.execute(f"ATTACH '{_quoted(str(target))}' AS mca_target (STORAGE_VERSION 'v1.5.0')")
        con.execute(f"COPY FROM DATABASE {SOURCE} TO mca_target")
    finally:
        con.close()


def copy_into_lake(lake: LakeWarehouse, source: Path) -> list[CopiedTable]:
    """Copy every table of the warehouse file `source` into `lake`; see the module doc."""
    with lake.connect() as con:
        try:
            con.execute(f"ATTACH '{_quoted(str(source))}' AS {SOURCE} (READ_ONLY)")
        except duckdb.Error as exc:
            raise CopyError(_unreadable(source, exc)) from None
        try:
            version = con.execute(
                f"SELECT coalesce(max(version), 0) FROM {SOURCE}.main.schema_version"
            ).fetchall()[0][0]
            if version != SCHEMA_VERSION:
                raise CopyError(
                    f"{source} is at schema version {version}, this code at {SCHEMA_VERSION}: "
                    "open it once with this release (any mca command) first"
                )
            copied = [_copy_table(con, table) for table in _tables(con)]
            for sequence, table in SEQUENCE_TABLES.items():
                top = con.execute(f"SELECT coalesce(max(id), 0) FROM {table}").fetchall()[0][0]
                lake.advance_sequence(sequence, int(top))
        finally:
            con.execute(f"DETACH {SOURCE}")
    wrong = [c for c in copied if c.in_lake < c.in_file]
    if wrong:
        raise CopyError(
            "rows missing after the copy: " + ", ".join(f"{c.table} {c.in_lake}/{c.in_file}" for c in wrong)
        )
    return copied


def _tables(con: duckdb.DuckDBPyConnection) -> list[str]:
    rows = con.execute(
        "SELECT table_name FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main' "
        "AND table_name <> 'schema_version' ORDER BY table_name = 'users' DESC, table_name",
        [SOURCE],
    ).fetchall()
    return [str(name) for (name,) in rows]


@retried
def _copy_table(con: duckdb.DuckDBPyConnection, table: str) -> CopiedTable:
    key = con.execute(
        """
        SELECT constraint_column_names FROM duckdb_constraints()
        WHERE database_name = ? AND table_name = ? AND constraint_type = 'PRIMARY KEY'
        """,
        [SOURCE, table],
    ).fetchall()
    if not key:
        raise CopyError(f"{table} has no primary key in the file; cannot copy it without doubling rows")
    keys = list(key[0][0])
    columns = [
        str(name)
        for (name,) in con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE database_name = current_database() AND table_name = ? "
            "ORDER BY column_index",
            [table],
        ).fetchall()
    ]
    listed = ", ".join(columns)
    match = " AND ".join(f"l.{k} = s.{k}" for k in keys)
    with transaction(con):
        added = changed(
            con.execute(
                f"INSERT INTO {table} ({listed}) SELECT {', '.join(f's.{c}' for c in columns)} "
                f"FROM {SOURCE}.main.{table} AS s WHERE NOT EXISTS (SELECT 1 FROM {table} AS l WHERE {match})"
            )
        )
    in_file = con.execute(f"SELECT count(*) FROM {SOURCE}.main.{table}").fetchall()[0][0]
    in_lake = con.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    return CopiedTable(table, added, int(in_file), int(in_lake))


def _unreadable(source: Path, exc: duckdb.Error) -> str:
    if "newer version" in str(exc) or "version number" in str(exc):
        return (
            f"{source} was written by a newer DuckDB than this one ({duckdb.__version__}). From the default "
            f"install, write a copy this one reads: .venv/bin/mca warehouse downgrade {source} "
            f"{source.with_suffix('.v15.duckdb')}, then migrate that copy"
        )
    return f"cannot read {source}: {str(exc).splitlines()[0]}"


def _quoted(text: str) -> str:
    return text.replace("'", "''")
