"""A DuckLake warehouse: the catalog in PostgreSQL, the data as Parquet files under a
data path that every host shares (a directory here, object storage in deployments).

Selected by `MCA_WAREHOUSE=ducklake:postgres:<libpq settings>` with
`MCA_WAREHOUSE_DATA_PATH`; nothing set keeps the DuckDB file (database.py). The SQL of
the warehouse is the same on both: each connection attaches the lake as its default
database, so every statement runs unchanged against it.

What a lake lacks, and what stands in for it:
- no primary keys, unique or check constraints, and no sequences: the schema's
  migrations run with those left out (`lake_ddl`); rows are found by key with MERGE INTO
  (upsert.py) or NOT EXISTS, never ON CONFLICT; ids come from PostgreSQL sequences in the
  catalog database, through `mca_next_id(name)`, which a file's connection defines on its
  own sequences;
- no file lock: writers on any host commit with DuckLake's optimistic transactions. The
  one invariant a conflict check cannot keep, one row per (user, platform, external_id),
  holds because every write of a user's platform takes a PostgreSQL advisory lock on that
  pair first (`mca_lock_source(user, platform)`, a no-op on a file, whose lock already
  serialises writers), for the rest of the connection's unit of work.
"""

from __future__ import annotations

import hashlib
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from mca_pipeline import paths
from mca_pipeline.warehouse.database import MEMORY_LIMIT, Warehouse
from mca_pipeline.warehouse.extensions import load_extensions
from mca_pipeline.warehouse.schema import migrate

#: What the lake is called inside each connection.
LAKE = "mca_lake"
#: The DuckDB sequences of the file, made PostgreSQL sequences for a lake.
SEQUENCES = ("sync_log_id", "notification_id")
#: A lake connection's mca_next_id and mca_lock_source (the file's are in database.py),
#: bound to the connection's own PostgreSQL session through its `mca_session` variable.
LAKE_FUNCTIONS = """
CREATE OR REPLACE TEMP MACRO mca_next_id(name) AS mca_pg_next_id(getvariable('mca_session'), name);
CREATE OR REPLACE TEMP MACRO mca_lock_source(user_id, platform)
    AS mca_pg_lock(getvariable('mca_session'), user_id, platform);
"""
#: The advisory-lock key under which a new lake is migrated.
MIGRATION_LOCK = 0x6D63615F6C616B65  # "mca_lake"


class LakeSettingsError(ValueError):
    """MCA_WAREHOUSE names a lake but the settings are incomplete or wrong."""


def _strip_parenthesised(sql: str, keyword: str) -> str:
    """`sql` without each `keyword (...)`, nested parentheses included."""
    out, at = [], 0
    pattern = re.compile(rf"\s+{keyword}\s*\(", re.IGNORECASE)
    while match := pattern.search(sql, at):
        out.append(sql[at : match.start()])
        depth, i = 1, match.end()
        while depth and i < len(sql):
            depth += {"(": 1, ")": -1}.get(sql[i], 0)
            i += 1
        at = i
    out.append(sql[at:])
    return "".join(out)


def lake_ddl(sql: str) -> str:
    """A migration as a lake can run it: without keys, unique and check constraints,
    list defaults and sequences (see the module docstring for what replaces them)."""
    sql = re.sub(r"CREATE SEQUENCE \w+;", "", sql)
    sql = re.sub(r",\s*PRIMARY KEY\s*\([^)]*\)", "", sql)
    sql = re.sub(r"\s+PRIMARY KEY\b", "", sql)
    sql = re.sub(r"\s+UNIQUE\b", "", sql)
    sql = re.sub(r"\s+DEFAULT nextval\('\w+'\)", "", sql)
    sql = re.sub(r"\s+DEFAULT \[\]", "", sql)
    return _strip_parenthesised(sql, "CHECK")


