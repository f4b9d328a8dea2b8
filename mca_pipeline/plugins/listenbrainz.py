"""ListenBrainz listens from `GET /1/user/{user_name}/listens`, public data, no key.

ListenBrainz keeps every listen with its start time (`listened_at`, Unix seconds). What
its API does (checked against the listenbrainz-server source and docs):

- `max_ts` returns listens with `listened_at < max_ts` (strictly), the newest first;
  `min_ts` returns the `count` listens just *after* `min_ts` (strictly greater): the
  server reads them oldest first and reverses the page, so a page is still newest first
  but holds the oldest listens of the range. Only one of the two per request (400).
- `count` is at most 1000 (MAX_ITEMS_PER_GET); a page with fewer is not proof of the
  end, so a walk stops at the first empty page.
- several listens can share a second (the server's key is listened_at + track name), so
  when a full page ends on a second, the next request overlaps it by one second
  instead of stepping past it; the repeats are dropped here and by core (SKIP dedup).
- every response carries `X-RateLimit-Limit/-Remaining/-Reset-In`; 429 when exceeded.

Hence two walks. A first sync (no `newest` yet) goes back in time with `max_ts` = the
oldest listen of the previous page until a page is empty. An incremental sync goes
forward with `min_ts` = the newest stored listen, page by page, until a page is empty.

The cursor is compact JSON: `{"newest": N}` after a complete sync (every listen up to N
is stored; `{}` when the account had none); `{"before": T, "top": N}` while a first sync
is walking back (next `max_ts` T; N the newest listen seen, which becomes `newest`).
A forward walk needs no extra state: after each page `{"newest": ...}` already says
where to continue. Limitation: a listen submitted later with a `listened_at` at or
before `newest` (an offline player catching up, an import) is not seen by `min_ts`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

import httpx
from pydantic import ValidationError

from mca_pipeline.clients.http import PlatformFailed, PlatformHttp, excerpt, partial_sync
from mca_pipeline.core import (
    AuthType,
    Credentials,
    DedupPolicy,
    ErrorCode,
    MediaItem,
    MediaType,
    PluginError,
    SourcePlugin,
    SyncContext,
    SyncResult,
    endpoints,
)
from mca_pipeline.enrich.lastfm_tags import LastfmTags

PLATFORM = "listenbrainz"
#: The server's cap on `count` (MAX_ITEMS_PER_GET).
MAX_ITEMS_PER_GET = 1000
#: Wait after a rate limit when `X-RateLimit-Reset-In` is missing or unreadable.
RATE_LIMIT_WAIT = timedelta(seconds=10)
#: ListenBrainz blocks requests without a User-Agent naming the application.
DEFAULT_USER_AGENT = "mca-pipeline/0.1.0 ( listenbrainz source plugin )"
RECORDING_URL = "https://musicbrainz.org/recording/"

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.IGNORECASE)


# --- cursor ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ListenbrainzCursor:
    """Where `sync` continues; see the module docstring for the meaning of each field."""

    newest: int | None = None
    before: int | None = None
    top: int | None = None

    @property
    def walking_back(self) -> bool:
        return self.before is not None

    def encode(self) -> str:
        fields = {"newest": self.newest, "before": self.before, "top": self.top}
        return json.dumps({k: v for k, v in fields.items() if v is not None}, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> ListenbrainzCursor:
        """Read a cursor; "" is a first sync. Raises ValueError naming the problem."""
        text = text.strip()
        if not text:
            return cls()
        try:
            data = json.loads(text)
        except ValueError:
            raise ValueError("not JSON") from None
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        unknown = sorted(set(data) - {"newest", "before", "top"})
        if unknown:
            raise ValueError(f"unknown field {unknown[0]!r}")
        values: dict[str, int | None] = {}
        for key in ("newest", "before", "top"):
            value = data.get(key)
            if value is not None and (type(value) is not int or value < 1):
                raise ValueError(f"{key!r} must be a positive whole number, got {value!r}")
            values[key] = value
        if values["before"] is not None and values["newest"] is not None:
            raise ValueError("'before' (a first sync walking back) cannot go with 'newest'")
        if (values["before"] is None) != (values["top"] is None):
            raise ValueError("'before' and 'top' go together")
        return cls(newest=values["newest"], before=values["before"], top=values["top"])


# --- plugin ----------------------------------------------------------------------------


class ListenbrainzPlugin(SourcePlugin):
    """Listens of one ListenBrainz user (`creds.account`); the endpoint is public.

    At most `max(1, ctx.page_size // count)` pages are fetched per `sync` call; then
    `has_more` asks core to call again with a cursor that continues the same walk.

    Error mapping:
    - no `creds.account` -> PERMISSION_DENIED, no retry: configuration only the person
      can fix (there is no token and no scope; nothing to refresh).
    - 404 (no such user) -> PERMISSION_DENIED, no retry: the configured name is wrong.
    - 429 -> RATE_LIMIT, retry after `X-RateLimit-Reset-In` (10 s when missing), with the
      items read so far in this call and a cursor that resumes at the refused page.
    - `X-RateLimit-Remaining: 0` after a good page while more is waiting -> RATE_LIMIT
      the same way, so core waits instead of hitting the limit (the plugin never sleeps).
    - 5xx, timeouts, connection errors -> UPSTREAM, retry.
    - 400 and other statuses, a body that is not JSON or lacks `payload.listens`,
      `listened_at`, `track_metadata.artist_name` or `track_name` -> INVALID_DATA with
      the first RAW_CHARS characters of the body.
    - any non-rate-limit failure after at least one good page -> PARTIAL_SYNC with the
      items so far and a cursor that refetches the failed page (`details["cause"]`).
    """

    name = PLATFORM
    display_name = "ListenBrainz — listens"
    auth_type = AuthType.NONE
    auth_config = None
    dedup_policy = DedupPolicy.SKIP
    #: Whose copy of a play seen by several sources counts (lower wins): a listen is a copy.
    unify_rank = 40
    schedule_cron = "30 * * * *"

    def __init__(
        self,
        client: httpx.Client | None = None,
        base_url: str | None = None,
        timeout_s: float = 20.0,
        count: int = MAX_ITEMS_PER_GET,
        *,
        user_agent: str = DEFAULT_USER_AGENT,
        tags: LastfmTags | None = None,
    ) -> None:
        base_url = base_url or endpoints.base_url(endpoints.LISTENBRAINZ_API)
        if not 1 <= count <= MAX_ITEMS_PER_GET:
            raise ValueError(f"count must be 1..{MAX_ITEMS_PER_GET} (ListenBrainz's bounds), got {count}")
        self._api = PlatformHttp("ListenBrainz", base_url, client, timeout_s)
        self._tags = tags
        self._count = count
        self._headers = {"User-Agent": user_agent, "Accept": "application/json"}
        # An injected client without a base URL still needs an absolute URL.
        self._root = "" if self._api.client.base_url.host else base_url.rstrip("/")

    def cursor_order(self, cursor: str) -> float | None:
        """`newest` for core's never-backwards check; 0.0 while a first sync walks back
        (nothing complete yet); None for an empty, listen-less or unreadable cursor."""
        try:
            state = ListenbrainzCursor.decode(cursor)
        except ValueError:
            return None
        if state.newest is not None:
            return float(state.newest)
        return 0.0 if state.walking_back else None

    def sync(self, ctx: SyncContext, creds: Credentials, cursor: str) -> SyncResult:
        """Fetch listens not yet stored, page by page. Platform and payload failures come back
        as PluginErrors; anything else is a bug and propagates to core."""
        user = (creds.account or "").strip()
        if not user:
            return SyncResult(next_cursor=cursor, err=_missing_account())
        try:
            state = ListenbrainzCursor.decode(cursor)
        except ValueError as exc:
            return SyncResult(next_cursor=cursor, err=_bad_cursor(cursor, str(exc)))
        if ctx.is_cancelled():
            return SyncResult(next_cursor=cursor, has_more=True)
        return self._walk(ctx, user, state, cursor)

    def enrich(self, ctx: SyncContext, creds: Credentials, items: list[MediaItem]) -> list[MediaItem]:
        """Last.fm top tags for the plays (mca_pipeline.enrich.lastfm_tags); the tagger is
        built on first use unless one was given to the constructor."""
        if self._tags is None:
            self._tags = LastfmTags()
        return self._tags.enrich_items(ctx, items)

    # --- paging ------------------------------------------------------------------------

    def _walk(self, ctx: SyncContext, user: str, state: ListenbrainzCursor, cursor: str) -> SyncResult:
        budget = max(1, ctx.page_size // self._count)
        items: list[MediaItem] = []
        seen: set[str] = set()
        fetched = 0
        while True:
            outcome = self._fetch_page(user, state)
            if isinstance(outcome, PluginError):
                return _stopped(outcome, items, state, cursor, fetched)
            page, remaining, reset_in = outcome
            fetched += 1
            for item in page:
                if item.external_id not in seen:
                    seen.add(item.external_id)
                    items.append(item)
            where = f"before {state.before}" if state.walking_back else f"after {state.newest}"
            ctx.log.info(f"listenbrainz: page {fetched} ({where}): {len(page)} listens")
            state, done = self._advance(state, page)
            if done:
                return SyncResult(items=items, next_cursor=state.encode(), has_more=False)
            if remaining == 0:
                # The window is used up: hand back what was read and let core wait it out.
                return SyncResult(
                    items=items,
                    next_cursor=state.encode(),
                    has_more=True,
                    err=PluginError(
                        code=ErrorCode.RATE_LIMIT,
                        message=(
                            f"ListenBrainz rate limit window used up after {len(items)} listens; "
                            f"continue in {reset_in.total_seconds():g} s"
                        ),
                        retry=True,
                        after=reset_in,
                        details={"collected": len(items), "remaining": 0},
                    ),
                )
            if fetched >= budget or ctx.is_cancelled():
                return SyncResult(items=items, next_cursor=state.encode(), has_more=True)

    def _advance(self, state: ListenbrainzCursor, page: list[MediaItem]) -> tuple[ListenbrainzCursor, bool]:
        """The state after `page`, and whether the walk is over (an empty page)."""
        times = [item.raw_metadata["listened_at"] for item in page]
        full = len(page) >= self._count
        if state.newest is not None:  # forward walk with min_ts
            if not times:
                return state, True
            last = max(times)
            # A full page may have cut the listens of its newest second: ask for it again.
            overlap = last - 1
            return ListenbrainzCursor(newest=overlap if full and overlap > state.newest else last), False
        # backward walk with max_ts (first sync)
        if not times:
            top = state.top
            return ListenbrainzCursor(newest=top), True
        oldest = min(times)
        top = max(times) if state.top is None else max(state.top, max(times))
        # A full page may have cut the listens of its oldest second: ask for it again,
        # unless the whole page is that one second (then step past it to make progress).
        overlap = oldest + 1
        step = overlap if full and (state.before is None or overlap < state.before) else oldest
        return ListenbrainzCursor(before=step, top=top), False

    def _fetch_page(
        self, user: str, state: ListenbrainzCursor
    ) -> tuple[list[MediaItem], int | None, timedelta] | PluginError:
        params: dict[str, int] = {"count": self._count}
        if state.newest is not None:
            params["min_ts"] = state.newest
        elif state.before is not None:
            params["max_ts"] = state.before
        url = f"{self._root}/1/user/{quote(user, safe='')}/listens"
        try:
            response = self._api.get(url, what="listens", params=params, headers=self._headers)
        except PlatformFailed as failed:
            return failed.error
        return _read_response(self._api, response, user)


# --- responses -------------------------------------------------------------------------


class _BadPayload(Exception):
    """A response that is JSON but not the listens shape we know."""


def _read_response(
    api: PlatformHttp, response: httpx.Response, user: str
) -> tuple[list[MediaItem], int | None, timedelta] | PluginError:
    status = response.status_code
    text = response.text
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    said = _said(body)
    details: dict[str, Any] = {"http_status": status}
    if status == 429:
        # ListenBrainz says when in its own header, not Retry-After.
        return api.rate_limited(response, "listens", default_wait=RATE_LIMIT_WAIT, after=_reset_in(response))
    if status == 404:
        return PluginError(
            code=ErrorCode.PERMISSION_DENIED,
            message=(
                f"ListenBrainz has no user named {user!r} ({said or 'HTTP 404'}); "
                "check the ListenBrainz username in the connection"
            ),
            raw=excerpt(text),
            details=details,
        )
    if status >= 500:
        return api.server_error(response, "listens", said=said)
    if not 200 <= status < 300:
        return _invalid(
            f"ListenBrainz refused the request (HTTP {status}" + (f": {said})" if said else ")"), text, status
        )
    if body is None:
        return _invalid(f"ListenBrainz answered HTTP {status} with a body that is not JSON", text, status)
    try:
        items = _parse_listens(body)
    except _BadPayload as exc:
        return _invalid(f"unexpected ListenBrainz listens response: {exc}", text, status)
    return items, _remaining(response), _reset_in(response)


def _parse_listens(body: Any) -> list[MediaItem]:
    payload = body.get("payload") if isinstance(body, dict) else None
    if not isinstance(payload, dict):
        raise _BadPayload("'payload' is missing")
    listens = payload.get("listens")
    if not isinstance(listens, list):
        raise _BadPayload("'payload.listens' is missing or not a list")
    return [_listen_item(listen, index) for index, listen in enumerate(listens)]


def _listen_item(listen: Any, index: int) -> MediaItem:
    where = f"payload.listens[{index}]"
    if not isinstance(listen, dict):
        raise _BadPayload(f"{where} is {type(listen).__name__}, expected an object")
    listened_at = listen.get("listened_at")
    if type(listened_at) is not int or listened_at < 0:
        raise _BadPayload(f"{where}.listened_at is not a Unix time: {listened_at!r}")
    meta = listen.get("track_metadata")
    if not isinstance(meta, dict):
        raise _BadPayload(f"{where}.track_metadata is missing")
    track = meta.get("track_name")
    artist = meta.get("artist_name")
    if not isinstance(track, str) or not track.strip():
        raise _BadPayload(f"{where}.track_metadata.track_name is missing or empty")
    if not isinstance(artist, str) or not artist.strip():
        raise _BadPayload(f"{where}.track_metadata.artist_name is missing or empty")
    info = meta.get("additional_info")
    info = info if isinstance(info, dict) else {}
    mapping = meta.get("mbid_mapping")
    mapping = mapping if isinstance(mapping, dict) else {}
    msid = _text(listen.get("recording_msid")) or _text(info.get("recording_msid"))
    recording_mbid = _mbid(info.get("recording_mbid")) or _mbid(mapping.get("recording_mbid"))
    release_mbid = _mbid(info.get("release_mbid")) or _mbid(mapping.get("release_mbid"))
    artist_mbids = _mbids(info.get("artist_mbids")) or _mbids(mapping.get("artist_mbids"))
    raw: dict[str, Any] = {
        "listened_at": listened_at,
        "recording_msid": msid,
        "recording_mbid": recording_mbid,
        "release_name": _text(meta.get("release_name")),
        "release_mbid": release_mbid,
        "artist_mbids": artist_mbids,
        "spotify_id": _text(info.get("spotify_id")),
        "media_player": _text(info.get("media_player")),
        "submission_client": _text(info.get("submission_client")),
        "music_service": _text(info.get("music_service")),
    }
    external_id = f"{listened_at}|{msid}" if msid else f"{listened_at}|{artist}|{track}"
    try:
        return MediaItem(
            platform=PLATFORM,
            type=MediaType.MUSIC,
            title=track,
            creator=artist,
            consumed_at=datetime.fromtimestamp(listened_at, UTC),
            duration=_duration(info),
            tags=_tags(info.get("tags")),
            url=RECORDING_URL + recording_mbid if recording_mbid else None,
            external_id=external_id,
            raw_metadata=raw,
        )
    except (ValidationError, OverflowError, OSError, ValueError) as exc:
        raise _BadPayload(f"{where} cannot be stored: {exc}") from None


def _duration(info: dict[str, Any]) -> timedelta | None:
    """`duration_ms` (milliseconds) or `duration` (seconds); clients send one of them,
    sometimes as a string. Anything unreadable or negative is ignored, not fatal."""
    for key, scale in (("duration_ms", 1000), ("duration", 1)):
        value = info.get(key)
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value.strip())
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 10**10:
            return timedelta(seconds=value / scale)
    return None


def _tags(value: Any) -> tuple[str, ...]:
    """The submitter's folksonomy tags (`additional_info.tags`), trimmed and de-duplicated."""
    if not isinstance(value, list):
        return ()
    tags: dict[str, None] = {}
    for tag in value:
        if isinstance(tag, str) and tag.strip():
            tags.setdefault(tag.strip(), None)
    return tuple(tags)


