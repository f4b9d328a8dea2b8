"""YoutubePlugin (likes via playlistItems.list + videos.list) against an httpx.MockTransport
serving fixtures shaped like PLATFORMS.md section 3.

The likes in fixtures/youtube_api/, newest first (liked_at = snippet.publishedAt):

page 1: Lantern Street 2024-06-13T17:05:13Z, "Deleted video" 2024-06-10T08:30:00Z,
        Lighthouse lecture 2024-06-02T21:44:09.000Z             (nextPageToken EAAaBlBUOkNESQ)
page 2: "Private video" 2024-05-20T12:00:00Z, Lo-fi marathon 2024-05-18T03:15:27Z,
        ferry short 2024-05-01T08:00:00Z (no videoOwnerChannelTitle), Harbour Lights
        2024-04-22T19:02:51Z (left out of videos.list)           (no nextPageToken)
new:    Paper Harbour 2024-06-20T10:00:00Z, Glasshouse 2024-06-15T18:30:45Z, Lantern
        Street again (renamed), the deleted video, the lecture    (nextPageToken present)
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

import mca_pipeline.plugins.youtube as youtube_module
from mca_pipeline.clients.http import RAW_CHARS
from mca_pipeline.clients.youtube import parse_duration, until_quota_reset
from mca_pipeline.core import (
    AuthType,
    Credentials,
    DedupPolicy,
    ErrorCode,
    MediaItem,
    MediaType,
    PluginRegistry,
    SourcePlugin,
    SyncContext,
    SyncResult,
)
from mca_pipeline.plugins.youtube import YoutubeCursor, YoutubePlugin, parse_time

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "youtube_api"
BASE = "https://www.googleapis.test/youtube/v3"
PLAYLIST_PATH = "/youtube/v3/playlistItems"
VIDEOS_PATH = "/youtube/v3/videos"
TOKEN = "ya29.a0AfB_test-access-token-Zq81"
SCOPE = "https://www.googleapis.com/auth/youtube.readonly"
PAGE2_TOKEN = "EAAaBlBUOkNESQ"
# 13:00 PDT on 2024-06-13: the next midnight Pacific is 2024-06-14T07:00Z, 11 h later
NOW = datetime(2024, 6, 13, 20, 0, tzinfo=UTC)
UNTIL_RESET = timedelta(hours=11)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text())


def ok(name: str | dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json=fixture(name) if isinstance(name, str) else name)


def error(status: int, name: str, headers: dict[str, str] | None = None) -> httpx.Response:
    headers = {"Content-Type": "application/json; charset=UTF-8", **(headers or {})}
    return httpx.Response(status, content=(FIXTURES / name).read_bytes(), headers=headers)


class Api:
    """A mock YouTube: checks the invariants of every request (bearer token, parts,
    playlist LL, maxResults=50) and answers the n-th request with the n-th response."""

    def __init__(self, *responses: httpx.Response | Exception | Callable[[httpx.Request], httpx.Response]):
        self.responses = list(responses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        n = len(self.requests)
        self.requests.append(request)
        assert request.method == "GET"
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        params = request.url.params
        if request.url.path == PLAYLIST_PATH:
            assert params["part"] == "snippet,contentDetails"
            assert params["playlistId"] == "LL"
            assert params["maxResults"] == "50"
        else:
            assert request.url.path == VIDEOS_PATH
            assert params["part"] == "contentDetails,snippet,topicDetails"
            assert 1 <= len(params["id"].split(",")) <= 50
        answer = self.responses[n]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer) and not isinstance(answer, httpx.Response):
            return answer(request)
        return answer

    def calls(self) -> list[tuple[str, str | None]]:
        """(endpoint, pageToken or the id list) per request."""
        out: list[tuple[str, str | None]] = []
        for r in self.requests:
            if r.url.path == PLAYLIST_PATH:
                out.append(("playlist", r.url.params.get("pageToken")))
            else:
                out.append(("videos", r.url.params["id"]))
        return out


def plugin_for(api: Api) -> YoutubePlugin:
    client = httpx.Client(transport=httpx.MockTransport(api), base_url=BASE)
    return YoutubePlugin(client=client, clock=lambda: NOW)


def run(
    api: Api,
    cursor: str = "",
    *,
    scopes: tuple[str, ...] = (SCOPE,),
    ctx: SyncContext | None = None,
) -> SyncResult:
    creds = Credentials(access_token=TOKEN, scopes=scopes)
    return plugin_for(api).sync(ctx or SyncContext(user_id="alice"), creds, cursor)


def summary(item: MediaItem) -> tuple[Any, ...]:
    return (item.external_id, item.title, item.creator, item.consumed_at, item.duration)


def first_sync_api() -> Api:
    return Api(
        ok("playlist_items_page1.json"),
        ok("videos_page1.json"),
        ok("playlist_items_page2.json"),
        ok("videos_page2.json"),
    )


PAGE1_ITEMS = [
    (
        "LL:dQ3xY7kLmN0",
        "Marla Venn - Lantern Street (Official Video)",
        "MarlaVennVEVO",
        at("2024-06-13T17:05:13"),
        timedelta(minutes=3, seconds=35),
    ),
    (
        "LL:Hq7Zt0vB2nE",
        "How Lighthouses Work \u2014 A Long Lecture",
        "Coastal Engineering Lectures",
        at("2024-06-02T21:44:09"),
        timedelta(hours=1, minutes=2, seconds=3),
    ),
]
PAGE2_ITEMS = [
    (
        "LL:L1v3StrM4x9",
        "24h Lo-fi Radio Marathon",
        "Night Owl Radio",
        at("2024-05-18T03:15:27"),
        timedelta(hours=26),
    ),
    (
        "LL:Sh0rtClp45s",
        "Tiny Ferry Crossing #shorts",
        "Harbour Shorts",
        at("2024-05-01T08:00:00"),
        timedelta(seconds=45),
    ),
    ("LL:Gh0stV1d3o1", "Harbour Lights (Live Session)", "Odo Kline", at("2024-04-22T19:02:51"), None),
]
FIRST_CURSOR = '{"newest":"2024-06-13T17:05:13Z"}'


# --- first sync ---------------------------------------------------------------------------


def test_first_sync_pages_through_everything(caplog: pytest.LogCaptureFixture) -> None:
    api = first_sync_api()
    with caplog.at_level(logging.INFO):
        result = run(api)

    assert result.err is None
    assert [summary(i) for i in result.items] == PAGE1_ITEMS + PAGE2_ITEMS
    assert result.next_cursor == FIRST_CURSOR
    assert result.has_more is False
    # videos.list only for the available videos of each page, the second page by token
    assert api.calls() == [
        ("playlist", None),
        ("videos", "dQ3xY7kLmN0,Hq7Zt0vB2nE"),
        ("playlist", PAGE2_TOKEN),
        ("videos", "L1v3StrM4x9,Sh0rtClp45s,Gh0stV1d3o1"),
    ]
    # the deleted and the private video are skipped and counted
    assert "skipped 2 deleted or private video(s)" in caplog.text


def test_item_fields_and_raw_metadata() -> None:
    result = run(first_sync_api())
    lantern, lecture, marathon, short, ghost = result.items

    assert {i.platform for i in result.items} == {"youtube"}
    assert {i.type for i in result.items} == {MediaType.VIDEO}
    assert lantern.url == "https://www.youtube.com/watch?v=dQ3xY7kLmN0"
    assert lantern.time_spent is None
    assert lantern.tags == ("music", "pop music")
    assert lantern.raw_metadata == {
        "video_id": "dQ3xY7kLmN0",
        "playlist_id": "LL",
        "channel_id": "UCz9y8x7w6v5u4t3s2r1q0pO",
        "category_id": "10",
        "topic_categories": [
            "https://en.wikipedia.org/wiki/Music",
            "https://en.wikipedia.org/wiki/Pop_music",
        ],
        "liked_at": "2024-06-13T17:05:13Z",
        "video_published_at": "2021-09-10T16:00:07Z",
    }
    # the ms form of publishedAt is kept as written
    assert lecture.raw_metadata["liked_at"] == "2024-06-02T21:44:09.000Z"
    assert lecture.raw_metadata["category_id"] == "27"
    assert marathon.tags == ("music", "electronic music", "hip hop music")
    # no videoOwnerChannel*: creator and channel from videos.list; no topicDetails
    assert short.raw_metadata["channel_id"] == "UChArb0urSh0rt5xxxxxxxxx"
    assert short.tags == ()
    assert short.raw_metadata["topic_categories"] == []
    # left out of videos.list: still a like, with what the playlist item says
    assert ghost.duration is None
    assert ghost.raw_metadata["category_id"] is None
    assert ghost.raw_metadata["channel_id"] == "UCod0kL1n3xxxxxxxxxxxxxx"
    assert ghost.raw_metadata["video_published_at"] == "2022-07-01T17:00:00Z"
    # the playlist owner (the person's own channel) is not stored
    assert all("UCq4mR8vT2xW6yZ0aB3cD5eF" not in json.dumps(i.raw_metadata) for i in result.items)


def test_empty_likes_playlist_is_a_finished_sync_without_cursor() -> None:
    empty = {
        "kind": "youtube#playlistItemListResponse",
        "etag": "e1",
        "items": [],
        "pageInfo": {"totalResults": 0, "resultsPerPage": 50},
    }
    api = Api(ok(empty))
    result = run(api)
    assert result.err is None and result.items == [] and result.next_cursor == "" and not result.has_more
    assert api.calls() == [("playlist", None)]  # nothing to look up


def test_unreadable_cursor_reads_like_a_first_sync(caplog: pytest.LogCaptureFixture) -> None:
    api = first_sync_api()
    result = run(api, "not-a-cursor")
    assert result.err is None
    assert len(result.items) == 5
    assert "unreadable cursor" in caplog.text


# --- incremental sync --------------------------------------------------------------------


def test_incremental_sync_stops_at_the_first_page_reaching_the_cursor() -> None:
    api = Api(ok("playlist_items_new.json"), ok("videos_new.json"))
    result = run(api, FIRST_CURSOR)

    assert result.err is None
    assert [summary(i) for i in result.items] == [
        (
            "LL:N3wL1k3aaa1",
            "Paper Harbour (Acoustic)",
            "Odo Kline",
            at("2024-06-20T10:00:00"),
            timedelta(seconds=253),
        ),
        (
            "LL:N3wL1k3bbb2",
            "Glasshouse \u2014 Live at the Pier",
            "The June Antennas",
            at("2024-06-15T18:30:45"),
            timedelta(minutes=53, seconds=53),
        ),
        # the boundary like is read again, with its new title (UPDATE_ON_CHANGE refreshes it)
        (
            "LL:dQ3xY7kLmN0",
            "Marla Venn - Lantern Street (Official Music Video)",
            "MarlaVennVEVO",
            at("2024-06-13T17:05:13"),
            timedelta(minutes=3, seconds=35),
        ),
    ]
    assert result.next_cursor == '{"newest":"2024-06-20T10:00:00Z"}'
    assert result.has_more is False
    # page 2 is never asked for although nextPageToken is there; older likes not looked up
    assert api.calls() == [("playlist", None), ("videos", "N3wL1k3aaa1,N3wL1k3bbb2,dQ3xY7kLmN0")]


def test_nothing_new_keeps_the_cursor() -> None:
    page = fixture("playlist_items_page1.json")
    api = Api(ok(page), ok("videos_page1.json"))
    result = run(api, FIRST_CURSOR)
    assert result.err is None
    assert [i.external_id for i in result.items] == ["LL:dQ3xY7kLmN0"]
    assert result.next_cursor == FIRST_CURSOR


def test_dedup_policy_is_update_on_change() -> None:
    assert YoutubePlugin().dedup_policy is DedupPolicy.UPDATE_ON_CHANGE


# --- paging budget, resume, cancellation ------------------------------------------------


def test_page_budget_returns_has_more_and_resumes_at_the_page_token() -> None:
    api = first_sync_api()
    plugin = plugin_for(api)
    creds = Credentials(access_token=TOKEN, scopes=(SCOPE,))
    ctx = SyncContext(user_id="alice", page_size=50)  # one page per call

    first = plugin.sync(ctx, creds, "")
    assert first.err is None and first.has_more is True
    assert [summary(i) for i in first.items] == PAGE1_ITEMS
    assert json.loads(first.next_cursor) == {"newest": "2024-06-13T17:05:13Z", "pageToken": PAGE2_TOKEN}

    second = plugin.sync(ctx, creds, first.next_cursor)
    assert second.err is None and second.has_more is False
    assert [summary(i) for i in second.items] == PAGE2_ITEMS
    assert second.next_cursor == FIRST_CURSOR
    assert [c[1] for c in api.calls() if c[0] == "playlist"] == [None, PAGE2_TOKEN]


def test_unfinished_incremental_sync_keeps_its_boundary() -> None:
    """Boundary = the marathon like: page 1 is all new, page 2 reaches the boundary."""
    api = first_sync_api()
    plugin = plugin_for(api)
    creds = Credentials(access_token=TOKEN, scopes=(SCOPE,))
    ctx = SyncContext(user_id="alice", page_size=60)
    start = '{"newest":"2024-05-18T03:15:27Z"}'

    first = plugin.sync(ctx, creds, start)
    assert first.has_more is True
    assert json.loads(first.next_cursor) == {
        "newest": "2024-06-13T17:05:13Z",
        "stop": "2024-05-18T03:15:27Z",
        "pageToken": PAGE2_TOKEN,
    }
    second = plugin.sync(ctx, creds, first.next_cursor)
    assert second.err is None and second.has_more is False
    # only the boundary like itself (re-read) from page 2; the older ones stay unread
    assert [i.external_id for i in second.items] == ["LL:L1v3StrM4x9"]
    assert second.next_cursor == FIRST_CURSOR
    assert api.calls()[-1] == ("videos", "L1v3StrM4x9")
    order = plugin.cursor_order
    assert order(start) <= order(first.next_cursor) <= order(second.next_cursor)  # type: ignore[operator]


def test_cancellation_between_pages_returns_what_was_read() -> None:
    ctx = SyncContext(user_id="alice")

    def videos_then_cancel(request: httpx.Request) -> httpx.Response:
        ctx.cancelled.set()
        return ok("videos_page1.json")

    api = Api(ok("playlist_items_page1.json"), videos_then_cancel)
    result = run(api, ctx=ctx)
    assert result.err is None and result.has_more is True
    assert len(result.items) == 2
    assert json.loads(result.next_cursor)["pageToken"] == PAGE2_TOKEN


def test_cancelled_before_the_first_page_reads_nothing() -> None:
    ctx = SyncContext(user_id="alice")
    ctx.cancelled.set()
    api = Api()
    result = run(api, FIRST_CURSOR, ctx=ctx)
    assert result.items == [] and result.has_more is True and result.next_cursor == FIRST_CURSOR
    assert api.requests == []


def test_rejected_page_token_restarts_at_page_one() -> None:
    cursor = '{"newest":"2024-06-13T17:05:13Z","pageToken":"EAEaBnN0YWxl"}'
    api = Api(error(400, "error_400_page_token.json"), *first_sync_api().responses)
    result = run(api, cursor)
    assert result.err is None
    assert len(result.items) == 5  # a first sync in progress: no boundary, read to the end
    assert [c[1] for c in api.calls() if c[0] == "playlist"] == ["EAEaBnN0YWxl", None, PAGE2_TOKEN]


def test_videos_are_looked_up_in_batches_of_fifty() -> None:
    page = fixture("playlist_items_page1.json")
    template = page["items"][0]
    items = []
    for n in range(60):
        entry = copy.deepcopy(template)
        vid = f"vid{n:08d}"
        entry["snippet"]["resourceId"]["videoId"] = entry["contentDetails"]["videoId"] = vid
        entry["snippet"]["publishedAt"] = f"2024-06-13T17:{59 - n % 60:02d}:00Z"
        entry["snippet"]["position"] = n
        items.append(entry)
    page["items"] = items
    del page["nextPageToken"]
    empty_videos = {"kind": "youtube#videoListResponse", "etag": "x", "items": [], "pageInfo": {}}
    api = Api(ok(page), ok(empty_videos), ok(empty_videos))
    result = run(api)
    assert result.err is None and len(result.items) == 60
    sizes = [len(ids.split(",")) for kind, ids in api.calls() if kind == "videos" and ids]
    assert sizes == [50, 10]


# --- errors --------------------------------------------------------------------------------


def test_401_is_auth_expired() -> None:
    result = run(Api(error(401, "error_401.json")), FIRST_CURSOR)
    assert result.err is not None and result.err.code is ErrorCode.AUTH_EXPIRED
    assert "authError" in result.err.details["reasons"] and "UNAUTHENTICATED" in result.err.details["reasons"]
    assert result.next_cursor == FIRST_CURSOR and result.items == []


def test_missing_access_token_is_auth_expired_without_a_request() -> None:
    api = Api()
    result = plugin_for(api).sync(SyncContext(user_id="alice"), Credentials(), "")
    assert result.err is not None and result.err.code is ErrorCode.AUTH_EXPIRED
    assert api.requests == []


@pytest.mark.parametrize("name", ["error_403_quota.json", "error_403_daily_limit.json"])
def test_quota_exhausted_waits_until_midnight_pacific(name: str) -> None:
    result = run(Api(error(403, name)))
    assert result.err is not None and result.err.code is ErrorCode.RATE_LIMIT
    assert result.err.retry is True
    assert result.err.after == UNTIL_RESET
    assert "<a" not in result.err.message  # Google's HTML is stripped from the message


@pytest.mark.parametrize(
    ("response", "after"),
    [
        (error(403, "error_403_rate_limit.json"), timedelta(seconds=60)),
        (
            httpx.Response(429, json={"error": {"code": 429, "message": "Too Many Requests"}}),
            timedelta(seconds=60),
        ),
        (httpx.Response(429, headers={"Retry-After": "7"}, text="slow down"), timedelta(seconds=7)),
    ],
)
def test_short_term_rate_limit(response: httpx.Response, after: timedelta) -> None:
    result = run(Api(response))
    assert result.err is not None and result.err.code is ErrorCode.RATE_LIMIT
    assert result.err.after == after and result.err.retry is True


@pytest.mark.parametrize("granted", [(), (SCOPE,)])
def test_insufficient_scope_is_permission_denied_with_missing_scopes(granted: tuple[str, ...]) -> None:
    result = run(Api(error(403, "error_403_scope.json")), scopes=granted)
    assert result.err is not None and result.err.code is ErrorCode.PERMISSION_DENIED
    assert result.err.details["missing_scopes"] == [SCOPE]
    assert "ACCESS_TOKEN_SCOPE_INSUFFICIENT" in result.err.details["reasons"]


@pytest.mark.parametrize(
    ("status", "name"), [(404, "error_404_playlist.json"), (403, "error_403_forbidden.json")]
)
def test_inaccessible_likes_playlist_is_permission_denied(status: int, name: str) -> None:
    result = run(Api(error(status, name)))
    assert result.err is not None and result.err.code is ErrorCode.PERMISSION_DENIED
    assert "missing_scopes" not in result.err.details
    assert result.err.retry is False


@pytest.mark.parametrize(
    "response",
    [error(500, "error_500.json"), httpx.Response(503, text="<html>Service Unavailable</html>")],
)
def test_5xx_is_upstream_with_retry(response: httpx.Response) -> None:
    result = run(Api(response))
    assert result.err is not None and result.err.code is ErrorCode.UPSTREAM and result.err.retry is True


@pytest.mark.parametrize(
    "exc",
    [httpx.ReadTimeout("timed out"), httpx.ConnectError("connection refused")],
)
def test_timeouts_and_connection_errors_are_upstream_with_retry(exc: Exception) -> None:
    result = run(Api(exc))
    assert result.err is not None and result.err.code is ErrorCode.UPSTREAM and result.err.retry is True


def test_other_4xx_is_upstream_without_retry() -> None:
    result = run(Api(error(400, "error_400_page_token.json")))  # no stored token: nothing to restart
    assert result.err is not None and result.err.code is ErrorCode.UPSTREAM and result.err.retry is False


def test_non_json_body_is_invalid_data_with_a_raw_excerpt() -> None:
    body = "<html>" + "x" * 1000 + "</html>"
    result = run(Api(httpx.Response(200, text=body)))
    assert result.err is not None and result.err.code is ErrorCode.INVALID_DATA
    assert result.err.raw == body[:RAW_CHARS]
    assert "not JSON" in result.err.message


def _without(path: list[str]) -> dict[str, Any]:
    page = fixture("playlist_items_page1.json")
    target = page["items"][0]
    for key in path[:-1]:
        target = target[key]
    del target[path[-1]]
    return page


@pytest.mark.parametrize(
    ("page", "named"),
    [
        ({"kind": "youtube#somethingElse", "etag": "x"}, "`items`"),
        ({"items": "nope"}, "`items`"),
        (_without(["snippet"]), "`snippet`"),
        (_without(["snippet", "publishedAt"]), "`snippet.publishedAt`"),
        (_without(["snippet", "title"]), "`snippet.title`"),
    ],
)
def test_missing_playlist_fields_are_invalid_data(page: dict[str, Any], named: str) -> None:
    result = run(Api(ok(page)))
    assert result.err is not None and result.err.code is ErrorCode.INVALID_DATA
    assert named in result.err.message
    assert result.err.raw


def test_missing_video_id_is_invalid_data() -> None:
    page = _without(["contentDetails", "videoId"])
    del page["items"][0]["snippet"]["resourceId"]["videoId"]
    result = run(Api(ok(page)))
    assert result.err is not None and result.err.code is ErrorCode.INVALID_DATA
    assert "items[0]" in result.err.message and "videoId" in result.err.message


def test_bad_liked_at_is_invalid_data() -> None:
    page = fixture("playlist_items_page1.json")
    page["items"][2]["snippet"]["publishedAt"] = "yesterday"
    result = run(Api(ok(page)))
    assert result.err is not None and result.err.code is ErrorCode.INVALID_DATA
    assert "items[2]" in result.err.message and "publishedAt" in result.err.message


def test_video_without_id_is_invalid_data() -> None:
    videos = fixture("videos_page1.json")
    del videos["items"][1]["id"]
    result = run(Api(ok("playlist_items_page1.json"), ok(videos)))
    assert result.err is not None and result.err.code is ErrorCode.INVALID_DATA
    assert "video details" in result.err.message and "`id`" in result.err.message


def test_unreadable_duration_is_logged_not_fatal(caplog: pytest.LogCaptureFixture) -> None:
    videos = fixture("videos_page1.json")
    videos["items"][0]["contentDetails"]["duration"] = "three minutes"
    result = run(
        Api(
            ok("playlist_items_page1.json"),
            ok(videos),
            ok("playlist_items_page2.json"),
            ok("videos_page2.json"),
        )
    )
    assert result.err is None
    assert result.items[0].duration is None
    assert "unreadable duration" in caplog.text


# --- partial sync --------------------------------------------------------------------------


def test_failure_after_a_page_is_partial_sync_resuming_at_the_failed_page() -> None:
    api = Api(ok("playlist_items_page1.json"), ok("videos_page1.json"), error(500, "error_500.json"))
    result = run(api)
    assert result.err is not None and result.err.code is ErrorCode.PARTIAL_SYNC
    assert result.err.retry is True and result.err.details["cause"] == "upstream"
    assert [summary(i) for i in result.items] == PAGE1_ITEMS
    assert result.has_more is True
    assert json.loads(result.next_cursor) == {"newest": "2024-06-13T17:05:13Z", "pageToken": PAGE2_TOKEN}

    resumed = run(Api(ok("playlist_items_page2.json"), ok("videos_page2.json")), result.next_cursor)
    assert resumed.err is None and [summary(i) for i in resumed.items] == PAGE2_ITEMS
    assert resumed.next_cursor == FIRST_CURSOR


def test_quota_during_video_lookup_is_partial_sync_keeping_the_delay() -> None:
    api = Api(
        ok("playlist_items_page1.json"),
        ok("videos_page1.json"),
        ok("playlist_items_page2.json"),
        error(403, "error_403_quota.json"),
    )
    result = run(api)
    assert result.err is not None and result.err.code is ErrorCode.PARTIAL_SYNC
    assert result.err.after == UNTIL_RESET and result.err.details["cause"] == "rate_limit"
    assert len(result.items) == 2
    # page 2 was read but its videos were not: it is read again
    assert json.loads(result.next_cursor)["pageToken"] == PAGE2_TOKEN


def test_failure_on_the_first_page_of_a_resumed_sync_keeps_the_incoming_cursor() -> None:
    cursor = json.dumps({"newest": "2024-06-13T17:05:13Z", "pageToken": PAGE2_TOKEN}, separators=(",", ":"))
    result = run(Api(error(500, "error_500.json")), cursor)
    assert result.err is not None and result.err.code is ErrorCode.UPSTREAM
    assert result.next_cursor == cursor


# --- secrets -------------------------------------------------------------------------------


def test_no_token_in_errors_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    echo = httpx.Response(400, json={"error": {"code": 400, "message": f"bad header Bearer {TOKEN}"}})
    garbage = httpx.Response(200, text=f"not json {TOKEN}")
    for response in (echo, garbage):
        with caplog.at_level(logging.DEBUG):
            result = run(Api(response))
        assert result.err is not None
        assert TOKEN not in result.err.message and TOKEN not in (result.err.raw or "")
        assert "[REDACTED]" in result.err.message + (result.err.raw or "")
    assert TOKEN not in caplog.text


def test_a_programming_error_propagates_instead_of_passing_for_the_platforms(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(youtube_module, "_entry", boom)
    with pytest.raises(RuntimeError, match="kaboom"):
        run(Api(ok("playlist_items_page1.json")))


# --- helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("PT1H2M3S", timedelta(hours=1, minutes=2, seconds=3)),
        ("P1DT2H", timedelta(days=1, hours=2)),
        ("PT45S", timedelta(seconds=45)),
        ("PT4M13S", timedelta(minutes=4, seconds=13)),
        ("PT1H2M", timedelta(hours=1, minutes=2)),
        ("P1W", timedelta(weeks=1)),
        ("P0D", None),
        ("PT0S", None),
    ],
)
def test_parse_duration(text: str, expected: timedelta | None) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "P", "PT", "1H2M", "PT1X", "P1DT"])
def test_parse_duration_rejects_garbage(text: str) -> None:
    with pytest.raises(ValueError):
        parse_duration(text)


def test_parse_time_accepts_both_forms() -> None:
    assert parse_time("2015-09-24T17:06:07.000Z") == at("2015-09-24T17:06:07")
    assert parse_time("2024-06-13T17:05:13Z") == at("2024-06-13T17:05:13")
    assert parse_time("2024-06-13T19:05:13+02:00") == at("2024-06-13T17:05:13")


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (NOW, UNTIL_RESET),  # PDT: midnight is 07:00Z
        (datetime(2024, 1, 15, 12, 0, tzinfo=UTC), timedelta(hours=20)),  # PST: midnight is 08:00Z
        (datetime(2024, 3, 10, 7, 30, tzinfo=UTC), timedelta(minutes=30)),  # 23:30 PST, the night DST starts
        (datetime(2024, 3, 10, 9, 0, tzinfo=UTC), timedelta(hours=22)),  # 01:00 PST -> midnight PDT (07:00Z)
    ],
)
def test_until_quota_reset(now: datetime, expected: timedelta) -> None:
    assert until_quota_reset(now) == expected


def test_cursor_order_and_round_trip() -> None:
    plugin = YoutubePlugin()
    assert plugin.cursor_order("") is None
    assert plugin.cursor_order("garbage") is None
    assert plugin.cursor_order(FIRST_CURSOR) == at("2024-06-13T17:05:13").timestamp()
    state = YoutubeCursor(newest=at("2024-06-13T17:05:13"), stop=at("2024-05-01T00:00:00"), page_token="T")
    assert YoutubeCursor.decode(state.encode()) == state
    # a boundary without a page token is never written: the cursor would read as finished
    assert (
        YoutubeCursor(newest=at("2024-06-13T17:05:13"), stop=at("2024-05-01T00:00:00")).encode()
        == FIRST_CURSOR
    )
    with pytest.raises(ValueError):
        YoutubeCursor.decode('{"newest": 5}')


# --- plugin contract -----------------------------------------------------------------------


def test_registry_accepts_the_plugin() -> None:
    plugin = YoutubePlugin()
    registry = PluginRegistry()
    registry.register(plugin)
    assert registry.get("youtube") is plugin
    assert isinstance(plugin, SourcePlugin)


def test_plugin_attributes() -> None:
    plugin = YoutubePlugin()
    assert plugin.name == "youtube"
    assert plugin.auth_type is AuthType.OAUTH
    assert plugin.schedule_cron == "15 * * * *"
    config = plugin.auth_config
    assert config.provider_name == "Google"
    assert config.auth_url == "https://accounts.google.com/o/oauth2/v2/auth"
    assert config.token_url == "https://oauth2.googleapis.com/token"
    assert config.scopes == (SCOPE,)
    assert (config.client_id_env, config.client_secret_env) == ("GOOGLE_CLIENT_ID", "GOOGLE_CLIENT_SECRET")
    assert config.supports_pkce is True
    assert "youtube_takeout" in (youtube_module.__doc__ or "")
    assert "no watch history" in (youtube_module.__doc__ or "").lower()


def test_default_client_has_base_url_and_timeouts() -> None:
    plugin = YoutubePlugin(timeout_s=7.5)
    assert str(plugin.client.base_url).rstrip("/") == "https://www.googleapis.com/youtube/v3"
    assert plugin.client.timeout.read == 7.5 and plugin.client.timeout.connect == 7.5


def test_injected_client_without_base_url_still_reaches_the_api() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url.copy_with(query=None)))
        return ok({"kind": "youtube#playlistItemListResponse", "etag": "e", "pageInfo": {}})

    plugin = YoutubePlugin(client=httpx.Client(transport=httpx.MockTransport(handler)), base_url=BASE)
    result = plugin.sync(SyncContext(user_id="alice"), Credentials(access_token=TOKEN), "")
    assert result.err is None and result.items == []
    assert seen == [f"{BASE}/playlistItems"]


def test_enrich_returns_items_unchanged() -> None:
    items = run(first_sync_api()).items
    assert YoutubePlugin().enrich(SyncContext(user_id="alice"), Credentials(), items) == items
