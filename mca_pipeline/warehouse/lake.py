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

import contextlib
import hashlib
import os
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from mca_pipeline import paths
from mca_pipeline.warehouse.database import MEMORY_LIMIT, Warehouse
from mca_pipeline.warehouse.extensions import load_extensions
from mca_pipeline.warehouse.schema import current_version, migrate

#: What the lake is called inside each connection, before the connection's own suffix.
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
#: A user's items and links are written to files of their own (media_items/user_id=ada/...),
#: so that one user's reads and dedup open only that user's files.
PARTITIONS = """
ALTER TABLE media_items SET PARTITIONED BY (user_id);
ALTER TABLE unified_plays SET PARTITIONED BY (user_id);
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
        self.data_path = (
            data_path.rstrip("/") + "/" if "://" in data_path else str(Path(data_path).resolve()) + "/"
        )
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
        name = f"{LAKE}_{token[:12]}"
        self._sessions[token] = session
        try:
            con.execute(f"ATTACH '{_quoted(self.catalog)}' AS {name} (DATA_PATH '{_quoted(self.data_path)}')")
            con.execute(f"USE {name}")
            con.execute(f"SET VARIABLE mca_session = '{token}'")
            con.execute(LAKE_FUNCTIONS)
            if not self._migrated:
                session.prepare()
                try:
                    new = current_version(con) == 0
                    migrate(con, lake_ddl)
                    if new:
                        con.execute(PARTITIONS)
                finally:
                    session.unlock_migration()
                self._migrated = True
            yield con
        finally:
            with contextlib.suppress(duckdb.Error):
                con.execute("USE memory")
                con.execute(f"DETACH {name}")
            con.close()
            self._sessions.pop(token, None)
            session.close()

    def _database(self) -> duckdb.DuckDBPyConnection:
        """The in-memory DuckDB this object's connections share, with the extensions loaded:
        loading them costs about 0.14 s, which every unit of work would otherwise pay.

        The lake itself is attached by each connection, under a name of its own, and
        detached after: an attachment kept across units of work keeps DuckLake's view of
        the catalog, which another host's compaction makes wrong (DuckDB 1.5.5 then fails
        with internal errors until the lake is attached again). Attaching takes ~20 ms."""
        with self._opening:
            if self._db is None:
                db = duckdb.connect(config={"memory_limit": MEMORY_LIMIT})
                remote = "://" in self.data_path
                load_extensions(db, ("ducklake", "postgres_scanner", *(("httpfs",) if remote else ())))
                if self.data_path.startswith("s3://"):
                    db.execute(s3_secret())
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

    def advance_sequence(self, name: str, past: int) -> None:
        """Make the lake's id sequence `name` give ids above `past` (after a copy)."""
        session = _Session(self._pg)
        try:
            session.advance(name, past)
        finally:
            session.close()

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

    def advance(self, name: str, past: int) -> None:
        if name not in SEQUENCES:
            raise ValueError(f"no sequence {name!r}")
        if past < 1:
            return
        with self._cursor() as cur:
            cur.execute(f"CREATE SEQUENCE IF NOT EXISTS mca_{name}")
            cur.execute(
                f"SELECT setval('mca_{name}', greatest(%s, (SELECT last_value FROM mca_{name})))", [past]
            )

    def lock_source(self, user_id: str, platform: str) -> bool:
        """Wait for, then hold until the session ends, the lock of one user's platform."""
        with self._cursor() as cur:
            cur.execute("SELECT pg_advisory_lock(%s)", [lock_key(user_id, platform)])
        return True

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()


def open_warehouse(location: str = "", data_path: str = "") -> Warehouse:
    """The warehouse named by `location`, else by MCA_WAREHOUSE: a lake for a
    `ducklake:` catalog (its data path `data_path`, else MCA_WAREHOUSE_DATA_PATH), else a
    DuckDB file."""
    location = location or paths.warehouse_location()
    if location.startswith("ducklake:"):
        return LakeWarehouse(location, data_path or paths.lake_data_path())
    return Warehouse(Path(location))


def s3_secret() -> str:
    """The DuckDB secret for an s3:// data path, from the environment: AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY, AWS_REGION (us-east-1), and for S3-compatible storage
    MCA_LAKE_S3_ENDPOINT (host:port), MCA_LAKE_S3_URL_STYLE (path) and MCA_LAKE_S3_USE_SSL."""
    env = os.environ
    settings = {
        "KEY_ID": env.get("AWS_ACCESS_KEY_ID", ""),
        "SECRET": env.get("AWS_SECRET_ACCESS_KEY", ""),
        "REGION": env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        "ENDPOINT": env.get("MCA_LAKE_S3_ENDPOINT", ""),
        "URL_STYLE": env.get("MCA_LAKE_S3_URL_STYLE", ""),
    }
    parts = [f"{key} '{_quoted(value)}'" for key, value in settings.items() if value]
    use_ssl = env.get("MCA_LAKE_S3_USE_SSL", "true").lower() not in {"0", "false", "no"}
    return (
        f"CREATE OR REPLACE SECRET mca_lake_s3 (TYPE s3, {', '.join(parts)}, USE_SSL {str(use_ssl).lower()})"
    )


def lake_name(con: duckdb.DuckDBPyConnection) -> str:
    """The name the lake is attached under in this connection (its default database)."""
    return str(con.execute("SELECT current_database()").fetchall()[0][0])


@dataclass(frozen=True)
class Upkeep:
    """What one round of upkeep found and left: data files and snapshots."""

    files_before: int
    files_after: int
    snapshots_before: int
    snapshots_after: int


def upkeep(con: duckdb.DuckDBPyConnection, keep_days: int) -> Upkeep:
    """DuckLake's own maintenance, in order: write the rows small commits kept in the
    catalog to data files, merge adjacent small files, forget snapshots older than
    `keep_days` (time travel reaches that far back), and delete the files no snapshot
    needs any more."""
    older = f"now() - INTERVAL {int(keep_days)} DAY"
    lake = lake_name(con)

    def counts() -> tuple[int, int]:
        files = sum(
            int(con.execute("SELECT count(*) FROM ducklake_list_files(?, ?)", [lake, table]).fetchall()[0][0])
            for (table,) in con.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = ?", [lake]
            ).fetchall()
        )
        snapshots = int(con.execute(f"SELECT count(*) FROM ducklake_snapshots('{lake}')").fetchall()[0][0])
        return files, snapshots

    files_before, snapshots_before = counts()
    con.execute(f"CALL ducklake_flush_inlined_data('{lake}')")
    con.execute(f"CALL ducklake_merge_adjacent_files('{lake}')")
    con.execute(f"CALL ducklake_expire_snapshots('{lake}', older_than => {older})")
    con.execute(f"CALL ducklake_cleanup_old_files('{lake}', older_than => {older})")
    files_after, snapshots_after = counts()
    return Upkeep(files_before, files_after, snapshots_before, snapshots_after)


def lock_key(user_id: str, platform: str) -> int:
    """A stable 63-bit advisory-lock key for one user's platform."""
    return int.from_bytes(hashlib.sha256(f"{user_id}\0{platform}".encode()).digest()[:8], "big") >> 1


def _quoted(text: str) -> str:
    return text.replace("'", "''")
