"""Hostile variants of real exports through the import as core runs it, columnar path
first: each ends as imported (records skipped or not) or as a rejected file, never an
exception, and stores exactly what the streaming reader alone stores. The variants are
those of test_hostile_mutations (hostile_inputs.py), with a fixed seed."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from mca_pipeline.core import Credentials, ErrorCode
from mca_pipeline.plugins.instapaper import InstapaperPlugin
from mca_pipeline.plugins.netflix import NetflixPlugin
from mca_pipeline.plugins.spotify_export import SpotifyExportPlugin
from mca_pipeline.plugins.tiktok import TiktokPlugin
from mca_pipeline.plugins.youtube_takeout import YoutubeTakeoutPlugin
from mca_pipeline.warehouse import Warehouse
from mca_pipeline.warehouse.sync_loop import run_sync
from mca_pipeline_tests.hostile_inputs import hostile_file, sources
from mca_pipeline_tests.plugins.columnar_paths import LOG, ROWS, streaming_only, took_columnar_path

CASES_PER_PLUGIN = 100
PLUGINS = {
    "spotify_export": SpotifyExportPlugin,
    "youtube_takeout": YoutubeTakeoutPlugin,
    "netflix": NetflixPlugin,
    "instapaper": InstapaperPlugin,
    "tiktok": TiktokPlugin,
}


@pytest.mark.parametrize("name", sorted(PLUGINS))
def test_hostile_variants_end_alike_on_both_paths(tmp_path: Path, name: str) -> None:
    plugin_class = PLUGINS[name]
    fast, slow = Warehouse(tmp_path / "fast.duckdb"), Warehouse(tmp_path / "slow.duckdb")
    # the real exports the columnar path takes (Netflix's small NetflixViewingHistory.csv it leaves alone)
    seeds = [p for p in sources(name) if plugin_class().columnar_read(p, "") is not None]
    assert seeds
    rng = random.Random(f"columnar {name}")
    endings: set[str] = set()
    columnar = 0
    for case in range(CASES_PER_PLUGIN):
        seed = rng.choice(seeds)
        path = tmp_path / f"{case}{seed.suffix}"
        path.write_bytes(hostile_file(rng, seed))
        user = f"u{case}"
        summaries = [
            run_sync(reader, warehouse, user, Credentials(file=path), log=LOG, source=path.name)
            for reader, warehouse in ((plugin_class(), fast), (streaming_only(plugin_class), slow))
        ]
        codes = {s.error.code if s.error else None for s in summaries}
        assert len(codes) == 1 and codes <= {None, ErrorCode.FILE_PARSE_ERROR}, f"case {case}: {codes}"
        endings |= {str(code) for code in codes}
        assert (summaries[0].new, summaries[0].tally.unreadable) == (
            summaries[1].new,
            summaries[1].tally.unreadable,
        )
        rows = []
        for warehouse in (fast, slow):
            with warehouse.connect() as con:
                query = ROWS.replace("user_id = 'u'", "user_id = ?")
                rows.append([(*r[:9], json.loads(r[9])) for r in con.execute(query, [user]).fetchall()])
        assert rows[0] == rows[1], f"case {case} stored otherwise"
        columnar += took_columnar_path(summaries[0])
        path.unlink()
    assert endings == {"None", str(ErrorCode.FILE_PARSE_ERROR)}
    assert columnar > 0, "some variants are clean enough for DuckDB to read whole"
