"""SpotifyPlugin (Web API, recently played) against an httpx.MockTransport serving
fixtures shaped like PLATFORMS.md 1.2 / 1.5.

Milliseconds below were worked out from the fixtures' `played_at` values (the first one
is PLATFORMS.md's own example: 2024-05-03T18:22:41.337Z = 1714760561337).
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from mca_pipeline.core import (
    AuthType,
    Credentials,
    DedupPolicy,
    EnrichmentSkipped,
    ErrorCode,
    MediaItem,
    MediaType,
    OAuthConfig,
    PluginRegistry,
    SourcePlugin,
    SyncContext,
    SyncResult,
)
from mca_pipeline.plugins.spotify import SpotifyPlugin, epoch_ms, parse_played_at

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "spotify_api"
BASE = "https://api.spotify.test"
PATH = "/v1/me/player/recently-played"
TOKEN = "BQDx-test-access-token-9kQ"
SCOPE = "user-read-recently-played"

# played_at in ms, newest first: page 1, page 2, and the two plays of the after= page
LANTERN_1, PAPER, LANTERN_2 = 1714760561337, 1714760282010, 1714760067123
TELEGRAPH, GLASS = 1714759129000, 1714758912040
FERRY, TIDE = 1714761065902, 1714760840418

LANTERN_ID = "6tYk2W9bQ1nVx8ZrP3mLcD"


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


Handler = Callable[[httpx.Request], httpx.Response]


class Api:
    """A mock Spotify: records each request, checks the invariants every request must
    meet (path, limit=50, bearer token, never after= together with before=), and answers
    with `respond(request, n)` where n counts requests from 0."""

    def __init__(self, respond: Callable[[httpx.Request, int], httpx.Response]) -> None:
        self.respond = respond
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        n = len(self.requests)
        self.requests.append(request)
        assert request.method == "GET"
        assert request.url.path == PATH
        assert request.url.params["limit"] == "50"
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert not ("after" in request.url.params and "before" in request.url.params)
        return self.respond(request, n)

    def params(self) -> list[dict[str, str]]:
        return [dict(r.url.params) for r in self.requests]


def ok(name: str | dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json=fixture(name) if isinstance(name, str) else name)


def error(status: int, name: str, headers: dict[str, str] | None = None) -> httpx.Response:
    """The fixture's bytes as they are, so that `raw` can be compared with the file."""
    headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    return httpx.Response(status, content=(FIXTURES / name).read_bytes(), headers=headers)


def pages(*responses: httpx.Response | Exception) -> Callable[[httpx.Request, int], httpx.Response]:
    """Answer the n-th request with the n-th response (an exception is raised instead)."""

    def respond(request: httpx.Request, n: int) -> httpx.Response:
        answer = responses[n]
        if isinstance(answer, Exception):
            raise answer
        return answer

    return respond


def plugin_for(api: Handler) -> SpotifyPlugin:
    return SpotifyPlugin(client=httpx.Client(transport=httpx.MockTransport(api), base_url=BASE))


def run(
    api: Handler,
    cursor: str = "",
    *,
    scopes: tuple[str, ...] = (SCOPE,),
    ctx: SyncContext | None = None,
) -> SyncResult:
    creds = Credentials(access_token=TOKEN, scopes=scopes)
    return plugin_for(api).sync(ctx or SyncContext(user_id="alice"), creds, cursor)


def start_of(played_at: str, duration_ms: int) -> datetime:
    """played_at stamps the end of a play; consumed_at is its start."""
    return at(played_at) - timedelta(milliseconds=duration_ms)


def summary(item: MediaItem) -> tuple[Any, ...]:
    return (item.title, item.creator, item.consumed_at, item.external_id)


