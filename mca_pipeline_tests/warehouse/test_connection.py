"""Many processes, one DuckDB file: writers queue on our lock, outsiders are waited out,
and each Warehouse counts how long it waited (shown as sync metadata)."""

import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from mca_pipeline.warehouse import Warehouse, WarehouseBusyError


def _hold(warehouse: Warehouse, seconds: float, entered: threading.Event) -> None:
    with warehouse.connect() as con:
        con.execute("CREATE TABLE IF NOT EXISTS marks (who VARCHAR)")
        con.execute("INSERT INTO marks VALUES ('holder')")
        entered.set()
        time.sleep(seconds)


@contextmanager
def held(path: Path, seconds: float) -> Iterator[None]:
    """Another writer holds the warehouse for `seconds` from the moment this enters."""
    entered = threading.Event()
    holder = threading.Thread(target=_hold, args=(Warehouse(path), seconds, entered))
    holder.start()
    entered.wait(10)
    try:
        yield
    finally:
        holder.join()


def test_a_second_writer_waits_for_the_first_and_counts_the_wait(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    waiter = Warehouse(path)
    with held(path, 0.5), waiter.connect() as con:
        con.execute("INSERT INTO marks VALUES ('waiter')")

    assert (waiter.stats.connects, waiter.stats.waited, waiter.stats.open_retries) == (1, 1, 0)
    assert 0.3 < waiter.stats.wait_s < 5
    with Warehouse(path).connect() as con:
        assert sorted(con.execute("SELECT who FROM marks").fetchall()) == [("holder",), ("waiter",)]


def test_a_process_outside_our_lock_is_waited_out_with_retries(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with Warehouse(path).connect():
        pass
    # A DuckDB shell, say: it holds DuckDB's own file lock, not ours.
    outsider = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; con = duckdb.connect(sys.argv[1]); print('open', flush=True); time.sleep(1.5)",
            str(path),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert outsider.stdout is not None and outsider.stdout.readline().strip() == "open"
    warehouse = Warehouse(path)
    with warehouse.connect() as con:
        assert con.execute("SELECT 1").fetchall() == [(1,)]
    outsider.wait(10)
    assert warehouse.stats.open_retries >= 1
    assert warehouse.stats.wait_s > 0.5


def test_a_writer_gives_up_after_its_timeout_with_the_file_named(tmp_path: Path) -> None:
    path = tmp_path / "w.duckdb"
    with (
        held(path, 1.0),
        pytest.raises(WarehouseBusyError, match=r"w\.duckdb stayed locked"),
        Warehouse(path, timeout_s=0.2).connect(),
    ):
        pass
