"""YouTube category, topics, duration and channel for watched videos (PLATFORMS.md 3.2).

Takeout items carry `raw_metadata["video_id"]` but no duration, category or topics.
`videos.list?part=snippet,contentDetails,topicDetails&id=<up to 50 ids>` gives them for
public data with an API key (`YOUTUBE_API_KEY`), 1 quota unit per 50 videos.

Cache (`ctx.cache`): kind "youtube:video" keyed by video id, holding
`{"category_id", "topics", "duration_s", "channel"}`, or None for a video that
videos.list leaves out (deleted or private); kind "youtube:categories" keyed "US"
(`videoCategories.list?part=snippet&regionCode=US`), holding {category id: title}.

Returned items get `duration` when they had none, topic names as tags
(`https://en.wikipedia.org/wiki/Pop_music` -> "pop music") and
`raw_metadata["youtube"] = {"category_id", "category", "topics", "duration_s", "channel"}`.
Unavailable videos are returned unchanged.

Errors: 403 quotaExceeded / dailyLimitExceeded is rate_limit until the next midnight
Pacific time; 429 or rateLimitExceeded is rate_limit with Retry-After; a rejected key
(400 API_KEY_INVALID / keyInvalid, 401, 403 forbidden) is permission_denied; 5xx,
timeouts and network errors are upstream: each raises EnrichmentFailed. A batch whose
answer is not the videos.list shape (or another 4xx) leaves its items unchanged with
`raw_metadata["enrichment_error"]`. The key travels as `key=` and is masked in messages
and in httpx's request log.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from mca_pipeline.clients.http import excerpt, redact
from mca_pipeline.clients.youtube import YoutubeClient, google_error, parse_duration, topic_name
from mca_pipeline.core import (
    EnrichmentFailed,
    EnrichmentSkipped,
    ErrorCode,
    MediaItem,
    PluginError,
    SyncContext,
)

VIDEO_KIND = "youtube:video"
CATEGORIES_KIND = "youtube:categories"
REGION = "US"
BATCH = 50
SKIP_MESSAGE = "YouTube video details skipped: YOUTUBE_API_KEY is not set"

_KEY_REASONS = frozenset(
    {
        "keyInvalid",
        "API_KEY_INVALID",
        "forbidden",
        "API_KEY_SERVICE_BLOCKED",
        "accessNotConfigured",
        "keyExpired",
    }
)


class _BatchError(Exception):
    """A videos.list answer that is unusable for one batch of ids."""


class YoutubeVideoDetails:
    """Adds videos.list details to items that carry a `video_id`."""

    name = "youtube_video_details"

    def __init__(
        self,
        client: httpx.Client | None = None,
        base_url: str | None = None,
        timeout_s: float = 20.0,
        api_key: str | None = None,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._api = YoutubeClient(client, base_url, timeout_s, clock=clock)
        self._api_key = api_key

    def enrich_items(self, ctx: SyncContext, items: list[MediaItem]) -> list[MediaItem]:
        """Items with YouTube details; items without a video id come back unchanged.

        Raises EnrichmentSkipped without a key (only when some item needs a lookup) and
        EnrichmentFailed when YouTube fails as a whole.
        """
        wanted = [i for i, item in enumerate(items) if _video_id(item)]
        if not wanted:
            return list(items)
        key = self._api_key or os.environ.get("YOUTUBE_API_KEY") or ""
        if not key:
            raise EnrichmentSkipped(SKIP_MESSAGE)
        self._key = key
        videos: dict[str, Any] = {}
        errors: dict[str, str] = {}
        missing: list[str] = []
        for index in wanted:
            video_id = _video_id(items[index])
            assert video_id is not None
            if video_id in videos or video_id in missing:
                continue
            cached = ctx.cache.get(VIDEO_KIND, video_id)
            if cached is ctx.cache.MISSING:
                missing.append(video_id)
            else:
                videos[video_id] = cached
        for start in range(0, len(missing), BATCH):
            batch = missing[start : start + BATCH]
            params = {"part": "snippet,contentDetails,topicDetails", "id": ",".join(batch)}
            try:
                found = _parse_videos(self._get(ctx, "videos", params, "videos.list"), ctx)
            except _BatchError as exc:
                ctx.log.warning("youtube: videos.list batch of %d failed: %s", len(batch), exc)
                errors.update(dict.fromkeys(batch, str(exc)))
                continue
            for video_id in batch:
                value = found.get(video_id)
                ctx.cache.put(VIDEO_KIND, video_id, value)
                videos[video_id] = value
        categories = self._categories(ctx, videos)
        out = list(items)
        for index in wanted:
            item = items[index]
            video_id = _video_id(item)
            assert video_id is not None
            if video_id in errors:
                message = f"youtube: {errors[video_id]}"
                out[index] = item.model_copy(
                    update={"raw_metadata": {**item.raw_metadata, "enrichment_error": message}}
                )
            elif videos.get(video_id) is not None:
                out[index] = _with_details(item, videos[video_id], categories)
        return out

    # --- categories -------------------------------------------------------------------

    def _categories(self, ctx: SyncContext, videos: dict[str, Any]) -> dict[str, str]:
        if not any(isinstance(v, dict) and v.get("category_id") for v in videos.values()):
            return {}
        table = ctx.cache.get(CATEGORIES_KIND, REGION)
        if table is not ctx.cache.MISSING:
            return table if isinstance(table, dict) else {}
        params = {"part": "snippet", "regionCode": REGION}
        try:
            body = self._get(ctx, "videoCategories", params, "videoCategories.list")
            table = _parse_categories(body)
        except _BatchError as exc:
            ctx.log.warning("youtube: category names unavailable this run: %s", exc)
            return {}
        ctx.cache.put(CATEGORIES_KIND, REGION, table)
        return table

    # --- HTTP -------------------------------------------------------------------------

    def _get(self, ctx: SyncContext, path: str, params: dict[str, str], what: str) -> Any:
        ctx.cache.count_call()
        secrets = [self._key]
        response = self._api.get(path, what=what, secrets=secrets, params={**params, "key": self._key})
        status = response.status_code
        said, reasons = google_error(response.text)
        said = redact(said, secrets)
        details: dict[str, Any] = {"http_status": status, "reasons": sorted(reasons)}
        limited = self._api.limit_error(response, what, reasons, secrets=secrets, details=details)
        if limited is not None:
            raise EnrichmentFailed(limited)
        if status in (401, 403) or reasons & _KEY_REASONS:
            raise EnrichmentFailed(
                PluginError(
                    code=ErrorCode.PERMISSION_DENIED,
                    message=f"YouTube rejected the API key ({what}: {said or 'HTTP ' + str(status)}); set a "
                    "valid YOUTUBE_API_KEY with the YouTube Data API v3 enabled",
                    raw=excerpt(response.text, secrets),
                    details=details,
                )
            )
        if not 200 <= status < 300:
            raise _BatchError(f"YouTube answered HTTP {status} ({what}): {said}")
        try:
            return json.loads(response.content)
        except ValueError:
            raw = excerpt(response.text, secrets)
            raise _BatchError(f"{what} answered with a body that is not JSON: {raw[:100]!r}") from None


# --- payloads --------------------------------------------------------------------------


def _video_id(item: MediaItem) -> str | None:
    value = item.raw_metadata.get("video_id")
    return value if isinstance(value, str) and value.strip() else None


def _parse_videos(body: Any, ctx: SyncContext) -> dict[str, dict[str, Any]]:
    entries = body.get("items") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise _BatchError("videos.list: expected an object with an 'items' list")
    found: dict[str, dict[str, Any]] = {}
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            continue
        snippet = entry.get("snippet") if isinstance(entry.get("snippet"), dict) else {}
        content = entry.get("contentDetails") if isinstance(entry.get("contentDetails"), dict) else {}
        topic_details = entry.get("topicDetails") if isinstance(entry.get("topicDetails"), dict) else {}
        urls = topic_details.get("topicCategories")
        duration_s: float | None = None
        text = content.get("duration")
        if isinstance(text, str):
            try:
                duration = parse_duration(text)
            except ValueError:
                ctx.log.warning("youtube: video %s has an unreadable duration %r", entry["id"], text)
            else:
                duration_s = duration.total_seconds() if duration is not None else None
        category = snippet.get("categoryId")
        channel = snippet.get("channelTitle")
        found[entry["id"]] = {
            "category_id": str(category) if isinstance(category, str | int) and str(category) else None,
            "topics": list(dict.fromkeys(topic_name(u) for u in urls if isinstance(u, str) and u.strip()))
            if isinstance(urls, list)
            else [],
            "duration_s": duration_s,
            "channel": channel if isinstance(channel, str) and channel.strip() else None,
        }
    return found


def _parse_categories(body: Any) -> dict[str, str]:
    entries = body.get("items") if isinstance(body, dict) else None
    if not isinstance(entries, list):
        raise _BatchError("videoCategories.list: expected an object with an 'items' list")
    table = {}
    for entry in entries:
        snippet = entry.get("snippet") if isinstance(entry, dict) else None
        if (
            isinstance(snippet, dict)
            and isinstance(entry.get("id"), str)
            and isinstance(snippet.get("title"), str)
        ):
            table[entry["id"]] = snippet["title"]
    return table


def _with_details(item: MediaItem, video: dict[str, Any], categories: dict[str, str]) -> MediaItem:
    topics = [t for t in video.get("topics") or [] if isinstance(t, str)]
    update: dict[str, Any] = {
        "tags": tuple(dict.fromkeys([*item.tags, *topics])),
        "raw_metadata": {
            **item.raw_metadata,
            "youtube": {
                "category_id": video.get("category_id"),
                "category": categories.get(video.get("category_id") or ""),
                "topics": topics,
                "duration_s": video.get("duration_s"),
                "channel": video.get("channel"),
            },
        },
    }
    duration_s = video.get("duration_s")
    if item.duration is None and isinstance(duration_s, int | float) and duration_s > 0:
        update["duration"] = timedelta(seconds=duration_s)
    return item.model_copy(update=update)


__all__ = ["CATEGORIES_KIND", "VIDEO_KIND", "YoutubeVideoDetails", "topic_name"]
