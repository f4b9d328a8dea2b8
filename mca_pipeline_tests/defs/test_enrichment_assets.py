"""Enrichment through Dagster: plugin Enrich then the universal tagger, per user, on
the warehouse, against fake Last.fm and TMDB servers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import instance_for_test

from mca_pipeline.core import PluginRegistry
from mca_pipeline.enrich.tmdb import TmdbGenres
from mca_pipeline.plugins import NetflixPlugin, SpotifyExportPlugin
from mca_pipeline_tests.conftest import FIXTURES
from mca_pipeline_tests.defs.dagster_env import Pipeline, metadata
from mca_pipeline_tests.enrich.test_lastfm_tags import _lastfm
from mca_pipeline_tests.enrich.test_tmdb import KEY as TMDB_KEY
from mca_pipeline_tests.enrich.test_tmdb import FakeTmdb

EXPORT = FIXTURES / "spotify_export" / "Streaming_History_Audio_2023-2024_0.json"
VIEWING = FIXTURES / "netflix" / "ViewingActivity.csv"


@pytest.fixture
def enriching(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Pipeline, object, FakeTmdb]]:
    for name in ("MCA_LLM_BASE_URL", "MCA_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)  # the offline tagger
    lastfm, tmdb = _lastfm(), FakeTmdb()
    registry = PluginRegistry()
    registry.register(SpotifyExportPlugin(tags=lastfm.tags()))
    registry.register(NetflixPlugin(tmdb=TmdbGenres(client=tmdb.client(), api_key=TMDB_KEY)))
    home = tmp_path / "dagster_home"
    home.mkdir()
    with instance_for_test(temp_dir=str(home)) as instance:
        pipeline = Pipeline(tmp_path / "data", instance, registry=registry)
        pipeline.drop("alice", "spotify_export", EXPORT)
        pipeline.drop("alice", "netflix", VIEWING)
        assert pipeline.materialize("alice", "spotify_export", "netflix").success
        yield pipeline, lastfm, tmdb


def statuses(pipeline: Pipeline) -> dict[str, int]:
    return dict(pipeline.count("SELECT status, count(*) FROM media_items GROUP BY ALL"))


def test_items_are_enriched_then_a_rerun_makes_no_calls(enriching: tuple[Pipeline, object, FakeTmdb]) -> None:
    pipeline, lastfm, tmdb = enriching
    stored = sum(statuses(pipeline).values())
    first = pipeline.materialize("alice", "plugin_enrichment", "universal_tags")
    assert first.success
    assert statuses(pipeline) == {"enriched": stored}
    plugin_meta = metadata(first, "plugin_enrichment")
    assert plugin_meta["items/enriched"] == stored
    assert plugin_meta["calls"] > 0
    [(tags, universal)] = pipeline.count(
        "SELECT tags, universal_tags FROM media_items WHERE title = 'Lantern Street' LIMIT 1"
    )
    assert "dream pop" in tags
    assert "music" in json.loads(universal)["topic"]
    [(genres,)] = pipeline.count(
        "SELECT raw_metadata->'tmdb'->'genres' FROM media_items WHERE platform = 'netflix' "
        "AND title LIKE 'The Glass Orchard%' LIMIT 1"
    )
    assert json.loads(genres), "the series got its TMDB genres"

    calls_before = len(lastfm.requests) + len(tmdb.requests)  # type: ignore[attr-defined]
    again = pipeline.materialize("alice", "plugin_enrichment", "universal_tags")
    assert again.success
    assert len(lastfm.requests) + len(tmdb.requests) == calls_before, "nothing pending: no call"  # type: ignore[attr-defined]
    assert metadata(again, "plugin_enrichment")["calls"] == 0


def test_lookups_are_cached_across_users(enriching: tuple[Pipeline, object, FakeTmdb]) -> None:
    pipeline, lastfm, _ = enriching
    pipeline.materialize("alice", "plugin_enrichment")
    lastfm.requests.clear()  # type: ignore[attr-defined]
    pipeline.drop("bob", "spotify_export", EXPORT)
    pipeline.materialize("bob", "spotify_export")
    result = pipeline.materialize("bob", "plugin_enrichment")
    assert metadata(result, "plugin_enrichment")["calls"] == 0
    assert lastfm.requests == []  # type: ignore[attr-defined]


def test_missing_keys_skip_with_a_reason_and_items_stay_pending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("LASTFM_API_KEY", "TMDB_API_KEY", "TMDB_READ_TOKEN", "MCA_LLM_BASE_URL", "MCA_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    home = tmp_path / "dagster_home"
    home.mkdir()
    with instance_for_test(temp_dir=str(home)) as instance:
        pipeline = Pipeline(tmp_path / "data", instance)
        pipeline.drop("alice", "spotify_export", EXPORT)
        pipeline.materialize("alice", "spotify_export")
        result = pipeline.materialize("alice", "plugin_enrichment", "universal_tags")
        assert result.success, "a missing key is not an error"
        skipped = str(metadata(result, "plugin_enrichment")["skipped"])
        assert "spotify_export" in skipped and "LASTFM_API_KEY" in skipped
        assert set(statuses(pipeline)) == {"pending"}
        assert pipeline.count("SELECT count(*) FROM media_items WHERE universal_tags IS NULL") == [(0,)], (
            "the offline tagger still tags; the items wait for the Last.fm tags"
        )
