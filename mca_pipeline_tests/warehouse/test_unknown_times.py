"""Rows whose time is a flagged stand-in (an old Instapaper export has no save times):
stored, never replacing a known time, and left out of dated metrics."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from mca_pipeline.core import Credentials, DedupPolicy, MediaItem, SyncContext
from mca_pipeline.plugins.instapaper import InstapaperPlugin
from mca_pipeline.warehouse import SyncAttempt, Warehouse, store_sync
from mca_pipeline.warehouse.metrics import active_years, compute_metrics

OLD_HEADER = "URL,Title,Selection,Folder\n"
NEW_HEADER = "URL,Title,Selection,Folder,Timestamp\n"


def read(tmp_path: Path, name: str, text: str) -> list[MediaItem]:
    path = tmp_path / name
    path.write_text(text)
    result = InstapaperPlugin().sync(SyncContext(user_id="ada"), Credentials(file=path), "")
    assert result.err is None and not result.skipped
    return result.items


def store(warehouse: Warehouse, items: list[MediaItem]) -> None:
    with warehouse.connect() as con:
        attempt = SyncAttempt("ada", "instapaper", datetime(2024, 5, 1, tzinfo=UTC), "", "c", False)
        store_sync(con, attempt, items, DedupPolicy.UPDATE_ON_CHANGE)


def stored(warehouse: Warehouse) -> dict[str, tuple[datetime, str]]:
    with warehouse.connect() as con:
        rows = con.execute(
            "SELECT external_id, consumed_at, raw_metadata ->> 'folder' FROM media_items"
        ).fetchall()
    return {r[0]: (r[1], r[2]) for r in rows}


def test_an_old_export_never_replaces_a_known_save_time(warehouse: Warehouse, tmp_path: Path) -> None:
    store(warehouse, read(tmp_path, "new.csv", NEW_HEADER + "https://example.com/a,A,,Unread,1692762914\n"))
    store(warehouse, read(tmp_path, "old.csv", OLD_HEADER + "https://example.com/a,A,,Archive\n"))

    when, folder = stored(warehouse)["https://example.com/a"]
    assert when == datetime.fromtimestamp(1692762914, UTC)
    assert folder == "Unread"


def test_a_later_export_with_timestamps_gives_an_old_article_its_real_time(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    store(warehouse, read(tmp_path, "old.csv", OLD_HEADER + "https://example.com/a,A,,Unread\n"))
    store(warehouse, read(tmp_path, "new.csv", NEW_HEADER + "https://example.com/a,A,,Archive,1692762914\n"))

    assert stored(warehouse)["https://example.com/a"] == (datetime.fromtimestamp(1692762914, UTC), "Archive")


def test_articles_without_a_save_time_are_left_out_of_dated_metrics(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    store(warehouse, read(tmp_path, "new.csv", NEW_HEADER + "https://example.com/a,A,,Unread,1692762914\n"))
    store(warehouse, read(tmp_path, "old.csv", OLD_HEADER + "https://example.com/b,B,,Unread\n"))

    with warehouse.connect() as con:
        years = active_years(con, "ada")
        totals = compute_metrics(con, "ada", None).totals

    assert years == [2023]
    assert [(t.platform, t.plays) for t in totals] == [("instapaper", 1)]
    assert set(stored(warehouse)) == {"https://example.com/a", "https://example.com/b"}
