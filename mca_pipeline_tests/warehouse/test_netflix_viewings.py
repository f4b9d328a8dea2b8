"""Both Netflix export kinds for the same viewing count once in analysis; both rows stay."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from mca_pipeline.core import Credentials, MediaItem, SyncContext
from mca_pipeline.plugins.netflix import NetflixPlugin
from mca_pipeline.warehouse import SyncAttempt, Warehouse, store_sync
from mca_pipeline.warehouse.metrics import compute_metrics
from mca_pipeline.warehouse.unified_plays import link_plays

SIMPLE = """Title,Date
"The Glass Orchard: Season 2: The Harvest","6/2/24"
"Roma","6/1/24"
"Marriage Story","5/20/24"
"""
ACTIVITY = """Profile Name,Start Time,Duration,Attributes,Title,Supplemental Video Type,Device Type,Bookmark,Latest Bookmark,Country
Alex,2024-06-02 19:41:07,00:43:58,,The Glass Orchard: Season 2: The Harvest (Episode 4),,Chrome PC (Cadmium),00:44:10,00:44:10,DE (Germany)
Alex,2024-06-01 22:10:31,00:21:12,,The Glass Orchard: Season 2: The Harvest (Episode 4),,Samsung TV,00:21:15,Not latest view,DE (Germany)
Alex,2024-06-01 23:30:00,02:15:00,,Roma,,Samsung TV,02:15:00,02:15:00,DE (Germany)
"""


def items(tmp_path: Path, name: str, text: str) -> list[MediaItem]:
    path = tmp_path / name
    path.write_text(text)
    result = NetflixPlugin().sync(SyncContext(user_id="ada"), Credentials(file=path), "")
    assert result.err is None and not result.skipped
    return result.items


def test_a_viewing_in_both_exports_counts_once_and_both_rows_stay(
    warehouse: Warehouse, tmp_path: Path
) -> None:
    with warehouse.connect() as con:
        for name, text in (("NetflixViewingHistory.csv", SIMPLE), ("ViewingActivity.csv", ACTIVITY)):
            attempt = SyncAttempt("ada", "netflix", datetime(2024, 7, 1, tzinfo=UTC), "", name, False)
            store_sync(con, attempt, items(tmp_path, name, text))
        link_plays(con, "ada", {"netflix": 20})
        links = dict(con.execute("SELECT external_id, play_key FROM unified_plays").fetchall())
        stored = con.execute("SELECT count(*) FROM media_items").fetchone()
        totals = compute_metrics(con, "ada", None).totals

    assert stored == (6,)
    assert links == {
        "The Glass Orchard: Season 2: The Harvest|2024-06-02": (
            "netflix:Alex|2024-06-02 19:41:07|The Glass Orchard: Season 2: The Harvest (Episode 4)"
        ),
        "Roma|2024-06-01": "netflix:Alex|2024-06-01 23:30:00|Roma",
    }
    # two sessions of the episode, Roma, and Marriage Story (only in the simple export)
    assert [(t.platform, t.kind, t.plays) for t in totals] == [
        ("netflix", "episode", 2),
        ("netflix", "video", 2),
    ]