class LakeWarehouse(Warehouse):
    """The warehouse as a DuckLake; `connect()` gives the same kind of connection as a file's."""

    def __init__(self, catalog: str, data_path: str, timeout_s: float = 600.0) -> None:
        if not catalog.startswith("ducklake:postgres:"):
            raise LakeSettingsError(f"a lake catalog is ducklake:postgres:<libpq settings>, not {catalog!r}")
        if not data_path:
            raise LakeSettingsError(
                "MCA_WAREHOUSE_DATA_PATH must name the lake's data path (a shared folder or s3://...)"
            )
        super().__init__(Path(data_path), timeout_s)
        self.catalog = catalog
        self.data_path = data_path if "://" in data_path else str(Path(data_path).resolve()) + "/"
        self._pg = catalog.removeprefix("ducklake:postgres:")
        self._db: duckdb.DuckDBPyConnection | None = None
        self._opening = threading.Lock()
        self._sessions: dict[str, _Session] = {}

    def __repr__(self) -> str:
        # Not the catalog: its libpq settings may hold a password.
        return f"LakeWarehouse(data={self.data_path})"

    def __str__(self) -> str:
        return f"DuckLake, data in {self.data_path}"

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection whose default database is the lake, for one unit of work. Ids and
        advisory locks come from a PostgreSQL session of its own, opened when first
        needed; closing it at the end of the block releases the locks."""
        self.stats.connects += 1
        con = self._database().cursor()
        token, session = uuid.uuid4().hex, _Session(self._pg)
        self._sessions[token] = session
        try:
            con.execute(f"USE {LAKE}")
            con.execute(f"SET VARIABLE mca_session = '{token}'")
            con.execute(LAKE_FUNCTIONS)
            if not self._migrated:
                session.prepare()
                try:
                    migrate(con, lake_ddl)
                finally:
                    session.unlock_migration()
                self._migrated = True
            yield con
        finally:
            con.close()
            self._sessions.pop(token, None)
            session.close()

    def _database(self) -> duckdb.DuckDBPyConnection:
        """The in-memory DuckDB this object's connections share, with the extensions loaded
        and the lake attached once: loading the two extensions costs about 0.14 s, which
        every unit of work would otherwise pay."""
        with self._opening:
            if self._db is None:
                db = duckdb.connect(config={"memory_limit": MEMORY_LIMIT})
                load_extensions(db)
                db.execute(
                    f"ATTACH '{_quoted(self.catalog)}' AS {LAKE} (DATA_PATH '{_quoted(self.data_path)}')"
                )
                # Python functions belong to the instance; the connection's own session is
                # found by the token each connection sets (LAKE_FUNCTIONS).
                db.create_function(
                    "mca_pg_next_id", self._next_id, ["VARCHAR", "VARCHAR"], "BIGINT", side_effects=True
                )
                db.create_function(
                    "mca_pg_lock", self._lock, ["VARCHAR", "VARCHAR", "VARCHAR"], "BOOLEAN", side_effects=True
                )
                self._db = db
            return self._db

    def _next_id(self, token: str, name: str) -> int:
        return self._sessions[token].next_id(name)

    def _lock(self, token: str, user_id: str, platform: str) -> bool:
        return self._sessions[token].lock_source(user_id, platform)

    def close(self) -> None:
        """Detach the lake and let its PostgreSQL connections go."""
        with self._opening:
            if self._db is not None:
                self._db.close()
                self._db = None


class _Session:
    """One PostgreSQL session of the catalog database, for what DuckLake does not do."""

    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._conn: Any = None

    def _cursor(self) -> Any:
        if self._conn is None:
            import psycopg2  # comes with dagster-postgres

            self._conn = psycopg2.connect(self._dsn)
            self._conn.autocommit = True
        return self._conn.cursor()

    def prepare(self) -> None:
        """The sequences, and the migration lock: two hosts opening a new lake at once,
        one migrates and the other then finds it done."""
        with self._cursor() as cur:
            for name in SEQUENCES:
                cur.execute(f"CREATE SEQUENCE IF NOT EXISTS mca_{name}")
            cur.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK])

    def unlock_migration(self) -> None:
        with self._cursor() as cur:
            cur.execute("SELECT pg_advisory_unlock(%s)", [MIGRATION_LOCK])

    def next_id(self, name: str) -> int:
        if name not in SEQUENCES:
            raise ValueError(f"no sequence {name!r}")
        with self._cursor() as cur:
            cur.execute(f"SELECT nextval('mca_{name}')")
            return int(cur.fetchone()[0])

    def lock_source(self, user_id: str, platform: str) -> bool:
        """Wait for, then hold until the session ends, the lock of one user's platform."""
        with self._cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", [lock_key(user_id, platform)])
        return True

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def open_warehouse(location: str = "") -> Warehouse:
    """The warehouse named by `location`, else by MCA_WAREHOUSE: a lake for a
    `ducklake:` catalog (data path from MCA_WAREHOUSE_DATA_PATH), else a DuckDB file."""
    location = location or paths.warehouse_location()
    if location.startswith("ducklake:"):
        return LakeWarehouse(location, paths.lake_data_path())
    return Warehouse(Path(location))


def lock_key(user_id: str, platform: str) -> int:
    """A stable 63-bit advisory-lock key for one user's platform."""
    return int.from_bytes(hashlib.sha256(f"{user_id}\0{platform}".encode()).digest()[:8], "big") >> 1


def _quoted(text: str) -> str:
    return text.replace("'", "''")
