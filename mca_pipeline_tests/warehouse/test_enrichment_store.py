"""What an enrichment found is stored: a length for an item that had none (the metrics
estimate a viewing's time from it), never over a length the source gave."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mca_pipeline.core import MediaItem
from mca_pipeline.warehouse import SyncAttempt, Warehouse, store_sync
from mca_pipeline.warehouse.enrichment import save_plugin_enrichment
from mca_pipeline.warehouse.metrics import compute_metrics


def viewing(key: str, duration: float | None = None) -> MediaItem:
    return MediaItem(
        platform="netflix",
        type="video",
        title=f"Film {key}",
        consumed_at=datetime(2024, 3, 1, 20, tzinfo=UTC),
        duration=timedelta(seconds=duration) if duration is not None else None,
        external_id=key,
    )


def test_an_enriched_length_is_stored_only_where_none_was(warehouse: Warehouse) -> None:
    with warehouse.connect() as con:
        store_sync(
            con,
            SyncAttempt("ada", "netflix", datetime(2024, 4, 1, tzinfo=UTC), "", "c", False),
            [viewing("a"), viewing("b", 3000)],
        )
        save_plugin_enrichment(con, "ada", [viewing("a", 6120), viewing("b", 6120)], {})
        stored = dict(con.execute("SELECT external_id, duration_s FROM media_items").fetchall())
        totals = compute_metrics(con, "ada").totals
    assert stored == {"a": 6120.0, "b": 3000.0}
    # Neither has a time spent: both estimated, from the lengths now known.
    assert [(t.plays, round(t.hours * 3600), round(t.estimated_hours * 3600)) for t in totals] == [
        (2, 9120, 9120)
    ]
