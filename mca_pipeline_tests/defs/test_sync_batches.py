"""Scheduled syncs of many users in one run (issue 17): each user's outcome is their own.

A batch of six Last.fm users against a fake Last.fm shaped like the real one: two
healthy, one whose requests fail with 500s, one rate-limited for a second, one for a
minute, one whose API key Last.fm refuses. The run succeeds; the healthy users' plays are
stored and their partitions materialized with their own counts; the user limited for a
second is tried again when the others are done and stored in the same run; the failing
users are recorded (sync_log, connection state, notification) and the ones worth
retrying get their own run from the continuation sensor, which stores the rest: nothing
lost, nothing doubled."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from dagster import (
    AssetKey,
    AssetRecordsFilter,
    DagsterEventType,
    DagsterRunStatus,
    ExecuteInProcessResult,
    RetryPolicy,
    SensorResult,
    build_sensor_context,
    instance_for_test,
)

from mca_pipeline.core import Credentials, MediaItem, PluginRegistry
from mca_pipeline.plugins.lastfm import LastfmPlugin
from mca_pipeline.warehouse import SyncAttempt, store_sync
from mca_pipeline.warehouse.accounts import connection_state, notifications
from mca_pipeline_tests.defs.dagster_env import Pipeline
from mca_pipeline_tests.fakes.lastfm_api import BASE
from mca_pipeline_tests.fakes.lastfm_server import LastfmServer

USERS = ["ana", "ben", "cai", "dev", "eve", "fay"]
PLAYS = {"ana": 40, "ben": 25, "cai": 30, "dev": 10, "eve": 15, "fay": 20}
LASTFM = AssetKey("lastfm")


@pytest.fixture
def server() -> LastfmServer:
    server = LastfmServer()
    for user in USERS:
        server.account(f"{user}_fm", PLAYS[user])
    return server


@pytest.fixture
def pipeline(tmp_path: Path, server: LastfmServer) -> Iterator[Pipeline]:
    registry = PluginRegistry()
    client = httpx.Client(transport=httpx.MockTransport(server.handle), base_url=BASE)
    registry.register(LastfmPlugin(client=client, page_limit=200))
    home = tmp_path / "dagster_home"
    home.mkdir()
    with instance_for_test(temp_dir=str(home)) as instance:
        pipeline = Pipeline(
            tmp_path / "data", instance, registry=registry, retry_policy=RetryPolicy(max_retries=2, delay=0)
        )
        instance.add_dynamic_partitions("users", USERS)
        for user in USERS:
            key = "revoked-key" if user == "dev" else server.api_key
            pipeline.credentials.save(user, "lastfm", Credentials(api_key=key, account=f"{user}_fm"))
        yield pipeline


def run_batch(pipeline: Pipeline, users: list[str], **settings: int) -> ExecuteInProcessResult:
    job = pipeline.defs.get_job_def("lastfm_sync_batch")
    config = {"ops": {"lastfm_sync_users": {"config": {"users": users, **settings}}}}
    return job.execute_in_process(run_config=config, instance=pipeline.instance, raise_on_error=False)


def events(pipeline: Pipeline, run_id: str, kind: str) -> dict[str, dict[str, object]]:
    """Per user partition, the metadata of the run's materialization or observation of lastfm."""
    fetch = (
        pipeline.instance.fetch_materializations if kind == "mat" else pipeline.instance.fetch_observations
    )
    found = {}
    for record in fetch(AssetRecordsFilter(asset_key=LASTFM), limit=100).records:
        event = record.asset_materialization or record.asset_observation
        if record.run_id == run_id and event is not None and event.partition:
            found[event.partition] = {k: getattr(v, "value", v) for k, v in event.metadata.items()}
    return found


def stored(pipeline: Pipeline) -> dict[str, tuple[int, int]]:
    """Per user: plays stored, distinct plays stored."""
    rows = pipeline.count(
        "SELECT user_id, count(*), count(DISTINCT external_id) FROM media_items "
        "WHERE platform = 'lastfm' GROUP BY user_id"
    )
    return {user: (n, distinct) for user, n, distinct in rows}


def continuation(pipeline: Pipeline, cursor: str | None = None) -> SensorResult:
    sensor = pipeline.defs.resolve_sensor_def("sync_continuation_sensor")
    result = sensor(build_sensor_context(instance=pipeline.instance, cursor=cursor))
    assert isinstance(result, SensorResult)
    return result


