"""Downstream by itself: an import for one user refreshes that user's history, unified
plays, enrichment, tags and insights, with nobody clicking; never another user's, and
never again when nothing new happened. Evaluated as the daemon does, tick by tick, on a
real instance; the requested runs are then executed for real."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from dagster import AssetKey, DagsterRunStatus, DefaultSensorStatus, evaluate_automation_conditions
from dagster._core.definitions.asset_daemon_cursor import AssetDaemonCursor
from dagster._core.test_utils import create_run_for_test

from mca_pipeline.defs.automation import AUTOMATION_SENSOR, SCHEDULED, STORED_TAG, TRIGGER_TAG
from mca_pipeline_tests.conftest import FIXTURES
from mca_pipeline_tests.defs.dagster_env import (
    DOWNSTREAM,
    Pipeline,
    enrich_offline,
    fail_spotify_enrichment,
    metadata,
)

SPOTIFY = FIXTURES / "spotify_export" / "Streaming_History_Audio_2023-2024_0.json"
NETFLIX = FIXTURES / "netflix" / "ViewingActivity.csv"
#: What one tick requests after an import for alice: her downstream assets, nothing else.
ALICE_DOWNSTREAM = {name: {"alice"} for name in DOWNSTREAM}


offline = pytest.fixture(autouse=True)(enrich_offline)


class Ticks:
    """The automation sensor's evaluations, one after another, with its cursor."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.cursor: AssetDaemonCursor | None = None

    def tick(self) -> dict[str, set[str]]:
        """asset -> the user partitions this tick requests."""
        result = evaluate_automation_conditions(
            defs=self.pipeline.defs, instance=self.pipeline.instance, cursor=self.cursor
        )
        self.cursor = result.cursor
        requested = {
            key.to_user_string(): {str(p) for p in result.get_requested_partitions(key)}
            for key in (AssetKey(name) for name in [*DOWNSTREAM, *self.pipeline.registry.names()])
        }
        return {name: users for name, users in requested.items() if users}


@pytest.fixture
def ticks(pipeline: Pipeline) -> Iterator[Ticks]:
    yield Ticks(pipeline)


def _tagged_items(pipeline: Pipeline, user: str) -> int:
    [(count,)] = pipeline.count(
        f"SELECT count(*) FROM media_items WHERE user_id = '{user}' AND universal_tags IS NOT NULL"
    )
    return int(count)


def test_an_import_for_alice_refreshes_her_downstream_only_and_only_once(
    pipeline: Pipeline, ticks: Ticks
) -> None:
    # bob already has everything, imported and refreshed in one ingest-style run.
    pipeline.drop("bob", "netflix", NETFLIX)
    assert pipeline.materialize("bob", "netflix", *DOWNSTREAM).success
    pipeline.instance.add_dynamic_partitions("users", ["alice"])
    assert ticks.tick() == {}, "the first tick only learns the state"
    assert ticks.tick() == {}, "bob's own run refreshed his downstream: nothing to do"

    pipeline.drop("alice", "spotify_export", SPOTIFY)
    assert pipeline.materialize("alice", "spotify_export").success, "what the inbox sensor runs"

    assert ticks.tick() == ALICE_DOWNSTREAM
    assert ticks.tick() == {}, "requested once; not again while nothing new happened"

    # The daemon runs what was requested: alice's items get tags and her report appears.
    bob_reports = {p: p.stat().st_mtime_ns for p in (pipeline.data_dir / "reports" / "bob").iterdir()}
    assert _tagged_items(pipeline, "alice") == 0
    assert pipeline.materialize("alice", *DOWNSTREAM).success
    [(items,)] = pipeline.count("SELECT count(*) FROM media_items WHERE user_id = 'alice'")
    assert items > 0 and _tagged_items(pipeline, "alice") == items
    assert list((pipeline.data_dir / "reports" / "alice").glob("*.html"))
    assert {p: p.stat().st_mtime_ns for p in (pipeline.data_dir / "reports" / "bob").iterdir()} == bob_reports

    assert ticks.tick() == {}, "the downstream run's own updates trigger nothing"
    assert ticks.tick() == {}


