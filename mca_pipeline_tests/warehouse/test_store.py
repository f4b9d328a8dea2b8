"""store_sync: set-based dedup, update-on-change, and one transaction for everything."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from datetime import UTC, datetime

import pytest

from mca_pipeline.core import DedupPolicy, ErrorCode, PluginError
from mca_pipeline.warehouse import SyncAttempt, Warehouse, last_cursor, platform_totals, store_sync
from mca_pipeline.warehouse import store as store_module
from mca_pipeline.warehouse.queries import resume_cursor
from mca_pipeline_tests.conftest import play, warehouse_code


def attempt(cursor_in: str = "", cursor_out: str = "c1", **kw: object) -> SyncAttempt:
    fields: dict = {  # type: ignore[type-arg]
        "user_id": "alice",
        "platform": "spotify_export",
        "started_at": datetime(2024, 6, 1, tzinfo=UTC),
        "cursor_in": cursor_in,
        "cursor_out": cursor_out,
        "has_more": False,
    }
    fields.update(kw)
    return SyncAttempt(**fields)


def rows(warehouse: Warehouse, sql: str) -> list[tuple]:  # type: ignore[type-arg]
    with warehouse.connect() as con:
        return con.execute(sql).fetchall()


def test_first_import_stores_everything_pending(warehouse: Warehouse) -> None:
    with warehouse.connect() as con:
        counts = store_sync(con, attempt(), [play(i) for i in range(100)])
    assert (counts.received, counts.new, counts.updated, counts.skipped) == (100, 100, 0, 0)
    assert rows(warehouse, "SELECT count(*), count(DISTINCT status), min(status) FROM media_items") == [
        (100, 1, "pending")
    ]
    assert rows(warehouse, "SELECT user_id FROM users") == [("alice",)]
    stored = rows(
        warehouse, "SELECT title, creator, time_spent_s, raw_metadata FROM media_items WHERE title='Track 7'"
    )
    assert stored[0][:3] == ("Track 7", "Marla Venn", 200.0)
    assert json.loads(stored[0][3]) == {"album": "Night Lines", "n": 7}


def test_reimporting_the_same_export_adds_nothing(warehouse: Warehouse) -> None:
    items = [play(i) for i in range(50)]
    with warehouse.connect() as con:
        store_sync(con, attempt(), items)
        again = store_sync(con, attempt(cursor_out="c2"), items)
    assert (again.new, again.updated, again.skipped) == (0, 0, 50)
    assert rows(warehouse, "SELECT count(*) FROM media_items") == [(50,)]


def test_overlapping_newer_export_adds_only_new_plays(warehouse: Warehouse) -> None:
    with warehouse.connect() as con:
        store_sync(con, attempt(), [play(i) for i in range(0, 60)])
        newer = store_sync(con, attempt(), [play(i) for i in range(40, 90)])
    assert (newer.new, newer.skipped) == (30, 20)
    assert rows(warehouse, "SELECT count(*), count(DISTINCT external_id) FROM media_items") == [(90, 90)]


def test_duplicates_inside_one_batch_are_stored_once(warehouse: Warehouse) -> None:
    batch = [play(1), play(2), play(1), play(3), play(2)]
    with warehouse.connect() as con:
        counts = store_sync(con, attempt(), batch)
    assert (counts.received, counts.new, counts.skipped) == (5, 3, 2)
    assert rows(warehouse, "SELECT count(*) FROM media_items") == [(3,)]


ODD_IDS = ["Zebra", "apple", "Äpfel", "éclair", "日本|1", "\U0001f3b5 song", "a b", "A", "z", "~"]


def test_a_page_finds_its_stored_items_whatever_their_ids_sort_like(warehouse: Warehouse) -> None:
    """Only the stored ids between a page's least and greatest are looked at: ids in
    upper and lower case, accented, in other scripts and emoji must all be found."""
    items = [play(i).model_copy(update={"external_id": e}) for i, e in enumerate(ODD_IDS)]
    with warehouse.connect() as con:
        store_sync(con, attempt(), items)
        again = store_sync(con, attempt(cursor_out="c2"), list(reversed(items)))
        for item in items:
            alone = store_sync(con, attempt(cursor_out="c3"), [item])
            assert (alone.new, alone.skipped) == (0, 1), item.external_id
        changed = [item.model_copy(update={"title": item.title + " (Live)"}) for item in items[::3]]
        update = store_sync(con, attempt(cursor_out="c4"), changed, DedupPolicy.UPDATE_ON_CHANGE)
    assert (again.new, again.skipped) == (0, len(ODD_IDS))
    assert (update.new, update.updated) == (0, len(changed))
    assert rows(warehouse, "SELECT count(*) FROM media_items WHERE title LIKE '% (Live)'") == [
        (len(changed),)
    ]


def test_same_external_id_for_other_users_and_platforms_are_separate_items(warehouse: Warehouse) -> None:
    with warehouse.connect() as con:
        store_sync(con, attempt(), [play(1)])
        store_sync(con, attempt(user_id="bob"), [play(1)])
        store_sync(con, attempt(platform="spotify"), [play(1, platform="spotify")])
    assert rows(warehouse, "SELECT count(*) FROM media_items") == [(3,)]


def test_skip_policy_keeps_the_first_version(warehouse: Warehouse) -> None:
    with warehouse.connect() as con:
        store_sync(con, attempt(), [play(1, album="Night Lines")])
        counts = store_sync(con, attempt(), [play(1, album="Night Lines (Deluxe)")], DedupPolicy.SKIP)
    assert (counts.new, counts.updated, counts.skipped) == (0, 0, 1)
    assert rows(warehouse, "SELECT raw_metadata->>'album' FROM media_items") == [("Night Lines",)]


def test_update_policy_rewrites_changed_items_only_and_marks_them_pending(warehouse: Warehouse) -> None:
    with warehouse.connect() as con:
        store_sync(con, attempt(), [play(1), play(2), play(3)])
        con.execute("UPDATE media_items SET status = 'enriched'")
        batch = [play(1, album="Night Lines (Deluxe)"), play(2), play(4)]
        counts = store_sync(con, attempt(), batch, DedupPolicy.UPDATE_ON_CHANGE)
    assert (counts.new, counts.updated, counts.skipped) == (1, 1, 1)
    assert rows(
        warehouse, "SELECT title, status, raw_metadata->>'album' FROM media_items ORDER BY title"
    ) == [
        ("Track 1", "pending", "Night Lines (Deluxe)"),
        ("Track 2", "enriched", "Night Lines"),
        ("Track 3", "enriched", "Night Lines"),
        ("Track 4", "pending", "Night Lines"),
    ]
    first_seen, updated = rows(
        warehouse, "SELECT first_seen_at, updated_at FROM media_items WHERE title='Track 1'"
    )[0]
    assert updated > first_seen


def test_sync_log_records_each_attempt_with_counts_and_cursor(warehouse: Warehouse) -> None:
    err = PluginError(code=ErrorCode.FILE_PARSE_ERROR, message="x.json, line 9: invalid JSON", raw="{bad")
    with warehouse.connect() as con:
        store_sync(con, attempt("", "c1", source="a.json", run_id="r1"), [play(1), play(2)])
        store_sync(con, attempt("c1", "c2", has_more=True, error=err), [play(3)])
        store_sync(con, attempt("c2", "c2", error=err), [])
        assert last_cursor(con, "alice", "spotify_export") == "c2"
    logged = rows(
        warehouse,
        "SELECT cursor_in, cursor_out, new_count, skipped_count, outcome, error_code, error_raw, source "
        "FROM sync_log ORDER BY id",
    )
    assert logged == [
        ("", "c1", 2, 0, "success", None, None, "a.json"),
        ("c1", "c2", 1, 0, "partial", "file_parse_error", "{bad", None),
        ("c2", "c2", 0, 0, "failed", "file_parse_error", "{bad", None),
    ]


def test_resume_cursor_only_replays_unfinished_file_imports(warehouse: Warehouse) -> None:
    with warehouse.connect() as con:
        assert resume_cursor(con, "alice", "spotify_export", only_unfinished=True) == ""
        store_sync(con, attempt("", "page-1", has_more=True), [play(1)])
        assert resume_cursor(con, "alice", "spotify_export", only_unfinished=True) == "page-1"
        store_sync(con, attempt("page-1", "end"), [play(2)])
        assert resume_cursor(con, "alice", "spotify_export", only_unfinished=True) == ""
        assert resume_cursor(con, "alice", "spotify_export", only_unfinished=False) == "end"


def test_a_failure_mid_store_leaves_the_warehouse_exactly_as_before(
    warehouse: Warehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    with warehouse.connect() as con:
        store_sync(con, attempt("", "c1"), [play(i) for i in range(10)])
    before = rows(warehouse, "SELECT * FROM media_items ORDER BY external_id")

    def fail_after_items_are_written(*args: object, **kwargs: object) -> int:
        raise RuntimeError("disk full while writing sync_log")

    monkeypatch.setattr(store_module, "_insert_sync_log", fail_after_items_are_written)
    with pytest.raises(RuntimeError, match="disk full"), warehouse.connect() as con:
        store_sync(con, attempt("c1", "c2"), [play(i) for i in range(5, 20)], DedupPolicy.UPDATE_ON_CHANGE)
    monkeypatch.undo()
    assert rows(warehouse, "SELECT * FROM media_items ORDER BY external_id") == before
    assert rows(warehouse, "SELECT cursor_out FROM sync_log") == [("c1",)]


def test_a_process_killed_mid_store_leaves_nothing_partial(warehouse: Warehouse) -> None:
    with warehouse.connect() as con:
        store_sync(con, attempt("", "c1"), [play(i) for i in range(10)])
    script = textwrap.dedent(
        f"""
        import os
        from mca_pipeline.warehouse import Warehouse, store_sync
        from mca_pipeline.warehouse import store
        from mca_pipeline.warehouse.lake import LakeWarehouse
        from mca_pipeline_tests.conftest import play, warehouse_code
        from mca_pipeline_tests.warehouse.test_store import attempt
        store._insert_sync_log = lambda *a, **k: os._exit(9)  # the process dies after the items insert
        with {warehouse_code(warehouse)}.connect() as con:
            store_sync(con, attempt("c1", "c2"), [play(i) for i in range(10, 5000)])
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 9, done.stderr[-2000:]
    assert rows(warehouse, "SELECT count(*) FROM media_items") == [(10,)]
    assert rows(warehouse, "SELECT cursor_out FROM sync_log") == [("c1",)]


def test_platform_totals_sum_time_per_platform_and_type(warehouse: Warehouse) -> None:
    with warehouse.connect() as con:
        store_sync(con, attempt(), [play(i) for i in range(18)])
        totals = platform_totals(con, "alice")
    assert [(t.platform, t.media_type, t.items, t.hours) for t in totals] == [
        ("spotify_export", "music", 18, 1.0)
    ]
