"""How a sync's errors end the run (issue 14, items 3 and 4).

A platform answer the plugin marks `retry=False` fails the run without the asset's
retries; a plugin that raises (a bug, not the platform) fails the run with its traceback,
is never retried and is never stored as a platform error. A rate limit longer than a run
should hold its slot ends the run and pauses that user's scheduled syncs until the
platform's time; a shorter one is waited for inside the run.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from dagster import RetryPolicy, instance_for_test
from dagster._core.execution.execute_in_process_result import ExecuteInProcessResult

from mca_pipeline.core import Credentials, PluginRegistry
from mca_pipeline.plugins.spotify import SpotifyPlugin
from mca_pipeline.plugins.youtube import YoutubePlugin
from mca_pipeline_tests.defs.dagster_env import Pipeline, metadata
from mca_pipeline_tests.fakes.spotify_web_api import API, FakeSpotify

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "youtube_api"
YOUTUBE = "https://www.googleapis.test/youtube/v3"
TOKEN = "BQD_spotify-access-token-secret-9f3a"
YT_SCOPE = "https://www.googleapis.com/auth/youtube.readonly"
#: Retries the asset would make if the policy allowed them.
TWO_RETRIES = RetryPolicy(max_retries=2, delay=0)


class _Broken(httpx.BaseTransport):
    """A transport with a bug in it: what a plugin's own programming error looks like."""

    def __init__(self) -> None:
        self.calls = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        secret = request.headers["Authorization"]
        raise RuntimeError(f"client bug while holding {secret}")


@pytest.fixture
def home(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "dagster_home").mkdir()
    yield tmp_path


def _pipeline(home: Path, instance: object, *plugins: object) -> Pipeline:
    registry = PluginRegistry()
    for plugin in plugins:
        registry.register(plugin)  # type: ignore[arg-type]
    return Pipeline(home / "data", instance, registry=registry, retry_policy=TWO_RETRIES)  # type: ignore[arg-type]


def _retries(result: ExecuteInProcessResult) -> int:
    return sum(e.event_type_value == "STEP_UP_FOR_RETRY" for e in result.all_events)


