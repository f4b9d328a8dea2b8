"""What YouTube's source plugin and its video-details enrichment share about the YouTube
Data API: its duration format and the daily quota's reset time.

A module per platform below both of its users: plugins and enrich may not import each other.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta, timezone
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

#: YouTube's daily quota resets at midnight in this zone.
QUOTA_TIMEZONE = "America/Los_Angeles"

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