def test_one_run_syncs_every_user_and_a_failing_user_never_fails_the_others(
    pipeline: Pipeline, server: LastfmServer
) -> None:
    server.accounts["ben_fm"].fail.extend(httpx.Response(500, text="Internal Server Error") for _ in range(3))
    for user, seconds in (("cai", "1"), ("fay", "60")):
        limited = {"error": 29, "message": "Rate Limit Exceeded"}
        server.accounts[f"{user}_fm"].fail.append(
            httpx.Response(429, json=limited, headers={"Retry-After": seconds})
        )

    result = run_batch(pipeline, USERS)

    assert result.success, "one user's failure does not fail the batch"
    # The healthy users are stored, and cai too: tried again after the second Last.fm
    # asked for, once the others were done. Each partition has its own counts.
    assert stored(pipeline) == {"ana": (40, 40), "cai": (30, 30), "eve": (15, 15)}
    materialized = events(pipeline, result.run_id, "mat")
    assert {user: m["new"] for user, m in materialized.items()} == {"ana": 40, "cai": 30, "eve": 15}
    assert materialized["ana"]["dagster/row_count"] == 40
    # The failing ones: each recorded with what happened, the retryable ones marked.
    observed = events(pipeline, result.run_id, "obs")
    assert {u: (o["error_code"], o["retry_as_own_run"]) for u, o in observed.items()} == {
        "ben": ("upstream", True),
        "dev": ("permission_denied", False),
        "fay": ("rate_limit", True),
    }
    outcomes = pipeline.count(
        "SELECT user_id, error_code FROM sync_log WHERE platform = 'lastfm' AND error_code IS NOT NULL ORDER BY 1"
    )
    assert outcomes == [
        ("ben", "upstream"),  # the first try
        ("ben", "upstream"),  # and the second, after everyone else
        ("cai", "rate_limit"),
        ("dev", "permission_denied"),
        ("fay", "rate_limit"),  # a minute: too long to keep the batch waiting
    ]
    with pipeline.warehouse.connect() as con:
        assert connection_state(con, "dev", "lastfm")[0] == "needs_reauth"
        assert connection_state(con, "ana", "lastfm")[0] == "connected"
        assert [n.kind for n in notifications(con, "dev")] == ["needs_reauth"]
        assert notifications(con, "ben") == [], "an upstream failure is retried before anyone is told"
    # Every user's source checks ran in the batch: one evaluation per check, over the
    # users synced, each user's figures in its metadata.
    checks = {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
    }
    assert sorted(checks) == ["cursor_never_backwards", "no_future_items", "unique_keys"]
    unique = checks["unique_keys"]
    assert unique.passed and unique.metadata["users"].value == 3
    assert "| ana | passed | duplicates: 0 |" in str(unique.metadata["per_user"].value)

    # The continuation sensor gives the retryable users runs of their own, once.
    first = continuation(pipeline)
    retries = sorted((r.partition_key, r.tags["mca/trigger"]) for r in first.run_requests or [])
    assert retries == [("ben", "batch_retry"), ("fay", "batch_retry")]
    assert not continuation(pipeline, first.cursor).run_requests, "nothing is asked for twice"
    for user, _ in retries:
        assert pipeline.materialize(user, "lastfm").success
    assert stored(pipeline) == {
        "ana": (40, 40),
        "ben": (25, 25),
        "cai": (30, 30),
        "eve": (15, 15),
        "fay": (20, 20),
    }


def test_a_batch_that_finds_nothing_new_observes_instead_of_materializing(
    pipeline: Pipeline, server: LastfmServer
) -> None:
    first = run_batch(pipeline, ["ana", "eve"])
    server.accounts["eve_fm"].scrobble(5)
    second = run_batch(pipeline, ["ana", "eve"])

    assert first.success and second.success
    # eve's five new plays materialize her partition; ana, with nothing new, is observed
    # with her counts, so the downstream automation redraws eve's report, not ana's.
    assert {u: m["new"] for u, m in events(pipeline, second.run_id, "mat").items()} == {"eve": 5}
    assert {
        u: (o["new"], o["dagster/row_count"]) for u, o in events(pipeline, second.run_id, "obs").items()
    } == {"ana": (0, 40)}
    assert stored(pipeline) == {"ana": (40, 40), "eve": (20, 20)}
    assert pipeline.instance.get_run_by_id(second.run_id).tags["mca/stored"] == "items"  # type: ignore[union-attr]


