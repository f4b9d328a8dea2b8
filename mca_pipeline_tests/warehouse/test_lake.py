"""A DuckLake warehouse written by several processes at once, as several hosts would:
nothing lost, nothing stored twice, every sync_log row matching what it stored.

A lake has no primary key, and two transactions that insert the same row do not conflict
there, so without the advisory lock of a user's platform (warehouse/lake.py) two writers
of the same user would each store the plays the other is storing.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from mca_pipeline.defs.lake_upkeep import lake_upkeep_job
from mca_pipeline.defs.resources import WarehouseResource
from mca_pipeline.warehouse import SyncAttempt, store_sync
from mca_pipeline.warehouse.lake import LakeWarehouse, lake_ddl, lake_name, upkeep
from mca_pipeline.warehouse.results import changed
from mca_pipeline.warehouse.transactions import LOST_COMMIT, retried, transaction
from mca_pipeline_tests.auth.test_connect_in_browser import free_port
from mca_pipeline_tests.conftest import lake_catalog, play, warehouse_code

ROOT = Path(__file__).resolve().parents[2]
PAGES, PAGE, STEP = 6, 60, 40  # pages of 60 plays, each starting 40 after the one before

WRITER = textwrap.dedent(
    """
    import sys
    from datetime import UTC, datetime
    from mca_pipeline.warehouse import Warehouse, store_sync, SyncAttempt
    from mca_pipeline.warehouse.lake import LakeWarehouse
    from mca_pipeline_tests.conftest import play

    warehouse = {warehouse}
    user, first = sys.argv[1], int(sys.argv[2])
    sys.stdin.readline()  # every writer starts at the same signal
    for page in range({pages}):
        start = first + page * {step}
        with warehouse.connect() as con:
            attempt = SyncAttempt(user, "spotify_export", datetime.now(UTC), "", f"{{user}}-{{first}}-{{page}}", False)
            store_sync(con, attempt, [play(n) for n in range(start, start + {page_size})])
    """
)


@pytest.mark.lake
def test_writers_of_the_same_and_other_users_at_once_lose_and_double_nothing(
    lake: LakeWarehouse,
) -> None:
    warehouse = lake
    with warehouse.connect():
        pass  # migrated before the writers start
    script = WRITER.format(warehouse=warehouse_code(warehouse), pages=PAGES, step=STEP, page_size=PAGE)
    # alice from two processes, overlapping: plays 0-259 and 20-279; bob from a third.
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", script, user, str(first)],
            stdin=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        for user, first in (("alice", 0), ("alice", 20), ("bob", 0))
    ]
    for writer in writers:
        assert writer.stdin is not None
        writer.stdin.write("go\n")
        writer.stdin.flush()
    for writer in writers:
        _, errors = writer.communicate(timeout=600)
        assert writer.returncode == 0, errors[-3000:]

    last = (PAGES - 1) * STEP + PAGE  # 260
    with warehouse.connect() as con:
        stored = dict(
            con.execute(
                """
                SELECT user_id, [count(*), count(DISTINCT external_id)] FROM media_items GROUP BY user_id
                """
            ).fetchall()
        )
        logged = dict(
            con.execute(
                """
                SELECT user_id, [count(*), sum(new_count), sum(new_count + skipped_count), count(DISTINCT id)]
                FROM sync_log GROUP BY user_id
                """
            ).fetchall()
        )
        tagged = con.execute(
            "SELECT count(*) FROM media_items m JOIN sync_log l ON l.id = m.sync_log_id AND l.user_id = m.user_id"
        ).fetchall()
    assert stored == {"alice": [last + 20, last + 20], "bob": [last, last]}
    # 12 pages of alice store her 280 plays once; the 2 x 6 x 60 plays received are
    # each new or skipped; bob's 6 pages his 260.
    assert logged == {"alice": [12, 280, 720, 12], "bob": [6, 260, 360, 6]}
    assert tagged == [(540,)]  # every stored play names the sync_log row that stored it


def test_a_lake_runs_the_schema_without_what_it_lacks() -> None:
    """Keys, unique and check constraints, list defaults and sequences are left out; the
    rest of each statement stays as written."""
    ddl = lake_ddl(
        """
        CREATE SEQUENCE sync_log_id;
        CREATE TABLE t (
            id BIGINT PRIMARY KEY DEFAULT nextval('sync_log_id'),
            kind VARCHAR NOT NULL CHECK (kind IN ('a', 'b')),
            token VARCHAR NOT NULL UNIQUE,
            tags VARCHAR[] NOT NULL DEFAULT [],
            tz VARCHAR NOT NULL DEFAULT 'UTC',
            PRIMARY KEY (id, kind)
        );
        """
    )
    assert " ".join(ddl.split()) == (
        "CREATE TABLE t ( id BIGINT, kind VARCHAR NOT NULL, token VARCHAR NOT NULL, "
        "tags VARCHAR[] NOT NULL, tz VARCHAR NOT NULL DEFAULT 'UTC' );"
    )


@pytest.mark.lake
def test_a_unit_that_loses_its_commit_to_another_host_runs_again(lake: LakeWarehouse) -> None:
    """DuckLake lets only one of two transactions that change a table (an update beside an
    insert) commit. The loser fails with the lost-commit error itself (not a ROLLBACK's
    "no transaction is active"), and a `retried` unit runs again on the newer snapshot."""
    with lake.connect() as con:
        store_sync(
            con, SyncAttempt("ada", "spotify_export", datetime.now(UTC), "", "c", False), [play(0), play(1)]
        )
    attempts: list[int] = []
    bob_plays = iter(range(5, 100, 10))

    def fail_items(con: duckdb.DuckDBPyConnection) -> int:
        attempts.append(1)
        with transaction(con):
            n = changed(con.execute("UPDATE media_items SET status = 'failed' WHERE user_id = 'ada'"))
            if len(attempts) == 1:  # another host stores bob's plays meanwhile, and commits first
                with lake.connect() as other:
                    store_sync(
                        other,
                        SyncAttempt("bob", "spotify_export", datetime.now(UTC), "", "c", False),
                        [play(next(bob_plays))],
                    )
        return n

    with lake.connect() as con, pytest.raises(duckdb.TransactionException, match=LOST_COMMIT):
        fail_items(con)
    attempts.clear()
    with lake.connect() as con:
        assert retried(fail_items)(con) == 2
        assert len(attempts) == 2
        assert con.execute(
            "SELECT user_id, status, count(*) FROM media_items GROUP BY ALL ORDER BY 1"
        ).fetchall() == [
            ("ada", "failed", 2),
            ("bob", "pending", 2),
        ]


def small_syncs(lake: LakeWarehouse, rounds: int, plays: int) -> None:
    """`rounds` units of work, each storing `plays` new plays for ada and for bob."""
    for n in range(rounds):
        with lake.connect() as con:
            for user in ("ada", "bob"):
                attempt = SyncAttempt(user, "spotify_export", datetime.now(UTC), "", f"c{n}", False)
                store_sync(con, attempt, [play(10 * n + i) for i in range(plays)])


@pytest.mark.lake
def test_the_upkeep_job_writes_each_users_files_and_forgets_old_snapshots(
    lake: LakeWarehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Small syncs leave their rows in the catalog and a snapshot each; the lake_upkeep
    job (run by Dagster, as its schedule would) writes them to files of each user's own
    partition and expires the snapshots, and every play is still there once."""
    small_syncs(lake, rounds=6, plays=5)
    with lake.connect() as con:
        before = con.execute(f"SELECT count(*) FROM ducklake_snapshots('{lake_name(con)}')").fetchall()[0][0]
        assert con.execute(
            f"SELECT count(*) FROM ducklake_list_files('{lake_name(con)}', 'media_items')"
        ).fetchall() == [(0,)]
    monkeypatch.setenv("MCA_WAREHOUSE_DATA_PATH", lake.data_path)
    monkeypatch.setenv("MCA_LAKE_KEEP_DAYS", "0")
    result = lake_upkeep_job.execute_in_process(resources={"warehouse": WarehouseResource(path=lake.catalog)})
    assert result.success
    with lake.connect() as con:
        files = [
            f
            for (f,) in con.execute(
                f"SELECT data_file FROM ducklake_list_files('{lake_name(con)}', 'media_items')"
            ).fetchall()
        ]
        after = con.execute(f"SELECT count(*) FROM ducklake_snapshots('{lake_name(con)}')").fetchall()[0][0]
        stored = con.execute(
            "SELECT user_id, count(*), count(DISTINCT external_id) FROM media_items GROUP BY 1 ORDER BY 1"
        ).fetchall()
    assert sorted({Path(f).parent.name for f in files}) == ["user_id=ada", "user_id=bob"]
    assert before > 12 and after < before
    assert stored == [("ada", 30, 30), ("bob", 30, 30)]