FIRST_SYNC = [
    (
        "Lantern Street",
        "Marla Venn",
        start_of("2024-05-03T18:22:41.337", 214560),
        f"{LANTERN_ID}@{LANTERN_1}",
    ),
    (
        "Paper Harbour",
        "Odo Kline, Sefa Ray",
        start_of("2024-05-03T18:18:02.010", 187003),
        f"3mQ7wX2cV9bN4kL8jH1gFd@{PAPER}",
    ),
    (
        "Lantern Street",
        "Marla Venn",
        start_of("2024-05-03T18:14:27.123", 214560),
        f"{LANTERN_ID}@{LANTERN_2}",
    ),
    (
        "Telegraph Hill",
        "The June Antennas",
        start_of("2024-05-03T17:58:49", 251120),
        f"1pO9iU8yT7rE6wQ5aS4dFg@{TELEGRAPH}",
    ),
    (
        "Glasshouse",
        "The June Antennas",
        start_of("2024-05-03T17:55:12.040", 198400),
        f"4hJ6kL2mN8bV3cX7zQ1wEr@{GLASS}",
    ),
]
AFTER_SYNC = [
    (
        "Night Ferry",
        "Marla Venn",
        start_of("2024-05-03T18:31:05.902", 233900),
        f"5zX7cV9bN1mQ3wE5rT7yUi@{FERRY}",
    ),
    (
        "Low Tide Signal",
        "Marla Venn",
        start_of("2024-05-03T18:27:20.418", 176250),
        f"2wE4rT6yU8iO0pA3sD5fGh@{TIDE}",
    ),
]


# --- first sync ---------------------------------------------------------------------------


def test_first_sync_follows_next_through_both_pages() -> None:
    api = Api(pages(ok("recently_played_page1.json"), ok("recently_played_page2.json")))
    result = run(api)

    assert result.err is None
    assert [summary(i) for i in result.items] == FIRST_SYNC
    assert result.next_cursor == str(LANTERN_1)
    assert result.has_more is False
    # no after= on a first sync; page 2 is the before= of page 1's `next`
    assert api.params() == [{"limit": "50"}, {"limit": "50", "before": str(LANTERN_2)}]


def test_item_fields_and_raw_metadata() -> None:
    result = run(Api(pages(ok("recently_played_page1.json"), ok("recently_played_page2.json"))))
    first, paper, _, telegraph, _ = result.items

    assert first.platform == "spotify"
    assert first.type is MediaType.MUSIC
    assert first.duration == timedelta(milliseconds=214560)
    assert first.time_spent is None
    assert first.url == f"https://open.spotify.com/track/{LANTERN_ID}"
    assert first.raw_metadata == {
        "played_at": "2024-05-03T18:22:41.337Z",
        "track_id": LANTERN_ID,
        "track_uri": f"spotify:track:{LANTERN_ID}",
        "album": {"id": "4aZ1cT9QpXv2LmN0bYt7Ks", "name": "Night Lines", "release_date": "2021-09-10"},
        "artist_ids": ["1xQ4mZc0kR7Wn3pT8vL2Ha"],
        "popularity": 41,
        "isrc": "GBXYZ2100301",
        "context": {"type": "playlist", "uri": "spotify:playlist:37i9dQZF1DX0000000000"},
        "explicit": False,
        "is_local": False,
    }
    # context null stays None; two artists -> both ids; explicit kept
    assert paper.raw_metadata["context"] is None
    assert paper.raw_metadata["artist_ids"] == ["5pR8tYw2LkQz9XcV1bN3Md", "0gH7jK3mQ9wE2rT6yU1iOp"]
    assert paper.raw_metadata["explicit"] is True
    # popularity / isrc only when the payload has them
    assert "popularity" not in telegraph.raw_metadata
    assert "isrc" not in telegraph.raw_metadata
    assert telegraph.raw_metadata["played_at"] == "2024-05-03T17:58:49Z"


def test_track_played_twice_is_two_items() -> None:
    result = run(Api(pages(ok("recently_played_page1.json"), ok("recently_played_page2.json"))))
    lantern = [i for i in result.items if i.raw_metadata["track_id"] == LANTERN_ID]

    assert [i.external_id for i in lantern] == [f"{LANTERN_ID}@{LANTERN_1}", f"{LANTERN_ID}@{LANTERN_2}"]
    assert lantern[0].raw_metadata["context"]["type"] == "playlist"
    assert lantern[1].raw_metadata["context"]["type"] == "album"


def test_first_sync_stops_at_an_empty_page() -> None:
    page1 = fixture("recently_played_page1.json")
    empty = {"items": [], "next": f"https://api.spotify.com{PATH}?before=1&limit=50", "cursors": None}
    api = Api(pages(ok(page1), ok(empty)))
    result = run(api)

    assert result.err is None
    assert [summary(i) for i in result.items] == FIRST_SYNC[:3]
    assert result.next_cursor == str(LANTERN_1)
    assert len(api.requests) == 2