def test_a_user_with_more_than_a_page_waiting_is_continued_in_a_run_of_their_own(
    pipeline: Pipeline, server: LastfmServer
) -> None:
    server.accounts["ana_fm"].scrobble(500)  # 540 plays: three pages of 200

    result = run_batch(pipeline, ["ana", "eve"], page_size=200)

    [ana] = [m for u, m in events(pipeline, result.run_id, "mat").items() if u == "ana"]
    assert (ana["new"], ana["has_more"]) == (200, True), "a batch gives each user one page"
    requests = continuation(pipeline).run_requests or []
    assert [(r.partition_key, r.tags["mca/trigger"]) for r in requests] == [("ana", "continuation")]
    assert pipeline.materialize("ana", "lastfm").success
    assert stored(pipeline)["ana"] == (540, 540)


def test_the_schedule_asks_for_batches_of_connected_users_with_stable_run_keys(
    pipeline: Pipeline, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MCA_SYNC_BATCH_SIZE", "2")
    pipeline.credentials.save("zoe", "lastfm", Credentials(api_key="k", account="zoe_fm"))  # no partition
    defs = pipeline.defs
    schedule = defs.resolve_schedule_def("lastfm_sync")
    assert schedule.job_name == "lastfm_sync_batch"
    asked = [pipeline.scheduled_batches("lastfm", datetime(2024, 6, 1, 13, 0)) for _ in range(2)]
    assert [users for _, users in asked[0]] == [["ana", "ben"], ["cai", "dev"], ["eve", "fay"]]
    assert asked[0] == asked[1], "the same tick evaluated twice asks for the same runs"

    # A later tick, while the first batch is still running: its users are left to it.
    pipeline.instance.create_run_for_job(
        defs.get_job_def("lastfm_sync_batch"),
        run_config={"ops": {"lastfm_sync_users": {"config": {"users": ["ana", "ben"]}}}},
        status=DagsterRunStatus.STARTED,
    )
    later = pipeline.scheduled_batches("lastfm", datetime(2024, 6, 1, 14, 0))
    assert [users for _, users in later] == [["cai", "dev"], ["eve", "fay"]]

    # A sync of one user asked for otherwise (a first sync, a continuation, the UI), still
    # starting: that user is left to it too; a finished one leaves nobody out.
    asset_job = defs.resolve_implicit_global_asset_job_def()
    for user, status in (("dev", DagsterRunStatus.STARTING), ("eve", DagsterRunStatus.SUCCESS)):
        pipeline.instance.create_run_for_job(
            asset_job,
            asset_selection={AssetKey("lastfm")},
            tags={"dagster/partition": user, "mca/trigger": "first_sync"},
            status=status,
        )
    later = pipeline.scheduled_batches("lastfm", datetime(2024, 6, 1, 15, 0))
    assert [users for _, users in later] == [["cai", "eve"], ["fay"]]


def test_a_check_that_fails_for_one_user_of_a_batch_shows_failed_and_names_them(
    pipeline: Pipeline, server: LastfmServer
) -> None:
    # eve has a play dated three days ahead (a phone with its clock wrong, stored earlier).
    future = MediaItem(
        platform="lastfm",
        type="music",
        title="From the future",
        creator="Artist 1",
        consumed_at=datetime.now(UTC) + timedelta(days=3),
        external_id="future-1",
    )
    with pipeline.warehouse.connect() as con:
        store_sync(con, SyncAttempt("eve", "lastfm", datetime.now(UTC), "", "", False), [future])

    result = run_batch(pipeline, ["ana", "eve"])

    [checked] = [
        e.asset_check_evaluation_data
        for e in result.all_events
        if e.event_type == DagsterEventType.ASSET_CHECK_EVALUATION
        and e.asset_check_evaluation_data.check_name == "no_future_items"
    ]
    assert not checked.passed
    assert checked.metadata["failed_for"].value == "eve"
    assert "| ana | passed | future_items: 0" in str(checked.metadata["per_user"].value)