def test_a_second_source_for_alice_refreshes_her_downstream_again(pipeline: Pipeline, ticks: Ticks) -> None:
    pipeline.drop("alice", "spotify_export", SPOTIFY)
    assert pipeline.materialize("alice", "spotify_export", *DOWNSTREAM).success
    assert ticks.tick() == {}
    pipeline.drop("alice", "netflix", NETFLIX)
    assert pipeline.materialize("alice", "netflix").success
    assert ticks.tick() == ALICE_DOWNSTREAM, "one source of many is enough"


def test_an_import_that_stores_nothing_new_starts_nothing_downstream(
    pipeline: Pipeline, ticks: Ticks
) -> None:
    pipeline.drop("alice", "spotify_export", SPOTIFY)
    first = pipeline.materialize("alice", "spotify_export", *DOWNSTREAM)
    assert first.success
    assert pipeline.instance.get_run_by_id(first.run_id).tags[STORED_TAG] == "items"  # type: ignore[union-attr]
    assert ticks.tick() == {}

    # The same export again (or an hourly sync that finds no new plays): the source is
    # materialized, its run says it stored nothing, and nothing downstream is redone.
    pipeline.drop("alice", "spotify_export", SPOTIFY)
    again = pipeline.materialize("alice", "spotify_export")
    assert again.success and metadata(again, "spotify_export")["new"] == 0
    assert pipeline.instance.get_run_by_id(again.run_id).tags[STORED_TAG] == "nothing"  # type: ignore[union-attr]
    assert ticks.tick() == {}

    # An update of another dependency counts as it is: a re-enrichment from the UI is
    # followed by the tags and the report.
    assert pipeline.materialize("alice", "plugin_enrichment").success
    assert ticks.tick() == {"universal_tags": {"alice"}, "insights": {"alice"}}


def test_nothing_downstream_starts_while_a_scheduled_sync_batch_is_in_flight(
    pipeline: Pipeline, ticks: Ticks
) -> None:
    ticks.tick()
    batch = create_run_for_test(
        pipeline.instance,
        job_name="lastfm_sync_batch",
        status=DagsterRunStatus.STARTED,
        tags={TRIGGER_TAG: SCHEDULED},
    )
    pipeline.drop("alice", "spotify_export", SPOTIFY)
    assert pipeline.materialize("alice", "spotify_export").success

    assert ticks.tick() == {}, "the batch gets the CPU first"
    assert ticks.tick() == {}
    # Another kind of run (an import, a user's own retry) holds nothing up.
    pipeline.instance.report_run_failed(batch)
    create_run_for_test(pipeline.instance, status=DagsterRunStatus.STARTED, tags={TRIGGER_TAG: "inbox"})
    assert ticks.tick() == ALICE_DOWNSTREAM, "alice's update was kept, and is acted on now"
    assert ticks.tick() == {}


def test_a_failed_downstream_run_is_not_requested_again_until_new_data(
    pipeline: Pipeline, ticks: Ticks
) -> None:
    fail_spotify_enrichment(pipeline)
    ticks.tick()
    pipeline.drop("alice", "spotify_export", SPOTIFY)
    assert pipeline.materialize("alice", "spotify_export").success
    assert ticks.tick() == ALICE_DOWNSTREAM

    failed = pipeline.materialize("alice", *DOWNSTREAM)
    assert not failed.success
    assert ticks.tick() == {}, "a failure is not retried in a loop"
    assert ticks.tick() == {}

    # The next import tries again, everything that depends on it included.
    pipeline.drop(
        "alice", "spotify_export", FIXTURES / "spotify_export" / "Streaming_History_Audio_2023-2024_1.json"
    )
    assert pipeline.materialize("alice", "spotify_export").success
    assert ticks.tick() == ALICE_DOWNSTREAM


def test_the_automation_sensor_is_running_by_default_and_targets_the_downstream_assets(
    pipeline: Pipeline,
) -> None:
    sensor = pipeline.defs.get_sensor_def(AUTOMATION_SENSOR)
    assert sensor.default_status == DefaultSensorStatus.RUNNING
    graph = pipeline.defs.resolve_asset_graph()
    targeted = sensor.asset_selection.resolve(graph)  # type: ignore[union-attr]
    assert {k.to_user_string() for k in targeted} == set(DOWNSTREAM)
    # Sources are started by the inbox, schedules and the first-sync sensor, never by automation.
    assert all(graph.get(AssetKey(name)).automation_condition is None for name in pipeline.registry.names())
