"""A refresh draws again only the charts of years whose data changed; the others are
taken from beside their report (analysis/chart_cache.py)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mca_pipeline.analysis.insights import build_insights
from mca_pipeline.core import MediaItem
from mca_pipeline.warehouse import SyncAttempt, Warehouse, store_sync


def listen(when: str, artist: str, n: int) -> MediaItem:
    at = datetime.fromisoformat(when).replace(tzinfo=UTC)
    return MediaItem(
        platform="spotify_export",
        type="music",
        title=f"Song {n}",
        creator=artist,
        consumed_at=at,
        time_spent=timedelta(minutes=3),
        external_id=f"{when}|{n}",
    )


def store(warehouse: Warehouse, items: list[MediaItem]) -> None:
    with warehouse.connect() as con:
        store_sync(con, SyncAttempt("ada", "spotify_export", datetime.now(UTC), "", "c", False), items)


def kept(data_dir: Path, year: int) -> Path:
    return data_dir / "reports" / "ada" / f".{year}.charts.json"


def test_only_the_changed_years_charts_are_drawn_again(warehouse: Warehouse, tmp_path: Path) -> None:
    store(
        warehouse, [listen("2021-05-01T10:00", "Marla Venn", 1), listen("2022-05-01T10:00", "Marla Venn", 2)]
    )
    first = {i.data.year: i for i in build_insights(warehouse, tmp_path, "ada", [2021, 2022])}
    before = {
        year: (kept(tmp_path, year).stat().st_mtime_ns, kept(tmp_path, year).read_text()) for year in first
    }

    # A new artist in 2022 only, played more than the old one.
    store(warehouse, [listen(f"2022-06-0{n}T10:00", "Odo Kline", 10 + n) for n in range(1, 4)])
    second = {i.data.year: i for i in build_insights(warehouse, tmp_path, "ada", [2021, 2022])}

    assert (kept(tmp_path, 2021).stat().st_mtime_ns, kept(tmp_path, 2021).read_text()) == before[2021]
    assert second[2021].charts == first[2021].charts
    assert kept(tmp_path, 2022).read_text() != before[2022][1]
    assert second[2022].charts["top_creators"] != first[2022].charts["top_creators"]
    # What is kept is what the page shows.
    saved = json.loads(kept(tmp_path, 2022).read_text())
    assert set(saved["charts"]) == set(second[2022].charts)
    assert second[2022].data.top_creators[0][0] == "Odo Kline"


def test_charts_kept_unreadable_are_drawn_again(warehouse: Warehouse, tmp_path: Path) -> None:
    store(warehouse, [listen("2021-05-01T10:00", "Marla Venn", 1)])
    [first] = build_insights(warehouse, tmp_path, "ada", [2021])
    for damage in ("not json", json.dumps({"fingerprint": "x", "charts": {}}), json.dumps([1, 2])):
        kept(tmp_path, 2021).write_text(damage)
        [again] = build_insights(warehouse, tmp_path, "ada", [2021])
        assert set(again.charts) == set(first.charts)
        assert all(png.startswith(b"\x89PNG") for png in again.charts.values())
        assert json.loads(kept(tmp_path, 2021).read_text())["fingerprint"] != "x"
