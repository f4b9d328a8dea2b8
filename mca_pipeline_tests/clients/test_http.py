"""The HTTP behaviour every platform client shares (clients/http.py), against a mocked
platform: what a plugin or an enrichment gets when a request goes wrong."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from mca_pipeline.clients.http import RAW_CHARS, PlatformFailed, PlatformHttp, partial_sync
from mca_pipeline.core import EnrichmentFailed, ErrorCode, PluginError

SECRET = "s3cr3t-token-value"


def platform(handler, timeout: float | None = 5.0) -> PlatformHttp:  # type: ignore[no-untyped-def]
    client = httpx.Client(
        base_url="https://api.example.test", transport=httpx.MockTransport(handler), timeout=timeout
    )
    return PlatformHttp("Example", "https://api.example.test", client, timeout_s=9.0)


def test_a_request_never_waits_forever_but_a_client_keeps_its_own_timeout() -> None:
    seen: list[dict[str, float | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.extensions["timeout"])
        return httpx.Response(200, json={})

    platform(handler, timeout=3.0).get("/x", what="x")
    platform(handler, timeout=None).get("/x", what="x")
    assert seen[0] == {"connect": 3.0, "read": 3.0, "write": 3.0, "pool": 3.0}
    assert seen[1] == {"connect": 9.0, "read": 9.0, "write": 9.0, "pool": 9.0}
    built = PlatformHttp("Example", "https://api.example.test", timeout_s=7.5)
    assert built.client.timeout == httpx.Timeout(7.5)
    assert str(built.client.base_url) == "https://api.example.test"


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (httpx.ReadTimeout, "Example did not answer in time (likes page 2)"),
        (httpx.ConnectError, "cannot reach Example"),
    ],
)
def test_timeouts_and_network_errors_are_upstream_without_the_secret(
    exc: type[httpx.HTTPError], words: str
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise exc(f"failed for {request.url}", request=request)

    with pytest.raises(PlatformFailed) as failed:
        platform(handler).get("/likes", what="likes page 2", secrets=[SECRET], params={"api_key": SECRET})
    error = failed.value.error
    assert isinstance(failed.value, EnrichmentFailed), "an enrichment lets it rise as is"
    assert (error.code, error.retry) == (ErrorCode.UPSTREAM, True)
    assert words in error.message
    assert SECRET not in error.message and "api_key=[REDACTED]" in error.message


def test_a_rate_limit_waits_what_the_platform_says_else_the_default() -> None:
    api = platform(lambda r: httpx.Response(200))
    told = httpx.Response(429, headers={"Retry-After": "120"}, text=f"slow down {SECRET}")
    error = api.common_error(told, "likes", default_wait=timedelta(seconds=30), secrets=[SECRET])
    assert error is not None and error.code is ErrorCode.RATE_LIMIT and error.retry
    assert error.after == timedelta(seconds=120)
    assert "retry in 120 s" in error.message
    assert error.raw == "slow down [REDACTED]" and error.details["http_status"] == 429
    silent = api.common_error(httpx.Response(429), "likes", default_wait=timedelta(seconds=30))
    assert silent is not None and silent.after == timedelta(seconds=30)
    own_header = api.rate_limited(
        told, "likes", default_wait=timedelta(seconds=30), after=timedelta(seconds=4)
    )
    assert own_header.after == timedelta(seconds=4)


def test_outages_are_upstream_and_other_statuses_are_the_platforms_to_read() -> None:
    api = platform(lambda r: httpx.Response(200))
    body = "<html>" + "x" * 2000 + "</html>"
    outage = api.common_error(httpx.Response(503, text=body), "likes", default_wait=timedelta(seconds=1))
    assert outage is not None and (outage.code, outage.retry) == (ErrorCode.UPSTREAM, True)
    assert "Example answered HTTP 503 (likes)" in outage.message
    assert outage.raw == body[:RAW_CHARS]
    for status in (200, 204, 400, 401, 403, 404):
        assert api.common_error(httpx.Response(status), "likes", default_wait=timedelta(seconds=1)) is None


def test_a_partial_sync_keeps_the_cause() -> None:
    cause = PluginError(
        code=ErrorCode.RATE_LIMIT,
        message="rate limit hit",
        after=timedelta(seconds=60),
        raw="{}",
        details={"a": 1},
    )
    partial = partial_sync(cause, "read 100 plays from 2 page(s), then", failed_page=3)
    assert partial.code is ErrorCode.PARTIAL_SYNC and partial.retry
    assert partial.message == "read 100 plays from 2 page(s), then: rate limit hit"
    assert partial.after == timedelta(seconds=60) and partial.raw == "{}"
    assert partial.details == {"a": 1, "failed_page": 3, "cause": "rate_limit"}