@pytest.mark.parametrize("cursor", ["0", "not-a-cursor", "-12"])
def test_zero_or_unreadable_cursor_reads_like_a_first_sync(cursor: str) -> None:
    api = Api(pages(ok("recently_played_page1.json"), ok("recently_played_page2.json")))
    result = run(api, cursor)

    assert result.err is None
    assert [summary(i) for i in result.items] == FIRST_SYNC
    assert result.next_cursor == str(LANTERN_1)
    assert "after" not in api.requests[0].url.params


def test_next_on_another_host_never_gets_the_token() -> None:
    """Only `before=` is taken from `next`; the request goes to our base URL."""
    page1 = fixture("recently_played_page1.json")
    page1["next"] = f"https://evil.example{PATH}?before={LANTERN_2}&limit=50"
    api = Api(pages(ok(page1), ok("recently_played_page2.json")))
    result = run(api)

    assert result.err is None
    assert [str(r.url.host) for r in api.requests] == ["api.spotify.test", "api.spotify.test"]
    assert api.requests[1].url.params["before"] == str(LANTERN_2)


def test_next_without_before_falls_back_to_cursors_before() -> None:
    page1 = fixture("recently_played_page1.json")
    page1["next"] = f"https://api.spotify.com{PATH}?limit=50"
    api = Api(pages(ok(page1), ok("recently_played_page2.json")))
    result = run(api)

    assert len(result.items) == 5
    assert api.requests[1].url.params["before"] == str(LANTERN_2)


def test_a_next_that_does_not_go_back_in_time_ends_paging() -> None:
    """A server that hands out the same page forever must not loop."""
    api = Api(lambda request, n: ok("recently_played_page1.json"))
    result = run(api)

    assert result.err is None
    assert [summary(i) for i in result.items] == FIRST_SYNC[:3]  # repeats deduplicated
    assert len(api.requests) == 2


def test_local_track_uses_its_uri() -> None:
    page = fixture("recently_played_page2.json")
    track = page["items"][0]["track"]
    uri = "spotify:local:The+June+Antennas:Static+Season:Telegraph+Hill+%28demo%29:251"
    track.update(id=None, is_local=True, uri=uri, external_urls={}, popularity=0)
    result = run(Api(pages(ok(page))))

    assert result.err is None
    local = result.items[0]
    assert local.external_id == f"{uri}@{TELEGRAPH}"
    assert local.url is None
    assert local.raw_metadata["track_id"] is None
    assert local.raw_metadata["track_uri"] == uri
    assert local.raw_metadata["is_local"] is True


@pytest.mark.parametrize(
    ("played_at", "expected"),
    [
        ("2024-05-03T18:22:41.337Z", 1714760561337),
        ("2024-05-03T18:22:41Z", 1714760561000),
        ("2024-05-03T18:22:41.3Z", 1714760561300),
        ("2024-05-03T18:22:41.33Z", 1714760561330),
        ("2024-05-03T18:22:41.337512Z", 1714760561337),
        ("2024-05-03T18:22:41.337512999Z", 1714760561337),
        ("2024-05-03T18:22:41.337+00:00", 1714760561337),
        ("2024-05-03T20:22:41.337+02:00", 1714760561337),
        ("2024-05-03T18:22:41.337", 1714760561337),
    ],
)
def test_played_at_is_parsed_whatever_its_fraction_or_zone(played_at: str, expected: int) -> None:
    moment = parse_played_at(played_at)
    assert moment.tzinfo is UTC
    assert epoch_ms(moment) == expected


@pytest.mark.parametrize("played_at", ["yesterday", "2024-13-03T18:22:41Z", "2024-05-03", ""])
def test_unreadable_played_at_is_rejected(played_at: str) -> None:
    with pytest.raises(ValueError):
        parse_played_at(played_at)


# --- incremental sync ---------------------------------------------------------------------


def test_incremental_sync_sends_after_and_advances_the_cursor() -> None:
    api = Api(pages(ok("recently_played_after.json")))
    result = run(api, str(LANTERN_1))

    assert result.err is None
    assert [summary(i) for i in result.items] == AFTER_SYNC
    assert result.next_cursor == str(FERRY)
    assert result.has_more is False
    assert api.params() == [{"limit": "50", "after": str(LANTERN_1)}]


def test_incremental_sync_keeps_only_plays_newer_than_the_cursor() -> None:
    """A window overlapping stored plays: only the newer one is kept, and paging stops
    because the page already reached the cursor."""
    api = Api(pages(ok("recently_played_page1.json")))
    result = run(api, str(PAPER))

    assert [summary(i) for i in result.items] == FIRST_SYNC[:1]
    assert result.next_cursor == str(LANTERN_1)
    assert len(api.requests) == 1


