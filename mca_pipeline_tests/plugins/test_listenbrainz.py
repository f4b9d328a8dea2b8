"""ListenbrainzPlugin against a mock ListenBrainz built from payloads shaped like the real API.

The fake behaves like listenbrainz-server's `get_listens`: `max_ts` keeps listens strictly
older, newest first; `min_ts` takes the `count` listens just after it (oldest first) and
returns them newest first; `count` truncates. It can also serve scripted replies for given
request numbers (errors, rate limits). Every request is checked (path, User-Agent, only
one of min_ts/max_ts) and recorded. Expected items were worked out by hand from
fixtures/listenbrainz/.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

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
from mca_pipeline.plugins.listenbrainz import ListenbrainzCursor, ListenbrainzPlugin

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "listenbrainz"
BASE = "https://api.listenbrainz.org"
USER = "mv_listener"
CREDS = Credentials(account=USER)
REC = "https://musicbrainz.org/recording/"

Reply = tuple[int, Any, dict[str, str]]


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture_json(name: str) -> Any:
    return json.loads(fixture(name))


HISTORY: list[dict[str, Any]] = fixture_json("listens.json")["payload"]["listens"]
NEW: list[dict[str, Any]] = fixture_json("listens_new.json")["payload"]["listens"]


class FakeListenBrainz:
    """A mock `GET /1/user/<name>/listens` over a list of listens, or scripted replies."""

    def __init__(
        self,
        history: list[dict[str, Any]] | None = None,
        replies: dict[int, Reply | Callable[[httpx.Request], Reply]] | None = None,
        *,
        headers: Callable[[int], dict[str, str]] | None = None,
        user: str = USER,
    ) -> None:
        self.history = copy.deepcopy(HISTORY if history is None else history)
        self.replies = replies or {}
        self.headers = headers or (lambda n: {"X-RateLimit-Limit": "30", "X-RateLimit-Remaining": "29"})
        self.user = user
        self.requests: list[dict[str, str]] = []
        self.timeouts: list[dict[str, Any]] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        assert request.method == "GET"
        assert request.url.raw_path.split(b"?")[0].decode() == f"/1/user/{self.user}/listens".replace(
            " ", "%20"
        )
        assert request.headers["User-Agent"].startswith("mca-pipeline/")
        query = dict(request.url.params)
        assert not ("min_ts" in query and "max_ts" in query), "only one of min_ts/max_ts"
        assert 1 <= int(query["count"]) <= 1000
        self.requests.append(query)
        self.timeouts.append(request.extensions.get("timeout", {}))
        number = len(self.requests)
        reply = self.replies.get(number)
        if reply is not None:
            status, body, headers = reply(request) if callable(reply) else reply
        else:
            status, body, headers = 200, self.page(query), self.headers(number)
        if isinstance(body, dict | list):
            body = json.dumps(body)
        return httpx.Response(status, content=body, headers=headers)

    def page(self, query: dict[str, str]) -> dict[str, Any]:
        count = int(query["count"])
        newest_first = sorted(self.history, key=lambda x: x["listened_at"], reverse=True)
        if "min_ts" in query:
            after = [x for x in newest_first if x["listened_at"] > int(query["min_ts"])]
            listens = sorted(after, key=lambda x: x["listened_at"])[:count][::-1]
        elif "max_ts" in query:
            listens = [x for x in newest_first if x["listened_at"] < int(query["max_ts"])][:count]
        else:
            listens = newest_first[:count]
        times = [x["listened_at"] for x in self.history]
        return {
            "payload": {
                "count": len(listens),
                "latest_listen_ts": max(times, default=0),
                "listens": listens,
                "oldest_listen_ts": min(times, default=0),
                "user_id": self.user,
            }
        }

    def client(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(transport=httpx.MockTransport(self.handler), base_url=BASE, **kwargs)

    def plugin(self, **kwargs: Any) -> ListenbrainzPlugin:
        return ListenbrainzPlugin(client=self.client(), **kwargs)

    def params(self) -> list[dict[str, str]]:
        """The requests without `count`, to compare walks."""
        return [{k: v for k, v in q.items() if k != "count"} for q in self.requests]


def sync(
    fake: FakeListenBrainz,
    cursor: str = "",
    *,
    count: int = 1000,
    page_size: int = 50_000,
    ctx: SyncContext | None = None,
    creds: Credentials = CREDS,
) -> SyncResult:
    ctx = ctx or SyncContext(user_id="alice", page_size=page_size)
    return fake.plugin(count=count).sync(ctx, creds, cursor)


def cursor_of(result: SyncResult) -> dict[str, Any]:
    return json.loads(result.next_cursor)


def at(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def raw(listened_at: int, msid: str, **fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "listened_at": listened_at,
        "recording_msid": msid,
        "recording_mbid": None,
        "release_name": None,
        "release_mbid": None,
        "artist_mbids": None,
        "spotify_id": None,
        "media_player": None,
        "submission_client": None,
        "music_service": None,
    }
    return {**base, **fields}


def item(
    title: str,
    artist: str,
    ts: int,
    msid: str,
    *,
    seconds: float | None = None,
    mbid: str | None = None,
    tags: tuple[str, ...] = (),
    **fields: Any,
) -> MediaItem:
    return MediaItem(
        platform="listenbrainz",
        type=MediaType.MUSIC,
        title=title,
        creator=artist,
        consumed_at=at(ts),
        duration=timedelta(seconds=seconds) if seconds is not None else None,
        tags=tags,
        url=REC + mbid if mbid else None,
        external_id=f"{ts}|{msid}",
        raw_metadata=raw(ts, msid, recording_mbid=mbid, **fields),
    )


QUIET = "8f3b2a10-1c2d-4e5f-9a8b-7c6d5e4f3a2b"
MARLA = "3e9a1f52-7b6c-4d8e-a0f1-2c3b4d5e6f70"
NIGHT_LINES = "9c8b7a6f-5e4d-4c3b-a2f1-0e9d8c7b6a5f"
SPOTIFY_URL = "https://open.spotify.com/track/6rqhFgbbKwnb9MLmUQDhG6"

L1 = item(
    "Paper Boats",
    "The Quiet Hours",
    1714760282,
    "0b5f1f6a-7c0e-4b5e-9d2a-1c3e5f7a9b10",
    seconds=222,
    mbid="0c1d2e3f-4a5b-6c7d-8e9f-a0b1c2d3e4f5",  # from mbid_mapping
    release_name="Paper Boats",
    release_mbid="1b2c3d4e-5f6a-4b7c-9d8e-0f1a2b3c4d5e",
    artist_mbids=[QUIET],
    spotify_id=SPOTIFY_URL,
    submission_client="listenbrainz",
    music_service="spotify.com",
)
L2 = item(
    "Ночной поезд",
    "Сергей Лесной",
    1714760040,
    "5d2c8e41-93af-4c07-b1de-2f6a0c9e8b37",
    seconds=245,  # `duration` in seconds
    tags=("post-rock", "night"),
    media_player="Rhythmbox",
    submission_client="Rhythmbox ListenBrainz Plugin",
)
L3 = item(
    "Lantern Street",
    "Marla Venn",
    1714759781,
    "a41e7c2b-6f80-4d3a-8e15-9b0c7d2f4e61",
    seconds=198,
    mbid="6a7b8c9d-0e1f-4a2b-8c3d-4e5f6a7b8c9d",  # the submitted one wins over the mapping
    release_name="Night Lines",
    release_mbid=NIGHT_LINES,
    artist_mbids=[MARLA],
    media_player="foobar2000",
    submission_client="foo_listenbrainz2",
)
L4 = item(  # same second as L3
    "Night Lines (reprise)",
    "Marla Venn",
    1714759781,
    "c7d9e2f4-1a3b-4c5d-9e6f-7a8b9c0d1e2f",
    release_name="Night Lines",
    media_player="foobar2000",
    submission_client="foo_listenbrainz2",
)
L5 = item("Untitled (demo)", "Dusk & Ember", 1714759262, "e2f3a4b5-c6d7-4e8f-9a0b-1c2d3e4f5a6b")
N2 = item(
    "Harbour Lights",
    "The Quiet Hours",
    1714803600,
    "f1e2d3c4-b5a6-4978-8a69-5b4c3d2e1f00",
    seconds=301,
    release_name="Low Tide",
    submission_client="Web Scrobbler",
    music_service="youtube.com",
)
N1 = item(
    "Harbour Lights",
    "Marla Venn",
    1714800000,
    "0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d",
    mbid="4d5e6f70-8192-4a3b-bc4d-5e6f70819203",
    release_name="Night Lines",
    release_mbid=NIGHT_LINES,
    artist_mbids=[MARLA],
    media_player="BrainzPlayer",
    submission_client="BrainzPlayer",
    music_service="spotify.com",
)
ALL = [L1, L2, L3, L4, L5]
NEWEST = 1714760282


# --- plugin shape --------------------------------------------------------------------


def test_plugin_declares_a_public_source_with_skip_dedup_and_registers() -> None:
    plugin = ListenbrainzPlugin(client=FakeListenBrainz().client())
    assert plugin.name == "listenbrainz"
    assert plugin.auth_type is AuthType.NONE
    assert plugin.auth_config is None
    assert plugin.dedup_policy is DedupPolicy.SKIP
    assert plugin.schedule_cron == "30 * * * *"
    assert isinstance(plugin, SourcePlugin)
    registry = PluginRegistry()
    registry.register(plugin)
    assert registry.names() == ["listenbrainz"]
    assert registry.get("listenbrainz") is plugin


def test_default_client_talks_to_listenbrainz_with_a_timeout() -> None:
    plugin = ListenbrainzPlugin(timeout_s=7.5)
    client = plugin._api.client
    assert str(client.base_url) == "https://api.listenbrainz.org"
    assert client.timeout == httpx.Timeout(7.5)
    client.close()


def test_injected_client_keeps_its_timeout_but_never_waits_forever() -> None:
    fake = FakeListenBrainz()
    ctx = SyncContext(user_id="alice")
    assert ListenbrainzPlugin(client=fake.client(timeout=3.0)).sync(ctx, CREDS, "").err is None
    assert (
        ListenbrainzPlugin(client=fake.client(timeout=None), timeout_s=9.0).sync(ctx, CREDS, "").err is None
    )
    assert fake.timeouts[0] == {"connect": 3.0, "read": 3.0, "write": 3.0, "pool": 3.0}
    assert fake.timeouts[-1] == {"connect": 9.0, "read": 9.0, "write": 9.0, "pool": 9.0}


def test_injected_client_without_base_url_uses_the_absolute_url() -> None:
    fake = FakeListenBrainz()
    client = httpx.Client(transport=httpx.MockTransport(fake.handler), timeout=5.0)
    result = ListenbrainzPlugin(client=client).sync(SyncContext(user_id="alice"), CREDS, "")
    assert result.err is None
    assert result.items == ALL


@pytest.mark.parametrize("count", [0, 1001])
def test_count_must_be_within_listenbrainz_bounds(count: int) -> None:
    with pytest.raises(ValueError, match=r"1\.\.1000"):
        ListenbrainzPlugin(client=FakeListenBrainz().client(), count=count)


def test_enrich_without_a_lastfm_key_is_skipped_not_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LASTFM_API_KEY", raising=False)
    items = sync(FakeListenBrainz()).items
    plugin = ListenbrainzPlugin(client=FakeListenBrainz().client())
    with pytest.raises(EnrichmentSkipped, match="LASTFM_API_KEY"):
        plugin.enrich(SyncContext(user_id="alice"), CREDS, items)


# --- syncing -------------------------------------------------------------------------


def test_first_sync_walks_back_until_an_empty_page() -> None:
    fake = FakeListenBrainz()
    result = sync(fake)
    assert result.err is None
    assert result.has_more is False
    assert result.items == ALL
    assert cursor_of(result) == {"newest": NEWEST}
    # Page 1 has no bound; page 2 asks for listens before the oldest of page 1 and is empty.
    assert fake.params() == [{}, {"max_ts": "1714759262"}]
    assert fake.requests[0]["count"] == "1000"


def test_full_pages_overlap_one_second_so_listens_sharing_a_second_are_not_skipped() -> None:
    fake = FakeListenBrainz()
    result = sync(fake, count=3)
    assert result.err is None
    # L3 and L4 share 1714759781; page 1 (L1, L2, L3) is full, so page 2 repeats that second.
    assert fake.params() == [
        {},
        {"max_ts": "1714759782"},  # L3, L4, L5: full again
        {"max_ts": "1714759263"},  # L5 alone
        {"max_ts": "1714759262"},  # empty: done
    ]
    assert result.items == ALL  # the repeats are returned once
    assert cursor_of(result) == {"newest": NEWEST}


def test_a_full_page_of_one_second_steps_past_it_to_make_progress() -> None:
    history = copy.deepcopy(HISTORY[2:4])  # L3 and L4, same second
    fake = FakeListenBrainz(history)
    result = sync(fake, count=1)
    assert result.err is None
    assert fake.params() == [{}, {"max_ts": "1714759782"}, {"max_ts": "1714759781"}]
    # The second listen of that second is out of reach with count=1: the price of progress.
    assert [i.title for i in result.items] == ["Lantern Street"]


def test_incremental_sync_walks_forward_from_the_newest_listen() -> None:
    fake = FakeListenBrainz(NEW + HISTORY)
    result = sync(fake, json.dumps({"newest": NEWEST}))
    assert result.err is None
    assert result.has_more is False
    assert result.items == [N2, N1]
    assert fake.params() == [{"min_ts": str(NEWEST)}, {"min_ts": "1714803600"}]
    assert cursor_of(result) == {"newest": 1714803600}


def test_incremental_pages_come_oldest_block_first_and_overlap_when_full() -> None:
    fake = FakeListenBrainz(NEW + HISTORY)
    result = sync(fake, json.dumps({"newest": NEWEST}), count=1)
    assert result.err is None
    assert fake.params() == [
        {"min_ts": str(NEWEST)},  # N1 (the oldest after min_ts), full
        {"min_ts": "1714799999"},  # N1 again: its second could hold more
        {"min_ts": "1714800000"},  # N2, full
        {"min_ts": "1714803599"},  # N2 again
        {"min_ts": "1714803600"},  # empty: done
    ]
    assert result.items == [N1, N2]
    assert cursor_of(result) == {"newest": 1714803600}


def test_no_new_listens_leaves_the_cursor_where_it_was() -> None:
    fake = FakeListenBrainz()
    result = sync(fake, json.dumps({"newest": NEWEST}))
    assert result == SyncResult(items=[], next_cursor=json.dumps({"newest": NEWEST}, separators=(",", ":")))
    assert fake.params() == [{"min_ts": str(NEWEST)}]


def test_an_account_without_listens_completes_with_an_empty_cursor() -> None:
    fake = FakeListenBrainz([])
    result = sync(fake)
    assert result.err is None
    assert result.items == []
    assert result.next_cursor == "{}"
    again = sync(fake, result.next_cursor)  # still a first sync: no min_ts=0
    assert fake.params() == [{}, {}]
    assert again.next_cursor == "{}"


def test_a_user_name_is_escaped_in_the_path() -> None:
    fake = FakeListenBrainz(user="DJ Night Owl")
    result = sync(fake, creds=Credentials(account="  DJ Night Owl "))
    assert result.err is None
    assert len(result.items) == 5


def test_missing_msid_falls_back_to_artist_and_track() -> None:
    history = copy.deepcopy(HISTORY[4:])
    del history[0]["recording_msid"]
    del history[0]["track_metadata"]["additional_info"]["recording_msid"]
    result = sync(FakeListenBrainz(history))
    assert result.err is None
    [only] = result.items
    assert only.external_id == "1714759262|Dusk & Ember|Untitled (demo)"
    assert only.raw_metadata["recording_msid"] is None


def test_odd_optional_fields_are_ignored_not_fatal() -> None:
    history = copy.deepcopy(HISTORY[:1])
    meta = history[0]["track_metadata"]
    meta["additional_info"].update(duration_ms="not a number", spotify_id=7, tags="rock")
    meta["mbid_mapping"]["recording_mbid"] = "not-an-mbid"
    meta["mbid_mapping"]["artist_mbids"] = "8f3b2a10"
    result = sync(FakeListenBrainz(history))
    assert result.err is None
    [only] = result.items
    assert only.duration is None
    assert only.url is None
    assert only.tags == ()
    assert only.raw_metadata["spotify_id"] is None
    assert only.raw_metadata["recording_mbid"] is None
    assert only.raw_metadata["artist_mbids"] is None


def test_duration_ms_as_a_string_is_read() -> None:
    history = copy.deepcopy(HISTORY[:1])
    history[0]["track_metadata"]["additional_info"]["duration_ms"] = "222000"
    [only] = sync(FakeListenBrainz(history)).items
    assert only.duration == timedelta(seconds=222)


# --- errors --------------------------------------------------------------------------


ERROR_CASES = [
    # id, reply, code, retry, after (s), words in the message
    (
        "429-reset-in",
        (429, fixture("error_429.json"), {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-In": "17"}),
        ErrorCode.RATE_LIMIT,
        True,
        17,
        "rate limit",
    ),
    ("429-no-header", (429, fixture("error_429.json"), {}), ErrorCode.RATE_LIMIT, True, 10, "rate limit"),
    (
        "429-garbage-header",
        (429, "Too Many Requests", {"X-RateLimit-Reset-In": "soon"}),
        ErrorCode.RATE_LIMIT,
        True,
        10,
        "rate limit",
    ),
    (
        "404-user",
        (404, fixture("error_404.json"), {}),
        ErrorCode.PERMISSION_DENIED,
        False,
        None,
        "no user named 'mv_listener'",
    ),
    ("400", (400, fixture("error_400.json"), {}), ErrorCode.INVALID_DATA, False, None, "only specify"),
    ("401", (401, '{"code": 401, "error": "nope"}', {}), ErrorCode.INVALID_DATA, False, None, "HTTP 401"),
    ("503", (503, fixture("error_503.json"), {}), ErrorCode.UPSTREAM, True, None, "momentarily offline"),
    ("500-html", (500, "<html>Internal Server Error</html>", {}), ErrorCode.UPSTREAM, True, None, "HTTP 500"),
    ("200-not-json", (200, "<html>maintenance</html>", {}), ErrorCode.INVALID_DATA, False, None, "not JSON"),
]


@pytest.mark.parametrize(
    ("reply", "code", "retry", "after", "words"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_errors_on_the_first_page_keep_the_cursor(
    reply: Reply, code: ErrorCode, retry: bool, after: int | None, words: str
) -> None:
    cursor = json.dumps({"newest": NEWEST})
    result = sync(FakeListenBrainz(replies={1: reply}), cursor)
    err = result.err
    assert err is not None
    assert err.code is code
    assert err.retry is retry
    assert err.after == (timedelta(seconds=after) if after is not None else None)
    assert words in err.message
    assert result.items == []
    assert result.next_cursor == cursor
    body = reply[1].decode() if isinstance(reply[1], bytes) else reply[1]
    assert err.raw == body[:RAW_CHARS]


def raise_timeout(request: httpx.Request) -> Reply:
    raise httpx.ReadTimeout("timed out", request=request)


def raise_connect(request: httpx.Request) -> Reply:
    raise httpx.ConnectError("connection refused", request=request)


@pytest.mark.parametrize("failure", [raise_timeout, raise_connect], ids=["timeout", "connect"])
def test_network_failures_are_upstream_and_retried(failure: Callable[[httpx.Request], Reply]) -> None:
    result = sync(FakeListenBrainz(replies={1: failure}))
    assert result.err is not None
    assert result.err.code is ErrorCode.UPSTREAM
    assert result.err.retry is True
    assert result.next_cursor == ""


def _mutated(change: Callable[[dict[str, Any]], Any]) -> dict[str, Any]:
    body = fixture_json("listens.json")
    change(body)
    return body


BROKEN_BODIES = {
    "no-payload": {"listens": []},
    "payload-not-an-object": {"payload": []},
    "no-listens": _mutated(lambda b: b["payload"].pop("listens")),
    "listens-not-a-list": _mutated(lambda b: b["payload"].update(listens={})),
    "listen-not-an-object": _mutated(lambda b: b["payload"]["listens"].append("Paper Boats")),
    "no-listened_at": _mutated(lambda b: b["payload"]["listens"][2].pop("listened_at")),
    "listened_at-a-string": _mutated(lambda b: b["payload"]["listens"][2].update(listened_at="1714759781")),
    "no-track_metadata": _mutated(lambda b: b["payload"]["listens"][2].pop("track_metadata")),
    "no-track_name": _mutated(lambda b: b["payload"]["listens"][2]["track_metadata"].pop("track_name")),
    "empty-artist_name": _mutated(
        lambda b: b["payload"]["listens"][2]["track_metadata"].update(artist_name=" ")
    ),
    "listened_at-out-of-range": _mutated(lambda b: b["payload"]["listens"][2].update(listened_at=10**15)),
}


@pytest.mark.parametrize("body", list(BROKEN_BODIES.values()), ids=list(BROKEN_BODIES))
def test_malformed_bodies_are_invalid_data_with_raw(body: dict[str, Any]) -> None:
    text = json.dumps(body)
    result = sync(FakeListenBrainz(replies={1: (200, text, {})}))
    err = result.err
    assert err is not None
    assert err.code is ErrorCode.INVALID_DATA
    assert err.retry is False
    assert err.raw == text[:RAW_CHARS]
    assert result.items == []


def test_a_programming_error_propagates_instead_of_passing_for_the_platforms() -> None:
    def explode(request: httpx.Request) -> Reply:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        sync(FakeListenBrainz(replies={1: explode}))


# --- partial syncs, rate limits, page budget, cancellation -----------------------------


def test_failure_after_a_good_page_is_a_partial_sync_that_cannot_skip_listens() -> None:
    fake = FakeListenBrainz(replies={2: (502, "<html>Bad Gateway</html>", {})})
    result = sync(fake, count=3)
    assert result.items == [L1, L2, L3]
    assert result.has_more is True
    err = result.err
    assert err is not None
    assert err.code is ErrorCode.PARTIAL_SYNC
    assert err.retry is True
    assert err.details["cause"] == "upstream"
    assert err.details["collected"] == 3
    assert err.raw == "<html>Bad Gateway</html>"
    assert cursor_of(result) == {"before": 1714759782, "top": NEWEST}
    assert FakeListenBrainz().plugin().cursor_order(result.next_cursor) == 0.0

    again = FakeListenBrainz()
    finished = sync(again, result.next_cursor, count=3)
    assert again.params()[0] == {"max_ts": "1714759782"}  # the failed page, L3's second included
    assert finished.err is None
    assert finished.items == [L3, L4, L5]
    assert cursor_of(finished) == {"newest": NEWEST}


def test_broken_page_after_good_ones_in_an_incremental_sync_resumes_at_that_page() -> None:
    fake = FakeListenBrainz(NEW + HISTORY, replies={2: (200, '{"payload": {}}', {})})
    result = sync(fake, json.dumps({"newest": NEWEST}), count=1)
    assert result.items == [N1]
    assert result.err is not None and result.err.code is ErrorCode.PARTIAL_SYNC
    assert result.err.details["cause"] == "invalid_data"
    assert cursor_of(result) == {"newest": 1714799999}


def test_429_after_a_good_page_is_a_rate_limit_with_the_items_and_a_resume_cursor() -> None:
    refused = (429, fixture("error_429.json"), {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-In": "42"})
    fake = FakeListenBrainz(replies={2: refused})
    result = sync(fake, count=3)
    err = result.err
    assert err is not None
    assert err.code is ErrorCode.RATE_LIMIT
    assert err.after == timedelta(seconds=42)
    assert err.details["collected"] == 3
    assert result.items == [L1, L2, L3]
    assert result.has_more is True
    assert cursor_of(result) == {"before": 1714759782, "top": NEWEST}


def test_an_exhausted_window_stops_before_the_429_and_says_how_long_to_wait() -> None:
    def headers(number: int) -> dict[str, str]:
        left = max(0, 2 - number)
        return {"X-RateLimit-Limit": "2", "X-RateLimit-Remaining": str(left), "X-RateLimit-Reset-In": "7"}

    fake = FakeListenBrainz(headers=headers)
    result = sync(fake, count=2)
    assert len(fake.requests) == 2  # the window allowed two requests; no third one was sent
    err = result.err
    assert err is not None
    assert err.code is ErrorCode.RATE_LIMIT
    assert err.retry is True
    assert err.after == timedelta(seconds=7)
    # Page 1: L1, L2 (full); page 2 repeats L2's second: L2, L3.
    assert result.items == [L1, L2, L3]
    assert result.has_more is True
    assert cursor_of(result) == {"before": 1714759782, "top": NEWEST}


def test_an_exhausted_window_on_the_last_page_is_not_an_error() -> None:
    fake = FakeListenBrainz(headers=lambda n: {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset-In": "5"})
    result = sync(fake, json.dumps({"newest": NEWEST}))
    assert result.err is None
    assert result.has_more is False


@pytest.mark.parametrize("page_size", [1, 2, 5])
def test_page_budget_stops_early_and_the_next_calls_continue(page_size: int) -> None:
    fake = FakeListenBrainz()
    plugin = fake.plugin(count=2)
    ctx = SyncContext(user_id="alice", page_size=page_size)  # max(1, page_size // 2) pages per call
    cursor, items, calls, orders = "", [], 0, []
    while True:
        result = plugin.sync(ctx, CREDS, cursor)
        assert result.err is None
        items += result.items
        calls += 1
        cursor = result.next_cursor
        orders.append(plugin.cursor_order(cursor))
        if not result.has_more:
            break
    # Pages of two, each overlapping the previous one's oldest second: core drops repeats.
    unique = list({i.external_id: i for i in items}.values())
    assert unique == ALL
    assert len(fake.requests) == 5
    assert calls == -(-5 // max(1, page_size // 2))
    assert json.loads(cursor) == {"newest": NEWEST}
    assert orders == sorted(orders)  # never backwards
    assert orders[-1] == float(NEWEST)


def test_cancellation_between_pages_returns_what_was_read() -> None:
    ctx = SyncContext(user_id="alice")

    def page1_then_cancel(request: httpx.Request) -> Reply:
        ctx.cancelled.set()
        return 200, fake.page(dict(request.url.params)), {}

    fake = FakeListenBrainz(replies={1: page1_then_cancel})
    result = sync(fake, ctx=ctx, count=3)
    assert len(fake.requests) == 1
    assert result.err is None
    assert result.has_more is True
    assert result.items == [L1, L2, L3]
    assert cursor_of(result) == {"before": 1714759782, "top": NEWEST}


def test_cancelled_before_the_first_page_fetches_nothing() -> None:
    ctx = SyncContext(user_id="alice")
    ctx.cancelled.set()
    fake = FakeListenBrainz()
    cursor = json.dumps({"newest": NEWEST})
    assert sync(fake, cursor, ctx=ctx) == SyncResult(next_cursor=cursor, has_more=True)
    assert fake.requests == []


# --- configuration and cursors -------------------------------------------------------


@pytest.mark.parametrize("creds", [Credentials(), Credentials(account="   ")], ids=["none", "blank"])
def test_missing_username_is_a_configuration_error(creds: Credentials) -> None:
    fake = FakeListenBrainz()
    result = sync(fake, creds=creds)
    assert fake.requests == []
    err = result.err
    assert err is not None
    assert err.code is ErrorCode.PERMISSION_DENIED
    assert err.retry is False
    assert err.details == {"missing": ["account"]}


@pytest.mark.parametrize(
    "cursor",
    [
        "not json",
        "[1]",
        "1714760282",
        '{"newest": 0}',
        '{"newest": "1714760282"}',
        '{"before": 5}',
        '{"top": 5}',
        '{"newest": 1, "before": 5, "top": 6}',
        '{"page": 2}',
    ],
)
def test_an_unreadable_cursor_is_invalid_data_and_fetches_nothing(cursor: str) -> None:
    fake = FakeListenBrainz()
    result = sync(fake, cursor)
    assert fake.requests == []
    assert result.err is not None
    assert result.err.code is ErrorCode.INVALID_DATA
    assert result.next_cursor == cursor


@pytest.mark.parametrize(
    ("cursor", "order"),
    [
        ("", None),
        ("{}", None),
        ("garbage", None),
        ('{"newest": 1714760282}', 1714760282.0),
        ('{"before": 1714759782, "top": 1714760282}', 0.0),
    ],
)
def test_cursor_order_is_the_newest_complete_listen(cursor: str, order: float | None) -> None:
    assert ListenbrainzPlugin(client=FakeListenBrainz().client()).cursor_order(cursor) == order


def test_cursor_round_trips() -> None:
    for state in (ListenbrainzCursor(newest=5), ListenbrainzCursor(before=7, top=9), ListenbrainzCursor()):
        assert ListenbrainzCursor.decode(state.encode()) == state
