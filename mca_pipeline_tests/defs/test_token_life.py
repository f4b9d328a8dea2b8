"""The life of a Spotify connection through the Dagster asset: tokens refreshed ahead of
their expiry, and each kind of failed refresh ending the way it should.

Time is a simulated clock shared by the pipeline and the fake Spotify, whose access
tokens stop working an hour after they were issued, as the real ones do.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from dagster import ExecuteInProcessResult, RetryPolicy, instance_for_test

from mca_pipeline.core import Credentials, PluginRegistry
from mca_pipeline.plugins.spotify import SpotifyPlugin
from mca_pipeline.warehouse.accounts import CONNECTED, connection_state, notifications, set_connection_state
from mca_pipeline_tests.defs.dagster_env import Pipeline, log_messages
from mca_pipeline_tests.fakes.spotify_web_api import ACCOUNTS, API, FakeSpotify

RETRIES = RetryPolicy(max_retries=2, delay=0)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


class SimClock:
    """Now, as the test says: never slept through."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock() -> SimClock:
    return SimClock(START)


@pytest.fixture
def fake(clock: SimClock) -> FakeSpotify:
    fake = FakeSpotify(clock=clock, token_expires_at=START + timedelta(hours=1))
    fake.listen(6, start=START - timedelta(days=1))
    return fake


@pytest.fixture
def spotify(
    tmp_path: Path, fake: FakeSpotify, clock: SimClock, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Pipeline]:
    """alice connected Spotify at START; her token is good for an hour."""
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", "client-id")
    monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", "client-secret")
    registry = PluginRegistry()
    registry.register(SpotifyPlugin(client=httpx.Client(transport=fake.transport(), base_url=API)))
    home = tmp_path / "dagster_home"
    home.mkdir()
    with instance_for_test(temp_dir=str(home)) as instance:
        pipeline = Pipeline(
            tmp_path / "data",
            instance,
            registry=registry,
            oauth_http=httpx.Client(transport=fake.transport(), base_url=ACCOUNTS),
            retry_policy=RETRIES,
            clock=clock,
        )
        connect(pipeline, fake, expires_at=fake.token_expires_at)
        yield pipeline


def connect(pipeline: Pipeline, fake: FakeSpotify, expires_at: datetime | None) -> None:
    pipeline.credentials.save(
        "alice",
        "spotify",
        Credentials(
            access_token=fake.access_token,
            refresh_token=fake.refresh_token,
            expires_at=expires_at,
            scopes=fake.granted_scopes,
        ),
    )
    with pipeline.warehouse.connect() as con:
        set_connection_state(con, "alice", "spotify", CONNECTED, "connected in the web app")


def calls(fake: FakeSpotify) -> list[str]:
    """The order in which the fake was asked: "token" or "api"."""
    return ["token" if r.url.path == "/api/token" else "api" for r in fake.requests]


def state(pipeline: Pipeline) -> tuple[str, str | None]:
    with pipeline.warehouse.connect() as con:
        found = connection_state(con, "alice", "spotify")
    assert found is not None
    return found


def note_kinds(pipeline: Pipeline) -> list[str]:
    with pipeline.warehouse.connect() as con:
        return [n.kind for n in notifications(con, "alice")]


def sync_outcomes(pipeline: Pipeline) -> list[str]:
    return [r[0] for r in pipeline.count("SELECT outcome FROM sync_log ORDER BY id")]


def stored(pipeline: Pipeline) -> int:
    return int(pipeline.count("SELECT count(*) FROM media_items")[0][0])


