"""The first sync after a connect is a Dagster run the daemon starts: connect in the web
app (Starlette's test client), tick first_sync_sensor as the daemon would, run what it
asks for. The platforms are the fakes the web app tests use."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import AssetKey, DagsterInstance, DagsterRunStatus, instance_for_test

from mca_pipeline.warehouse.accounts import DISCONNECTED, set_connection_state
from mca_pipeline.warehouse.queries import item_count
from mca_pipeline_tests.auth.test_web_app import Env, start_connect
from mca_pipeline_tests.defs.dagster_env import FirstSyncDaemon, Pipeline


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", "client-123")
    monkeypatch.delenv("SPOTIFY_CLIENT_SECRET", raising=False)
    return Env(tmp_path)


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[DagsterInstance]:
    home = tmp_path / "dagster_home"
    home.mkdir()
    with instance_for_test(temp_dir=str(home)) as instance:
        yield instance


@pytest.fixture
def pipeline(env: Env, instance: DagsterInstance, tmp_path: Path) -> Pipeline:
    """The code location on the web app's warehouse, vault and fake platforms."""
    assert env.warehouse.path == tmp_path / "warehouse.duckdb"
    return Pipeline(tmp_path, instance, registry=env.registry, credentials=env.credentials)  # type: ignore[arg-type]


def _connect_spotify(env: Env, user: str = "alice") -> None:
    client, _ = env.signed_in(user)
    params = start_connect(client)
    env.tokens.grant("good-code", params["code_challenge"])
    response = client.get("/connect/spotify/callback", params={"code": "good-code", "state": params["state"]})
    assert response.status_code == 302 and env.state(user, "spotify") == "connected"


def test_connecting_in_the_web_app_requests_exactly_one_first_sync(env: Env, pipeline: Pipeline) -> None:
    daemon = FirstSyncDaemon(pipeline)
    assert daemon.tick() == [], "nobody has connected anything"

    _connect_spotify(env)
    [request] = daemon.tick()
    assert request.partition_key == "alice"
    assert request.asset_selection == [AssetKey("spotify")]
    assert request.tags["mca/trigger"] == "first_sync" and request.run_key
    assert pipeline.instance.has_dynamic_partition("users", "alice")
    assert daemon.tick() == [], "requested once; the run is the daemon's now"

    # The run the daemon launches: the first sync stores alice's plays, and only hers.
    assert pipeline.materialize("alice", "spotify").success
    with pipeline.warehouse.connect() as con:
        assert item_count(con, "alice", "spotify") == 5
        assert item_count(con, "bob", "spotify") == 0
    assert daemon.tick() == []
    assert daemon.cursor == "[]", "a synced account leaves the cursor"


def test_a_reconnect_after_a_failed_first_sync_is_tried_again(env: Env, pipeline: Pipeline) -> None:
    daemon = FirstSyncDaemon(pipeline)
    _connect_spotify(env)
    [first] = daemon.tick()
    # The first sync never got to write a sync_log row (say, the run crashed): not retried.
    assert daemon.tick() == []
    with env.warehouse.connect() as con:
        set_connection_state(con, "alice", "spotify", DISCONNECTED, "disconnected in the web app")
    assert daemon.tick() == []
    _connect_spotify(env)
    [again] = daemon.tick()
    assert again.partition_key == "alice" and again.run_key != first.run_key


def test_other_users_and_file_sources_are_not_synced(env: Env, pipeline: Pipeline) -> None:
    daemon = FirstSyncDaemon(pipeline)
    _connect_spotify(env, "bob")
    with env.warehouse.connect() as con:
        set_connection_state(con, "alice", "netflix", "connected", "a file source is never synced by API")
    requests = daemon.tick()
    assert [(r.partition_key, r.asset_selection) for r in requests] == [("bob", [AssetKey("spotify")])]


def test_an_account_a_scheduled_batch_is_already_syncing_is_left_to_it(env: Env, pipeline: Pipeline) -> None:
    """The schedule's tick came between the connect and the sensor's: one sync, not two;
    and should that batch store nothing, the first sync is asked for after it."""
    daemon = FirstSyncDaemon(pipeline)
    _connect_spotify(env)
    batch = pipeline.instance.create_run_for_job(
        pipeline.defs.get_job_def("spotify_sync_batch"),
        run_config={"ops": {"spotify_sync_users": {"config": {"users": ["alice"]}}}},
        status=DagsterRunStatus.STARTED,
    )
    assert daemon.tick() == []
    assert daemon.tick() == []
    pipeline.instance.report_run_failed(batch)
    [request] = daemon.tick()
    assert request.partition_key == "alice" and request.tags["mca/trigger"] == "first_sync"
