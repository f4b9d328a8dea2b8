"""YoutubeVideoDetails against a fake YouTube Data API v3 shaped like PLATFORMS.md section 3."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from mca_pipeline.core import (
    Credentials,
    EnrichmentCache,
    EnrichmentFailed,
    EnrichmentSkipped,
    ErrorCode,
    MediaItem,
    MediaType,
    SyncContext,
)
from mca_pipeline.enrich.youtube_videos import CATEGORIES_KIND, VIDEO_KIND, YoutubeVideoDetails, topic_name
from mca_pipeline.plugins.youtube_takeout import YoutubeTakeoutPlugin

YT_FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "youtube_api"
KEY = "AIzaSy-test-key-789"
BASE = "https://www.googleapis.com/youtube/v3"
CATEGORIES = {
    "kind": "youtube#videoCategoryListResponse",
    "etag": "x1",
    "items": [
        {
            "kind": "youtube#videoCategory",
            "etag": f"c{cid}",
            "id": cid,
            "snippet": {"title": title, "assignable": True, "channelId": "UCBR8-60-B28hp2BmDPdntcQ"},
        }
        for cid, title in (("10", "Music"), ("27", "Education"), ("22", "People & Blogs"))
    ],
}


def video(
    video_id: str, *, category: str = "10", duration: str = "PT3M35S", topics: list[str] | None = None
) -> dict:
    entry: dict[str, Any] = {
        "kind": "youtube#video",
        "etag": f"e-{video_id}",
        "id": video_id,
        "snippet": {
            "publishedAt": "2021-09-10T16:00:07Z",
            "channelId": "UCz9y8x7w6v5u4t3s2r1q0pO",
            "title": f"Video {video_id}",
            "description": "...",
            "thumbnails": {"default": {"url": f"https://i.ytimg.com/vi/{video_id}/default.jpg"}},
            "channelTitle": "MarlaVennVEVO",
            "categoryId": category,
            "liveBroadcastContent": "none",
            "localized": {"title": f"Video {video_id}", "description": "..."},
        },
        "contentDetails": {
            "duration": duration,
            "dimension": "2d",
            "definition": "hd",
            "caption": "false",
            "licensedContent": True,
            "contentRating": {},
            "projection": "rectangular",
        },
    }
    if topics is not None:
        entry["topicDetails"] = {"topicCategories": topics}
    return entry


@dataclass
class FakeYoutube:
    videos: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)
    fail_with: tuple[int, dict[str, str], Any] | None = None
    garbage: bool = False

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail_with is not None:
            status, headers, body = self.fail_with
            return httpx.Response(status, headers=headers, json=body)
        params = request.url.params
        if params.get("key") != KEY:
            return httpx.Response(400, json=_bad_key())
        path = request.url.path.removeprefix("/youtube/v3")
        if path == "/videoCategories":
            assert params["regionCode"] == "US"
            return httpx.Response(200, json=CATEGORIES)
        assert path == "/videos"
        if self.garbage:
            return httpx.Response(200, json={"kind": "youtube#videoListResponse", "items": "oops"})
        assert params["part"] == "snippet,contentDetails,topicDetails"
        ids = params["id"].split(",")
        assert len(ids) <= 50
        items = [self.videos[i] for i in ids if i in self.videos]
        body = {
            "kind": "youtube#videoListResponse",
            "etag": "pT3n8c1WqZrX0bLm5yKa2vHs9uE",
            "items": items,
            "pageInfo": {"totalResults": len(items), "resultsPerPage": len(items)},
        }
        return httpx.Response(200, json=body)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=BASE, transport=httpx.MockTransport(self.handler))

    def paths(self) -> list[str]:
        return [r.url.path.removeprefix("/youtube/v3") for r in self.requests]


def _bad_key() -> dict[str, Any]:
    return {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "errors": [
                {
                    "message": "API key not valid. Please pass a valid API key.",
                    "domain": "global",
                    "reason": "badRequest",
                }
            ],
            "status": "INVALID_ARGUMENT",
            "details": [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
        }
    }


def watched(video_id: str, n: int = 0, *, duration: timedelta | None = None) -> MediaItem:
    at = datetime(2024, 6, 13, 17, 5, tzinfo=UTC) + timedelta(minutes=n)
    return MediaItem(
        platform="youtube_takeout",
        type=MediaType.VIDEO,
        title=f"Video {video_id}",
        creator="MarlaVennVEVO",
        consumed_at=at,
        duration=duration,
        url=f"https://www.youtube.com/watch?v={video_id}",
        external_id=f"{video_id}@{at:%Y-%m-%dT%H:%M:%SZ}",
        raw_metadata={"format": "json", "video_id": video_id},
    )


def details(fake: FakeYoutube, **kwargs: Any) -> YoutubeVideoDetails:
    return YoutubeVideoDetails(client=fake.client(), api_key=kwargs.pop("api_key", KEY), **kwargs)


def ctx_with(cache: EnrichmentCache | None = None) -> SyncContext:
    return SyncContext(user_id="alice", cache=cache or EnrichmentCache())


POP = ["https://en.wikipedia.org/wiki/Music", "https://en.wikipedia.org/wiki/Pop_music"]


def test_topic_name() -> None:
    assert topic_name("https://en.wikipedia.org/wiki/Pop_music") == "pop music"
    assert topic_name("https://en.wikipedia.org/wiki/Hip_hop_music") == "hip hop music"
    assert topic_name("https://en.wikipedia.org/wiki/Knowledge/") == "knowledge"
    assert topic_name("https://en.wikipedia.org/wiki/Caf%C3%A9") == "café"


def test_topics_category_duration_and_channel() -> None:
    fake = FakeYoutube(videos={"dQ3xY7kLmN0": video("dQ3xY7kLmN0", topics=POP)})
    ctx = ctx_with()
    [item] = details(fake).enrich_items(ctx, [watched("dQ3xY7kLmN0")])
    assert item.tags == ("music", "pop music")
    assert item.duration == timedelta(minutes=3, seconds=35)
    assert item.raw_metadata["youtube"] == {
        "category_id": "10",
        "category": "Music",
        "topics": ["music", "pop music"],
        "duration_s": 215.0,
        "channel": "MarlaVennVEVO",
    }
    assert fake.paths() == ["/videos", "/videoCategories"]
    assert ctx.cache.calls == 2
    assert ctx.cache.get(CATEGORIES_KIND, "US")["27"] == "Education"


def test_the_api_fixture_shape_is_read() -> None:
    page = json.loads((YT_FIXTURES / "videos_page1.json").read_text())
    fake = FakeYoutube(videos={v["id"]: v for v in page["items"]})
    [item] = details(fake).enrich_items(ctx_with(), [watched("dQ3xY7kLmN0")])
    assert item.tags == ("music", "pop music")
    assert item.raw_metadata["youtube"]["duration_s"] == 215.0


def test_known_duration_is_kept() -> None:
    fake = FakeYoutube(videos={"a": video("a", duration="PT1H2M")})
    [item] = details(fake).enrich_items(ctx_with(), [watched("a", duration=timedelta(seconds=99))])
    assert item.duration == timedelta(seconds=99)
    assert item.raw_metadata["youtube"]["duration_s"] == 3720.0
    assert item.raw_metadata["youtube"]["topics"] == []


def test_batches_of_fifty_ids_each_looked_up_once() -> None:
    ids = [f"vid{n:08d}" for n in range(120)]
    fake = FakeYoutube(videos={i: video(i, category="27", topics=POP[:1]) for i in ids})
    items = [watched(i, n) for n, i in enumerate(ids)] + [watched(ids[0], 500), watched(ids[119], 501)]
    out = details(fake).enrich_items(ctx_with(), items)
    batches = [r.url.params["id"].split(",") for r in fake.requests if r.url.path.endswith("/videos")]
    assert [len(b) for b in batches] == [50, 50, 20]
    assert sorted(i for b in batches for i in b) == sorted(ids)
    assert fake.paths().count("/videoCategories") == 1
    assert all(o.raw_metadata["youtube"]["category"] == "Education" for o in out)
    assert out[-1].tags == ("music",)


def test_unavailable_video_is_cached_as_none_and_left_unchanged() -> None:
    fake = FakeYoutube(videos={"ok": video("ok", topics=POP)})
    cache = EnrichmentCache()
    gone = watched("deleted0001")
    out = details(fake).enrich_items(ctx_with(cache), [gone, watched("ok")])
    assert out[0] == gone
    assert cache.get(VIDEO_KIND, "deleted0001") is None
    assert cache.get(VIDEO_KIND, "ok")["topics"] == ["music", "pop music"]


def test_second_run_with_the_same_cache_makes_no_calls() -> None:
    fake = FakeYoutube(videos={"ok": video("ok", topics=POP)})
    cache = EnrichmentCache()
    items = [watched("ok"), watched("deleted0001"), watched("ok", 3)]
    first = details(fake).enrich_items(ctx_with(cache), items)
    calls = len(fake.requests)
    again = EnrichmentCache(cache.new_entries())
    second = details(fake).enrich_items(ctx_with(again), items)
    assert second == first
    assert len(fake.requests) == calls
    assert again.calls == 0


def test_items_without_video_id_pass_through_without_a_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("YOUTUBE_API_KEY", raising=False)
    item = watched("x").model_copy(update={"raw_metadata": {"format": "html"}})
    assert YoutubeVideoDetails(client=FakeYoutube().client()).enrich_items(ctx_with(), [item]) == [item]


def test_missing_key_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("YOUTUBE_API_KEY", raising=False)
    fake = FakeYoutube()
    with pytest.raises(EnrichmentSkipped, match="YOUTUBE_API_KEY is not set"):
        YoutubeVideoDetails(client=fake.client()).enrich_items(ctx_with(), [watched("a")])
    assert fake.requests == []


def test_key_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("YOUTUBE_API_KEY", KEY)
    fake = FakeYoutube(videos={"a": video("a")})
    [item] = YoutubeVideoDetails(client=fake.client()).enrich_items(ctx_with(), [watched("a")])
    assert item.raw_metadata["youtube"]["category"] == "Music"


def test_quota_exceeded_waits_until_pacific_midnight() -> None:
    body = json.loads((YT_FIXTURES / "error_403_quota.json").read_text())
    fake = FakeYoutube(fail_with=(403, {}, body))
    now = datetime(2024, 6, 13, 17, 0, tzinfo=UTC)  # 10:00 PDT, midnight PDT is 07:00 UTC next day
    with pytest.raises(EnrichmentFailed) as info:
        details(fake, clock=lambda: now).enrich_items(ctx_with(), [watched("a")])
    error = info.value.error
    assert (error.code, error.after, error.retry) == (ErrorCode.RATE_LIMIT, timedelta(hours=14), True)
    assert "quota" in error.message


def test_invalid_key_is_permission_denied_and_masked(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeYoutube()
    with caplog.at_level(logging.DEBUG), pytest.raises(EnrichmentFailed) as info:
        details(fake, api_key="AIza-wrong-key").enrich_items(ctx_with(), [watched("a")])
    error = info.value.error
    assert error.code == ErrorCode.PERMISSION_DENIED
    assert "AIza-wrong-key" not in str(error.model_dump())
    assert "AIza-wrong-key" not in caplog.text


def test_rate_limit_429_and_server_error() -> None:
    fake = FakeYoutube(
        fail_with=(429, {"Retry-After": "30"}, {"error": {"code": 429, "message": "slow down"}})
    )
    with pytest.raises(EnrichmentFailed) as info:
        details(fake).enrich_items(ctx_with(), [watched("a")])
    assert (info.value.error.code, info.value.error.after) == (ErrorCode.RATE_LIMIT, timedelta(seconds=30))
    body = json.loads((YT_FIXTURES / "error_500.json").read_text())
    fake = FakeYoutube(fail_with=(500, {}, body))
    with pytest.raises(EnrichmentFailed) as info:
        details(fake).enrich_items(ctx_with(), [watched("a")])
    assert info.value.error.code == ErrorCode.UPSTREAM


def test_garbage_body_marks_the_batch_items_and_caches_nothing() -> None:
    fake = FakeYoutube(garbage=True)
    cache = EnrichmentCache()
    item = watched("a")
    [out] = details(fake).enrich_items(ctx_with(cache), [item])
    assert "items" in out.raw_metadata["enrichment_error"]
    assert out.model_copy(update={"raw_metadata": item.raw_metadata}) == item
    assert cache.get(VIDEO_KIND, "a") is EnrichmentCache.MISSING


def test_takeout_plugin_enrich_uses_the_injected_details(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeYoutube(videos={"a": video("a", topics=POP)})
    plugin = YoutubeTakeoutPlugin(video_details=details(fake))
    [item] = plugin.enrich(ctx_with(), Credentials(), [watched("a")])
    assert item.tags == ("music", "pop music")
    monkeypatch.delenv("YOUTUBE_API_KEY", raising=False)
    with pytest.raises(EnrichmentSkipped):
        YoutubeTakeoutPlugin().enrich(ctx_with(), Credentials(), [watched("a")])