def retries(result: ExecuteInProcessResult) -> int:
    return sum(1 for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY")


def stored_refresh_token(pipeline: Pipeline) -> str | None:
    creds = pipeline.credentials.load("alice", "spotify")
    assert creds is not None
    return creds.refresh_token.get_secret_value() if creds.refresh_token else None


# --------------------------------------------------------------------- refresh ahead


@pytest.mark.parametrize(
    "later", [timedelta(minutes=58), timedelta(hours=3)], ids=["expires_in_2_min", "expired_2h_ago"]
)
def test_a_token_near_or_past_its_expiry_is_refreshed_before_the_api_is_called(
    spotify: Pipeline, fake: FakeSpotify, clock: SimClock, later: timedelta
) -> None:
    clock.advance(seconds=later.total_seconds())
    result = spotify.materialize("alice", "spotify")
    assert result.success
    assert calls(fake)[0] == "token", "refreshed first, not after a 401"
    assert fake.expired_token_calls == 0
    assert sync_outcomes(spotify) == ["success"], "no failed sync_log row for the expiry"
    assert stored(spotify) == 6
    creds = spotify.credentials.load("alice", "spotify")
    assert creds is not None and creds.access_token is not None
    assert creds.access_token.get_secret_value() == fake.access_token
    assert creds.expires_at == clock.now + timedelta(hours=1), "the new expiry is stored"
    assert stored_refresh_token(spotify) == "refresh-1", "Spotify sends none back: the old one is kept"


def test_a_token_well_within_its_life_is_not_refreshed(
    spotify: Pipeline, fake: FakeSpotify, clock: SimClock
) -> None:
    clock.advance(minutes=30)
    assert spotify.materialize("alice", "spotify").success
    assert "token" not in calls(fake)


def test_a_token_revoked_early_is_still_refreshed_after_the_401(spotify: Pipeline, fake: FakeSpotify) -> None:
    fake.expire_token()  # the platform dropped it although its expiry is an hour away
    result = spotify.materialize("alice", "spotify")
    assert result.success
    assert calls(fake)[:3] == ["api", "token", "api"]
    assert stored(spotify) == 6


def test_when_the_refresh_ahead_fails_the_sync_uses_the_token_while_it_lasts(
    spotify: Pipeline, fake: FakeSpotify, clock: SimClock
) -> None:
    clock.advance(minutes=57)
    fake.token_fail.append(httpx.Response(503, text="Service Unavailable"))
    result = spotify.materialize("alice", "spotify")
    assert result.success
    assert calls(fake)[:2] == ["token", "api"]
    assert stored(spotify) == 6 and retries(result) == 0
    assert any("syncing with the current token" in m for m in log_messages(spotify.instance, result))


# ------------------------------------------------- a token endpoint that is down: upstream


@pytest.mark.parametrize(
    "failure",
    [
        httpx.ConnectError("connection refused"),
        httpx.ReadTimeout("timed out"),
        httpx.Response(503, text="<html>Service Unavailable</html>"),
        httpx.Response(429, json={"error": "rate_limited"}, headers={"Retry-After": "30"}),
        httpx.Response(200, text="<html>maintenance</html>"),
    ],
    ids=["connection_error", "timeout", "503", "429", "unreadable_200"],
)
def test_a_token_endpoint_that_is_down_is_retried_and_the_connection_stays(
    spotify: Pipeline,
    fake: FakeSpotify,
    clock: SimClock,
    failure: httpx.Response | Exception,
) -> None:
    clock.advance(hours=2)  # the token has expired: it cannot be used while the endpoint is down
    fake.token_fail.extend([failure] * (RETRIES.max_retries + 1))
    result = spotify.materialize("alice", "spotify")
    assert not result.success
    assert retries(result) == RETRIES.max_retries, "retried like any upstream failure"
    assert fake.expired_token_calls == 0 and "api" not in calls(fake)
    assert state(spotify)[0] == "connected"
    assert note_kinds(spotify) == ["sync_failed"], "told once the retries ran out, never disconnected"
    assert stored_refresh_token(spotify) == "refresh-1"


def test_a_blip_after_a_401_is_upstream_too(spotify: Pipeline, fake: FakeSpotify) -> None:
    fake.expire_token()
    fake.token_fail.append(httpx.Response(502, text="Bad Gateway"))
    result = spotify.materialize("alice", "spotify")
    assert result.success, "the retry refreshes and syncs"
    assert retries(result) == 1
    assert state(spotify)[0] == "connected" and note_kinds(spotify) == []
    assert stored(spotify) == 6


# ------------------------------------------------------------- a refused grant: disconnect


@pytest.mark.parametrize(
    ("status", "error"),
    [(400, "invalid_grant"), (401, "invalid_client"), (400, "unauthorized_client")],
)
def test_a_refused_grant_disconnects_and_notifies_without_retry(
    spotify: Pipeline, fake: FakeSpotify, clock: SimClock, status: int, error: str
) -> None:
    clock.advance(hours=2)
    fake.token_fail.append(
        httpx.Response(status, json={"error": error, "error_description": "Refresh token revoked"})
    )
    result = spotify.materialize("alice", "spotify")
    assert not result.success and retries(result) == 0
    connection, reason = state(spotify)
    assert connection == "disconnected" and error in (reason or "")
    assert note_kinds(spotify) == ["disconnected"]
    logs = "\n".join(log_messages(spotify.instance, result))
    assert "refresh-1" not in logs and "client-secret" not in logs


def test_a_connection_without_a_refresh_token_is_disconnected_once_refused(
    spotify: Pipeline, fake: FakeSpotify
) -> None:
    spotify.credentials.save("alice", "spotify", Credentials(access_token=fake.access_token))
    fake.expire_token()
    result = spotify.materialize("alice", "spotify")
    assert not result.success and retries(result) == 0
    assert state(spotify)[0] == "disconnected" and note_kinds(spotify) == ["disconnected"]


# ------------------------------------------------------ the operator's configuration


def test_a_missing_client_id_fails_without_touching_the_connection(
    spotify: Pipeline, fake: FakeSpotify, clock: SimClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SPOTIFY_CLIENT_ID")
    clock.advance(hours=2)
    result = spotify.materialize("alice", "spotify")
    assert not result.success and retries(result) == 0
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "SPOTIFY_CLIENT_ID is not set" in failure.step_failure_data.error.message  # type: ignore[union-attr]
    assert state(spotify)[0] == "connected" and note_kinds(spotify) == []


def test_a_malformed_refresh_request_fails_without_touching_the_connection(
    spotify: Pipeline, fake: FakeSpotify, clock: SimClock
) -> None:
    clock.advance(hours=2)
    fake.token_fail.append(httpx.Response(400, json={"error": "unsupported_grant_type"}))
    result = spotify.materialize("alice", "spotify")
    assert not result.success and retries(result) == 0
    assert state(spotify)[0] == "connected" and note_kinds(spotify) == []


# ----------------------------------------------------------------------- a long life


def test_a_connection_lives_through_many_expiries_and_a_blip(
    spotify: Pipeline, fake: FakeSpotify, clock: SimClock
) -> None:
    """Hourly syncs for eight simulated hours: every token expires on the way, the
    token endpoint fails once, and no play is lost or sync marked failed."""
    for hour in range(1, 9):
        clock.advance(hours=1)
        fake.listen(4)
        if hour == 5:
            fake.token_fail.append(httpx.ConnectError("connection reset"))
        result = spotify.materialize("alice", "spotify")
        assert result.success, f"hour {hour}"
        assert retries(result) == (1 if hour == 5 else 0)
    assert stored(spotify) == len(fake.plays) == 6 + 8 * 4
    assert fake.expired_token_calls == 0, "never a 401 round-trip"
    assert calls(fake).count("token") == 8 + 1
    assert set(sync_outcomes(spotify)) == {"success"}
    assert state(spotify)[0] == "connected" and note_kinds(spotify) == []
