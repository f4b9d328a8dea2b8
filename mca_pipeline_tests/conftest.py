"""Shared test helpers: a real DuckDB warehouse in tmp_path and media items to store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from mca_pipeline.core import MediaItem, SourcePlugin, SyncResult
from mca_pipeline.warehouse import Warehouse
from mca_pipeline.warehouse.schema import MIGRATIONS

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "warehouse.duckdb")


def warehouse_at_version(path: Path, version: int) -> duckdb.DuckDBPyConnection:
    """A warehouse file as a release at schema `version` left it (the caller stores rows
    in it, then closes it); opening it with Warehouse then runs the later migrations."""
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)")
    for number, sql in enumerate(MIGRATIONS[:version], start=1):
        con.execute(sql)
        con.execute("INSERT INTO schema_version VALUES (?, now())", [number])
    return con


def play(n: int, *, platform: str = "spotify_export", album: str = "Night Lines") -> MediaItem:
    """The n-th play of a made-up listening history, one every four minutes."""
    start = datetime(2024, 3, 1, tzinfo=UTC) + timedelta(minutes=4 * n)
    return MediaItem(
        platform=platform,
        type="music",
        title=f"Track {n}",
        creator="Marla Venn",
        consumed_at=start,
        time_spent=timedelta(seconds=200),
        external_id=f"{start:%Y-%m-%dT%H:%M:%SZ}|spotify:track:{n:022d}|200000",
        raw_metadata={"album": album, "n": n},
    )


@pytest.fixture
def pipeline(tmp_path: Path):  # type: ignore[no-untyped-def]
    """A temporary Dagster instance and data folder (inbox, archive, warehouse)."""
    from dagster import instance_for_test

    from mca_pipeline_tests.defs.dagster_env import Pipeline

    home = tmp_path / "dagster_home"
    home.mkdir()
    with instance_for_test(temp_dir=str(home)) as instance:
        yield Pipeline(tmp_path / "data", instance)


def all_pages(plugin: SourcePlugin, path: Path, page_size: int) -> list[SyncResult]:
    """Every page of a file import, following the cursor until has_more is False."""
    from mca_pipeline.core import Credentials, SyncContext

    pages, cursor = [], ""
    for _ in range(50):
        page = plugin.sync(SyncContext(user_id="alice", page_size=page_size), Credentials(file=path), cursor)
        assert page.err is None, page.err
        assert page.next_cursor
        pages.append(page)
        if not page.has_more:
            return pages
        cursor = page.next_cursor
    raise AssertionError("paging never ended")
