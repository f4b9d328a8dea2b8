"""YouTube Data API v3: the videos the person liked (the likes playlist `LL`).

The YouTube Data API has NO watch history: Google removed it (the `HL` playlist has
been empty since 2016). What the API does offer is the likes playlist, so this plugin
syncs likes; the full watch history comes from a Google Takeout export and is read by
the `youtube_takeout` plugin.

Two calls per page (PLATFORMS.md section 3):

- `GET /playlistItems?part=snippet,contentDetails&playlistId=LL&maxResults=50
  &pageToken=...`: up to 50 likes, newest like first; `snippet.publishedAt` is when
  the video was added to the playlist, i.e. when it was liked.
- `GET /videos?part=contentDetails,snippet,topicDetails&id=<up to 50 ids>`: duration,
  channel, category and topic categories. Ids that are gone are simply left out.

Cursor: compact JSON, opaque to core, for example
`{"newest":"2024-06-13T17:05:13Z"}` or
`{"newest":"2024-06-13T17:05:13Z","stop":"2024-05-01T08:00:00Z","pageToken":"EAAaBlBUOkNESQ"}`.

- `newest`: the newest `liked_at` seen so far; `cursor_order` returns it as a Unix
  timestamp, so it never moves backwards.
- The API has no "since" filter and the likes run newest first, so every sync starts
  again at page 1 and stops after the first page that holds a like at or before the
  boundary (`newest` of the last completed sync). Likes at the boundary second are
  kept (a re-read like is harmless: core dedups on external_id), older ones dropped.
- An empty cursor (or one that cannot be read, with a warning) is a first sync: page
  through everything until `nextPageToken` is missing.
- `pageToken` (with `stop`, the boundary of the sync in progress; absent while the
  first sync is still in progress) is only present while a sync is unfinished: after
  the page budget (`ctx.page_size // 50` pages per call), a cancellation between
  pages, or a failure after some pages (partial_sync). The next call resumes at that
  page with the same boundary. A resume cursor always carries a `pageToken`, so it can
  never be mistaken for a completed one (which would skip the likes not read yet).
- Page tokens count positions. Likes added between two calls of an unfinished sync
  push items down (re-read, harmless); likes REMOVED in between pull items up past
  the token, and those few would be skipped until a full resync (empty cursor). An
  invalid or expired page token (HTTP 400 `invalidPageToken`) restarts at page 1
  with the same boundary.

Errors never raise out of `sync`; neither messages, `raw` excerpts, cursors nor log
lines contain the access token.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from pydantic import ValidationError

from mca_pipeline.clients.http import RAW_CHARS, PlatformFailed, excerpt, partial_sync, redact
from mca_pipeline.clients.youtube import YoutubeClient, google_error, parse_duration, topic_name
from mca_pipeline.core import (
    AuthType,
    Credentials,
    DedupPolicy,
    ErrorCode,
    MediaItem,
    MediaType,
    OAuthConfig,
    PluginError,
    SourcePlugin,
    SyncContext,
    SyncResult,
    endpoints,
)
from mca_pipeline.core.models import utc_now

PLATFORM = "youtube"
PLAYLIST_ITEMS_PATH = "/playlistItems"
VIDEOS_PATH = "/videos"
LIKES_PLAYLIST = "LL"
#: playlistItems.list maxResults upper bound (default 5), and ids per videos.list call.
PAGE_LIMIT = 50
VIDEO_BATCH = 50
WATCH_URL = "https://www.youtube.com/watch?v="

YOUTUBE_OAUTH = OAuthConfig(
    provider_name="Google",
    auth_url=f"{endpoints.GOOGLE_OAUTH[1]}/o/oauth2/v2/auth",
    token_url=f"{endpoints.GOOGLE_TOKEN[1]}/token",
    scopes=("https://www.googleapis.com/auth/youtube.readonly",),
    client_id_env="GOOGLE_CLIENT_ID",
    client_secret_env="GOOGLE_CLIENT_SECRET",
    supports_pkce=True,
    revoke_url=f"{endpoints.GOOGLE_TOKEN[1]}/revoke",
)

_UNAVAILABLE_TITLES = frozenset({"Deleted video", "Private video"})
_SCOPE_REASONS = frozenset({"insufficientPermissions", "ACCESS_TOKEN_SCOPE_INSUFFICIENT"})


# --- cursor ----------------------------------------------------------------------------


@dataclass(frozen=True)
class YoutubeCursor:
    """The sync state kept by core between calls (see the module docstring).

    `newest`: newest like seen; `stop`: the boundary of an unfinished sync (None while
    the first sync is unfinished); `page_token`: where an unfinished sync resumes.
    """

    newest: datetime | None = None
    stop: datetime | None = None
    page_token: str | None = None

    @property
    def in_progress(self) -> bool:
        return self.page_token is not None

    @property
    def boundary(self) -> datetime | None:
        """Likes at or before this were stored by an earlier, completed sync."""
        return self.stop if self.in_progress else self.newest

    def encode(self) -> str:
        fields = {
            "newest": _iso(self.newest) if self.newest else None,
            "stop": _iso(self.stop) if self.stop and self.page_token else None,
            "pageToken": self.page_token,
        }
        kept = {k: v for k, v in fields.items() if v is not None}
        return json.dumps(kept, separators=(",", ":")) if kept else ""

    @classmethod
    def decode(cls, text: str) -> YoutubeCursor:
        """ "" is a first sync; anything else must be the JSON object `encode` writes.

        Raises ValueError naming the problem.
        """
        text = text.strip()
        if not text:
            return cls()
        try:
            data = json.loads(text)
        except ValueError:
            raise ValueError("not JSON") from None
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        times: dict[str, datetime | None] = {}
        for key in ("newest", "stop"):
            value = data.get(key)
            if value is None:
                times[key] = None
            elif isinstance(value, str):
                times[key] = parse_time(value)
            else:
                raise ValueError(f"{key!r} must be an RFC 3339 time, got {value!r}")
        token = data.get("pageToken")
        if token is not None and (not isinstance(token, str) or not token.strip()):
            raise ValueError(f"'pageToken' must be a non-empty string, got {token!r}")
        return cls(newest=times["newest"], stop=times["stop"] if token else None, page_token=token)


# --- plugin ----------------------------------------------------------------------------


class YoutubePlugin(SourcePlugin):
    """Liked videos from the YouTube Data API, one MediaItem per like.

    `consumed_at` is when the video was LIKED (the playlist item's `snippet.publishedAt`,
    the time it was added to `LL`), the closest the API comes to a viewing time; the
    video's own upload time is kept as `raw_metadata["video_published_at"]`.

    UPDATE_ON_CHANGE dedup: titles, channel names and even durations of videos change
    after the fact, and a re-read like should refresh them. external_id is
    `"<playlist id>:<video id>"` (`"LL:dQ3xY7kLmN0"`), with the playlist id we asked for:
    a video is in the likes playlist at most once.

    Deleted and private videos in the likes playlist (title "Deleted video" / "Private
    video" and no `videoOwnerChannelTitle`) are skipped and counted in a log line.

    Error mapping:

    - 401 (`authError`, `UNAUTHENTICATED`, `required`...) or no access token ->
      AUTH_EXPIRED (core refreshes the token).
    - 403 `quotaExceeded` / `dailyLimitExceeded` -> RATE_LIMIT, `after` = until the next
      midnight Pacific time, when the daily quota resets.
    - 403 `rateLimitExceeded` / `userRateLimitExceeded`, or HTTP 429 -> RATE_LIMIT after
      `Retry-After`, else 60 s.
    - 403 `insufficientPermissions` / `ACCESS_TOKEN_SCOPE_INSUFFICIENT` ->
      PERMISSION_DENIED with `details["missing_scopes"]`.
    - 404 `playlistNotFound` -> PERMISSION_DENIED: every channel has a likes playlist, so
      "not found" means this account's likes are not reachable with this grant (no
      YouTube channel, or a brand account other than the one connected); only the person
      can fix that by reconnecting, and retrying would not help. Any other 403 (e.g.
      `forbidden`) is PERMISSION_DENIED too, without `missing_scopes`.
    - 5xx, timeouts, connection errors -> UPSTREAM with retry; other statuses -> UPSTREAM
      without retry.
    - a body that is not JSON or lacks required fields -> INVALID_DATA with a `raw`
      excerpt of the body (token removed).
    - any of these after at least one page was stored -> PARTIAL_SYNC with the items so
      far and a cursor resuming at the failed page; `details["cause"]` names the code.
    """

    name = PLATFORM
    display_name = "YouTube — account, liked videos"
    auth_type = AuthType.OAUTH
    auth_config = YOUTUBE_OAUTH
    dedup_policy = DedupPolicy.UPDATE_ON_CHANGE
    schedule_cron = "15 * * * *"

    def __init__(
        self,
        client: httpx.Client | None = None,
        base_url: str | None = None,
        timeout_s: float = 20.0,
        *,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        """`client` is used as given (tests inject one with a MockTransport), except that
        a request never waits forever; `clock` tells the time for the quota reset."""
        google, token = endpoints.base_url(endpoints.GOOGLE_OAUTH), endpoints.base_url(endpoints.GOOGLE_TOKEN)
        self.auth_config = YOUTUBE_OAUTH.model_copy(
            update={
                "auth_url": f"{google}/o/oauth2/v2/auth",
                "token_url": f"{token}/token",
                "revoke_url": f"{token}/revoke",
            }
        )
        self._api = YoutubeClient(client, base_url, timeout_s, clock=clock)
        base_url = base_url or endpoints.base_url(endpoints.YOUTUBE_API)
        prefix = "" if self._api.client.base_url.host else base_url.rstrip("/")
        self._playlist_url = prefix + PLAYLIST_ITEMS_PATH
        self._videos_url = prefix + VIDEOS_PATH

    @property
    def client(self) -> httpx.Client:
        return self._api.client

    def cursor_order(self, cursor: str) -> float | None:
        """The cursor's `newest` as a Unix timestamp; None when empty or unreadable."""
        try:
            newest = YoutubeCursor.decode(cursor).newest
        except ValueError:
            return None
        return newest.timestamp() if newest is not None else None

    def sync(self, ctx: SyncContext, creds: Credentials, cursor: str) -> SyncResult:
        """The likes newer than the cursor's boundary (all of them on a first sync).

        Platform and payload failures come back as PluginErrors; anything else is a bug
        and propagates, for core to fail the run with its traceback (never retried).
        """
        token = creds.access_token.get_secret_value().strip() if creds.access_token is not None else ""
        return _Sync(self, ctx, creds, token, cursor).run()

    def enrich(self, ctx: SyncContext, creds: Credentials, items: list[MediaItem]) -> list[MediaItem]:
        """Topic categories are already tags; nothing more to add."""
        return items