def test_an_answer_the_plugin_marks_not_worth_retrying_fails_without_retries(home: Path) -> None:
    calls: list[httpx.Request] = []

    def youtube(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        body = (FIXTURES / "error_400_page_token.json").read_bytes()
        return httpx.Response(400, content=body, headers={"Content-Type": "application/json; charset=UTF-8"})

    plugin = YoutubePlugin(client=httpx.Client(transport=httpx.MockTransport(youtube), base_url=YOUTUBE))
    with instance_for_test(temp_dir=str(home / "dagster_home")) as instance:
        pipeline = _pipeline(home, instance, plugin)
        pipeline.credentials.save(
            "alice", "youtube", Credentials(access_token="ya29.token", scopes=(YT_SCOPE,))
        )
        result = pipeline.materialize("alice", "youtube")

    assert not result.success
    assert _retries(result) == 0, "retry=False must not be retried by the asset's policy"
    assert len(calls) == 1
    assert pipeline.count("SELECT outcome, error_code FROM sync_log") == [("failed", "upstream")]


def test_a_plugin_that_raises_fails_the_run_with_its_traceback_and_no_retry(home: Path) -> None:
    broken = _Broken()
    plugin = SpotifyPlugin(client=httpx.Client(transport=broken, base_url=API))
    with instance_for_test(temp_dir=str(home / "dagster_home")) as instance:
        pipeline = _pipeline(home, instance, plugin)
        pipeline.credentials.save("alice", "spotify", Credentials(access_token=TOKEN))
        result = pipeline.materialize("alice", "spotify")

    assert not result.success
    assert _retries(result) == 0, "a retry repeats the bug"
    assert broken.calls == 1
    # Stored as what it is, not as the platform's fault; the cursor did not move.
    [(outcome, code, message, cursor_in, cursor_out)] = pipeline.count(
        "SELECT outcome, error_code, error_message, cursor_in, cursor_out FROM sync_log"
    )
    assert (outcome, code) == ("failed", "programming_error")
    assert "RuntimeError: client bug" in message
    assert cursor_out == cursor_in
    # The run's failure names the bug and carries the plugin's traceback, secrets masked.
    failure = next(e for e in result.all_events if e.is_step_failure)
    data = failure.step_failure_data
    assert "programming error" in data.error.message  # type: ignore[union-attr]
    trace = data.user_failure_data.metadata["traceback"].value  # type: ignore[union-attr]
    assert "handle_request" in trace and "RuntimeError: client bug" in trace
    assert TOKEN not in trace and TOKEN not in message
    assert data.user_failure_data.metadata["error_code"].value == "programming_error"  # type: ignore[union-attr]


# --- long waits do not hold run slots (item 4) -------------------------------------------

# 13:00 PDT on 2024-06-13: YouTube's quota resets at the next midnight Pacific, 11 h later.
NOW = datetime(2024, 6, 13, 20, 0, tzinfo=UTC)
QUOTA_RESET = datetime(2024, 6, 14, 7, 0, tzinfo=UTC)
#: A first sync of the likes: two pages of the playlist, each with its videos.
FIRST_SYNC = (
    (200, "playlist_items_page1.json"),
    (200, "videos_page1.json"),
    (200, "playlist_items_page2.json"),
    (200, "videos_page2.json"),
)


def _youtube_answers(*files: tuple[int, str]) -> tuple[list[httpx.Request], httpx.MockTransport]:
    """A YouTube that answers the n-th request with the n-th fixture."""
    requests: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        status, name = files[len(requests)]
        requests.append(request)
        body = (FIXTURES / name).read_bytes()
        return httpx.Response(
            status, content=body, headers={"Content-Type": "application/json; charset=UTF-8"}
        )

    return requests, httpx.MockTransport(answer)


def _tick(pipeline: Pipeline, at: datetime) -> list[str]:
    """Users the YouTube schedule asks a run for at `at`."""
    return sorted(user for _, users in pipeline.scheduled_batches("youtube", at) for user in users)


def test_a_quota_wait_of_hours_ends_the_run_and_pauses_the_schedule_until_the_reset(home: Path) -> None:
    requests, transport = _youtube_answers(
        (403, "error_403_quota.json"),
        *FIRST_SYNC,
    )
    plugin = YoutubePlugin(client=httpx.Client(transport=transport, base_url=YOUTUBE), clock=lambda: NOW)
    with instance_for_test(temp_dir=str(home / "dagster_home")) as instance:
        pipeline = _pipeline(home, instance, plugin)
        pipeline.clock = lambda: NOW
        for user in ("alice", "bob"):
            pipeline.credentials.save(
                user, "youtube", Credentials(access_token="ya29.token", scopes=(YT_SCOPE,))
            )
        instance.add_dynamic_partitions("users", ["alice", "bob"])

        result = pipeline.materialize("alice", "youtube")
        # The run ended at once, cleanly, instead of waiting 11 hours in its slot.
        assert result.success
        assert _retries(result) == 0
        meta = metadata(result, "youtube")
        assert meta["waiting_until"] == QUOTA_RESET.isoformat()
        assert meta["has_more"] is False, "the continuation sensor must not start it again"
        assert pipeline.count("SELECT outcome, error_code FROM sync_log") == [("rate_limited", "rate_limit")]

        # Scheduled syncs leave alice alone until the reset, then take her up again.
        assert _tick(pipeline, QUOTA_RESET - timedelta(minutes=1)) == ["bob"]
        assert _tick(pipeline, QUOTA_RESET + timedelta(minutes=1)) == ["alice", "bob"]

        # A sync after the reset stores her likes and ends the pause.
        later = QUOTA_RESET + timedelta(minutes=1)
        pipeline.clock = lambda: later
        after = pipeline.materialize("alice", "youtube")
        assert after.success and "waiting_until" not in metadata(after, "youtube")
        assert pipeline.count("SELECT count(*) FROM media_items WHERE user_id = 'alice'")[0][0] > 0
        assert pipeline.count("SELECT count(*) FROM sync_pauses") == [(0,)]
    assert len(requests) == 1 + len(FIRST_SYNC)


def test_the_longest_wait_in_a_run_is_a_deployment_setting(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Spotify's 429 asks for 30 s; this deployment holds slots for at most 10 s.
    monkeypatch.setenv("MCA_LONGEST_WAIT_IN_RUN_S", "10")
    fake = FakeSpotify()
    fake.listen(5)
    fake.fail.append(
        httpx.Response(
            429,
            json={"error": {"status": 429, "message": "API rate limit exceeded"}},
            headers={"Retry-After": "30"},
        )
    )
    plugin = SpotifyPlugin(client=httpx.Client(transport=fake.transport(), base_url=API))
    with instance_for_test(temp_dir=str(home / "dagster_home")) as instance:
        pipeline = _pipeline(home, instance, plugin)
        pipeline.clock = lambda: NOW
        pipeline.credentials.save("alice", "spotify", Credentials(access_token=fake.access_token))
        result = pipeline.materialize("alice", "spotify")
    assert result.success and _retries(result) == 0
    assert metadata(result, "spotify")["waiting_until"] == (NOW + timedelta(seconds=30)).isoformat()
    assert pipeline.count("SELECT count(*) FROM media_items") == [(0,)]
