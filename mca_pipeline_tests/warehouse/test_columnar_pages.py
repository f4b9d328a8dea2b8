"""What storing a read file's pages does to the warehouse's connection: it attaches the
file, stores under a lower memory limit (raised for a page that needs more), and leaves
the connection as it found it (the same connection then records the import's state and
checks)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import duckdb
import pytest

from mca_pipeline.core import Credentials, SyncContext
from mca_pipeline.plugins.spotify_export import SpotifyExportPlugin
from mca_pipeline.warehouse import Warehouse, columnar_pages
from mca_pipeline.warehouse.columnar_pages import STORE_MEMORY_LIMIT, read_columnar
from mca_pipeline.warehouse.memory import memory_limit
from mca_pipeline.warehouse.sync_loop import run_sync
from mca_pipeline_tests.synthetic_exports import extended_plays
from mca_pipeline_tests.warehouse.test_columnar_rules import GOOD_SQL, LOG, one_row_file
from mca_pipeline_tests.warehouse.test_memory import limit_is


def _attached(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [name for (name,) in con.execute("SELECT database_name FROM duckdb_databases()").fetchall()]


@pytest.mark.parametrize(("limit", "lowered"), [("512MB", True), ("64MB", False)])
def test_pages_are_stored_under_the_lower_limit_and_the_connection_is_left_as_found(
    limit: str, lowered: bool
) -> None:
    """A limit below STORE_MEMORY_LIMIT (the user's MCA_DUCKDB_MEMORY_LIMIT) is kept."""
    read = read_columnar(one_row_file(GOOD_SQL), LOG)
    assert read is not None
    with duckdb.connect(config={"memory_limit": limit}) as con:
        before, databases = memory_limit(con), _attached(con)
        try:
            with read.pages(con, 10) as pages:
                assert memory_limit(con) == (f"{STORE_MEMORY_LIMIT / 2**20:.1f} MiB" if lowered else before)
                [(title,)] = con.execute(f"SELECT title FROM ({pages[0].rows.sql})").fetchall()
                assert title == "Song"
        finally:
            read.close()
        assert limit_is(con, before)
        assert _attached(con) == databases


def test_a_page_that_runs_out_of_memory_is_stored_again_under_a_higher_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A warehouse whose key index outgrows the lowered limit still stores every play:
    the page that ran out is rolled back whole and stored again with more memory."""
    monkeypatch.setattr(columnar_pages, "STORE_MEMORY_LIMIT", 2 * 2**20)
    file = tmp_path / "Streaming_History_Audio_2024_0.json"
    file.write_text(json.dumps(extended_plays(30_000, seed=5)), encoding="utf-8")
    warehouse = Warehouse(tmp_path / "w.duckdb")
    ctx = SyncContext(user_id="u", columnar_page_size=10_000)
    with caplog.at_level(logging.INFO):
        summary = run_sync(SpotifyExportPlugin(), warehouse, "u", Credentials(file=file), log=LOG, ctx=ctx)
    assert "storing it again" in caplog.text
    assert (summary.error, summary.pages, summary.new) == (None, 3, 30_000)
    with warehouse.connect() as con:
        [(stored,)] = con.execute("SELECT count(*) FROM media_items").fetchall()
    assert stored == 30_000


def test_a_page_commits_under_the_connections_own_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A COMMIT that runs out of memory invalidates the whole database (DuckDB refuses
    every later statement until it is opened again), where a statement that runs out is
    only rolled back and stored again: 50,000 plays in one page under a 2 MiB limit
    (doubled to 32 MiB by the INSERTs that ran out) failed at their COMMIT before."""
    monkeypatch.setattr(columnar_pages, "STORE_MEMORY_LIMIT", 2 * 2**20)
    file = tmp_path / "Streaming_History_Audio_2024_0.json"
    file.write_text(json.dumps(extended_plays(50_000, seed=5)), encoding="utf-8")
    warehouse = Warehouse(tmp_path / "w.duckdb")
    ctx = SyncContext(user_id="u", columnar_page_size=50_000)
    summary = run_sync(SpotifyExportPlugin(), warehouse, "u", Credentials(file=file), log=LOG, ctx=ctx)
    assert (summary.error, summary.pages, summary.new) == (None, 1, 50_000)
    with warehouse.connect() as con:
        [(stored,)] = con.execute("SELECT count(*) FROM media_items").fetchall()
    assert stored == 50_000
