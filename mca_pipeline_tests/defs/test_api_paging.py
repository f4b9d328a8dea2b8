"""Multi-page API syncs through Dagster with a fake Last.fm: a failure after some pages
is resumed with nothing lost or doubled, and a page budget continues in another run."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from dagster import RetryPolicy, SensorResult, build_sensor_context, instance_for_test

from mca_pipeline.core import Credentials, PluginRegistry
from mca_pipeline.plugins.lastfm import LastfmPlugin
from mca_pipeline_tests.defs.dagster_env import Pipeline, metadata
from mca_pipeline_tests.fakes.lastfm_api import BASE, FakeLastfm


@pytest.fixture
def fake() -> FakeLastfm:
    return FakeLastfm()


@pytest.fixture
def lastfm(tmp_path: Path, fake: FakeLastfm) -> Iterator[Pipeline]:
    registry = PluginRegistry()
    registry.register(
        LastfmPlugin(client=httpx.Client(transport=fake.transport(), base_url=BASE), page_limit=50)
    )
    home = tmp_path / "dagster_home"
    home.mkdir()
    with instance_for_test(temp_dir=str(home)) as instance:
        pipeline = Pipeline(
            tmp_path / "data", instance, registry=registry, retry_policy=RetryPolicy(max_retries=2)
        )
        pipeline.credentials.save("alice", "lastfm", Credentials(api_key=fake.api_key, account=fake.user))
        yield pipeline


def stored(pipeline: Pipeline) -> list[str]:
    return [r[0] for r in pipeline.count("SELECT external_id FROM media_items ORDER BY 1")]


def expected(fake: FakeLastfm) -> list[str]:
    return sorted(f"{uts}|{artist}|{name}" for uts, artist, name in fake.scrobbles)


def test_multi_page_first_sync_skips_now_playing(lastfm: Pipeline, fake: FakeLastfm) -> None:
    fake.scrobble(160)
    result = lastfm.materialize("alice", "lastfm")
    assert result.success
    assert metadata(result, "lastfm")["new"] == 160
    assert stored(lastfm) == expected(fake)
    assert {r.url.params["page"] for r in fake.requests} == {"1", "2", "3", "4"}


def test_failure_after_some_pages_resumes_with_nothing_lost_or_doubled(
    lastfm: Pipeline, fake: FakeLastfm
) -> None:
    fake.scrobble(120)  # three pages of 50
    real = fake.handle
    calls = {"n": 0}

    def page_two_fails_once(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 2:
            return httpx.Response(
                500, json={"error": 16, "message": "There was a temporary error processing your request."}
            )
        return real(request)

    fake.handle = page_two_fails_once  # type: ignore[method-assign]
    lastfm.registry = PluginRegistry()
    lastfm.registry.register(
        LastfmPlugin(
            client=httpx.Client(transport=httpx.MockTransport(page_two_fails_once), base_url=BASE),
            page_limit=50,
        )
    )
    result = lastfm.materialize("alice", "lastfm")
    assert result.success
    assert stored(lastfm) == expected(fake)
    log = lastfm.count("SELECT outcome, error_code, new_count FROM sync_log ORDER BY id")
    assert log[0] == ("partial", "partial_sync", 50)
    assert sum(r[2] for r in log) == 120, "every scrobble stored exactly once"
    assert [r.url.params["page"] for r in fake.requests] == ["1", "2", "3"], "the retry resumed at page 2"


def test_page_budget_stops_and_the_continuation_sensor_asks_for_more(
    lastfm: Pipeline, fake: FakeLastfm
) -> None:
    fake.scrobble(120)
    config = {"ops": {"lastfm": {"config": {"max_pages": 1, "page_size": 50}}}}
    lastfm.registry = PluginRegistry()
    lastfm.registry.register(
        LastfmPlugin(client=httpx.Client(transport=fake.transport(), base_url=BASE), page_limit=50)
    )
    first = lastfm.materialize("alice", "lastfm", run_config=config)
    meta = metadata(first, "lastfm")
    assert meta["has_more"] is True and meta["new"] < 120

    sensor = lastfm.defs.resolve_sensor_def("sync_continuation_sensor")
    result = sensor(build_sensor_context(instance=lastfm.instance))
    assert isinstance(result, SensorResult)
    [request] = result.run_requests
    assert request.partition_key == "alice"
    again = sensor(build_sensor_context(instance=lastfm.instance, cursor=result.cursor))
    assert isinstance(again, SensorResult) and again.run_requests == [], "asked once"

    while metadata(lastfm.materialize("alice", "lastfm", run_config=config), "lastfm")["has_more"]:
        pass
    assert stored(lastfm) == expected(fake)