def test_incremental_sync_pages_back_while_plays_are_newer() -> None:
    """Page 1 is all newer than the cursor, so its `next` is followed; page 2 reaches
    the cursor (its first play IS the stored newest) and ends the sync."""
    api = Api(pages(ok("recently_played_page1.json"), ok("recently_played_page2.json")))
    result = run(api, str(TELEGRAPH))

    assert [summary(i) for i in result.items] == FIRST_SYNC[:3]
    assert result.next_cursor == str(LANTERN_1)
    assert api.params() == [
        {"limit": "50", "after": str(TELEGRAPH)},
        {"limit": "50", "before": str(LANTERN_2)},
    ]


@pytest.mark.parametrize("cursor", [str(FERRY), str(FERRY + 60_000)])
def test_no_new_plays_leaves_the_cursor_where_it_was(cursor: str) -> None:
    empty = {"items": [], "next": None, "cursors": None, "limit": 50, "href": f"{BASE}{PATH}"}
    result = run(Api(pages(ok(empty))), cursor)

    assert result.err is None
    assert result.items == []
    assert result.next_cursor == cursor
    assert result.has_more is False


def test_stale_plays_in_an_after_response_do_not_move_the_cursor_back() -> None:
    result = run(Api(pages(ok("recently_played_page1.json"))), str(FERRY))

    assert result.items == []
    assert result.next_cursor == str(FERRY)


@pytest.mark.parametrize("cursor", ["", str(FERRY)])
@pytest.mark.parametrize("response", [httpx.Response(204), httpx.Response(200, content=b"")])
def test_private_session_gives_no_plays_and_no_error(cursor: str, response: httpx.Response) -> None:
    result = run(Api(pages(response)), cursor)

    assert result.err is None
    assert result.items == []
    assert result.next_cursor == cursor
    assert result.has_more is False


def test_cursor_never_moves_backwards_over_a_sequence_of_syncs() -> None:
    plugin = SpotifyPlugin()
    responses = {
        "": ["recently_played_page1.json", "recently_played_page2.json"],
        str(LANTERN_1): ["recently_played_after.json"],
    }
    cursor = ""
    for _ in range(3):
        names = iter(responses.get(cursor, []))
        api = Api(lambda request, n, names=names: ok(next(names, {"items": [], "next": None})))
        result = run(api, cursor)
        assert result.err is None
        before, after = plugin.cursor_order(cursor), plugin.cursor_order(result.next_cursor)
        assert after is not None
        assert before is None or after >= before
        cursor = result.next_cursor
    assert cursor == str(FERRY)
    plugin.client.close()


def test_cursor_order() -> None:
    plugin = SpotifyPlugin()
    assert plugin.cursor_order(str(LANTERN_1)) == float(LANTERN_1)
    assert plugin.cursor_order("0") == 0.0
    for garbage in ["", "  ", "abc", "-5", "nan", "inf"]:
        assert plugin.cursor_order(garbage) is None
    plugin.client.close()


# --- errors -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "message", ["The access token expired", "Invalid access token", "Missing/invalid/expired access token"]
)
def test_401_is_auth_expired(message: str) -> None:
    body = {"error": {"status": 401, "message": message}}
    result = run(Api(pages(httpx.Response(401, json=body))), str(LANTERN_1))

    assert result.err is not None
    assert result.err.code is ErrorCode.AUTH_EXPIRED
    assert result.err.retry is False
    assert message in result.err.message
    assert result.items == []
    assert result.next_cursor == str(LANTERN_1)


def test_401_fixture_and_malformed_bearer_400_are_auth_expired() -> None:
    result = run(Api(pages(error(401, "error_401.json"))))
    assert result.err is not None
    assert result.err.code is ErrorCode.AUTH_EXPIRED
    assert result.err.raw == (FIXTURES / "error_401.json").read_text()

    body = {"error": {"status": 400, "message": "Only valid bearer authentication supported"}}
    result = run(Api(pages(httpx.Response(400, json=body))))
    assert result.err is not None
    assert result.err.code is ErrorCode.AUTH_EXPIRED


def test_missing_access_token_is_auth_expired_without_a_request() -> None:
    api = Api(pages())
    result = plugin_for(api).sync(SyncContext(user_id="alice"), Credentials(), "")

    assert result.err is not None
    assert result.err.code is ErrorCode.AUTH_EXPIRED
    assert api.requests == []


