"""The bad-input policy, end to end: a record that cannot be read is skipped, counted and
located in the file's import report; a file is rejected whole only when too many of its
records fail, and then nothing from it is stored (rows that were there before stay)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from dagster import DagsterInstance

from mca_pipeline.core import (
    AuthType,
    Credentials,
    DedupPolicy,
    ErrorCode,
    FileImportPlugin,
    MediaItem,
    MediaType,
    PluginRegistry,
    SkippedRecord,
    SyncContext,
    SyncResult,
)
from mca_pipeline.warehouse import Warehouse
from mca_pipeline.warehouse.import_report import too_many_unreadable
from mca_pipeline.warehouse.sync_loop import run_sync
from mca_pipeline_tests.defs.dagster_env import Pipeline, log_messages, metadata

LOG = logging.getLogger("test")


class LinesPlugin(FileImportPlugin):
    """A file plugin over a text file of one record per line, paged `page_size` lines at
    a time: `play <n>` is a play, anything else cannot be read. Small enough that what the
    test asserts is the core's behaviour, not a parser's."""

    name = "lines"
    auth_type = AuthType.FILE_IMPORT
    auth_config = None
    dedup_policy = DedupPolicy.SKIP

    def __init__(self, page_size: int = 1000, explode_at: int | None = None) -> None:
        self.page_size = page_size
        self.explode_at = explode_at

    def recognizes(self, name: str, head: bytes) -> bool:
        return head.startswith(b"play ")

    def sync(self, ctx: SyncContext, creds: Credentials, cursor: str) -> SyncResult:
        assert creds.file is not None
        lines = Path(creds.file).read_text().splitlines()
        start = int(cursor or 0)
        items, skipped = [], []
        end = min(start + self.page_size, len(lines))
        for number in range(start, end):
            if number == self.explode_at:
                raise KeyError("a bug the plugin did not expect")
            text = lines[number]
            if text.startswith("play "):
                items.append(play(int(text.split()[1])))
            elif text == "ad":
                continue
            else:
                skipped.append(SkippedRecord(reason="not a play", line=number + 1, field="text", detail=text))
        ads = sum(1 for t in lines[start:end] if t == "ad")
        return SyncResult(
            items=items,
            skipped=skipped,
            left_out={"ad": ads} if ads else {},
            next_cursor=str(end),
            has_more=end < len(lines),
        )

    def enrich(self, ctx: SyncContext, creds: Credentials, items: list[MediaItem]) -> list[MediaItem]:
        return items


def play(n: int) -> MediaItem:
    return MediaItem(
        platform="lines",
        type=MediaType.MUSIC,
        title=f"Song {n}",
        creator="Band",
        consumed_at=datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=n),
        external_id=f"play-{n}",
    )


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def stored_ids(warehouse: Warehouse) -> set[str]:
    with warehouse.connect() as con:
        return {row[0] for row in con.execute("SELECT external_id FROM media_items").fetchall()}


@pytest.fixture
def warehouse(tmp_path: Path) -> Warehouse:
    return Warehouse(tmp_path / "warehouse.duckdb")


def test_a_bad_record_is_skipped_counted_and_located(tmp_path: Path, warehouse: Warehouse) -> None:
    f = write(tmp_path / "h.txt", [*(f"play {n}" for n in range(9)), "garbage", "ad"])
    summary = run_sync(LinesPlugin(), warehouse, "alice", Credentials(file=f), log=LOG, source=f.name)
    assert summary.error is None
    assert summary.new == 9
    assert summary.tally.unreadable == 1
    assert summary.tally.examples[0].line == 10
    assert summary.tally.left_out == {"ad": 1}
    with warehouse.connect() as con:
        assert con.execute("SELECT sum(unreadable_count) FROM sync_log").fetchall() == [(1,)]


def test_a_mostly_unreadable_file_is_rejected_and_its_earlier_pages_taken_back(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    before = write(tmp_path / "old.txt", ["play 0", "play 1"])
    run_sync(LinesPlugin(), warehouse, "alice", Credentials(file=before), log=LOG, source=before.name)
    # Page 1 (4 lines) is fine and stored; pages 2-3 are unreadable: 8 of 12 records fail.
    f = write(tmp_path / "h.txt", ["play 1", "play 2", "play 3", "play 4", *(["???"] * 8)])
    summary = run_sync(
        LinesPlugin(page_size=4), warehouse, "alice", Credentials(file=f), log=LOG, source=f.name
    )
    assert summary.error is not None and summary.error.code is ErrorCode.FILE_PARSE_ERROR
    assert "8 of 12 records could not be read" in summary.error.message
    assert summary.too_many_unreadable
    assert summary.discarded == 3  # plays 2-4 were new; play 1 was there before
    assert stored_ids(warehouse) == {"play-0", "play-1"}
    # Nothing resumes from the taken-back pages: a fixed file imports from the start.
    fixed = write(tmp_path / "h.txt", ["play 1", "play 2", "play 3", "play 4"])
    again = run_sync(LinesPlugin(page_size=4), warehouse, "alice", Credentials(file=fixed), log=LOG)
    assert again.error is None and again.new == 3


def test_an_interrupted_import_is_judged_and_taken_back_as_a_whole(
    tmp_path: Path, warehouse: Warehouse
) -> None:
    f = write(tmp_path / "h.txt", ["play 1", "play 2", "play 3", "bad", *(["???"] * 4)])
    plugin = LinesPlugin(page_size=4)
    first = run_sync(plugin, warehouse, "alice", Credentials(file=f), log=LOG, source=f.name, max_pages=1)
    assert first.error is None and first.has_more and first.new == 3  # the run stopped here
    resumed = run_sync(plugin, warehouse, "alice", Credentials(file=f), log=LOG, source=f.name)
    assert resumed.too_many_unreadable
    assert "5 of 8 records could not be read" in str(resumed.error)
    assert stored_ids(warehouse) == set()


def test_a_plugin_exception_becomes_a_rejected_file_not_a_crash(tmp_path: Path, warehouse: Warehouse) -> None:
    f = write(tmp_path / "h.txt", ["play 1", "play 2"])
    summary = run_sync(
        LinesPlugin(explode_at=1), warehouse, "alice", Credentials(file=f), log=LOG, source=f.name
    )
    assert summary.error is not None and summary.error.code is ErrorCode.FILE_PARSE_ERROR
    assert "KeyError" in summary.error.message


@pytest.mark.parametrize(
    ("readable", "unreadable", "rejected"),
    [
        (9, 1, False),
        (2, 1, False),
        (8, 2, False),
        (0, 1, True),
        (7, 3, True),
        (79, 21, True),
        (80, 20, False),
    ],
)
def test_the_rejection_threshold(readable: int, unreadable: int, rejected: bool) -> None:
    assert too_many_unreadable(readable, unreadable) is rejected


def test_the_import_report_beside_the_archived_file_and_the_metadata(tmp_path: Path) -> None:
    registry = PluginRegistry()
    registry.register(LinesPlugin())
    pipeline = Pipeline(tmp_path / "data", DagsterInstance.ephemeral(), registry=registry)
    lines = [*(f"play {n}" for n in range(20)), "bad one", "ad", "ad", "bad two"]
    (dropped,) = pipeline.drop("alice", "lines", write(tmp_path / "history.txt", lines))
    result = pipeline.materialize("alice", "lines")
    assert result.success
    meta = metadata(result, "lines")
    assert meta["new"] == 20
    assert meta["records_skipped"] == 2
    assert meta["records_left_out"] == 2
    assert "not a play: 2" in str(meta["skip_reasons"])
    assert "line 21" in str(meta["skip_examples"])
    archived = tmp_path / "data" / "archive" / "alice" / "lines" / "history.txt"
    report = archived.with_name("history.txt.report.txt").read_text()
    assert "Records skipped:         2" in report
    assert "  21\t-\ttext\tnot a play\tbad one" in report
    assert "  24\t-\ttext\tnot a play\tbad two" in report
    assert "ad: 2" in report
    assert any("skipped 2 that could not be read" in m for m in log_messages(pipeline.instance, result))
    assert not dropped.exists()


def test_a_rejected_file_has_a_report_and_stores_nothing(tmp_path: Path) -> None:
    registry = PluginRegistry()
    registry.register(LinesPlugin())
    pipeline = Pipeline(tmp_path / "data", DagsterInstance.ephemeral(), registry=registry)
    pipeline.drop("alice", "lines", write(tmp_path / "notes.txt", ["play 1", *(["a note"] * 5)]))
    result = pipeline.materialize("alice", "lines")
    assert not result.success
    rejected = tmp_path / "data" / "rejected" / "alice" / "lines"
    report = (rejected / "notes.txt.report.txt").read_text()
    assert "5 of 6 records could not be read" in report
    assert "Nothing from this file was stored" in report
    assert "kept" not in report
    assert pipeline.count("SELECT count(*) FROM media_items") == [(0,)]
    rows = pipeline.count("SELECT outcome, unreadable_count FROM sync_log")
    assert rows == [("failed", 5)]
