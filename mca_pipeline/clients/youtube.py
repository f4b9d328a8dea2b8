"""What YouTube's source plugin (the likes playlist, with OAuth) and its video-details
enrichment (with an API key) share about the YouTube Data API: the endpoint, Google's
error body, the daily quota and short rate limits, its duration format and topic names.

A module per platform below both of its users: plugins and enrich may not import each other.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, time, timedelta, timezone
from typing import Any
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from mca_pipeline.clients.http import MESSAGE_CHARS, PlatformHttp, excerpt
from mca_pipeline.core import ErrorCode, PluginError, endpoints

#: YouTube's daily quota resets at midnight in this zone.
QUOTA_TIMEZONE = "America/Los_Angeles"
#: Short-term rate limits (rateLimitExceeded, 429) come without a Retry-After.
RATE_LIMIT_WAIT = timedelta(seconds=60)

QUOTA_REASONS = frozenset({"quotaExceeded", "dailyLimitExceeded"})
RATE_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"})
_TAG = re.compile(r"<[^>]+>")


class YoutubeClient(PlatformHttp):
    """The YouTube Data API at MCA_YOUTUBE_API_URL (or `base_url`)."""

    def __init__(
        self,
        client: httpx.Client | None = None,
        base_url: str | None = None,
        timeout_s: float = 20.0,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        super().__init__("YouTube", base_url or endpoints.base_url(endpoints.YOUTUBE_API), client, timeout_s)
        self.clock = clock

    def limit_error(
        self,
        response: httpx.Response,
        what: str,
        reasons: set[str],
        *,
        secrets: Iterable[str | None] = (),
        details: dict[str, Any] | None = None,
    ) -> PluginError | None:
        """The answers both callers read alike: the daily quota (a rate limit until
        midnight Pacific time), a short rate limit (429 or a rate reason), an outage
        (5xx). None: a success, or a status the caller reads itself (401, 403, 404)."""
        if reasons & QUOTA_REASONS:
            after = until_quota_reset(self.clock())
            return PluginError(
                code=ErrorCode.RATE_LIMIT,
                message=f"YouTube daily quota exhausted ({what}); it resets at midnight Pacific "
                f"time, in {int(after.total_seconds())} s",
                retry=True,
                after=after,
                raw=excerpt(response.text, secrets),
                details=details or {},
            )
        if response.status_code == 429 or reasons & RATE_REASONS:
            return self.rate_limited(
                response, what, default_wait=RATE_LIMIT_WAIT, secrets=secrets, details=details
            )
        if response.status_code >= 500:
            return self.server_error(response, what, secrets=secrets, details=details)
        return None


def google_error(body: str) -> tuple[str, set[str]]:
    """The message (HTML removed) and every `reason` of a Google JSON error body
    (`error.errors[].reason`, `error.details[].reason`, `error.status`); for a body that
    is not one, its start."""
    try:
        data = json.loads(body) if body.strip() else None
    except ValueError:
        data = None
    error = data.get("error") if isinstance(data, dict) else None
    if not isinstance(error, dict):
        return " ".join(body.split())[:MESSAGE_CHARS], set()
    reasons: set[str] = set()
    for key in ("errors", "details"):
        entries = error.get(key)
        if isinstance(entries, list):
            reasons |= {
                e["reason"] for e in entries if isinstance(e, dict) and isinstance(e.get("reason"), str)
            }
    if isinstance(error.get("status"), str):
        reasons.add(error["status"])
    message = error.get("message")
    said = " ".join(_TAG.sub("", message).split()) if isinstance(message, str) else ""
    return said[:MESSAGE_CHARS], reasons


_DURATION = re.compile(
    r"P(?:(?P<w>\d+)W)?(?:(?P<d>\d+)D)?(?:T(?:(?P<h>\d+)H)?(?:(?P<m>\d+)M)?(?:(?P<s>\d+(?:[.,]\d+)?)S)?)?"
)


def parse_duration(text: str) -> timedelta | None:
    """An ISO-8601 duration as YouTube writes it (`PT1H2M3S`, `PT45S`, `P1DT2H`, `P0D`).

    None for a zero length: live and upcoming broadcasts report `P0D`, which means
    "unknown", not "no time". Raises ValueError for anything else.
    """
    match = _DURATION.fullmatch(text.strip())
    if match is None or text.strip() in ("P", "PT") or text.strip().endswith("T"):
        raise ValueError(f"not an ISO-8601 duration: {text!r}")
    parts = {k: float(v.replace(",", ".")) if v else 0.0 for k, v in match.groupdict().items()}
    value = timedelta(
        weeks=parts["w"], days=parts["d"], hours=parts["h"], minutes=parts["m"], seconds=parts["s"]
    )
    return value or None


def until_quota_reset(now: datetime) -> timedelta:
    """Time from `now` to the next midnight Pacific time, when YouTube's daily quota
    resets. Computed in UTC so that DST changes are honoured."""
    zone = _pacific()
    local = now.astimezone(zone)
    midnight = datetime.combine(local.date() + timedelta(days=1), time(0), tzinfo=zone)
    return midnight.astimezone(UTC) - now.astimezone(UTC)


def _pacific() -> ZoneInfo | timezone:
    """America/Los_Angeles; without tz data, UTC-8 (a reset at most an hour late)."""
    try:
        return ZoneInfo(QUOTA_TIMEZONE)
    except ZoneInfoNotFoundError:
        return timezone(timedelta(hours=-8))


def topic_name(url: str) -> str:
    """`https://en.wikipedia.org/wiki/Pop_music` -> `pop music`: lower case, as the tag
    vocabulary is, whichever path (the likes sync or the video details) stored it."""
    last = urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]
    return (unquote(last).replace("_", " ").strip() or url).lower()