# --- one sync call ---------------------------------------------------------------------


class _Failure(Exception):
    def __init__(self, error: PluginError, *, bad_page_token: bool = False) -> None:
        super().__init__(error.message)
        self.error = error
        self.bad_page_token = bad_page_token


@dataclass(frozen=True)
class _Entry:
    """One playlist item: a like."""

    index: int
    video_id: str
    liked_at: datetime | None
    snippet: dict[str, Any]
    details: dict[str, Any]
    unavailable: bool


@dataclass(frozen=True)
class _Page:
    entries: list[_Entry]
    next_token: str | None


@dataclass(frozen=True)
class _Video:
    title: str | None
    channel_title: str | None
    channel_id: str | None
    category_id: str | None
    topic_categories: list[str]
    duration: timedelta | None
    published_at: str | None


class _Sync:
    """The state of one `sync` call: pages read, likes kept, where to stop."""

    def __init__(self, plugin: YoutubePlugin, ctx: SyncContext, creds: Credentials, token: str, cursor: str):
        self.plugin = plugin
        self.ctx = ctx
        self.granted = creds.scopes
        self.token = token
        self.cursor = cursor
        self.items: list[MediaItem] = []
        self.seen: set[str] = set()
        self.pages = 0
        self.skipped = 0

    def run(self) -> SyncResult:
        if not self.token:
            return SyncResult(
                next_cursor=self.cursor,
                err=PluginError(
                    code=ErrorCode.AUTH_EXPIRED,
                    message="no Google access token in the credentials; reconnect YouTube",
                ),
            )
        try:
            state = YoutubeCursor.decode(self.cursor)
        except ValueError as exc:
            self.ctx.log.warning("youtube: unreadable cursor (%s); reading every like again", exc)
            state = YoutubeCursor()
        if self.ctx.is_cancelled():
            return SyncResult(next_cursor=self.cursor, has_more=True)
        budget = max(1, self.ctx.page_size // PAGE_LIMIT)
        stop = state.boundary
        newest = state.newest
        page_token = state.page_token
        restarted = False
        while True:
            try:
                page = self._playlist_page(page_token)
            except _Failure as failure:
                if failure.bad_page_token and page_token and not self.pages and not restarted:
                    self.ctx.log.warning("youtube: the stored page token was rejected; restarting at page 1")
                    page_token, restarted = None, True
                    continue
                return self._error(failure.error, newest, stop, page_token)
            dated = [e for e in page.entries if e.liked_at is not None]
            # Likes without a time are deleted/private entries: skipped (and counted) in _keep.
            fresh = [e for e in page.entries if e.liked_at is None or stop is None or e.liked_at >= stop]
            reached = stop is not None and any(e.liked_at is not None and e.liked_at <= stop for e in dated)
            try:
                self._keep(fresh)
            except _Failure as failure:
                return self._error(failure.error, newest, stop, page_token)
            self.pages += 1
            newest = max((t for t in [newest, *(e.liked_at for e in fresh)] if t is not None), default=None)
            self.ctx.log.debug(
                "youtube: page %d: %d likes, %d new", self.pages, len(page.entries), len(fresh)
            )
            if reached or page.next_token is None:
                break
            if page.next_token == page_token:
                self.ctx.log.warning("youtube: nextPageToken repeats the current page; stopping")
                break
            page_token = page.next_token
            if self.pages >= budget or self.ctx.is_cancelled():
                self._log_skipped()
                resume = YoutubeCursor(newest=newest, stop=stop, page_token=page_token)
                return SyncResult(items=self.items, next_cursor=resume.encode(), has_more=True)
        self._log_skipped()
        return SyncResult(items=self.items, next_cursor=YoutubeCursor(newest=newest).encode(), has_more=False)

    def _keep(self, entries: list[_Entry]) -> None:
        available = [e for e in entries if not e.unavailable]
        self.skipped += len(entries) - len(available)
        videos = self._videos([e.video_id for e in available])
        for entry in available:
            item = self._item(entry, videos.get(entry.video_id))
            if item.external_id not in self.seen:
                self.seen.add(item.external_id)
                self.items.append(item)

    def _log_skipped(self) -> None:
        if self.skipped:
            self.ctx.log.info(
                "youtube: skipped %d deleted or private video(s) in the likes playlist", self.skipped
            )

    def _error(
        self, error: PluginError, newest: datetime | None, stop: datetime | None, page_token: str | None
    ) -> SyncResult:
        """Before any page: the error as it is, incoming cursor kept. After some pages:
        partial_sync resuming at the page that failed (a page reached through a token)."""
        self._log_skipped()
        if not self.pages or page_token is None:
            return SyncResult(next_cursor=self.cursor, err=error)
        resume = YoutubeCursor(newest=newest, stop=stop, page_token=page_token)
        partial = partial_sync(error, f"read {len(self.items)} likes from {self.pages} page(s), then")
        return SyncResult(items=self.items, next_cursor=resume.encode(), has_more=True, err=partial)

    # --- HTTP ----------------------------------------------------------------------------

    def _get(self, url: str, params: dict[str, str | int], what: str) -> tuple[Any, str]:
        """GET with the bearer token; the parsed JSON body and its text, or a _Failure."""
        try:
            response = self.plugin._api.get(
                url,
                what=what,
                secrets=[self.token],
                params=params,
                headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"},
            )
        except PlatformFailed as failed:
            raise _Failure(failed.error) from None
        body = redact(response.text, [self.token])
        if not 200 <= response.status_code < 300:
            raise self._http_error(response, body, what, "pageToken" in params)
        try:
            return json.loads(body), body
        except ValueError as exc:
            raise self._invalid(f"{what}: response is not JSON ({exc})", body) from None

    def _playlist_page(self, page_token: str | None) -> _Page:
        params: dict[str, str | int] = {
            "part": "snippet,contentDetails",
            "playlistId": LIKES_PLAYLIST,
            "maxResults": PAGE_LIMIT,
        }
        if page_token:
            params["pageToken"] = page_token
        what = f"likes page {self.pages + 1}"
        data, body = self._get(self.plugin._playlist_url, params, what)
        raw_items = _list_of(data, "youtube#playlistItemListResponse")
        if raw_items is None:
            raise self._invalid(f"{what}: `items` is missing or not a list", body)
        entries: list[_Entry] = []
        for index, raw in enumerate(raw_items):
            try:
                entries.append(_entry(index, raw))
            except _BadField as bad:
                raise self._invalid(f"{what}: items[{index}]: {bad}", body) from None
        token = data.get("nextPageToken")
        return _Page(entries=entries, next_token=token if isinstance(token, str) and token else None)

    def _videos(self, video_ids: list[str]) -> dict[str, _Video]:
        unique = list(dict.fromkeys(video_ids))
        found: dict[str, _Video] = {}
        for start in range(0, len(unique), VIDEO_BATCH):
            batch = unique[start : start + VIDEO_BATCH]
            params: dict[str, str | int] = {
                "part": "contentDetails,snippet,topicDetails",
                "id": ",".join(batch),
            }
            what = f"video details for likes page {self.pages + 1}"
            data, body = self._get(self.plugin._videos_url, params, what)
            raw_items = _list_of(data, "youtube#videoListResponse")
            if raw_items is None:
                raise self._invalid(f"{what}: `items` is missing or not a list", body)
            for index, raw in enumerate(raw_items):
                try:
                    video_id, video = _video(raw, self.ctx)
                except _BadField as bad:
                    raise self._invalid(f"{what}: items[{index}]: {bad}", body) from None
                found[video_id] = video
        return found

    def _item(self, entry: _Entry, video: _Video | None) -> MediaItem:
        snippet, details = entry.snippet, entry.details
        title = (video.title if video and _text(video.title) else None) or snippet.get("title")
        owner = snippet.get("videoOwnerChannelTitle")
        creator = owner if _text(owner) else (video.channel_title if video else None)
        owner_id = snippet.get("videoOwnerChannelId")
        assert entry.liked_at is not None
        try:
            return MediaItem(
                platform=PLATFORM,
                type=MediaType.VIDEO,
                title=title if isinstance(title, str) else "",
                creator=creator if _text(creator) else None,
                consumed_at=entry.liked_at,
                duration=video.duration if video else None,
                tags=tuple(dict.fromkeys(topic_name(url) for url in video.topic_categories)) if video else (),
                url=WATCH_URL + entry.video_id,
                external_id=f"{LIKES_PLAYLIST}:{entry.video_id}",
                raw_metadata={
                    "video_id": entry.video_id,
                    "playlist_id": LIKES_PLAYLIST,
                    "channel_id": owner_id if _text(owner_id) else (video.channel_id if video else None),
                    "category_id": video.category_id if video else None,
                    "topic_categories": list(video.topic_categories) if video else [],
                    "liked_at": snippet.get("publishedAt"),
                    "video_published_at": details.get("videoPublishedAt")
                    or (video.published_at if video else None),
                },
            )
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(map(str, first["loc"]))
            raise self._invalid(
                f"likes page {self.pages + 1}: items[{entry.index}] (video {entry.video_id}): "
                f"{field}: {first['msg']}",
                json.dumps({"snippet": snippet, "contentDetails": details})[:RAW_CHARS],
            ) from None

    # --- errors --------------------------------------------------------------------------

    def _invalid(self, problem: str, body: str) -> _Failure:
        return _Failure(
            PluginError(
                code=ErrorCode.INVALID_DATA,
                message=redact(f"unexpected YouTube response: {problem}", [self.token]),
                retry=False,
                raw=excerpt(body, [self.token]),
            )
        )

    def _http_error(self, response: httpx.Response, body: str, what: str, sent_token: bool) -> _Failure:
        status = response.status_code
        said, reasons = google_error(body)
        said = said or response.reason_phrase or "no message"
        raw = body[:RAW_CHARS]
        where = f"{what}: HTTP {status}: {said}"
        details: dict[str, Any] = {"http_status": status, "reasons": sorted(reasons)}
        if status == 401:
            return _Failure(
                PluginError(
                    code=ErrorCode.AUTH_EXPIRED,
                    message=f"Google rejected the access token ({where}); refresh it or reconnect YouTube",
                    raw=raw,
                    details=details,
                )
            )
        limited = self.plugin._api.limit_error(
            response, where, reasons, secrets=[self.token], details=details
        )
        if limited is not None:
            return _Failure(limited)
        if reasons & _SCOPE_REASONS:
            missing = _missing_scopes(self.granted)
            return _Failure(
                PluginError(
                    code=ErrorCode.PERMISSION_DENIED,
                    message=f"the YouTube grant lacks an OAuth scope ({where}); reconnect YouTube and "
                    f"grant: {', '.join(missing)}",
                    raw=raw,
                    details={**details, "missing_scopes": missing},
                )
            )
        if status == 404 and "playlistNotFound" in reasons:
            return _Failure(
                PluginError(
                    code=ErrorCode.PERMISSION_DENIED,
                    message=f"the likes playlist of this account is not accessible ({where}); the account "
                    "may have no YouTube channel, or another (brand) account holds the likes: reconnect "
                    "YouTube with that account",
                    raw=raw,
                    details=details,
                )
            )
        if status == 403:
            return _Failure(
                PluginError(
                    code=ErrorCode.PERMISSION_DENIED,
                    message=f"YouTube denied access ({where}); reconnecting YouTube or the app's Google "
                    "Cloud settings may fix it",
                    raw=raw,
                    details=details,
                )
            )
        return _Failure(
            PluginError(
                code=ErrorCode.UPSTREAM,
                message=f"unexpected answer from YouTube ({where})",
                retry=False,
                raw=raw,
                details=details,
            ),
            # `invalidPageToken`, or any 400 to a request that carried a stored token.
            bad_page_token=sent_token and status == 400,
        )


# --- payload -----------------------------------------------------------------------------


class _BadField(ValueError):
    """A playlist item or video we cannot read; the message names the field."""


def _list_of(data: Any, kind: str) -> list[Any] | None:
    """The `items` of a list response; a response of the right `kind` that leaves out an
    empty `items` counts as empty (Google omits empty arrays in some responses)."""
    if not isinstance(data, dict):
        return None
    items = data.get("items")
    if isinstance(items, list):
        return items
    if "items" not in data and data.get("kind") == kind:
        return []
    return None


def _entry(index: int, raw: Any) -> _Entry:
    """One `youtube#playlistItem`; deleted/private videos are marked, not rejected."""
    if not isinstance(raw, dict):
        raise _BadField(f"expected an object, got {type(raw).__name__}")
    snippet = raw.get("snippet")
    if not isinstance(snippet, dict):
        raise _BadField("`snippet` is missing" if snippet is None else "`snippet` is not an object")
    details = raw.get("contentDetails")
    details = details if isinstance(details, dict) else {}
    resource = snippet.get("resourceId")
    video_id = details.get("videoId") or (resource.get("videoId") if isinstance(resource, dict) else None)
    if not _text(video_id):
        raise _BadField("`contentDetails.videoId` / `snippet.resourceId.videoId` is missing")
    unavailable = snippet.get("title") in _UNAVAILABLE_TITLES and not _text(
        snippet.get("videoOwnerChannelTitle")
    )
    published = snippet.get("publishedAt")
    liked_at: datetime | None = None
    try:
        liked_at = parse_time(published) if isinstance(published, str) else None
    except ValueError as exc:
        if not unavailable:
            raise _BadField(f"`snippet.publishedAt`: {exc}") from None
    if liked_at is None and not unavailable:
        raise _BadField("`snippet.publishedAt` is missing")
    if not unavailable and not _text(snippet.get("title")):
        raise _BadField("`snippet.title` is missing or empty")
    return _Entry(index, video_id, liked_at, snippet, details, unavailable)


def _video(raw: Any, ctx: SyncContext) -> tuple[str, _Video]:
    """One `youtube#video`: the fields we keep. Only `id` is required."""
    if not isinstance(raw, dict):
        raise _BadField(f"expected an object, got {type(raw).__name__}")
    video_id = raw.get("id")
    if not _text(video_id):
        raise _BadField("`id` is missing")
    snippet = raw.get("snippet") if isinstance(raw.get("snippet"), dict) else {}
    details = raw.get("contentDetails") if isinstance(raw.get("contentDetails"), dict) else {}
    topics_obj = raw.get("topicDetails") if isinstance(raw.get("topicDetails"), dict) else {}
    topics = topics_obj.get("topicCategories")
    duration: timedelta | None = None
    text = details.get("duration")
    if isinstance(text, str):
        try:
            duration = parse_duration(text)
        except ValueError:
            ctx.log.warning("youtube: video %s has an unreadable duration %r", video_id, text)
    category = snippet.get("categoryId")
    return video_id, _Video(
        title=snippet.get("title") if _text(snippet.get("title")) else None,
        channel_title=snippet.get("channelTitle") if _text(snippet.get("channelTitle")) else None,
        channel_id=snippet.get("channelId") if _text(snippet.get("channelId")) else None,
        category_id=str(category) if category is not None else None,
        topic_categories=[t for t in topics if _text(t)] if isinstance(topics, list) else [],
        duration=duration,
        published_at=snippet.get("publishedAt") if _text(snippet.get("publishedAt")) else None,
    )


def parse_time(text: str) -> datetime:
    """An RFC 3339 time (`2024-06-13T17:05:13Z` or with milliseconds) as aware UTC; a
    time without a zone is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not an RFC 3339 time: {text!r}") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _missing_scopes(granted: tuple[str, ...]) -> list[str]:
    """Required scopes not granted; all of them when the grant is unknown or claims
    everything (Google just said otherwise, so the stored grant is stale)."""
    required = list(YOUTUBE_OAUTH.scopes)
    return [s for s in required if s not in granted] or required


def _iso(moment: datetime) -> str:
    moment = moment.astimezone(UTC)
    spec = "microseconds" if moment.microsecond else "seconds"
    return moment.replace(tzinfo=None).isoformat(timespec=spec) + "Z"


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())
