"""Last.fm scrobbles from `user.getRecentTracks`, read with the person's own API key.

Last.fm keeps every scrobble with its time, so one sync walks the pages newer than the
newest scrobble already stored. Oddities of the API (PLATFORMS.md section 7) handled here:

- the JSON is converted from XML: numbers are strings, absent values are `""`, names sit
  under `#text`, and a single result may be an object instead of a list;
- the now-playing track is an extra first row without a `date`; it is not a scrobble yet
  and is skipped (it comes back with its date once scrobbled);
- rows shift while paging when new scrobbles arrive, so every page of one sync asks for
  the same window `from..to`, with `to` pinned to the time the sync started;
- the HTTP status is unreliable: errors come as `{"error": <code>, "message": ...}`,
  sometimes with HTTP 200, so the body is checked for `error` on every response.

A scrobble has no id of its own; `external_id` is `"<uts>|<artist>|<track>"`, which the
same scrobble always reproduces (SKIP dedup: a scrobble at a time never changes).

The API key travels in the query string. It is never put in a message, `raw` excerpt,
log line or cursor, and a filter on the `httpx` logger masks it in httpx's request log.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import httpx
from pydantic import ValidationError

from mca_pipeline.clients.http import PlatformFailed, excerpt, partial_sync
from mca_pipeline.clients.lastfm import (
    INVALID_PARAMETERS,
    INVALID_SESSION,
    LOGIN_REQUIRED,
    LastfmAnswer,
    LastfmClient,
)
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
)
from mca_pipeline.enrich.lastfm_tags import LastfmTags

PLATFORM = "lastfm"
METHOD = "user.getRecentTracks"

_IMAGE_SIZES = {"small": 0, "medium": 1, "large": 2, "extralarge": 3, "mega": 4}


# --- cursor ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LastfmCursor:
    """What `sync` needs to continue, stored by core as compact JSON.

    `from_uts` is the newest scrobble time (Unix seconds) of all completed syncs; the next
    sync asks for `from = from_uts + 1`. The other three fields are only set while a sync
    is unfinished (page budget, cancellation, failure part-way): the pinned upper bound
    `to`, the `page` to fetch next, and `newest`, the newest scrobble time collected by
    this sync so far (on page 1, since pages run newest first). When the last page is
    done, `from_uts` becomes the larger of `from_uts` and `newest`, so it never moves back.
    """

    from_uts: int | None = None
    to: int | None = None
    page: int | None = None
    newest: int | None = None

    @property
    def in_progress(self) -> bool:
        return self.to is not None

    def encode(self) -> str:
        fields = {"from": self.from_uts, "to": self.to, "page": self.page, "newest": self.newest}
        return json.dumps({k: v for k, v in fields.items() if v is not None}, separators=(",", ":"))

    @classmethod
    def decode(cls, text: str) -> LastfmCursor:
        """Read a cursor; "" is a first sync. A bare number is accepted as `from`.

        Raises ValueError naming the problem for anything else.
        """
        text = text.strip()
        if not text:
            return cls()
        if text.isdigit():
            return cls(from_uts=int(text))
        try:
            data = json.loads(text)
        except ValueError:
            raise ValueError("not JSON") from None
        if not isinstance(data, dict):
            raise ValueError(f"expected a JSON object, got {type(data).__name__}")
        values: dict[str, int | None] = {}
        for key in ("from", "to", "page", "newest"):
            value = data.get(key)
            if value is not None and (type(value) is not int or value < 0):
                raise ValueError(f"{key!r} must be a non-negative whole number, got {value!r}")
            values[key] = value
        if values["page"] is not None and (values["page"] < 1 or values["to"] is None):
            raise ValueError("'page' needs 'to' and must be at least 1")
        return cls(from_uts=values["from"], to=values["to"], page=values["page"], newest=values["newest"])


# --- plugin ----------------------------------------------------------------------------


class LastfmPlugin(SourcePlugin):
    """Scrobbles of one Last.fm user (`creds.account`) read with an API key (`creds.api_key`).

    Reads need no user login, only a public profile: a user who hides recent listening
    gets error 17. `ctx.page_size` bounds the scrobbles per `sync` call loosely: at most
    `max(1, page_size // page_limit)` pages are fetched, then `has_more` asks core to call
    again with a cursor that continues at the next page of the same pinned window.
    """

    name = PLATFORM
    display_name = "Last.fm — scrobbles"
    auth_type = AuthType.API_KEY
    auth_config = None
    dedup_policy = DedupPolicy.SKIP
    #: Whose copy of a play seen by several sources counts (lower wins):
    #: scrobbles are a copy of what a player reported.
    unify_rank = 30
    schedule_cron = "0 * * * *"

    def __init__(
        self,
        client: httpx.Client | None = None,
        base_url: str | None = None,
        timeout_s: float = 20.0,
        page_limit: int = 200,
        *,
        clock: Callable[[], float] = time.time,
        tags: LastfmTags | None = None,
    ) -> None:
        if not 1 <= page_limit <= 1000:
            raise ValueError(f"page_limit must be 1..1000 (Last.fm's bounds), got {page_limit}")
        self._api = LastfmClient(client, base_url, timeout_s)
        self._tags = tags
        self._page_limit = page_limit
        self._clock = clock

    def cursor_order(self, cursor: str) -> float | None:
        """The cursor's `from` (newest stored scrobble time) for core's never-backwards check.

        None for an empty or unreadable cursor; 0.0 for a first sync still in progress
        (nothing completed yet, i.e. "from the beginning").
        """
        try:
            state = LastfmCursor.decode(cursor)
        except ValueError:
            return None
        if state.from_uts is not None:
            return float(state.from_uts)
        return 0.0 if state.in_progress else None

    def sync(self, ctx: SyncContext, creds: Credentials, cursor: str) -> SyncResult:
        """Fetch the scrobbles newer than the cursor, newest first, page by page.

        Never raises for platform trouble: errors come back as PluginError. A failure
        after at least one good page is a partial_sync carrying the good pages' items and
        a cursor that refetches the failed page with the same window.
        """
        secret = creds.api_key.get_secret_value().strip() if creds.api_key is not None else ""
        user = (creds.account or "").strip()
        if not secret or not user:
            return SyncResult(next_cursor=cursor, err=_missing_credentials(secret, user))
        try:
            state = LastfmCursor.decode(cursor)
        except ValueError as exc:
            return SyncResult(next_cursor=cursor, err=_bad_cursor(cursor, str(exc), secret))
        if ctx.is_cancelled():
            return SyncResult(next_cursor=cursor, has_more=True)
        if not state.in_progress:
            now = int(self._clock())
            state = LastfmCursor(from_uts=state.from_uts, to=max(now, (state.from_uts or 0) + 1), page=1)
        return self._walk(ctx, user, secret, state, cursor)

    def enrich(self, ctx: SyncContext, creds: Credentials, items: list[MediaItem]) -> list[MediaItem]:
        """Last.fm top tags for the plays (mca_pipeline.enrich.lastfm_tags); the tagger is
        built on first use unless one was given to the constructor."""
        if self._tags is None:
            self._tags = LastfmTags()
        return self._tags.enrich_items(ctx, items)

    # --- paging ------------------------------------------------------------------------

    def _walk(self, ctx: SyncContext, user: str, secret: str, state: LastfmCursor, cursor: str) -> SyncResult:
        budget = max(1, ctx.page_size // self._page_limit)
        page = state.page or 1
        newest = state.newest
        items: list[MediaItem] = []
        seen: set[str] = set()
        fetched = 0
        while True:
            outcome = self._fetch_page(user, secret, state, page)
            if isinstance(outcome, PluginError):
                if not fetched:
                    # Nothing collected in this call: the incoming cursor still resumes here.
                    return SyncResult(next_cursor=cursor, err=outcome)
                resume = replace(state, page=page, newest=newest)
                return SyncResult(
                    items=items,
                    next_cursor=resume.encode(),
                    has_more=True,
                    err=partial_sync(
                        outcome,
                        f"Last.fm sync stopped at page {page} after {len(items)} scrobbles",
                        failed_page=page,
                    ),
                )
            page_items, total_pages = outcome
            fetched += 1
            for item in page_items:
                if item.external_id not in seen:
                    seen.add(item.external_id)
                    items.append(item)
                uts = item.raw_metadata["uts"]
                if newest is None or uts > newest:
                    newest = uts
            ctx.log.info(f"lastfm: page {page} of {total_pages}: {len(page_items)} scrobbles")
            if page >= total_pages:
                break
            page += 1
            if fetched >= budget or ctx.is_cancelled():
                resume = replace(state, page=page, newest=newest)
                return SyncResult(items=items, next_cursor=resume.encode(), has_more=True)
        done = max((v for v in (state.from_uts, newest) if v is not None), default=None)
        return SyncResult(items=items, next_cursor=LastfmCursor(from_uts=done).encode(), has_more=False)

    def _fetch_page(
        self, user: str, secret: str, state: LastfmCursor, page: int
    ) -> tuple[list[MediaItem], int] | PluginError:
        params: dict[str, str | int] = {
            "method": METHOD,
            "user": user,
            "limit": self._page_limit,
            "page": page,
            "extended": 0,
        }
        if state.from_uts is not None:
            params["from"] = state.from_uts + 1
        if state.to is not None:
            params["to"] = state.to
        try:
            answer = self._api.call(params, secret, f"{METHOD}, page {page}")
        except PlatformFailed as failed:
            return failed.error
        return self._read(answer, user, secret)

    def _read(
        self, answer: LastfmAnswer, user: str, secret: str
    ) -> tuple[list[MediaItem], int] | PluginError:
        error = _own_error(answer, user, secret) or self._api.common_error(
            answer, secret, METHOD, "enter a working key"
        )
        if error is not None:
            return error
        status, text = answer.status, answer.response.text
        if answer.code is not None:
            return PluginError(
                code=ErrorCode.INVALID_DATA,
                message=f"unknown Last.fm error {answer.code!r} (HTTP {status}: {answer.said})",
                raw=excerpt(text, [secret]),
                details=answer.details,
            )
        if answer.body is None:
            return _invalid(
                f"Last.fm answered HTTP {status} with a body that is not JSON", text, secret, status
            )
        if not 200 <= status < 300:
            return _invalid(f"Last.fm answered HTTP {status} without an error code", text, secret, status)
        try:
            return _parse_recent(answer.body)
        except _BadPayload as exc:
            return _invalid(f"unexpected user.getRecentTracks response: {exc}", text, secret, status)


# --- responses -------------------------------------------------------------------------


class _BadPayload(Exception):
    """A response that is JSON but not the recent-tracks shape we know."""


def _parse_recent(body: Any) -> tuple[list[MediaItem], int]:
    """The scrobbles of one page (now-playing skipped) and the page count."""
    recent = body.get("recenttracks") if isinstance(body, dict) else None
    if not isinstance(recent, dict):
        raise _BadPayload("'recenttracks' is missing")
    attr = recent.get("@attr")
    if not isinstance(attr, dict):
        raise _BadPayload("'recenttracks.@attr' is missing")
    total_pages = _whole_number(attr.get("totalPages"), "recenttracks.@attr.totalPages")
    tracks = recent.get("track")
    if tracks is None:
        if total_pages and _whole_number(attr.get("total", "0"), "recenttracks.@attr.total"):
            raise _BadPayload("'recenttracks.track' is missing")
        tracks = []
    elif not isinstance(tracks, list):
        tracks = [tracks]  # a single result comes back as an object
    items = []
    for index, track in enumerate(tracks):
        item = _track_item(track, index)
        if item is not None:
            items.append(item)
    return items, total_pages


def _track_item(track: Any, index: int) -> MediaItem | None:
    """One scrobble as a MediaItem; None for the now-playing row."""
    where = f"track[{index}]"
    if not isinstance(track, dict):
        raise _BadPayload(f"{where} is {type(track).__name__}, expected an object")
    attr = track.get("@attr")
    if (isinstance(attr, dict) and attr.get("nowplaying") == "true") or "date" not in track:
        return None
    date = track["date"]
    if not isinstance(date, dict):
        raise _BadPayload(f"{where}.date is {type(date).__name__}, expected an object")
    uts = _whole_number(date.get("uts"), f"{where}.date.uts")
    name = track.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _BadPayload(f"{where}.name is missing or empty")
    artist, artist_mbid = _artist(track.get("artist"), where)
    album = track.get("album") if isinstance(track.get("album"), dict) else {}
    raw: dict[str, Any] = {
        "uts": uts,
        "date_text": _text(date.get("#text")),
        "artist_mbid": artist_mbid,
        "track_mbid": _text(track.get("mbid")),
        "album": _text(album.get("#text")),
        "album_mbid": _text(album.get("mbid")),
    }
    loved = track.get("loved")
    if loved in ("0", "1", 0, 1):
        raw["loved"] = loved in ("1", 1)
    image = _largest_image(track.get("image"))
    if image:
        raw["image"] = image
    try:
        return MediaItem(
            platform=PLATFORM,
            type=MediaType.MUSIC,
            title=name,
            creator=artist,
            consumed_at=datetime.fromtimestamp(uts, UTC),
            url=_text(track.get("url")),
            external_id=f"{uts}|{artist}|{name}",
            raw_metadata=raw,
        )
    except (ValidationError, OverflowError, OSError, ValueError) as exc:
        raise _BadPayload(f"{where} cannot be stored: {exc}") from None


def _artist(value: Any, where: str) -> tuple[str, str | None]:
    """Artist name and mbid; `#text` normally, `name` with extended=1."""
    if isinstance(value, dict):
        name = value.get("#text") or value.get("name")
        mbid = _text(value.get("mbid"))
    else:
        name, mbid = value, None
    if not isinstance(name, str) or not name.strip():
        raise _BadPayload(f"{where}.artist is missing or has no name")
    return name, mbid


def _largest_image(images: Any) -> str | None:
    if isinstance(images, dict):
        images = [images]
    if not isinstance(images, list):
        return None
    best, best_rank = None, -1
    for position, image in enumerate(images):
        if not isinstance(image, dict):
            continue
        url = _text(image.get("#text"))
        rank = _IMAGE_SIZES.get(str(image.get("size")), -1) * 1000 + position
        if url and rank > best_rank:
            best, best_rank = url, rank
    return best


def _text(value: Any) -> str | None:
    """Last.fm's XML-converted JSON uses "" for absent values."""
    return value if isinstance(value, str) and value.strip() else None


