"""LastfmPlugin against a mock Last.fm serving payloads shaped like PLATFORMS.md section 7.

Every request goes through `httpx.MockTransport`; the fake asserts the query of each
request (method, user, api_key, format, limit, page, from, to) and records it, so tests
can check which pages were fetched with which window. Expected items were worked out by
hand from the fixtures in fixtures/lastfm/.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from mca_pipeline.clients.http import RAW_CHARS
from mca_pipeline.core import (
    AuthType,
    Credentials,
    DedupPolicy,
    EnrichmentSkipped,
    ErrorCode,
    MediaItem,
    MediaType,
    PluginRegistry,
    SourcePlugin,
    SyncContext,
    SyncResult,
)
from mca_pipeline.plugins.lastfm import LastfmCursor, LastfmPlugin

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "lastfm"
BASE = "https://ws.audioscrobbler.com"
API_KEY = "f00dfeedcafe0123456789abcdef4242"
USER = "mv_listener"
CREDS = Credentials(api_key=SecretStr(API_KEY), account=USER)
NOW = 1714900000  # the plugin's clock: the pinned `to` of a sync started "now"
NEWEST_PAGE1 = 1714760282
NEWEST_SINGLE = 1714800000

Reply = tuple[int, Any, dict[str, str]]
Handler = Callable[[httpx.Request], Reply]


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> Any:
    return json.loads(fixture(name))


def ok(name: str) -> Reply:
    return 200, fixture(name), {}


class FakeLastfm:
    """A mock Last.fm: one reply (or a function making one) per page number."""

    def __init__(self, replies: dict[int, Reply | Handler], *, limit: int = 200) -> None:
        self.replies = replies
        self.limit = limit
        self.requests: list[dict[str, str]] = []
        self.timeouts: list[dict[str, Any]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "GET"
        assert request.url.path == "/2.0/"
        query = dict(request.url.params)
        assert query["method"] == "user.getRecentTracks"
        assert query["user"] == USER
        assert query["api_key"] == API_KEY
        assert query["format"] == "json"
        assert query["limit"] == str(self.limit)
        assert query["extended"] == "0"
        assert int(query["page"]) >= 1
        self.requests.append(query)
        self.timeouts.append(request.extensions.get("timeout", {}))
        page = int(query["page"])
        if page not in self.replies:
            pytest.fail(f"page {page} was not expected to be fetched")
        reply = self.replies[page]
        status, body, headers = reply(request) if callable(reply) else reply
        if isinstance(body, dict | list):
            body = json.dumps(body)
        return httpx.Response(status, content=body, headers=headers)

    @property
    def pages(self) -> list[int]:
        return [int(q["page"]) for q in self.requests]

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handler), base_url=BASE, **kwargs)

    def plugin(self, *, now: int = NOW, **kwargs: Any) -> LastfmPlugin:
        return LastfmPlugin(client=self.client(), clock=lambda: now, **kwargs)


def sync(
    fake: FakeLastfm,
    cursor: str = "",
    *,
    page_size: int = 50_000,
    now: int = NOW,
    ctx: SyncContext | None = None,
    creds: Credentials = CREDS,
) -> SyncResult:
    ctx = ctx or SyncContext(user_id="alice", page_size=page_size)
    result = fake.plugin(now=now).sync(ctx, creds, cursor)
    assert_no_secret(result)
    return result


def assert_no_secret(result: SyncResult) -> None:
    """The API key must not leak into anything core stores or shows."""
    assert API_KEY not in result.next_cursor
    if result.err is not None:
        assert API_KEY not in str(result.err)
        assert API_KEY not in result.err.model_dump_json()


def cursor_of(result: SyncResult) -> dict[str, Any]:
    return json.loads(result.next_cursor)


def at(uts: int) -> datetime:
    return datetime.fromtimestamp(uts, UTC)


IMG = "https://lastfm.freetls.fastly.net/i/u/"
QUIET_HOURS_MBID = "8f3b2a10-1c2d-4e5f-9a8b-7c6d5e4f3a2b"

PAGE1_ITEMS = [
    (
        "Paper Boats",
        "The Quiet Hours",
        1714760282,
        "https://www.last.fm/music/The+Quiet+Hours/_/Paper+Boats",
        {
            "uts": 1714760282,
            "date_text": "03 May 2024, 18:18",
            "artist_mbid": QUIET_HOURS_MBID,
            "track_mbid": "0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5",
            "album": "Paper Boats",
            "album_mbid": None,
        },
    ),
    (
        "Ночной поезд",
        "Сергей Лесной",
        1714760040,
        "https://www.last.fm/music/%D0%A1%D0%B5%D1%80%D0%B3%D0%B5%D0%B9+%D0%9B%D0%B5%D1%81%D0%BD%D0%BE%D0%B9/_/%D0%9D%D0%BE%D1%87%D0%BD%D0%BE%D0%B9+%D0%BF%D0%BE%D0%B5%D0%B7%D0%B4",
        {
            "uts": 1714760040,
            "date_text": "03 May 2024, 18:14",
            "artist_mbid": None,
            "track_mbid": None,
            "album": "Ночной поезд",
            "album_mbid": "5e6f7a8b-9c0d-4e1f-8a2b-3c4d5e6f7a8b",
            "image": IMG + "174s/def.jpg",
        },
    ),
    (
        "Lantern Street",
        "Marla Venn",
        1714759781,
        "https://www.last.fm/music/Marla+Venn/_/Lantern+Street",
        {
            "uts": 1714759781,
            "date_text": "03 May 2024, 18:09",
            "artist_mbid": None,
            "track_mbid": None,
            "album": "Night Lines",
            "album_mbid": None,
            "image": IMG + "300x300/abc.jpg",
        },
    ),
]
PAGE2_ITEMS = [
    (
        "Harbour Lights",
        "The Quiet Hours",
        1714759500,
        "https://www.last.fm/music/The+Quiet+Hours/_/Harbour+Lights",
        {
            "uts": 1714759500,
            "date_text": "03 May 2024, 18:05",
            "artist_mbid": QUIET_HOURS_MBID,
            "track_mbid": "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d",
            "album": "Low Tide",
            "album_mbid": "1b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e",
            "image": IMG + "300x300/0a1.jpg",
        },
    ),
    (
        "Untitled (demo)",
        "Dusk & Ember",
        1714759262,
        "https://www.last.fm/music/Dusk+&+Ember/_/Untitled+(demo)",
        {
            "uts": 1714759262,
            "date_text": "03 May 2024, 18:01",
            "artist_mbid": None,
            "track_mbid": None,
            "album": None,
            "album_mbid": None,
        },
    ),
]


def expected(rows: list[tuple[str, str, int, str, dict[str, Any]]]) -> list[MediaItem]:
    return [
        MediaItem(
            platform="lastfm",
            type=MediaType.MUSIC,
            title=title,
            creator=artist,
            consumed_at=at(uts),
            url=url,
            external_id=f"{uts}|{artist}|{title}",
            raw_metadata=raw,
        )
        for title, artist, uts, url, raw in rows
    ]


TWO_PAGES: dict[int, Reply | Handler] = {1: ok("recent_page1.json"), 2: ok("recent_page2.json")}


# --- plugin shape --------------------------------------------------------------------


def test_plugin_declares_an_api_key_source_with_skip_dedup_and_registers() -> None:
    plugin = LastfmPlugin(client=FakeLastfm({}).client())
    assert plugin.name == "lastfm"
    assert plugin.auth_type is AuthType.API_KEY
    assert plugin.auth_config is None
    assert plugin.dedup_policy is DedupPolicy.SKIP
    assert plugin.schedule_cron == "0 * * * *"
    assert isinstance(plugin, SourcePlugin)
    registry = PluginRegistry()
    registry.register(plugin)
    assert registry.names() == ["lastfm"]
    assert registry.get("lastfm") is plugin


def test_default_client_talks_to_lastfm_with_a_timeout() -> None:
    plugin = LastfmPlugin(timeout_s=7.5)
    client = plugin._api.client
    assert str(client.base_url) == "https://ws.audioscrobbler.com"
    assert client.timeout == httpx.Timeout(7.5)
    client.close()


def test_injected_client_keeps_its_timeout_but_never_waits_forever() -> None:
    fake = FakeLastfm(TWO_PAGES)
    with_timeout = LastfmPlugin(client=fake.client(timeout=3.0), clock=lambda: NOW)
    without = LastfmPlugin(client=fake.client(timeout=None), clock=lambda: NOW, timeout_s=9.0)
    ctx = SyncContext(user_id="alice")
    assert with_timeout.sync(ctx, CREDS, "").err is None
    assert without.sync(ctx, CREDS, "").err is None
    assert fake.timeouts[0] == {"connect": 3.0, "read": 3.0, "write": 3.0, "pool": 3.0}
    assert fake.timeouts[-1] == {"connect": 9.0, "read": 9.0, "write": 9.0, "pool": 9.0}


def test_page_limit_must_be_within_lastfms_bounds() -> None:
    with pytest.raises(ValueError, match=r"1\.\.1000"):
        LastfmPlugin(client=FakeLastfm({}).client(), page_limit=1001)


def test_enrich_without_a_lastfm_key_is_skipped_not_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LASTFM_API_KEY", raising=False)
    items = sync(FakeLastfm(TWO_PAGES)).items
    plugin = LastfmPlugin(client=FakeLastfm({}).client())
    with pytest.raises(EnrichmentSkipped, match="LASTFM_API_KEY"):
        plugin.enrich(SyncContext(user_id="alice"), CREDS, items)


# --- syncing -------------------------------------------------------------------------


def test_first_sync_reads_both_pages_and_skips_now_playing() -> None:
    fake = FakeLastfm(TWO_PAGES)
    result = sync(fake)
    assert result.err is None
    assert result.has_more is False
    assert result.items == expected(PAGE1_ITEMS + PAGE2_ITEMS)
    assert cursor_of(result) == {"from": NEWEST_PAGE1}
    assert fake.pages == [1, 2]
    for query in fake.requests:
        assert "from" not in query  # first sync: everything
        assert query["to"] == str(NOW)  # the same pinned window on every page


def test_incremental_sync_asks_for_newer_scrobbles_and_advances_the_cursor() -> None:
    fake = FakeLastfm({1: ok("recent_single.json")})
    result = sync(fake, json.dumps({"from": NEWEST_PAGE1}))
    assert result.err is None
    assert result.has_more is False
    assert [(i.title, i.creator, i.consumed_at) for i in result.items] == [
        ("Harbour Lights", "Marla Venn", at(NEWEST_SINGLE))
    ]
    assert fake.requests[0]["from"] == str(NEWEST_PAGE1 + 1)
    assert fake.requests[0]["to"] == str(NOW)
    assert cursor_of(result) == {"from": NEWEST_SINGLE}


def test_a_bare_number_cursor_is_read_as_from() -> None:
    fake = FakeLastfm({1: ok("recent_single.json")})
    result = sync(fake, str(NEWEST_PAGE1))
    assert fake.requests[0]["from"] == str(NEWEST_PAGE1 + 1)
    assert cursor_of(result) == {"from": NEWEST_SINGLE}


def test_no_new_scrobbles_leaves_the_cursor_where_it_was() -> None:
    fake = FakeLastfm({1: ok("recent_empty.json")})
    result = sync(fake, json.dumps({"from": NEWEST_SINGLE}))
    assert result.err is None
    assert result.items == []
    assert result.has_more is False
    assert cursor_of(result) == {"from": NEWEST_SINGLE}
    assert fake.pages == [1]


def test_first_sync_of_an_empty_account_stores_no_from() -> None:
    result = sync(FakeLastfm({1: ok("recent_empty.json")}))
    assert result.err is None
    assert result.items == []
    assert cursor_of(result) == {}


def test_only_the_now_playing_row_is_not_a_scrobble() -> None:
    body = fixture_json("recent_page1.json")
    body["recenttracks"]["track"] = body["recenttracks"]["track"][:1]
    body["recenttracks"]["@attr"].update(totalPages="0", total="0")
    result = sync(FakeLastfm({1: (200, body, {})}), json.dumps({"from": NEWEST_PAGE1}))
    assert result.err is None
    assert result.items == []
    assert cursor_of(result) == {"from": NEWEST_PAGE1}


def test_a_single_track_object_is_read_as_a_list_of_one() -> None:
    result = sync(FakeLastfm({1: ok("recent_single.json")}))
    assert result.err is None
    assert result.items == [
        MediaItem(
            platform="lastfm",
            type=MediaType.MUSIC,
            title="Harbour Lights",
            creator="Marla Venn",
            consumed_at=datetime(2024, 5, 4, 5, 20, tzinfo=UTC),
            url="https://www.last.fm/music/Marla+Venn/_/Harbour+Lights",
            external_id="1714800000|Marla Venn|Harbour Lights",
            raw_metadata={
                "uts": 1714800000,
                "date_text": "04 May 2024, 05:20",
                "artist_mbid": None,
                "track_mbid": None,
                "album": "Night Lines",
                "album_mbid": None,
                "image": IMG + "300x300/abc.jpg",
            },
        )
    ]


def test_extended_artist_shape_and_loved_are_read() -> None:
    body = fixture_json("recent_page1.json")
    for n, track in enumerate(body["recenttracks"]["track"]):
        artist = track["artist"]
        track["artist"] = {
            "url": "https://www.last.fm/music/x",
            "mbid": artist["mbid"],
            "image": [],
            "name": artist["#text"],
        }
        track["loved"] = "1" if n == 1 else "0"
    body["recenttracks"]["@attr"]["totalPages"] = "1"
    result = sync(FakeLastfm({1: (200, body, {})}))
    assert result.err is None
    assert [(i.creator, i.raw_metadata["loved"]) for i in result.items] == [
        ("The Quiet Hours", True),
        ("Сергей Лесной", False),
        ("Marla Venn", False),
    ]
    assert result.items[0].raw_metadata["artist_mbid"] == QUIET_HOURS_MBID


def test_duplicate_rows_within_one_call_are_returned_once() -> None:
    result = sync(FakeLastfm({1: ok("recent_page1.json"), 2: ok("recent_page1.json")}))
    assert [i.title for i in result.items] == ["Paper Boats", "Ночной поезд", "Lantern Street"]


# --- errors --------------------------------------------------------------------------


def error_body(code: int, message: str) -> dict[str, Any]:
    return {"error": code, "message": message, "links": []}


ERROR_CASES = [
    # id, reply, code, retry, after, lastfm_error, words in the message
    (
        "29-429-retry-after",
        (429, fixture("error_29.json"), {"Retry-After": "17"}),
        ErrorCode.RATE_LIMIT,
        True,
        17,
        29,
        "rate limit",
    ),
    (
        "29-429-no-header",
        (429, fixture("error_29.json"), {}),
        ErrorCode.RATE_LIMIT,
        True,
        60,
        29,
        "rate limit",
    ),
    ("29-http200", (200, fixture("error_29.json"), {}), ErrorCode.RATE_LIMIT, True, 60, 29, "rate limit"),
    (
        "429-not-json",
        (429, "Too Many Requests", {"Retry-After": "5"}),
        ErrorCode.RATE_LIMIT,
        True,
        5,
        None,
        "rate limit",
    ),
    (
        "10-403",
        (403, fixture("error_10.json"), {}),
        ErrorCode.PERMISSION_DENIED,
        False,
        None,
        10,
        "API key is not valid",
    ),
    (
        "10-http200",
        (200, fixture("error_10.json"), {}),
        ErrorCode.PERMISSION_DENIED,
        False,
        None,
        10,
        "API key",
    ),
    (
        "26",
        (403, error_body(26, "Suspended API key - Access for your account has been suspended"), {}),
        ErrorCode.PERMISSION_DENIED,
        False,
        None,
        26,
        "suspended",
    ),
    (
        "9",
        (403, error_body(9, "Invalid session key - Please re-authenticate"), {}),
        ErrorCode.AUTH_EXPIRED,
        False,
        None,
        9,
        "reconnect",
    ),
    (
        "17-403",
        (403, fixture("error_17.json"), {}),
        ErrorCode.PERMISSION_DENIED,
        False,
        None,
        17,
        "make recent listening public",
    ),
    (
        "6-404-user",
        (404, fixture("error_6.json"), {}),
        ErrorCode.PERMISSION_DENIED,
        False,
        None,
        6,
        "check the Last.fm username",
    ),
    (
        "6-bad-param",
        (200, error_body(6, "limit param out of bounds (1-1000)"), {}),
        ErrorCode.INVALID_DATA,
        False,
        None,
        6,
        "parameters",
    ),
    (
        "8-http200",
        (200, fixture("error_8_http200.json"), {}),
        ErrorCode.UPSTREAM,
        True,
        None,
        8,
        "temporarily",
    ),
    (
        "11",
        (503, error_body(11, "Service Offline - This service is temporarily offline"), {}),
        ErrorCode.UPSTREAM,
        True,
        None,
        11,
        "temporarily",
    ),
    ("16", (500, fixture("error_16.json"), {}), ErrorCode.UPSTREAM, True, None, 16, "temporarily"),
    ("16-http200", (200, fixture("error_16.json"), {}), ErrorCode.UPSTREAM, True, None, 16, "temporarily"),
    (
        "unknown-200",
        (200, error_body(99, "Something new"), {}),
        ErrorCode.INVALID_DATA,
        False,
        None,
        99,
        "unknown Last.fm error",
    ),
    (
        "unknown-503",
        (503, error_body(99, "Something new"), {}),
        ErrorCode.UPSTREAM,
        True,
        None,
        99,
        "HTTP 503",
    ),
    (
        "500-html",
        (500, "<html><body>Internal Server Error</body></html>", {}),
        ErrorCode.UPSTREAM,
        True,
        None,
        None,
        "HTTP 500",
    ),
    ("502-empty", (502, "", {}), ErrorCode.UPSTREAM, True, None, None, "HTTP 502"),
]


@pytest.mark.parametrize(
    ("reply", "code", "retry", "after", "lastfm_error", "words"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_errors_are_mapped_from_the_body_whatever_the_status(
    reply: Reply, code: ErrorCode, retry: bool, after: int | None, lastfm_error: int | None, words: str
) -> None:
    cursor = json.dumps({"from": NEWEST_PAGE1})
    result = sync(FakeLastfm({1: reply}), cursor)
    err = result.err
    assert err is not None
    assert err.code is code
    assert err.retry is retry
    assert err.after == (timedelta(seconds=after) if after is not None else None)
    assert err.details.get("lastfm_error") == lastfm_error
    assert err.details["http_status"] == reply[0]
    assert words in err.message
    assert result.items == []
    assert result.next_cursor == cursor  # nothing fetched: the cursor stays
    body = reply[1] if isinstance(reply[1], str | bytes) else json.dumps(reply[1])
    assert err.raw == (body.decode() if isinstance(body, bytes) else body)[:RAW_CHARS]


def test_error_17_tells_the_user_what_to_change() -> None:
    err = sync(FakeLastfm({1: (403, fixture("error_17.json"), {})})).err
    assert err is not None
    assert USER in err.message
    assert "https://www.last.fm/settings/privacy" in err.message


def test_retry_after_as_an_http_date() -> None:
    when = datetime.now(UTC) + timedelta(seconds=120)
    header = when.strftime("%a, %d %b %Y %H:%M:%S GMT")
    err = sync(FakeLastfm({1: (429, fixture("error_29.json"), {"Retry-After": header})})).err
    assert err is not None and err.code is ErrorCode.RATE_LIMIT and err.after is not None
    assert timedelta(seconds=100) < err.after <= timedelta(seconds=121)


def raise_timeout(request: httpx.Request) -> Reply:
    raise httpx.ReadTimeout(f"timed out reading {request.url}", request=request)


def raise_connect(request: httpx.Request) -> Reply:
    raise httpx.ConnectError(f"connection refused: {request.url}", request=request)


@pytest.mark.parametrize(
    ("handler", "words"), [(raise_timeout, "did not answer in time"), (raise_connect, "cannot reach")]
)
def test_timeouts_and_connection_errors_are_upstream(handler: Handler, words: str) -> None:
    result = sync(FakeLastfm({1: handler}))
    err = result.err
    assert err is not None
    assert err.code is ErrorCode.UPSTREAM
    assert err.retry is True
    assert words in err.message
    assert "api_key=[REDACTED]" in err.message  # the URL in httpx's message, masked


def test_a_body_that_is_not_json_is_invalid_data_with_raw() -> None:
    body = "<html><head><title>Last.fm</title></head><body>" + "maintenance " * 100 + "</body></html>"
    result = sync(FakeLastfm({1: (200, body, {})}))
    err = result.err
    assert err is not None
    assert err.code is ErrorCode.INVALID_DATA
    assert err.retry is False
    assert err.raw == body[:RAW_CHARS]
    assert "not JSON" in err.message


def test_an_echoed_api_key_is_redacted_from_raw_and_message() -> None:
    body = f"<html>Bad request for /2.0/?method=user.getrecenttracks&api_key={API_KEY}&user={USER} (key {API_KEY})</html>"
    result = sync(FakeLastfm({1: (400, body, {})}))
    assert result.err is not None and result.err.raw is not None
    assert API_KEY not in result.err.raw
    assert "api_key=[REDACTED]" in result.err.raw
    echo = error_body(10, f"Invalid API key {API_KEY}")
    result = sync(FakeLastfm({1: (403, echo, {})}))
    assert result.err is not None and result.err.code is ErrorCode.PERMISSION_DENIED
    assert "[REDACTED]" in result.err.message


def _page1() -> dict[str, Any]:
    return fixture_json("recent_page1.json")


def _mutate(change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    body = _page1()
    change(body)
    return body


BROKEN_BODIES = {
    "no-recenttracks": {"tracks": {}},
    "recenttracks-not-an-object": {"recenttracks": []},
    "no-@attr": _mutate(lambda b: b["recenttracks"].pop("@attr")),
    "no-totalPages": _mutate(lambda b: b["recenttracks"]["@attr"].pop("totalPages")),
    "no-track-but-total": _mutate(lambda b: b["recenttracks"].pop("track")),
    "no-date-uts": _mutate(lambda b: b["recenttracks"]["track"][2]["date"].pop("uts")),
    "uts-not-a-number": _mutate(lambda b: b["recenttracks"]["track"][2]["date"].update(uts="yesterday")),
    "date-not-an-object": _mutate(lambda b: b["recenttracks"]["track"][2].update(date="03 May 2024")),
    "no-name": _mutate(lambda b: b["recenttracks"]["track"][2].pop("name")),
    "empty-name": _mutate(lambda b: b["recenttracks"]["track"][2].update(name="")),
    "no-artist": _mutate(lambda b: b["recenttracks"]["track"][2].pop("artist")),
    "artist-without-name": _mutate(lambda b: b["recenttracks"]["track"][2].update(artist={"mbid": ""})),
    "track-not-an-object": _mutate(lambda b: b["recenttracks"]["track"].append("Paper Boats")),
}


@pytest.mark.parametrize("body", list(BROKEN_BODIES.values()), ids=list(BROKEN_BODIES))
def test_missing_fields_are_invalid_data_with_raw(body: dict[str, Any]) -> None:
    text = json.dumps(body)
    result = sync(FakeLastfm({1: (200, text, {})}))
    err = result.err
    assert err is not None
    assert err.code is ErrorCode.INVALID_DATA
    assert err.retry is False
    assert err.raw == text[:RAW_CHARS]
    assert result.items == []


# --- partial syncs, page budget, cancellation ------------------------------------------


@pytest.mark.parametrize("start", ["", json.dumps({"from": 1714700000})], ids=["first", "incremental"])
def test_failure_after_a_good_page_is_a_partial_sync_resumable_at_the_failed_page(start: str) -> None:
    fake = FakeLastfm({1: ok("recent_page1.json"), 2: (502, "<html>Bad Gateway</html>", {})})
    result = sync(fake, start)
    assert fake.pages == [1, 2]
    assert result.items == expected(PAGE1_ITEMS)
    assert result.has_more is True
    err = result.err
    assert err is not None
    assert err.code is ErrorCode.PARTIAL_SYNC
    assert err.retry is True
    assert err.details["cause"] == "upstream"
    assert err.details["failed_page"] == 2
    assert err.raw == "<html>Bad Gateway</html>"
    origin = json.loads(start) if start else {}
    resume = cursor_of(result)
    assert resume == {**origin, "to": NOW, "page": 2, "newest": NEWEST_PAGE1}

    # The next call, at a later time, fetches page 2 only, with the same window.
    again = FakeLastfm({2: ok("recent_page2.json")})
    finished = sync(again, result.next_cursor, now=NOW + 3600)
    assert again.pages == [2]
    assert again.requests[0]["to"] == str(NOW)
    assert again.requests[0].get("from") == (str(origin["from"] + 1) if origin else None)
    assert finished.err is None
    assert finished.has_more is False
    assert finished.items == expected(PAGE2_ITEMS)
    assert cursor_of(finished) == {"from": NEWEST_PAGE1}


def test_rate_limit_after_a_good_page_keeps_the_wait() -> None:
    fake = FakeLastfm({1: ok("recent_page1.json"), 2: (429, fixture("error_29.json"), {"Retry-After": "30"})})
    result = sync(fake)
    err = result.err
    assert err is not None
    assert err.code is ErrorCode.PARTIAL_SYNC
    assert err.after == timedelta(seconds=30)
    assert err.details["cause"] == "rate_limit"
    assert err.details["lastfm_error"] == 29
    assert len(result.items) == 3


def test_broken_second_page_is_a_partial_sync_too() -> None:
    body = _mutate(lambda b: b["recenttracks"]["track"][1]["date"].pop("uts"))
    result = sync(FakeLastfm({1: ok("recent_page1.json"), 2: (200, body, {})}))
    assert result.err is not None and result.err.code is ErrorCode.PARTIAL_SYNC
    assert result.err.details["cause"] == "invalid_data"
    assert cursor_of(result)["page"] == 2


def test_failure_on_the_first_page_of_a_resumed_sync_keeps_the_resume_cursor() -> None:
    resume = LastfmCursor(from_uts=1714700000, to=NOW, page=2, newest=NEWEST_PAGE1).encode()
    result = sync(FakeLastfm({2: (503, fixture("error_16.json"), {})}), resume)
    assert result.err is not None and result.err.code is ErrorCode.UPSTREAM
    assert result.next_cursor == resume


@pytest.mark.parametrize("page_size", [1, 50, 200, 399])
def test_page_budget_stops_early_and_the_next_call_continues(page_size: int) -> None:
    fake = FakeLastfm(TWO_PAGES)
    first = sync(fake, page_size=page_size)
    assert fake.pages == [1]
    assert first.err is None
    assert first.has_more is True
    assert first.items == expected(PAGE1_ITEMS)
    assert cursor_of(first) == {"to": NOW, "page": 2, "newest": NEWEST_PAGE1}
    second = sync(fake, first.next_cursor, page_size=page_size, now=NOW + 60)
    assert fake.pages == [1, 2]
    assert fake.requests[1]["to"] == str(NOW)
    assert second.err is None
    assert second.has_more is False
    assert second.items == expected(PAGE2_ITEMS)
    assert cursor_of(second) == {"from": NEWEST_PAGE1}


def synthetic_page(page: int, total_pages: int, per_page: int, newest: int) -> dict[str, Any]:
    """Page `page` of a history with one scrobble every 200 s, newest first."""
    tracks = []
    for n in range((page - 1) * per_page, page * per_page):
        uts = newest - 200 * n
        tracks.append(
            {
                "artist": {"mbid": "", "#text": "Marla Venn"},
                "mbid": "",
                "album": {"mbid": "", "#text": ""},
                "name": f"Track {n}",
                "url": f"https://www.last.fm/music/Marla+Venn/_/Track+{n}",
                "date": {"uts": str(uts), "#text": at(uts).strftime("%d %b %Y, %H:%M")},
            }
        )
    attr = {
        "user": USER,
        "totalPages": str(total_pages),
        "page": str(page),
        "perPage": str(per_page),
        "total": str(total_pages * per_page),
    }
    return {"recenttracks": {"track": tracks, "@attr": attr}}


def test_a_long_history_comes_in_several_calls() -> None:
    newest = 1714800000
    pages: dict[int, Reply | Handler] = {p: (200, synthetic_page(p, 5, 2, newest), {}) for p in range(1, 6)}
    fake = FakeLastfm(pages, limit=2)
    plugin = LastfmPlugin(client=fake.client(), page_limit=2, clock=lambda: NOW)
    ctx = SyncContext(user_id="alice", page_size=4)  # two pages per call
    cursor, calls, items = "", [], []
    orders = []
    while True:
        result = plugin.sync(ctx, CREDS, cursor)
        assert result.err is None
        items += result.items
        calls.append(len(result.items))
        cursor = result.next_cursor
        orders.append(plugin.cursor_order(cursor))
        if not result.has_more:
            break
    assert calls == [4, 4, 2]
    assert fake.pages == [1, 2, 3, 4, 5]
    assert {q["to"] for q in fake.requests} == {str(NOW)}
    assert [i.title for i in items] == [f"Track {n}" for n in range(10)]
    assert json.loads(cursor) == {"from": newest}
    assert orders == [0.0, 0.0, float(newest)]  # never backwards


def test_cancellation_between_pages_returns_what_was_read() -> None:
    ctx = SyncContext(user_id="alice")

    def page1_then_cancel(request: httpx.Request) -> Reply:
        ctx.cancelled.set()
        return ok("recent_page1.json")

    fake = FakeLastfm({1: page1_then_cancel, 2: ok("recent_page2.json")})
    result = sync(fake, ctx=ctx)
    assert fake.pages == [1]
    assert result.err is None
    assert result.has_more is True
    assert result.items == expected(PAGE1_ITEMS)
    assert cursor_of(result) == {"to": NOW, "page": 2, "newest": NEWEST_PAGE1}
    rest = sync(fake, result.next_cursor)
    assert fake.pages == [1, 2]
    assert rest.items == expected(PAGE2_ITEMS)
    assert cursor_of(rest) == {"from": NEWEST_PAGE1}


def test_cancelled_before_the_first_page_fetches_nothing() -> None:
    ctx = SyncContext(user_id="alice")
    ctx.cancelled.set()
    fake = FakeLastfm(TWO_PAGES)
    cursor = json.dumps({"from": NEWEST_PAGE1})
    result = sync(fake, cursor, ctx=ctx)
    assert fake.requests == []
    assert result == SyncResult(items=[], next_cursor=cursor, has_more=True)


# --- configuration and cursors -------------------------------------------------------


@pytest.mark.parametrize(
    ("creds", "missing"),
    [
        (Credentials(account=USER), ["api_key"]),
        (Credentials(api_key=SecretStr(""), account=USER), ["api_key"]),
        (Credentials(api_key=SecretStr(API_KEY)), ["account"]),
        (Credentials(api_key=SecretStr(API_KEY), account="  "), ["account"]),
        (Credentials(), ["api_key", "account"]),
    ],
)
def test_missing_key_or_username_is_a_configuration_error(creds: Credentials, missing: list[str]) -> None:
    fake = FakeLastfm(TWO_PAGES)
    result = sync(fake, creds=creds)
    assert fake.requests == []
    err = result.err
    assert err is not None
    assert err.code is ErrorCode.PERMISSION_DENIED
    assert err.retry is False
    assert err.details == {"missing": missing}
    assert "missing" in err.message


@pytest.mark.parametrize(
    "cursor",
    ["not json", "[1]", '{"from": -1}', '{"from": "1714760282"}', '{"page": 2}', '{"page": 0, "to": 5}'],
)
def test_an_unreadable_cursor_is_invalid_data_and_fetches_nothing(cursor: str) -> None:
    fake = FakeLastfm(TWO_PAGES)
    result = sync(fake, cursor)
    assert fake.requests == []
    assert result.err is not None
    assert result.err.code is ErrorCode.INVALID_DATA
    assert result.next_cursor == cursor


@pytest.mark.parametrize(
    ("cursor", "order"),
    [
        ("", None),
        ("garbage", None),
        ('{"from": "x"}', None),
        ('{"from": 1714760282}', 1714760282.0),
        ("1714760282", 1714760282.0),
        ('{"from": 1714700000, "to": 1714900000, "page": 3, "newest": 1714760282}', 1714700000.0),
        ('{"to": 1714900000, "page": 3, "newest": 1714760282}', 0.0),
    ],
)
def test_cursor_order_is_the_from_value(cursor: str, order: float | None) -> None:
    assert LastfmPlugin(client=FakeLastfm({}).client()).cursor_order(cursor) == order


def test_cursor_round_trips() -> None:
    state = LastfmCursor(from_uts=1, to=2, page=3, newest=4)
    assert LastfmCursor.decode(state.encode()) == state
    assert LastfmCursor.decode("") == LastfmCursor()


# --- the API key never leaks -----------------------------------------------------------


def test_api_key_is_masked_in_httpx_and_plugin_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    sync(FakeLastfm(TWO_PAGES))
    sync(FakeLastfm({1: raise_connect}))
    sync(FakeLastfm({1: (403, fixture("error_10.json"), {})}))
    assert "HTTP Request: GET" in caplog.text
    assert "api_key=[REDACTED]" in caplog.text
    assert API_KEY not in caplog.text
    assert "page 2 of 2" in caplog.text


def test_api_key_never_appears_in_any_error() -> None:
    replies: list[Reply | Handler] = [case[1] for case in ERROR_CASES] + [raise_timeout, raise_connect]
    replies += [(200, json.dumps(body), {}) for body in BROKEN_BODIES.values()]
    for reply in replies:
        result = sync(FakeLastfm({1: ok("recent_page1.json"), 2: copy.deepcopy(reply)}))
        assert result.err is not None and result.err.code is ErrorCode.PARTIAL_SYNC
        assert API_KEY not in repr(result)
    assert API_KEY not in repr(CREDS)
