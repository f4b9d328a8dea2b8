"""The fields the metrics read from raw_metadata and universal_tags are kept parsed in
columns (warehouse/parsed_fields.py): every statement that writes a document sets them,
and a warehouse stored before they existed gets them on open."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb

from mca_pipeline.core import DedupPolicy, MediaItem
from mca_pipeline.warehouse import SyncAttempt, Warehouse, store_sync
from mca_pipeline.warehouse.enrichment import reset_enrichment, save_plugin_enrichment, save_universal_tags
from mca_pipeline_tests.conftest import warehouse_at_version

PARSED = (
    "SELECT external_id, series, skipped, time_unknown, genres, moods FROM media_items ORDER BY external_id"
)
US = "\x1f"  # between the names of a genres or moods text


def item(key: str, raw: dict[str, Any], media_type: str = "video") -> MediaItem:
    return MediaItem(
        platform="netflix",
        type=media_type,
        title=f"Title {key}",
        consumed_at=datetime(2024, 3, 1, 20, tzinfo=UTC),
        external_id=key,
        raw_metadata=raw,
    )


ITEMS = [
    item("a", {"series": "Dark", "skipped": True}),
    item("b", {"series": "", "skipped": "true"}),  # an empty series is none; a text is not a boolean
    item("c", {"consumed_at_unknown": True, "skipped": False}),
    item("d", {"series": 1899}),  # a number reads as its text, as ->> does
]


def store(con: duckdb.DuckDBPyConnection, items: list[MediaItem], policy: DedupPolicy) -> None:
    attempt = SyncAttempt("ada", "netflix", datetime(2024, 4, 1, tzinfo=UTC), "", "c", False)
    store_sync(con, attempt, items, policy)


def test_storing_sets_the_fields_and_an_update_rewrites_them(warehouse: Warehouse) -> None:
    with warehouse.connect() as con:
        store(con, ITEMS, DedupPolicy.SKIP)
        first = con.execute(PARSED).fetchall()
        store(
            con,
            [item("a", {"series": "Dark", "skipped": False}), item("c", {})],
            DedupPolicy.UPDATE_ON_CHANGE,
        )
        updated = con.execute(PARSED).fetchall()
    assert first == [
        ("a", "Dark", True, False, None, None),
        ("b", None, None, False, None, None),
        ("c", None, False, True, None, None),
        ("d", "1899", None, False, None, None),
    ]
    # c's newer record has a real time: it is no longer a stand-in.
    assert updated[0] == ("a", "Dark", False, False, None, None)
    assert updated[2] == ("c", None, None, False, None, None)


def test_enrichment_writes_and_resets_keep_the_fields_in_step(warehouse: Warehouse) -> None:
    with warehouse.connect() as con:
        store(con, ITEMS[:2], DedupPolicy.SKIP)
        save_plugin_enrichment(con, "ada", [item("b", {"series": "Lupin", "tmdb": {"id": 1}})], {})
        save_universal_tags(
            con,
            "ada",
            {("netflix", "a"): {"genre": ["thriller", "science fiction"], "mood": ["dark"], "topic": []}},
            {("netflix", "b"): "tagger down"},
        )
        tagged = con.execute(PARSED).fetchall()
        # A failure later keeps the tags a first run found, as the document does.
        save_universal_tags(con, "ada", {}, {("netflix", "a"): "tagger down"})
        kept = con.execute(PARSED).fetchall()
        reset_enrichment(con, "ada")
        reset = con.execute(PARSED).fetchall()
    assert tagged == [
        ("a", "Dark", True, False, f"thriller{US}science fiction", "dark"),
        ("b", "Lupin", None, False, None, None),
    ]
    assert kept == tagged
    assert reset == [("a", "Dark", True, False, None, None), ("b", "Lupin", None, False, None, None)]


def test_a_warehouse_stored_before_the_columns_gets_them_on_open(tmp_path: Path) -> None:
    path = tmp_path / "old.duckdb"
    con = warehouse_at_version(path, 12)
    con.execute(
        """INSERT INTO media_items (user_id, platform, external_id, media_type, title, raw_metadata,
               universal_tags, consumed_at, first_seen_at, updated_at)
        VALUES ('ada', 'netflix', 'a', 'video', 'A', '{"series": "Dark", "skipped": true}',
                '{"genre": ["thriller"], "mood": ["dark", "tense"]}', now(), now(), now()),
               ('ada', 'netflix', 'b', 'video', 'B', '{"consumed_at_unknown": true}',
                '{"genre": "not a list", "mood": []}', now(), now(), now()),
               ('ada', 'netflix', 'c', 'video', 'C', '[1, 2]', NULL, now(), now(), now())"""
    )
    con.close()
    with Warehouse(path).connect() as con:
        rows = con.execute(PARSED).fetchall()
    # Documents of another shape read as nothing rather than stopping the upgrade.
    assert rows == [
        ("a", "Dark", True, False, "thriller", f"dark{US}tense"),
        ("b", None, None, True, None, None),
        ("c", None, None, False, None, None),
    ]
