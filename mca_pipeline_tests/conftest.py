"""Shared test helpers: a real warehouse (a DuckDB file in tmp_path, and a DuckLake) and
media items to store."""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest

from mca_pipeline.core import MediaItem, SourcePlugin, SyncResult
from mca_pipeline.warehouse import Warehouse
from mca_pipeline.warehouse.extensions import ExtensionMissingError, packaged_file
from mca_pipeline.warehouse.lake import LakeWarehouse
from mca_pipeline.warehouse.schema import MIGRATIONS
from mca_pipeline_tests.postgres import fresh_database

FIXTURES = Path(__file__).resolve().parent / "fixtures"


@pytest.fixture(scope="session")
def lake_template(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated, empty lake catalog, copied for each lake test: migrating a new lake
    takes over a second, copying a database a tenth of that. Yields the database's name."""
    with fresh_database() as url:
        lake = LakeWarehouse(f"ducklake:postgres:{url}", str(tmp_path_factory.mktemp("lake-template")))
        with lake.connect():
            pass
        lake.close()  # a database with connections cannot be copied
        yield url.rsplit("/", 1)[1]


def _lake_ready() -> bool:
    try:
        packaged_file("ducklake")
        packaged_file("postgres_scanner")
    except ExtensionMissingError:
        return False
    return True


#: The DuckLake extensions are there for this DuckDB (the [lake] extra is installed).
LAKE_READY = _lake_ready()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without the [lake] extra, the lake tests are left out of this run, and the summary
    says where they run: the README's test command runs them in .venv-lake."""
    if LAKE_READY:
        return
    lake = [item for item in items if item.get_closest_marker("lake")]
    if lake:
        config.hook.pytest_deselected(items=lake)
        items[:] = [item for item in items if not item.get_closest_marker("lake")]
        config.stash[_LAKE_LEFT_OUT] = len(lake)


_LAKE_LEFT_OUT = pytest.StashKey[int]()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    if left_out := config.stash.get(_LAKE_LEFT_OUT, 0):
        terminalreporter.write_line(
            f"{left_out} lake tests left out: this DuckDB has no DuckLake extension package; "
            "they run with the [lake] extra (.venv-lake in the README's test command)"
        )


@contextlib.contextmanager
def lake_catalog(template: str, data_path: str) -> Iterator[str]:
    """A catalog copied from the migrated template, its data path set to `data_path`;
    yields the lake's `ducklake:postgres:` catalog string."""
    import psycopg2

    with fresh_database(template=template) as url:
        with psycopg2.connect(url) as catalog, catalog.cursor() as cur:
            cur.execute("UPDATE ducklake_metadata SET value = %s WHERE key = 'data_path'", [data_path])
        catalog.close()
        yield f"ducklake:postgres:{url}"


@pytest.fixture
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LakeWarehouse]:
    """A DuckLake warehouse whose catalog is a PostgreSQL database of its own (a copy of
    the migrated template) and whose data path is in tmp_path."""
    data = f"{tmp_path / 'lake'}/"
    with lake_catalog(request.getfixturevalue("lake_template"), data) as catalog:
        warehouse = LakeWarehouse(catalog, data)
        yield warehouse
        warehouse.close()


@pytest.fixture(params=["file", pytest.param("lake", marks=pytest.mark.lake)])
def warehouse(request: pytest.FixtureRequest, tmp_path: Path) -> Warehouse:
    """The warehouse in each backend: a DuckDB file in tmp_path, and a DuckLake."""
    if request.param == "file":
        return Warehouse(tmp_path / "warehouse.duckdb")
    lake: LakeWarehouse = request.getfixturevalue("lake")
    return lake


def reopened(warehouse: Warehouse) -> Warehouse:
    """A new Warehouse object on the same data (as another process would open it)."""
    if isinstance(warehouse, LakeWarehouse):
        return LakeWarehouse(warehouse.catalog, warehouse.data_path)
    return Warehouse(warehouse.path)


def warehouse_code(warehouse: Warehouse) -> str:
    """Python that opens the same warehouse in another process (with Warehouse and
    LakeWarehouse imported)."""
    if isinstance(warehouse, LakeWarehouse):
        return f"LakeWarehouse({warehouse.catalog!r}, {warehouse.data_path!r})"
    return f"Warehouse({str(warehouse.path)!r})"


def stored_bytes(warehouse: Warehouse) -> bytes:
    """Everything the warehouse keeps at rest: the file and its WAL; for a lake, the
    catalog database (pg_dump) and every file under the data path."""
    if isinstance(warehouse, LakeWarehouse):
        dump = subprocess.run(
            ["pg_dump", warehouse.catalog.removeprefix("ducklake:postgres:")], capture_output=True, check=True
        ).stdout
        return dump + b"".join(p.read_bytes() for p in Path(warehouse.data_path).rglob("*") if p.is_file())
    wal = warehouse.path.with_suffix(".duckdb.wal")
    return warehouse.path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


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
