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
from pathlib import Path

import pytest

from mca_pipeline.warehouse.lake import LakeWarehouse, lake_ddl
from mca_pipeline_tests.conftest import warehouse_code

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
