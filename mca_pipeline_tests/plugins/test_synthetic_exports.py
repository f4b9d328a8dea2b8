"""The benchmark's synthetic exports are read by their plugins as real ones are:
every record imported but those a real export's same records would leave out."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from mca_pipeline.core import Credentials
from mca_pipeline.plugins import build_registry
from mca_pipeline.warehouse import Warehouse
from mca_pipeline.warehouse.sync_loop import run_sync
from mca_pipeline_tests import synthetic_exports as synthetic

# writer, plugin, records stored of 100, left out (of 100) by reason
CASES: dict[str, tuple[Callable[..., Path], str, int, dict[str, int]]] = {
    "takeout json": (synthetic.write_takeout_json, "youtube_takeout", 98, {"ad (From Google Ads)": 2}),
    "takeout html": (synthetic.write_takeout_html, "youtube_takeout", 98, {"ad (From Google Ads)": 2}),
    "viewing activity": (
        synthetic.write_viewing_activity,
        "netflix",
        95,
        {"trailer, hook or recap (not viewing)": 5},
    ),
    "tiktok": (synthetic.write_tiktok, "tiktok", 100, {}),
    "instapaper": (synthetic.write_instapaper, "instapaper", 100, {}),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_synthetic_export_imports_like_a_real_one(tmp_path: Path, case: str) -> None:
    write, name, stored, left_out = CASES[case]
    path = write(tmp_path / "export", 100)
    plugin = build_registry().get(name)
    assert plugin.recognizes(path.name, path.read_bytes()[:65536])
    summary = run_sync(
        plugin, Warehouse(tmp_path / "w.duckdb"), "u", Credentials(file=path), log=logging.getLogger("t")
    )
    assert (summary.error, summary.new, summary.tally.unreadable) == (None, stored, 0)
    assert dict(summary.tally.left_out) == left_out


def test_the_same_watches_in_json_and_html(tmp_path: Path) -> None:
    """The HTML benchmark row is held to the JSON of the same records: the same videos
    at the same times (the page shows whole seconds)."""
    plugin = build_registry().get("youtube_takeout")
    ids = []
    for write in (synthetic.write_takeout_json, synthetic.write_takeout_html):
        path = write(tmp_path / write.__name__, 60)
        warehouse = Warehouse(tmp_path / f"{write.__name__}.duckdb")
        run_sync(plugin, warehouse, "u", Credentials(file=path), log=logging.getLogger("t"))
        with warehouse.connect() as con:
            ids.append(
                con.execute(
                    "SELECT url, date_trunc('second', consumed_at) FROM media_items ORDER BY url"
                ).fetchall()
            )
    assert len(ids[0]) == 59 and ids[0] == ids[1]


def test_extended_history_in_several_files(tmp_path: Path) -> None:
    paths = synthetic.write_extended_history(tmp_path, 250, files=3)
    assert len(paths) == 3
    plugin = build_registry().get("spotify_export")
    warehouse = Warehouse(tmp_path / "w.duckdb")
    new = sum(
        run_sync(plugin, warehouse, "u", Credentials(file=p), log=logging.getLogger("t")).new for p in paths
    )
    assert new == 250
