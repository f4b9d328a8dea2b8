"""The downstream assets over several users in one run, as the automation's backfills run
them after a scheduled tick: every user refreshed, each user's figures in the batch's
table, and one user's failure leaving the others (and their next assets) refreshed."""

from __future__ import annotations

import pytest
from dagster import AssetKey, AssetRecordsFilter

from mca_pipeline.defs.automation import AUTOMATION_SENSOR
from mca_pipeline.defs.downstream_batches import DOWNSTREAM_BATCH_SIZE
from mca_pipeline_tests.conftest import FIXTURES
from mca_pipeline_tests.defs.dagster_env import (
    DOWNSTREAM,
    ENRICH_FAILURE,
    Pipeline,
    enrich_offline,
    fail_spotify_enrichment,
    metadata,
)

SPOTIFY = FIXTURES / "spotify_export" / "Streaming_History_Audio_2023-2024_0.json"
NETFLIX = FIXTURES / "netflix" / "ViewingActivity.csv"


offline = pytest.fixture(autouse=True)(enrich_offline)


def _import(pipeline: Pipeline, user: str, plugin: str, export: object) -> int:
    pipeline.drop(user, plugin, export)  # type: ignore[arg-type]
    assert pipeline.materialize(user, plugin).success
    [(items,)] = pipeline.count(f"SELECT count(*) FROM media_items WHERE user_id = '{user}'")
    return int(items)


def _tagged(pipeline: Pipeline, user: str) -> int:
    [(count,)] = pipeline.count(
        f"SELECT count(*) FROM media_items WHERE user_id = '{user}' AND universal_tags IS NOT NULL"
    )
    return int(count)


def _materialized(result: object, asset: str) -> list[str]:
    return sorted(
        str(e.materialization.partition)
        for e in result.get_asset_materialization_events()  # type: ignore[attr-defined]
        if e.materialization.asset_key == AssetKey(asset)
    )


def _per_user_rows(table: str) -> dict[str, dict[str, str]]:
    """The batch's markdown table, as {user: {column: cell}}."""
    header, _, *rows = table.splitlines()
    columns = [c.strip() for c in header.strip("|").split("|")]
    parsed = [dict(zip(columns, (c.strip() for c in row.strip("|").split("|")), strict=True)) for row in rows]
    return {row["user"]: row for row in parsed}


def test_one_run_refreshes_several_users_each_with_their_own_figures(pipeline: Pipeline) -> None:
    alice_items = _import(pipeline, "alice", "spotify_export", SPOTIFY)
    bob_items = _import(pipeline, "bob", "netflix", NETFLIX)
    assert alice_items != bob_items

    result = pipeline.materialize_users(["alice", "bob"], *DOWNSTREAM)

    assert result.success
    for asset in DOWNSTREAM:
        assert _materialized(result, asset) == ["alice", "bob"], asset
    assert _tagged(pipeline, "alice") == alice_items and _tagged(pipeline, "bob") == bob_items
    for user in ("alice", "bob"):
        assert list((pipeline.data_dir / "reports" / user).glob("*.html")), user
    history = metadata(result, "media_history")
    assert history["users"] == 2 and history["failed_users"] == {}
    rows = _per_user_rows(str(history["per_user"]))
    assert rows["alice"]["items"] == f"{alice_items:,}"
    assert rows["bob"]["items"] == f"{bob_items:,}"
    assert rows["bob"]["items/netflix"] == f"{bob_items:,}" and rows["alice"]["items/netflix"] == "-"
    tags = _per_user_rows(str(metadata(result, "universal_tags")["per_user"]))
    assert tags["alice"]["items/tagged"] == f"{alice_items:,}"
    assert tags["bob"]["items/tagged"] == f"{bob_items:,}"


def test_a_user_failing_in_a_batch_leaves_the_others_and_their_next_assets_refreshed(
    pipeline: Pipeline,
) -> None:
    fail_spotify_enrichment(pipeline)
    _import(pipeline, "alice", "spotify_export", SPOTIFY)
    bob_items = _import(pipeline, "bob", "netflix", NETFLIX)

    result = pipeline.materialize_users(["alice", "bob"], *DOWNSTREAM)

    assert result.success, "one user's failure does not fail the batch"
    enrichment = metadata(result, "plugin_enrichment")
    assert list(enrichment["failed_users"]) == ["alice"]  # type: ignore[arg-type]
    assert ENRICH_FAILURE in enrichment["failed_users"]["alice"]  # type: ignore[index]
    assert list(_per_user_rows(str(enrichment["per_user"]))) == ["bob"]
    # Bob's assets after it ran: his items tagged, his report written.
    assert _tagged(pipeline, "bob") == bob_items
    assert list((pipeline.data_dir / "reports" / "bob").glob("*.html"))
    # Alice's partition says what went wrong, in its own event history.
    observed = {
        r.partition_key: r.asset_observation.metadata["error"].value  # type: ignore[union-attr]
        for r in pipeline.instance.fetch_observations(
            AssetRecordsFilter(asset_key=AssetKey("plugin_enrichment")), limit=100
        ).records
    }
    assert list(observed) == ["alice"] and ENRICH_FAILURE in str(observed["alice"])


def test_a_batch_where_every_user_fails_fails_and_goes_no_further(pipeline: Pipeline) -> None:
    fail_spotify_enrichment(pipeline)
    _import(pipeline, "alice", "spotify_export", SPOTIFY)
    _import(pipeline, "bob", "spotify_export", SPOTIFY)

    result = pipeline.materialize_users(["alice", "bob"], *DOWNSTREAM)

    assert not result.success
    assert _materialized(result, "plugin_enrichment") == []
    assert _materialized(result, "universal_tags") == [], "nothing runs on a step that failed"
    assert _materialized(result, "media_history") == ["alice", "bob"], "assets beside it still ran"


def test_a_tick_of_several_users_runs_them_in_batches(pipeline: Pipeline) -> None:
    defs = pipeline.defs
    sensor = defs.get_sensor_def(AUTOMATION_SENSOR)
    assert sensor.emit_backfills  # type: ignore[attr-defined]
    graph = defs.resolve_asset_graph()
    for asset in DOWNSTREAM:
        policy = graph.get(AssetKey(asset)).backfill_policy
        assert policy is not None and policy.max_partitions_per_run == DOWNSTREAM_BATCH_SIZE > 1, asset
