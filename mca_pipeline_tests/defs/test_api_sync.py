"""API syncs through the Dagster asset, against a fake Spotify shaped like the real one:
every PluginError code ends in the behaviour the design's error table asks for."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import httpx
import pytest
from dagster import RetryPolicy, instance_for_test

from mca_pipeline.core import Credentials, PluginRegistry
from mca_pipeline.plugins import NetflixPlugin
from mca_pipeline.plugins.spotify import SpotifyPlugin
from mca_pipeline.warehouse.accounts import connection_state, notifications
from mca_pipeline_tests.defs.dagster_env import Pipeline, check_statuses, metadata
from mca_pipeline_tests.fakes.spotify_web_api import ACCOUNTS, API, FakeSpotify

FAST_RETRIES = RetryPolicy(max_retries=2, delay=0)


@pytest.fixture
def fake() -> FakeSpotify:
    return FakeSpotify()


@pytest.fixture
def spotify(tmp_path: Path, fake: FakeSpotify, monkeypatch: pytest.MonkeyPatch) -> Iterator[Pipeline]:
    """A pipeline whose spotify plugin and token refresh talk to the fake; alice connected."""
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", "client-id")
    monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", "client-secret")
    registry = PluginRegistry()
    registry.register(NetflixPlugin())
    registry.register(SpotifyPlugin(client=httpx.Client(transport=fake.transport(), base_url=API)))
    home = tmp_path / "dagster_home"
    home.mkdir()
    with instance_for_test(temp_dir=str(home)) as instance:
        pipeline = Pipeline(
            tmp_path / "data",
            instance,
            registry=registry,
            oauth_http=httpx.Client(transport=fake.transport(), base_url=ACCOUNTS),
            retry_policy=FAST_RETRIES,
        )
        pipeline.credentials.save(
            "alice",
            "spotify",
            Credentials(
                access_token=fake.access_token, refresh_token=fake.refresh_token, scopes=fake.granted_scopes
            ),
        )
        yield pipeline


def stored_ids(pipeline: Pipeline) -> list[str]:
    return [
        r[0]
        for r in pipeline.count("SELECT external_id FROM media_items WHERE platform='spotify' ORDER BY 1")
    ]


def expected_ids(fake: FakeSpotify) -> list[str]:
    return sorted(f"{n:022d}@{int(played.timestamp() * 1000)}" for played, n in fake.plays)


def sync_log(pipeline: Pipeline) -> list[tuple]:  # type: ignore[type-arg]
    return pipeline.count(
        "SELECT outcome, error_code, new_count FROM sync_log WHERE platform='spotify' ORDER BY id"
    )


def test_first_then_incremental_sync(spotify: Pipeline, fake: FakeSpotify) -> None:
    fake.listen(30)
    first = spotify.materialize("alice", "spotify")
    assert first.success
    assert metadata(first, "spotify")["new"] == 30
    fake.listen(5)
    second = spotify.materialize("alice", "spotify")
    assert metadata(second, "spotify")["new"] == 5
    assert stored_ids(spotify) == expected_ids(fake)
    after = [r.url.params.get("after") for r in fake.requests if r.url.path.endswith("recently-played")]
    assert after[0] is None and after[-1] == str(int(fake.plays[29][0].timestamp() * 1000))
    third = spotify.materialize("alice", "spotify")
    assert metadata(third, "spotify")["new"] == 0
    checks = {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed
        for e in third.all_events
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }
    assert checks == {"unique_keys": True, "no_future_items": True, "cursor_never_backwards": True}


def test_rate_limit_waits_the_given_time_and_is_not_a_failure(spotify: Pipeline, fake: FakeSpotify) -> None:
    fake.listen(10)
    fake.fail.append(
        httpx.Response(
            429,
            json={"error": {"status": 429, "message": "API rate limit exceeded"}},
            headers={"Retry-After": "1"},
        )
    )
    result = spotify.materialize("alice", "spotify")
    assert result.success
    waits = [
        e.step_retry_data.seconds_to_wait
        for e in result.all_events
        if e.event_type_value == "STEP_UP_FOR_RETRY"
    ]
    assert waits == [1]
    assert sync_log(spotify) == [("rate_limited", "rate_limit", 0), ("success", None, 10)]


def test_upstream_errors_are_retried_then_surfaced(spotify: Pipeline, fake: FakeSpotify) -> None:
    fake.listen(10)
    fake.fail.append(httpx.Response(502, json={"error": {"status": 502, "message": "Bad gateway"}}))
    assert spotify.materialize("alice", "spotify").success, "one 502 is retried away"
    assert len(stored_ids(spotify)) == 10

    fake.listen(3)
    for _ in range(3):
        fake.fail.append(httpx.Response(500, json={"error": {"status": 500, "message": "Server error"}}))
    result = spotify.materialize("alice", "spotify")
    assert not result.success
    failures = [r for r in sync_log(spotify) if r[0] == "failed"]
    assert len(failures) == 1 + 3, "the first 502, then every try of the second run"
    messages = spotify.count("SELECT error_message FROM sync_log WHERE error_code='upstream'")
    assert all("Server error" in m or "Bad gateway" in m for (m,) in messages)
    with spotify.warehouse.connect() as con:
        [note] = notifications(con, "alice")
    assert note.kind == "sync_failed"


def test_expired_token_is_refreshed_and_the_sync_runs_again(spotify: Pipeline, fake: FakeSpotify) -> None:
    fake.listen(8)
    fake.expire_token()
    result = spotify.materialize("alice", "spotify")
    assert result.success
    assert len(stored_ids(spotify)) == 8
    creds = spotify.credentials.load("alice", "spotify")
    assert creds is not None and creds.access_token is not None
    assert creds.access_token.get_secret_value() == fake.access_token
    assert creds.refresh_token is not None and creds.refresh_token.get_secret_value() == "refresh-1", "kept"
    token_calls = [r for r in fake.requests if r.url.path == "/api/token"]
    assert len(token_calls) == 1
    assert token_calls[0].headers["Authorization"].startswith("Basic ")


def test_refused_refresh_disconnects_and_notifies_without_retry(spotify: Pipeline, fake: FakeSpotify) -> None:
    fake.listen(4)
    fake.expire_token()
    fake.refresh_allowed = False
    result = spotify.materialize("alice", "spotify")
    assert not result.success
    assert not any(e.event_type_value == "STEP_UP_FOR_RETRY" for e in result.all_events)
    with spotify.warehouse.connect() as con:
        state, reason = connection_state(con, "alice", "spotify")  # type: ignore[misc]
        [note] = notifications(con, "alice")
    assert state == "disconnected"
    assert "invalid_grant" in (reason or "")
    assert note.kind == "disconnected" and "Reconnect spotify" in note.message
    logs = "\n".join(e.user_message for e in spotify.instance.all_logs(result.run_id))
    assert "refresh-1" not in logs and fake.access_token not in logs, "no token in the run's log"


def test_missing_scope_needs_reauth_and_names_the_scope(spotify: Pipeline, fake: FakeSpotify) -> None:
    fake.listen(4)
    fake.granted_scopes = ()
    spotify.credentials.save("alice", "spotify", Credentials(access_token=fake.access_token, scopes=()))
    result = spotify.materialize("alice", "spotify")
    assert not result.success
    assert not any(e.event_type_value == "STEP_UP_FOR_RETRY" for e in result.all_events)
    with spotify.warehouse.connect() as con:
        state, _ = connection_state(con, "alice", "spotify")  # type: ignore[misc]
        [note] = notifications(con, "alice")
    assert state == "needs_reauth"
    assert "user-read-recently-played" in note.message


def test_invalid_data_is_not_retried_and_the_raw_answer_is_kept(spotify: Pipeline, fake: FakeSpotify) -> None:
    fake.listen(4)
    fake.fail.append(httpx.Response(200, content=b"<html><body>Upstream maintenance</body></html>"))
    result = spotify.materialize("alice", "spotify")
    assert not result.success
    assert not any(e.event_type_value == "STEP_UP_FOR_RETRY" for e in result.all_events)
    [(raw,)] = spotify.count("SELECT error_raw FROM sync_log WHERE error_code = 'invalid_data'")
    assert "Upstream maintenance" in raw
    checks = ("unique_keys", "no_future_items", "cursor_never_backwards")
    assert set(check_statuses(spotify.instance, "spotify", *checks).values()) == {"SUCCEEDED"}, (
        "a failed sync still checks what is stored: a check never evaluated shows as failed"
    )


def test_a_user_who_has_not_connected_gets_a_clear_failure(spotify: Pipeline) -> None:
    result = spotify.materialize("bob", "spotify")
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "bob has not connected spotify" in failure.step_failure_data.error.message  # type: ignore[union-attr]


def test_full_resync_from_run_config_starts_from_an_empty_cursor(
    spotify: Pipeline, fake: FakeSpotify
) -> None:
    fake.listen(6)
    spotify.materialize("alice", "spotify")
    fake.requests.clear()
    config = {"ops": {"spotify": {"config": {"full_resync": True}}}}
    result = spotify.materialize("alice", "spotify", run_config=config)
    assert metadata(result, "spotify")["skipped"] == 6
    assert fake.requests[0].url.params.get("after") is None


def test_random_platform_faults_never_lose_or_double_a_play(spotify: Pipeline, fake: FakeSpotify) -> None:
    fake.random_failure_rate = 0.35
    for _ in range(12):
        fake.listen(fake.rng.randint(1, 15))
        for _attempt in range(8):
            if spotify.materialize("alice", "spotify").success:
                break
    fake.random_failure_rate = 0.0
    assert spotify.materialize("alice", "spotify").success
    assert stored_ids(spotify) == expected_ids(fake)
    faults = {code for (_, code, _) in sync_log(spotify) if code}
    assert {"rate_limit", "upstream", "invalid_data"} <= faults, f"the faults really happened: {faults}"


def test_each_user_syncs_from_their_own_cursor(spotify: Pipeline, fake: FakeSpotify) -> None:
    fake.listen(5)
    assert spotify.materialize("alice", "spotify").success
    spotify.credentials.save("bob", "spotify", Credentials(access_token=fake.access_token))
    fake.requests.clear()
    result = spotify.materialize("bob", "spotify")
    assert metadata(result, "spotify")["new"] == 5, "bob's first sync is a full one, not alice's cursor"
    assert fake.requests[0].url.params.get("after") is None
    per_user = dict(spotify.count("SELECT user_id, count(*) FROM media_items GROUP BY ALL"))
    assert per_user == {"alice": 5, "bob": 5}


def test_api_assets_share_one_pool_per_platform(spotify: Pipeline) -> None:
    defs = spotify.defs
    assert defs.resolve_assets_def("spotify").op.pool == "platform_spotify"
    assert defs.resolve_assets_def("netflix").op.pool is None, "file imports are not rate limited"


def test_notifications_reach_the_webhook(
    spotify: Pipeline, fake: FakeSpotify, monkeypatch: pytest.MonkeyPatch
) -> None:
    received: list[dict] = []  # type: ignore[type-arg]

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        monkeypatch.setenv("MCA_NOTIFY_WEBHOOK", f"http://127.0.0.1:{server.server_port}/hook")
        fake.listen(2)
        fake.granted_scopes = ()
        assert not spotify.materialize("alice", "spotify").success
    finally:
        server.shutdown()
    [note] = received
    assert (note["user_id"], note["plugin"], note["kind"]) == ("alice", "spotify", "needs_reauth")
    assert "user-read-recently-played" in note["message"]