@pytest.mark.lake
def test_a_lake_whose_data_path_is_in_object_storage(
    lake_template: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The data path an s3:// URL (an S3 server on 127.0.0.1, moto's): plays stored, written
    out to each user's objects by the upkeep, and read back by another process's view."""
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        for name, value in {
            "AWS_ACCESS_KEY_ID": "test-key",
            "AWS_SECRET_ACCESS_KEY": "test-secret",
            "AWS_REGION": "us-east-1",
            "MCA_LAKE_S3_ENDPOINT": f"127.0.0.1:{port}",
            "MCA_LAKE_S3_URL_STYLE": "path",
            "MCA_LAKE_S3_USE_SSL": "false",
        }.items():
            monkeypatch.setenv(name, value)
        s3 = boto3.client("s3", endpoint_url=f"http://127.0.0.1:{port}", region_name="us-east-1")
        s3.create_bucket(Bucket="mca")
        with lake_catalog(lake_template, "s3://mca/lake/") as catalog:
            lake = LakeWarehouse(catalog, "s3://mca/lake")
            small_syncs(lake, rounds=3, plays=4)
            with lake.connect() as con:
                upkeep(con, keep_days=7)
            lake.close()
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket="mca", Prefix="lake/").get("Contents", [])]
            again = LakeWarehouse(catalog, "s3://mca/lake/")
            with again.connect() as con:
                stored = con.execute(
                    "SELECT user_id, count(*) FROM media_items GROUP BY 1 ORDER BY 1"
                ).fetchall()
            again.close()
        users = {Path(k).parent.name for k in keys if "/media_items/" in k and k.endswith(".parquet")}
        assert users == {"user_id=ada", "user_id=bob"}
        assert stored == [("ada", 12), ("bob", 12)]
    finally:
        server.stop()
