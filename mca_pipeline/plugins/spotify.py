"""Spotify Web API: the person's recently played tracks (`GET /v1/me/player/recently-played`).

Spotify only reaches about the 50 most recent plays, so this plugin is polled often
(`schedule_cron`) and each poll asks only for what is newer than the last stored play.

Cursor: the Unix time in milliseconds of the newest `played_at` already stored, as a
decimal string. It never moves backwards:

- empty (or "0", or unreadable): first sync. No `after=`; page back in time through
  `next` (its `before=`) until `next` is null or a page is empty.
- a number: send `after=<cursor>`, keep only plays strictly newer than it, and page back
  only while every play on a page is still newer (pages run newest to oldest, so a page
  that reaches the cursor is the last one needed).
- complete sync: `next_cursor` is the newest play seen, or the incoming cursor when
  nothing is new; `has_more` is False.
- a failure after at least one page was read, or a cancellation between pages: the
  plays read so far come back with `has_more=True` and the INCOMING cursor ("0" for a
  first sync, because a partial_sync result needs a non-empty cursor and "0" reads as a
  first sync again). The pages read so far are the NEWEST plays, so advancing the
  cursor to them would skip the older plays that were not read yet; resuming from the
  old cursor re-reads some plays instead, which is harmless because core dedups on
  external_id (SKIP policy) while a skipped play would be lost for good.

Errors never raise out of `sync`; they come back as PluginError, and neither messages,
raw excerpts nor log lines ever contain the access token.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from pydantic import ValidationError

from mca_pipeline.clients.http import (
    MESSAGE_CHARS,
    PlatformFailed,
    PlatformHttp,
    excerpt,
    partial_sync,
    redact,
)
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
from mca_pipeline.enrich.lastfm_tags import LastfmTags

PLATFORM = "spotify"
RECENTLY_PLAYED_PATH = "/v1/me/player/recently-played"
PAGE_LIMIT = 50

DEFAULT_RETRY_AFTER = timedelta(seconds=30)
# Spotify reaches ~50 plays, i.e. one or two pages; this only stops a misbehaving server.
MAX_PAGES = 20

SPOTIFY_OAUTH = OAuthConfig(
    provider_name="Spotify",
    auth_url=f"{endpoints.SPOTIFY_ACCOUNTS[1]}/authorize",
    token_url=f"{endpoints.SPOTIFY_ACCOUNTS[1]}/api/token",
    scopes=("user-read-recently-played",),
    client_id_env="SPOTIFY_CLIENT_ID",
    client_secret_env="SPOTIFY_CLIENT_SECRET",
    supports_pkce=True,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MS = timedelta(milliseconds=1)
# ISO-8601 as Spotify writes it (`2024-05-03T18:22:41.337Z`), tolerating any number of
# fraction digits, no fraction, a numeric offset or no zone at all (taken as UTC).
_PLAYED_AT = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d+))?"
    r"(?:([Zz])|([+-])(\d{2}):?(\d{2}))?"
)
_SCOPE_WORDS = ("scope", "permission")


class SpotifyPlugin(SourcePlugin):
    """Recently played tracks from the Spotify Web API, one MediaItem per play.

    SKIP dedup: a play at a time never changes; the external_id is
    `<track id>@<played_at ms>` (PLATFORMS.md: dedup on (played_at, track.id)), so a
    track played twice gives two items and a re-read play is found again.

    Error mapping (HTTP status -> ErrorCode):

    - 401, any message, or a missing token -> AUTH_EXPIRED (core refreshes the token);
      so is a 400 about bearer authentication (a malformed Authorization header).
    - 403 about scope/permission -> PERMISSION_DENIED with `details["missing_scopes"]`.
      Any other 403 (an account not allowed in a development-mode app, a blocked
      region) -> PERMISSION_DENIED too, without `missing_scopes`: only the person can
      fix it, and retrying would not help.
    - 429 -> RATE_LIMIT, retry after `Retry-After` seconds (30 s when missing/garbage).
    - 5xx, timeouts, connection errors -> UPSTREAM, retry.
    - other statuses -> UPSTREAM without retry (the same request would fail again).
    - 204 or an empty body (private session) -> success, no plays.
    - a body that is not JSON or lacks `items`, `played_at`, `track.id` or
      `track.name` -> INVALID_DATA with the first 500 characters of the body.
    - any of these after at least one page was read -> PARTIAL_SYNC (see module doc),
      `details["cause"]` naming the underlying code.
    """

    name = PLATFORM
    display_name = "Spotify — account, recent plays"
    auth_type = AuthType.OAUTH
    auth_config = SPOTIFY_OAUTH
    dedup_policy = DedupPolicy.SKIP
    #: Whose copy of a play seen by several sources counts (lower wins): the API knows the track id.
    unify_rank = 20
    # The API only reaches the last ~50 plays: poll every 30 minutes so none fall off.
    schedule_cron = "*/30 * * * *"

    def __init__(
        self,
        client: httpx.Client | None = None,
        base_url: str | None = None,
        timeout_s: float = 20.0,
        *,
        tags: LastfmTags | None = None,
    ) -> None:
        """`client` is used as given (tests inject one with a MockTransport); without
        one, a client with `base_url` and a `timeout_s` timeout on every phase is built."""
        base_url = base_url or endpoints.base_url(endpoints.SPOTIFY_API)
        accounts = endpoints.base_url(endpoints.SPOTIFY_ACCOUNTS)
        self.auth_config = SPOTIFY_OAUTH.model_copy(
            update={"auth_url": f"{accounts}/authorize", "token_url": f"{accounts}/api/token"}
        )
        self._api = PlatformHttp("Spotify", base_url, client, timeout_s)
        self._tags = tags
        # An injected client without a base URL still needs an absolute URL.
        self._url = (
            RECENTLY_PLAYED_PATH
            if self._api.client.base_url.host
            else base_url.rstrip("/") + RECENTLY_PLAYED_PATH
        )

    @property
    def client(self) -> httpx.Client:
        return self._api.client

    def cursor_order(self, cursor: str) -> float | None:
        """The cursor as Unix milliseconds, for core's never-backwards check; None when
        empty or unreadable."""
        try:
            value = float(cursor.strip())
        except (AttributeError, ValueError):
            return None
        return value if math.isfinite(value) and value >= 0 else None

    def sync(self, ctx: SyncContext, creds: Credentials, cursor: str) -> SyncResult:
        """All plays newer than `cursor` (every reachable play when it is empty).

        Platform and payload failures come back as PluginErrors; anything else is a bug
        and propagates, for core to fail the run with its traceback (never retried).
        """
        token = creds.access_token.get_secret_value() if creds.access_token is not None else ""
        return _Sync(self._api, self._url, ctx, creds, token, cursor).run()

    def enrich(self, ctx: SyncContext, creds: Credentials, items: list[MediaItem]) -> list[MediaItem]:
        """Last.fm top tags for the plays (mca_pipeline.enrich.lastfm_tags); the tagger is
        built on first use unless one was given to the constructor."""
        if self._tags is None:
            self._tags = LastfmTags()
        return self._tags.enrich_items(ctx, items)


# --- one sync call ---------------------------------------------------------------------


class _Failure(Exception):
    def __init__(self, error: PluginError) -> None:
        super().__init__(error.message)
        self.error = error


@dataclass(frozen=True)
class _Play:
    ms: int
    item: MediaItem


@dataclass(frozen=True)
class _Page:
    plays: list[_Play]
    before: int | None  # where the next (older) page starts; None at the end


class _Sync:
    """The state of one `sync` call: pages read, plays kept, where to stop."""

    def __init__(
        self,
        api: PlatformHttp,
        url: str,
        ctx: SyncContext,
        creds: Credentials,
        token: str,
        cursor: str,
    ) -> None:
        self.api = api
        self.url = url
        self.ctx = ctx
        self.granted = creds.scopes
        self.token = token
        self.cursor = cursor
        self.since = _since(cursor)
        self.items: list[MediaItem] = []
        self.seen: set[str] = set()
        self.newest: int | None = None
        self.pages = 0

    def run(self) -> SyncResult:
        if not self.token:
            return self._error(
                PluginError(
                    code=ErrorCode.AUTH_EXPIRED,
                    message="no Spotify access token in the credentials; reconnect Spotify",
                )
            )
        if self.cursor.strip() and self.since is None and self.cursor.strip() != "0":
            self.ctx.log.warning("spotify: unreadable cursor %r, reading every reachable play", self.cursor)
        params: dict[str, int] = {"limit": PAGE_LIMIT}
        if self.since is not None:
            params["after"] = self.since
        previous_before: int | None = None
        while True:
            if self.ctx.is_cancelled():
                self.ctx.log.info("spotify: cancelled after %d page(s)", self.pages)
                return self._stopped()
            if self.pages >= MAX_PAGES:
                self.ctx.log.warning("spotify: stopped after %d pages", self.pages)
                return self._stopped()
            try:
                page = self._page(params)
            except _Failure as failure:
                return self._error(failure.error)
            self.pages += 1
            fresh = [play for play in page.plays if self.since is None or play.ms > self.since]
            self._keep(fresh)
            self.ctx.log.debug("spotify: page %d: %d plays, %d new", self.pages, len(page.plays), len(fresh))
            # An empty page ends paging; so does a page that reached the cursor.
            if not page.plays or len(fresh) < len(page.plays) or page.before is None:
                break
            if previous_before is not None and page.before >= previous_before:
                self.ctx.log.warning("spotify: next page does not go back in time; stopping")
                break
            previous_before = page.before
            params = {"limit": PAGE_LIMIT, "before": page.before}
        next_cursor = str(self.newest) if self.newest is not None else self.cursor
        return SyncResult(items=self.items, next_cursor=next_cursor, has_more=False)

    def _keep(self, plays: list[_Play]) -> None:
        for play in plays:
            if play.item.external_id in self.seen:
                continue
            self.seen.add(play.item.external_id)
            self.items.append(play.item)
            if self.newest is None or play.ms > self.newest:
                self.newest = play.ms

    def _resume_cursor(self) -> str:
        """Where to resume after an incomplete sync: the incoming cursor (see module doc)."""
        return self.cursor or "0"

    def _stopped(self) -> SyncResult:
        cursor = self._resume_cursor() if self.pages else self.cursor
        return SyncResult(items=self.items, next_cursor=cursor, has_more=True)

    def _error(self, error: PluginError) -> SyncResult:
        if not self.pages:
            return SyncResult(next_cursor=self.cursor, err=error)
        partial = partial_sync(error, f"read {len(self.items)} plays from {self.pages} page(s), then")
        return SyncResult(items=self.items, next_cursor=self._resume_cursor(), has_more=True, err=partial)

    # --- HTTP ----------------------------------------------------------------------------

    def _page(self, params: dict[str, int]) -> _Page:
        try:
            response = self.api.get(
                self.url,
                what=f"recently played, page {self.pages + 1}",
                secrets=[self.token],
                params=params,
                headers={"Authorization": f"Bearer {self.token}", "Accept": "application/json"},
            )
        except PlatformFailed as failed:
            raise _Failure(failed.error) from None
        status = response.status_code
        if not 200 <= status < 300:
            raise _Failure(self._http_error(response))
        if status == 204 or not response.content.strip():
            return _Page(plays=[], before=None)  # a private session: no history
        body = response.text
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise self._invalid(f"response is not JSON ({exc.msg})", body) from None
        return self._parse(data, body)

    def _invalid(self, problem: str, body: str) -> _Failure:
        return _Failure(
            PluginError(
                code=ErrorCode.INVALID_DATA,
                message=redact(
                    f"unexpected Spotify response on page {self.pages + 1}: {problem}", [self.token]
                ),
                retry=False,
                raw=excerpt(body, [self.token]),
            )
        )

    def _http_error(self, response: httpx.Response) -> PluginError:
        status = response.status_code
        body = redact(response.text, [self.token])  # before any cutting, so no piece of it is left
        said = _platform_message(response, body)
        raw = excerpt(body)
        where = f"HTTP {status}: {said}"
        if status == 401 or (status == 400 and "bearer" in said.lower()):
            return PluginError(
                code=ErrorCode.AUTH_EXPIRED,
                message=f"Spotify rejected the access token ({where}); refresh it or reconnect Spotify",
                raw=raw,
            )
        if status == 403:
            if any(word in said.lower() for word in _SCOPE_WORDS):
                missing = _missing_scopes(self.granted)
                return PluginError(
                    code=ErrorCode.PERMISSION_DENIED,
                    message=f"Spotify refused for lack of OAuth scope ({where}); reconnect Spotify and "
                    f"grant: {', '.join(missing)}",
                    raw=raw,
                    details={"missing_scopes": missing},
                )
            return PluginError(
                code=ErrorCode.PERMISSION_DENIED,
                message=f"Spotify denied access ({where}); the account may not be allowed to use this "
                "app, reconnecting or the app's settings on Spotify's side may fix it",
                raw=raw,
            )
        common = self.api.common_error(
            response, "recently played", default_wait=DEFAULT_RETRY_AFTER, said=said, secrets=[self.token]
        )
        if common is not None:
            return common
        return PluginError(
            code=ErrorCode.UPSTREAM, message=f"unexpected answer from Spotify ({where})", retry=False, raw=raw
        )

    # --- payload -------------------------------------------------------------------------

    def _parse(self, data: Any, body: str) -> _Page:
        if not isinstance(data, dict):
            raise self._invalid(f"expected a JSON object, got {type(data).__name__}", body)
        items = data.get("items")
        if not isinstance(items, list):
            problem = "`items` is missing" if "items" not in data else "`items` is not a list"
            raise self._invalid(problem, body)
        plays: list[_Play] = []
        for index, entry in enumerate(items):
            try:
                plays.append(_to_play(entry))
            except _BadItem as bad:
                raise self._invalid(f"items[{index}]: {bad}", body) from None
        return _Page(plays=plays, before=_next_before(data, plays))


# --- one PlayHistory -> one MediaItem ----------------------------------------------------


class _BadItem(ValueError):
    """A PlayHistory object we cannot store; the message names the field."""


def _to_play(entry: Any) -> _Play:
    """Map one PlayHistory object (`{track, played_at, context}`) to a MediaItem."""
    if not isinstance(entry, dict):
        raise _BadItem(f"expected an object, got {type(entry).__name__}")
    played_at = entry.get("played_at")
    if not isinstance(played_at, str):
        raise _BadItem("`played_at` is missing" if played_at is None else f"`played_at` is {played_at!r}")
    try:
        played = parse_played_at(played_at)
    except ValueError as exc:
        raise _BadItem(f"`played_at`: {exc}") from None
    ms = epoch_ms(played)
    track = entry.get("track")
    if not isinstance(track, dict):
        raise _BadItem("`track` is missing" if track is None else "`track` is not an object")
    is_local = track.get("is_local") is True
    track_id, uri = track.get("id"), track.get("uri")
    key = track_id if _text(track_id) else (uri if is_local and _text(uri) else None)
    if key is None:
        raise _BadItem("`track.id` is missing" if not is_local else "local track without `track.uri`")
    title = track.get("name")
    if not _text(title):
        raise _BadItem("`track.name` is missing or empty")
    artists = track.get("artists") if isinstance(track.get("artists"), list) else []
    names = [a["name"] for a in artists if isinstance(a, dict) and _text(a.get("name"))]
    duration_ms = track.get("duration_ms")
    duration = timedelta(milliseconds=duration_ms) if type(duration_ms) is int and duration_ms >= 0 else None
    urls = track.get("external_urls")
    url = urls.get("spotify") if isinstance(urls, dict) else None
    try:
        item = MediaItem(
            platform=PLATFORM,
            type=MediaType.MUSIC,
            title=title,
            creator=", ".join(names) or None,
            # played_at stamps the end of a play, like the export's `ts`; MediaItem wants
            # the start, so the track's length is taken off (exact for plays heard to the end,
            # which is what this endpoint lists). The cursor and id keep played_at itself.
            consumed_at=played - duration if duration is not None else played,
            duration=duration,
            time_spent=None,
            url=url if _text(url) else None,
            external_id=f"{key}@{ms}",
            raw_metadata=_raw_metadata(entry, track, played_at),
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise _BadItem(f"{'.'.join(map(str, first['loc']))}: {first['msg']}") from None
    return _Play(ms=ms, item=item)


def _raw_metadata(entry: dict[str, Any], track: dict[str, Any], played_at: str) -> dict[str, Any]:
    album = track.get("album")
    artists = track.get("artists") if isinstance(track.get("artists"), list) else []
    context = entry.get("context")
    raw: dict[str, Any] = {
        "played_at": played_at,
        "track_id": track.get("id"),
        "track_uri": track.get("uri"),
        "album": {"id": album.get("id"), "name": album.get("name"), "release_date": album.get("release_date")}
        if isinstance(album, dict)
        else None,
        "artist_ids": [a["id"] for a in artists if isinstance(a, dict) and _text(a.get("id"))],
        "context": {"type": context.get("type"), "uri": context.get("uri")}
        if isinstance(context, dict)
        else None,
        "explicit": track.get("explicit"),
        "is_local": track.get("is_local"),
    }
    if "popularity" in track:
        raw["popularity"] = track["popularity"]
    external_ids = track.get("external_ids")
    if isinstance(external_ids, dict) and "isrc" in external_ids:
        raw["isrc"] = external_ids["isrc"]
    return raw


def parse_played_at(value: str) -> datetime:
    """`played_at` as an aware UTC datetime. Spotify writes `2024-05-03T18:22:41.337Z`,
    but values without a fraction or with another number of digits occur; digits past
    microseconds are dropped, a missing zone is UTC."""
    match = _PLAYED_AT.fullmatch(value.strip())
    if match is None:
        raise ValueError(f"not an ISO-8601 time: {value!r}")
    year, month, day, hour, minute, second, fraction, _z, sign, off_h, off_m = match.groups()
    tz = UTC
    if sign:
        offset = timedelta(hours=int(off_h), minutes=int(off_m))
        tz = timezone(-offset if sign == "-" else offset)
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        moment = datetime(
            int(year), int(month), int(day), int(hour), int(minute), int(second), micro, tzinfo=tz
        )
    except ValueError as exc:
        raise ValueError(f"not a valid time: {value!r} ({exc})") from None
    return moment.astimezone(UTC)


def epoch_ms(moment: datetime) -> int:
    """Unix milliseconds, exactly (float timestamps can land one ms short)."""
    return (moment - _EPOCH) // _ONE_MS


# --- helpers -----------------------------------------------------------------------------


def _text(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _since(cursor: str) -> int | None:
    """The cursor's milliseconds for `after=`; None means a first sync ("", "0", garbage)."""
    text = cursor.strip()
    if not text.isdigit():
        return None
    value = int(text)
    return value if value > 0 else None