def _whole_number(value: Any, field: str) -> int:
    """Numbers come as strings ("1714760282"); JSON integers are accepted too."""
    if type(value) is int and value >= 0:
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if value is None:
        raise _BadPayload(f"'{field}' is missing")
    raise _BadPayload(f"'{field}' is not a whole number: {value!r}")


# --- errors ----------------------------------------------------------------------------


def _own_error(answer: LastfmAnswer, user: str, secret: str) -> PluginError | None:
    """The Last.fm errors only this sync reads (the rest: LastfmClient.common_error)."""
    code, said = answer.code, answer.said

    def error(message: str, kind: ErrorCode = ErrorCode.PERMISSION_DENIED) -> PluginError:
        return PluginError(
            code=kind, message=message, raw=excerpt(answer.response.text, [secret]), details=answer.details
        )

    if code == INVALID_SESSION:
        return error(
            f"the Last.fm session is invalid (error 9: {said}); reconnect Last.fm", ErrorCode.AUTH_EXPIRED
        )
    if code == LOGIN_REQUIRED:
        return error(
            f"Last.fm user {user!r} hides their recent listening (error 17: {said}); make recent "
            "listening public (uncheck 'Hide recent listening information' at "
            "https://www.last.fm/settings/privacy) so it can be read with an API key"
        )
    if code == INVALID_PARAMETERS:
        if answer.status == 404 or "user" in said.lower():
            return error(f"Last.fm has no user named {user!r} (error 6: {said}); check the Last.fm username")
        return error(f"Last.fm rejected the request parameters (error 6: {said})", ErrorCode.INVALID_DATA)
    return None


def _invalid(message: str, body: str, secret: str, status: int) -> PluginError:
    return PluginError(
        code=ErrorCode.INVALID_DATA,
        message=message,
        raw=excerpt(body, [secret]),
        details={"http_status": status},
    )


def _missing_credentials(secret: str, user: str) -> PluginError:
    """A missing key or username is configuration the person must fix, hence
    permission_denied (notify the user, never retry); there are no OAuth scopes."""
    missing = [name for name, value in (("api_key", secret), ("account", user)) if not value]
    what = " and ".join({"api_key": "API key", "account": "Last.fm username"}[m] for m in missing)
    return PluginError(
        code=ErrorCode.PERMISSION_DENIED,
        message=f"Last.fm is not configured: the {what} is missing; enter it in the Last.fm connection",
        details={"missing": missing},
    )


def _bad_cursor(cursor: str, problem: str, secret: str) -> PluginError:
    return PluginError(
        code=ErrorCode.INVALID_DATA,
        message=f"the stored Last.fm cursor cannot be read ({problem}); clear it to sync from the start",
        raw=excerpt(cursor, [secret]),
    )
