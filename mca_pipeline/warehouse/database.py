"""Opening the DuckDB warehouse briefly and safely from many processes.

DuckDB allows one process at a time to open a file for writing, and the webserver, the
daemon and every Dagster run are separate processes. So nothing holds a connection for
long: `Warehouse.connect()` takes an exclusive file lock beside the database (writers
queue on it in order instead of failing), opens DuckDB, applies pending migrations, and
closes both on exit. A process that does not use our lock (a user's DuckDB shell, say)
is waited out with retries and backoff.
"""

from __future__ import annotations

import fcntl
import os
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from mca_pipeline.warehouse.schema import migrate

#: What a lake's connection takes from PostgreSQL (warehouse/lake.py), on the file: ids
#: from its own sequences, and no per-source lock, since the file lock serialises writers.
FILE_FUNCTIONS = """
CREATE OR REPLACE TEMP MACRO mca_next_id(name) AS nextval(name);
CREATE OR REPLACE TEMP MACRO mca_lock_source(user_id, platform) AS true;
"""

#: DuckDB's buffer pool defaults to 80 % of RAM; several run processes of one machine
#: each open the warehouse, so each keeps a modest share and lets DuckDB page to disk.
MEMORY_LIMIT = os.environ.get("MCA_DUCKDB_MEMORY_LIMIT", "512MB")


class WarehouseBusyError(RuntimeError):
    """The warehouse stayed locked by another process for longer than the timeout."""


@dataclass
class ContentionStats:
    """How much this Warehouse object had to wait for others: the figures that tell a
    deployment with many concurrent runs whether the single DuckDB file is its limit."""

    connects: int = 0
    waited: int = 0  # connects that found the lock taken
    wait_s: float = 0.0  # time spent waiting for our lock and for DuckDB's
    open_retries: int = 0  # DuckDB lock errors from processes outside our lock, retried


class Warehouse:
    def __init__(self, path: Path | str, timeout_s: float = 600.0) -> None:
        self.path = Path(path)
        self.timeout_s = timeout_s
        self.stats = ContentionStats()
        self._migrated = False

    def __repr__(self) -> str:
        return f"Warehouse({self.path})"

    def __str__(self) -> str:
        return str(self.path)

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A connection for one short unit of work; the lock is held only inside the block."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        deadline = started + self.timeout_s
        self.stats.connects += 1
        with self.lock_path.open("a+") as lock_file:
            self._acquire(lock_file, deadline)
            self.stats.wait_s += time.monotonic() - started
            try:
                con = self._open(deadline)
                try:
                    con.execute(FILE_FUNCTIONS)
                    if not self._migrated:
                        migrate(con)
                        self._migrated = True
                    yield con
                finally:
                    con.close()
            finally:
                fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _acquire(self, lock_file, deadline: float) -> None:  # type: ignore[no-untyped-def]
        delay = 0.01
        first = True
        while True:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if first:
                    self.stats.waited += 1
                    first = False
                if time.monotonic() > deadline:
                    raise WarehouseBusyError(
                        f"{self.path} stayed locked by another mca process for {self.timeout_s:.0f}s"
                    ) from None
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.5)

    def _open(self, deadline: float) -> duckdb.DuckDBPyConnection:
        delay = 0.05
        while True:
            try:
                return duckdb.connect(str(self.path), config={"memory_limit": MEMORY_LIMIT})
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise WarehouseBusyError(f"cannot open {self.path}: {exc}") from exc
                self.stats.open_retries += 1
                pause = delay * (1 + random.random())
                self.stats.wait_s += pause
                time.sleep(pause)
                delay = min(delay * 2, 2.0)