def _next_before(data: dict[str, Any], plays: list[_Play]) -> int | None:
    """Where the next older page starts, or None when `next` says there is none.

    Only `before=` is taken from `next`, and the request goes to our own base URL: the
    bearer token is never sent to whatever host a `next` URL names. Without a usable
    `before=` in it, `cursors.before` and then the oldest play on the page stand in.
    """
    link = data.get("next")
    if not _text(link):
        return None
    values = parse_qs(urlsplit(link).query).get("before", [])
    if values and values[0].isdigit():
        return int(values[0])
    cursors = data.get("cursors")
    before = cursors.get("before") if isinstance(cursors, dict) else None
    if isinstance(before, str | int) and str(before).isdigit():
        return int(before)
    return min(play.ms for play in plays) if plays else None


def _missing_scopes(granted: tuple[str, ...]) -> list[str]:
    """Required scopes not granted; all of them when the grant is unknown, or when it
    claims everything (Spotify just said otherwise, so the stored grant is stale)."""
    required = list(SPOTIFY_OAUTH.scopes)
    missing = [scope for scope in required if scope not in granted]
    return missing or required


def _platform_message(response: httpx.Response, body: str) -> str:
    """What Spotify said: `{"error": {"status", "message"}}` on the Web API, the flat
    OAuth shape elsewhere, else the start of the body or the reason phrase."""
    try:
        data = json.loads(body) if body.strip() else None
    except ValueError:
        data = None
    message: Any = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            message = error.get("message")
        elif isinstance(error, str):
            message = data.get("error_description") or error
        else:
            message = data.get("message")
    if not _text(message):
        message = " ".join(body.split())[:MESSAGE_CHARS] or response.reason_phrase or "no message"
    return str(message)[:MESSAGE_CHARS]