@pytest.mark.parametrize(
    ("granted", "missing"),
    [
        ((), [SCOPE]),  # grant unknown: every required scope
        (("user-read-private", "user-library-read"), [SCOPE]),
        ((SCOPE,), [SCOPE]),  # Spotify says otherwise, so the stored grant is stale
    ],
)
def test_403_for_scope_lists_the_missing_scopes(granted: tuple[str, ...], missing: list[str]) -> None:
    result = run(Api(pages(error(403, "error_403_scope.json"))), scopes=granted)

    assert result.err is not None
    assert result.err.code is ErrorCode.PERMISSION_DENIED
    assert result.err.retry is False
    assert result.err.details == {"missing_scopes": missing}
    assert "Insufficient client scope" in result.err.message
    assert SCOPE in result.err.message


def test_other_403_is_permission_denied_without_scopes() -> None:
    body = {"error": {"status": 403, "message": "Check settings on developer.spotify.com/dashboard"}}
    result = run(Api(pages(httpx.Response(403, json=body))))

    assert result.err is not None
    assert result.err.code is ErrorCode.PERMISSION_DENIED
    assert result.err.retry is False
    assert "missing_scopes" not in result.err.details
    assert "developer.spotify.com/dashboard" in result.err.message


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("17", timedelta(seconds=17)), (None, timedelta(seconds=30)), ("soon", timedelta(seconds=30))],
)
def test_429_is_rate_limit_with_retry_after(retry_after: str | None, expected: timedelta) -> None:
    headers = {"Retry-After": retry_after} if retry_after is not None else None
    result = run(Api(pages(error(429, "error_429.json", headers))))

    assert result.err is not None
    assert result.err.code is ErrorCode.RATE_LIMIT
    assert result.err.retry is True
    assert result.err.after == expected
    assert "API rate limit exceeded" in result.err.message


@pytest.mark.parametrize(
    ("response", "said"),
    [
        (error(500, "error_500.json"), "Server error."),
        (
            httpx.Response(503, json={"error": {"status": 503, "message": "Service unavailable"}}),
            "unavailable",
        ),
        (httpx.Response(502, text="<html><body>Bad Gateway</body></html>"), "Bad Gateway"),
    ],
)
def test_5xx_is_upstream_with_retry(response: httpx.Response, said: str) -> None:
    result = run(Api(pages(response)))

    assert result.err is not None
    assert result.err.code is ErrorCode.UPSTREAM
    assert result.err.retry is True
    assert said in result.err.message
    assert result.has_more is False


def test_other_4xx_is_upstream_without_retry() -> None:
    body = {"error": {"status": 404, "message": "Service not found"}}
    result = run(Api(pages(httpx.Response(404, json=body))))

    assert result.err is not None
    assert result.err.code is ErrorCode.UPSTREAM
    assert result.err.retry is False


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("timed out"),
        httpx.ConnectTimeout("timed out"),
        httpx.ConnectError("[Errno 111] Connection refused"),
        httpx.RemoteProtocolError("Server disconnected without sending a response."),
    ],
)
def test_timeouts_and_connection_errors_are_upstream_with_retry(exc: Exception) -> None:
    result = run(Api(pages(exc)), str(LANTERN_1))

    assert result.err is not None
    assert result.err.code is ErrorCode.UPSTREAM
    assert result.err.retry is True
    assert str(exc) in result.err.message
    assert result.next_cursor == str(LANTERN_1)


def test_non_json_body_is_invalid_data_with_a_raw_excerpt() -> None:
    body = "<!DOCTYPE html><html>" + "x" * 1000
    result = run(Api(pages(httpx.Response(200, text=body))))

    assert result.err is not None
    assert result.err.code is ErrorCode.INVALID_DATA
    assert result.err.retry is False
    assert result.err.raw == body[:500]
    assert "not JSON" in result.err.message


def _without(path: tuple[Any, ...]) -> dict[str, Any]:
    """Page 1 with the value at `path` removed."""
    page = fixture("recently_played_page1.json")
    node: Any = page
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return page


