"""The error policy reads everything the plugin says (issue 14, item 3).

A platform answer the plugin marks `retry=False` fails the run without the asset's
retries; a plugin that raises (a bug, not the platform) fails the run with its traceback,
is never retried and is never stored as a platform error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dagster import RetryPolicy, instance_for_test
from dagster._core.execution.execute_in_process_result import ExecuteInProcessResult

from mca_pipeline.core import Credentials, PluginRegistry
from mca_pipeline.plugins.spotify import SpotifyPlugin
from mca_pipeline.plugins.youtube import YoutubePlugin
from mca_pipeline_tests.defs.dagster_env import Pipeline
from mca_pipeline_tests.fakes.spotify_web_api import API

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