def _text(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def _mbid(value: Any) -> str | None:
    """An MBID only when it looks like one: it goes into a musicbrainz.org URL."""
    text = _text(value)
    return text.lower() if text and _UUID.fullmatch(text) else None


def _mbids(value: Any) -> list[str] | None:
    if not isinstance(value, list):
        return None
    mbids = [m for m in (_mbid(v) for v in value) if m]
    return mbids or None


def _said(body: Any) -> str:
    """The `error` text of a ListenBrainz error body `{"code": int, "error": str}`."""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return body["error"][:200]
    return ""


def _remaining(response: httpx.Response) -> int | None:
    value = response.headers.get("X-RateLimit-Remaining", "").strip()
    return int(value) if value.isdigit() else None


def _reset_in(response: httpx.Response) -> timedelta:
    """Seconds until the rate-limit window resets (`X-RateLimit-Reset-In`, which the
    docs recommend over the clock-dependent `X-RateLimit-Reset`); 10 s when unusable."""
    value = response.headers.get("X-RateLimit-Reset-In", "").strip()
    try:
        seconds = float(value)
    except ValueError:
        return RATE_LIMIT_WAIT
    if seconds != seconds or seconds < 0 or seconds > 86_400:  # NaN, negative, absurd
        return RATE_LIMIT_WAIT
    return timedelta(seconds=seconds)


# --- errors ----------------------------------------------------------------------------


def _stopped(
    cause: PluginError, items: list[MediaItem], state: ListenbrainzCursor, cursor: str, fetched: int
) -> SyncResult:
    """A request failed. Nothing read in this call: the incoming cursor still resumes.
    A rate limit keeps its code (core waits `after`) and the items read; any other
    failure after good pages is a partial sync resuming at the failed page."""
    if not fetched:
        return SyncResult(next_cursor=cursor, err=cause)
    resume = state.encode()
    details = {**cause.details, "collected": len(items)}
    if cause.code is ErrorCode.RATE_LIMIT:
        return SyncResult(
            items=items, next_cursor=resume, has_more=True, err=cause.model_copy(update={"details": details})
        )
    return SyncResult(
        items=items,
        next_cursor=resume,
        has_more=True,
        err=partial_sync(
            cause, f"ListenBrainz sync stopped after {len(items)} listens", collected=len(items)
        ),
    )


def _invalid(message: str, body: str, status: int) -> PluginError:
    return PluginError(
        code=ErrorCode.INVALID_DATA, message=message, raw=excerpt(body), details={"http_status": status}
    )


def _missing_account() -> PluginError:
    """No username is configuration the person must fix: permission_denied (notify, never
    retry), as for Last.fm; there is no token to refresh and no scope to grant."""
    return PluginError(
        code=ErrorCode.PERMISSION_DENIED,
        message="ListenBrainz is not configured: the ListenBrainz username is missing; enter it in the connection",
        details={"missing": ["account"]},
    )


def _bad_cursor(cursor: str, problem: str) -> PluginError:
    return PluginError(
        code=ErrorCode.INVALID_DATA,
        message=f"the stored ListenBrainz cursor cannot be read ({problem}); clear it to sync from the start",
        raw=excerpt(cursor),
    )