@pytest.mark.parametrize(
    ("page", "named"),
    [
        (_without(("items",)), "`items` is missing"),
        ({"items": {"0": {}}, "next": None}, "`items` is not a list"),
        ([], "expected a JSON object"),
        (_without(("items", 1, "played_at")), "items[1]: `played_at` is missing"),
        (_without(("items", 0, "track", "id")), "items[0]: `track.id` is missing"),
        (_without(("items", 2, "track", "name")), "items[2]: `track.name` is missing"),
        (_without(("items", 0, "track")), "items[0]: `track` is missing"),
    ],
)
def test_missing_fields_are_invalid_data(page: Any, named: str) -> None:
    result = run(Api(pages(httpx.Response(200, json=page))))

    assert result.err is not None
    assert result.err.code is ErrorCode.INVALID_DATA
    assert result.err.retry is False
    assert named in result.err.message
    assert result.err.raw is not None and 0 < len(result.err.raw) <= 500
    assert result.items == []


def test_unreadable_played_at_is_invalid_data() -> None:
    page = fixture("recently_played_page1.json")
    page["items"][0]["played_at"] = "last tuesday"
    result = run(Api(pages(ok(page))))

    assert result.err is not None
    assert result.err.code is ErrorCode.INVALID_DATA
    assert "last tuesday" in result.err.message


# --- partial sync and cancellation --------------------------------------------------------


@pytest.mark.parametrize(("cursor", "resume"), [("", "0"), (str(TELEGRAPH - 1), str(TELEGRAPH - 1))])
def test_failure_after_a_page_is_partial_sync_resuming_from_the_incoming_cursor(
    cursor: str, resume: str
) -> None:
    """Page 1 holds the NEWEST plays: advancing the cursor to them would skip page 2's
    older plays for good, so the cursor stays where it was ("0" on a first sync)."""
    api = Api(pages(ok("recently_played_page1.json"), error(500, "error_500.json")))
    result = run(api, cursor)

    assert [summary(i) for i in result.items] == FIRST_SYNC[:3]
    assert result.has_more is True
    assert result.next_cursor == resume
    assert result.err is not None
    assert result.err.code is ErrorCode.PARTIAL_SYNC
    assert result.err.retry is True
    assert result.err.details["cause"] == "upstream"
    assert "Server error." in result.err.message
    assert len(api.requests) == 2


def test_resuming_after_a_partial_first_sync_reads_everything_again() -> None:
    """ "0" reads like a first sync: the lost page 2 comes back, page 1 is re-read
    (core dedups it on external_id) and the cursor then moves to the newest play."""
    api = Api(pages(ok("recently_played_page1.json"), ok("recently_played_page2.json")))
    result = run(api, "0")

    assert [summary(i) for i in result.items] == FIRST_SYNC
    assert result.next_cursor == str(LANTERN_1)


def test_partial_sync_keeps_the_rate_limit_delay() -> None:
    api = Api(pages(ok("recently_played_page1.json"), error(429, "error_429.json", {"Retry-After": "5"})))
    result = run(api)

    assert result.err is not None
    assert result.err.code is ErrorCode.PARTIAL_SYNC
    assert result.err.after == timedelta(seconds=5)
    assert result.err.details["cause"] == "rate_limit"
    assert len(result.items) == 3


def test_partial_sync_after_a_timeout_or_bad_page() -> None:
    for second in (httpx.ReadTimeout("timed out"), httpx.Response(200, text="not json")):
        result = run(Api(pages(ok("recently_played_page1.json"), second)))
        assert result.err is not None
        assert result.err.code is ErrorCode.PARTIAL_SYNC
        assert result.has_more is True
        assert result.next_cursor == "0"
        assert len(result.items) == 3


def test_cancellation_between_pages_returns_what_was_read() -> None:
    ctx = SyncContext(user_id="alice")

    def respond(request: httpx.Request, n: int) -> httpx.Response:
        ctx.cancelled.set()  # core asks to stop while page 1 is being read
        return ok("recently_played_page1.json")

    api = Api(respond)
    result = run(api, ctx=ctx)

    assert result.err is None
    assert [summary(i) for i in result.items] == FIRST_SYNC[:3]
    assert result.has_more is True
    assert result.next_cursor == "0"
    assert len(api.requests) == 1


def test_cancelled_before_the_first_page_reads_nothing() -> None:
    ctx = SyncContext(user_id="alice", cancelled=threading.Event())
    ctx.cancelled.set()
    api = Api(pages())
    result = run(api, str(LANTERN_1), ctx=ctx)

    assert result.err is None
    assert result.items == []
    assert result.has_more is True
    assert result.next_cursor == str(LANTERN_1)
    assert api.requests == []


# --- the token never leaks ----------------------------------------------------------------


ECHO = {"error": {"status": 401, "message": f"Invalid access token {TOKEN}"}}


@pytest.mark.parametrize(
    "responses",
    [
        [error(401, "error_401.json")],
        [httpx.Response(401, json=ECHO)],
        [httpx.Response(403, json={"error": {"status": 403, "message": f"scope missing for {TOKEN}"}})],
        [error(429, "error_429.json")],
        [httpx.Response(500, text=f"upstream crashed handling Bearer {TOKEN}")],
        [httpx.ReadTimeout(f"timed out for {TOKEN}")],
        [httpx.ConnectError("Connection refused")],
        [httpx.Response(200, text=f"garbage {TOKEN} " + "y" * 600)],
        [httpx.Response(200, text="y" * 495 + TOKEN)],  # straddles the 500-char cut
        [ok("recently_played_page1.json"), httpx.Response(502, text=f"bad gateway {TOKEN}")],
    ],
)
def test_no_token_in_errors_or_logs(responses: list[Any], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    result = run(Api(pages(*responses)))

    assert result.err is not None
    dumped = result.model_dump_json() + str(result.err) + repr(result)
    for piece in (TOKEN, TOKEN[:12], TOKEN[-12:]):
        assert piece not in dumped
        assert piece not in caplog.text


def test_a_programming_error_propagates_instead_of_passing_for_the_platforms() -> None:
    class Broken(httpx.BaseTransport):
        def handle_request(self, request: httpx.Request) -> httpx.Response:
            raise RuntimeError("bug in the client")

    plugin = SpotifyPlugin(client=httpx.Client(transport=Broken(), base_url=BASE))
    with pytest.raises(RuntimeError, match="bug in the client"):
        plugin.sync(SyncContext(user_id="alice"), Credentials(access_token=TOKEN), "")


# --- contract -----------------------------------------------------------------------------


def test_registry_accepts_the_plugin() -> None:
    plugin = plugin_for(Api(pages()))
    registry = PluginRegistry()
    registry.register(plugin)

    assert registry.get("spotify") is plugin
    assert isinstance(plugin, SourcePlugin)


def test_plugin_attributes() -> None:
    plugin = plugin_for(Api(pages()))

    assert plugin.name == "spotify"
    assert plugin.auth_type is AuthType.OAUTH
    assert plugin.dedup_policy is DedupPolicy.SKIP
    assert plugin.schedule_cron == "*/30 * * * *"
    assert plugin.auth_config == OAuthConfig(
        provider_name="Spotify",
        auth_url="https://accounts.spotify.com/authorize",
        token_url="https://accounts.spotify.com/api/token",
        scopes=(SCOPE,),
        client_id_env="SPOTIFY_CLIENT_ID",
        client_secret_env="SPOTIFY_CLIENT_SECRET",
        supports_pkce=True,
    )


def test_default_client_has_base_url_and_timeouts() -> None:
    plugin = SpotifyPlugin()
    assert plugin.client.base_url == httpx.URL("https://api.spotify.com")
    assert plugin.client.timeout == httpx.Timeout(20.0)
    plugin.client.close()

    plugin = SpotifyPlugin(base_url=BASE, timeout_s=3.5)
    timeout = plugin.client.timeout
    assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (3.5, 3.5, 3.5, 3.5)
    assert plugin.client.base_url == httpx.URL(BASE)
    plugin.client.close()


def test_injected_client_without_base_url_still_reaches_the_api() -> None:
    api = Api(pages(ok("recently_played_after.json")))
    client = httpx.Client(transport=httpx.MockTransport(api))
    plugin = SpotifyPlugin(client=client, base_url=BASE)
    result = plugin.sync(SyncContext(user_id="alice"), Credentials(access_token=TOKEN), str(LANTERN_1))

    assert result.err is None
    assert str(api.requests[0].url).startswith(f"{BASE}{PATH}?")


def test_enrich_without_a_lastfm_key_is_skipped_not_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LASTFM_API_KEY", raising=False)
    result = run(Api(pages(ok("recently_played_after.json"))), str(LANTERN_1))
    plugin = plugin_for(Api(pages()))
    ctx, creds = SyncContext(user_id="alice"), Credentials(access_token=TOKEN)
    with pytest.raises(EnrichmentSkipped, match="LASTFM_API_KEY"):
        plugin.enrich(ctx, creds, result.items)
