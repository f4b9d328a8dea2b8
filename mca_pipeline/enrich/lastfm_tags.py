"""Last.fm top tags for music items: `track.getTopTags`, falling back to `artist.getTopTags`.

Shared by every music plugin's `enrich` (Spotify API and export, Last.fm, ListenBrainz).
The API key is the application's, `LASTFM_API_KEY` from the environment; without it the
enrichment is skipped (EnrichmentSkipped: the items stay pending for a later run).

Every lookup goes through `ctx.cache` (PLATFORMS.md 7.2 shapes):

- kind "lastfm:track", key `"<artist>|<track>"` normalised (lower-cased, accents
  stripped, whitespace collapsed): the track's tags, `[]` when the track is unknown;
- kind "lastfm:artist", key the normalised artist: the artist's tags, `[]` when the
  artist is unknown (error 6 with HTTP 200, which track.getTopTags also gives for an
  unknown artist; then the artist is cached as `[]` too and not asked again).

A cached value is the list of kept tags, `[{"name": str, "count": int}, ...]`: those with
`count >= MIN_COUNT`, at most MAX_TAGS, best first. A thousand plays of one track cost one
call (two when the track has no tags and the artist is asked), and a second run with the
same cache makes none.

Failures (PLATFORMS.md 7.3; the HTTP status is unreliable, the body is checked first):

- error 29 or HTTP 429 -> EnrichmentFailed(rate_limit, after=Retry-After or 60 s);
- error 10 / 26 (bad or suspended key) -> EnrichmentFailed(permission_denied);
- error 11 / 16, HTTP 5xx, timeouts, connection errors -> EnrichmentFailed(upstream, retry);
- anything else about one lookup (a body that is not JSON or not the toptags shape,
  another error code, another HTTP status) fails only the items of that lookup: they
  come back unchanged with `raw_metadata["enrichment_error"]`, nothing is cached, and
  the other items go on.

Lookups already made when a batch fails as a whole stay in `ctx.cache`, so the retry
does not repeat them. The key travels in the query string and is never put in a
message; a filter on the `httpx` logger masks it in httpx's request log.
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

import httpx

from mca_pipeline.core import (
    EnrichmentFailed,
    EnrichmentSkipped,
    ErrorCode,
    MediaItem,
    MediaType,
    PluginError,
    SyncContext,
    endpoints,
)
from mca_pipeline.core.http_errors import describe, mask_api_keys_in_httpx_log, redact, retry_after

API_PATH = "/2.0/"
API_KEY_ENV = "LASTFM_API_KEY"

TRACK_KIND = "lastfm:track"
ARTIST_KIND = "lastfm:artist"

#: Tags below this count (0-100, relative to the top tag) are noise ("seen live", typos).
MIN_COUNT = 10
#: Tags kept per track or artist.
MAX_TAGS = 5
#: Wait after a rate limit when Last.fm sends no Retry-After (it usually does not).
RATE_LIMIT_WAIT = timedelta(seconds=60)
#: Characters of a response body kept in PluginError.raw.
RAW_CHARS = 500


_NOT_FOUND = 6
_INVALID_API_KEY = 10
_SERVICE_OFFLINE = 11
_TEMPORARY_ERROR = 16
_SUSPENDED_API_KEY = 26
_RATE_LIMITED = 29


def normalise(text: str) -> str:
    """Cache key form of a name: lower-cased, accents stripped, whitespace collapsed."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())


def track_key(artist: str, track: str) -> str:
    return f"{normalise(artist)}|{normalise(track)}"


class _LookupError(Exception):
    """One lookup failed in a way that concerns only its items (garbage body, odd error)."""


class _ArtistNotFound(Exception):
    """Error 6: Last.fm knows no such artist (HTTP 200)."""


class LastfmTags:
    """Adds Last.fm top tags to music items; see the module docstring for the rules.

    `client` is used as given (tests inject one with a MockTransport); without one, a
    client with `base_url` and a `timeout_s` timeout on every phase is built. `api_key`
    defaults to `LASTFM_API_KEY`, read when items are enriched.
    """

    def __init__(
        self,
        client: httpx.Client | None = None,
        base_url: str | None = None,
        timeout_s: float = 20.0,
        api_key: str | None = None,
    ) -> None:
        base_url = base_url or endpoints.base_url(endpoints.LASTFM_API)
        if client is None:
            client = httpx.Client(base_url=base_url, timeout=httpx.Timeout(timeout_s))
        self._client = client
        self._api_key = api_key
        # An injected client without a base URL still needs an absolute URL.
        self._url = API_PATH if client.base_url.host else base_url.rstrip("/") + API_PATH
        # An injected client is used as given, except that a request never waits forever.
        t = client.timeout
        unbounded = t.connect is None and t.read is None and t.write is None and t.pool is None
        self._timeout: httpx.Timeout | Any = (
            httpx.Timeout(timeout_s) if unbounded else httpx.USE_CLIENT_DEFAULT
        )

    def _key(self) -> str:
        key = self._api_key if self._api_key is not None else os.environ.get(API_KEY_ENV, "")
        return key.strip()

    def enrich_items(self, ctx: SyncContext, items: Iterable[MediaItem]) -> list[MediaItem]:
        """The items with Last.fm tags added to the music ones (others unchanged).

        Raises EnrichmentSkipped without an API key (only when there is a music item to
        look up) and EnrichmentFailed when Last.fm fails as a whole.
        """
        items = list(items)
        if not any(_wanted(item) for item in items):
            return items
        secret = self._key()
        if not secret:
            raise EnrichmentSkipped(f"Last.fm tags skipped: {API_KEY_ENV} is not set")
        out: list[MediaItem] = []
        failed: dict[str, str] = {}  # track key -> reason: one failing lookup is tried once per run
        for item in items:
            if not _wanted(item):
                out.append(item)
                continue
            assert item.creator is not None
            key = track_key(item.creator, item.title)
            try:
                if key in failed:
                    raise _LookupError(failed[key])
                tags, source = self._tags_for(ctx, secret, item.creator, item.title)
            except _LookupError as exc:
                if key not in failed:
                    failed[key] = str(exc)
                    ctx.log.warning("lastfm tags: %s", exc)
                raw = {**item.raw_metadata, "enrichment_error": f"Last.fm tags: {exc}"}
                out.append(item.model_copy(update={"raw_metadata": raw}))
                continue
            out.append(_with_tags(item, tags, source))
        return out

    # --- lookups -----------------------------------------------------------------------

    def _tags_for(
        self, ctx: SyncContext, secret: str, artist: str, title: str
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Kept tags and where they came from ("track", "artist", or None for none)."""
        tkey = track_key(artist, title)
        akey = normalise(artist)
        tags = ctx.cache.get(TRACK_KIND, tkey)
        if tags is ctx.cache.MISSING:
            params = {"method": "track.getTopTags", "artist": artist, "track": title, "autocorrect": 1}
            try:
                tags = self._fetch(ctx, secret, params, f"track {artist!r} - {title!r}")
            except _ArtistNotFound:
                tags = []
                ctx.cache.put(ARTIST_KIND, akey, [])
            ctx.cache.put(TRACK_KIND, tkey, tags)
        if tags:
            return list(tags), "track"
        tags = ctx.cache.get(ARTIST_KIND, akey)
        if tags is ctx.cache.MISSING:
            params = {"method": "artist.getTopTags", "artist": artist, "autocorrect": 1}
            try:
                tags = self._fetch(ctx, secret, params, f"artist {artist!r}")
            except _ArtistNotFound:
                tags = []
            ctx.cache.put(ARTIST_KIND, akey, tags)
        return list(tags), ("artist" if tags else None)

    def _fetch(
        self, ctx: SyncContext, secret: str, params: dict[str, Any], what: str
    ) -> list[dict[str, Any]]:
        """One getTopTags call: the kept tags, or one of the failures of the module doc."""
        query = {**params, "api_key": secret, "format": "json"}
        method = params["method"]
        ctx.cache.count_call()
        try:
            response = self._client.get(self._url, params=query, timeout=self._timeout)
        except httpx.TimeoutException as exc:
            raise EnrichmentFailed(
                PluginError(
                    code=ErrorCode.UPSTREAM,
                    message=f"Last.fm did not answer in time ({method}): {redact(describe(exc), [secret])}",
                    retry=True,
                )
            ) from None
        except httpx.RequestError as exc:
            raise EnrichmentFailed(
                PluginError(
                    code=ErrorCode.UPSTREAM,
                    message=f"cannot reach Last.fm ({method}): {redact(describe(exc), [secret])}",
                    retry=True,
                )
            ) from None
        return _read_response(response, secret, method, what)


# --- responses -------------------------------------------------------------------------


def _read_response(response: httpx.Response, secret: str, method: str, what: str) -> list[dict[str, Any]]:
    status = response.status_code
    try:
        body = json.loads(response.content)
    except ValueError:
        body = None
    if isinstance(body, dict) and "error" in body:
        _raise_lastfm_error(body, response, secret, method, what)
    if status == 429:
        raise EnrichmentFailed(_rate_limit(response, None, secret))
    if status >= 500:
        raise EnrichmentFailed(
            PluginError(
                code=ErrorCode.UPSTREAM,
                message=f"Last.fm answered HTTP {status} ({method})",
                retry=True,
                raw=_excerpt(response.text, secret),
                details={"http_status": status},
            )
        )
    if body is None:
        raise _LookupError(f"{method} for {what}: HTTP {status} with a body that is not JSON")
    if not 200 <= status < 300:
        raise _LookupError(f"{method} for {what}: HTTP {status} without an error code")
    try:
        return _kept_tags(body)
    except ValueError as exc:
        raise _LookupError(f"{method} for {what}: unexpected response: {exc}") from None


def _kept_tags(body: Any) -> list[dict[str, Any]]:
    """`toptags.tag[]` -> the tags with count >= MIN_COUNT, best MAX_TAGS first.

    Raises ValueError for anything but the toptags shape. A single tag may come as an
    object (XML-converted JSON); counts may come as strings.
    """
    toptags = body.get("toptags") if isinstance(body, dict) else None
    if not isinstance(toptags, dict):
        raise ValueError("'toptags' is missing")
    tags = toptags.get("tag", [])
    if isinstance(tags, dict):
        tags = [tags]
    if tags in ("", None):  # XML conversion of an empty list
        tags = []
    if not isinstance(tags, list):
        raise ValueError(f"'toptags.tag' is {type(tags).__name__}, expected a list")
    kept: list[dict[str, Any]] = []
    for index, tag in enumerate(tags):
        if not isinstance(tag, dict):
            raise ValueError(f"toptags.tag[{index}] is {type(tag).__name__}, expected an object")
        name = tag.get("name")
        if not isinstance(name, str):
            raise ValueError(f"toptags.tag[{index}].name is missing")
        count = _count(tag.get("count"), index)
        if name.strip() and count >= MIN_COUNT:
            kept.append({"name": name.strip(), "count": count})
    kept.sort(key=lambda t: -t["count"])  # stable: Last.fm's order among equals
    return kept[:MAX_TAGS]


def _count(value: Any, index: int) -> int:
    if isinstance(value, bool):
        raise ValueError(f"toptags.tag[{index}].count is not a number: {value!r}")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value == value:
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    raise ValueError(f"toptags.tag[{index}].count is not a number: {value!r}")


def _raise_lastfm_error(
    body: dict[str, Any], response: httpx.Response, secret: str, method: str, what: str
) -> None:
    """`{"error": code, "message": ...}`, whatever the HTTP status."""
    status = response.status_code
    code = body.get("error")
    if isinstance(code, str) and code.strip().isdigit():
        code = int(code)
    said = redact(str(body.get("message") or ""), [secret])[:200]
    details: dict[str, Any] = {"lastfm_error": code, "http_status": status}
    raw = _excerpt(response.text, secret)
    if code == _RATE_LIMITED:
        raise EnrichmentFailed(_rate_limit(response, said, secret))
    if code in (_INVALID_API_KEY, _SUSPENDED_API_KEY):
        state = "is suspended" if code == _SUSPENDED_API_KEY else "is not valid"
        raise EnrichmentFailed(
            PluginError(
                code=ErrorCode.PERMISSION_DENIED,
                message=f"the Last.fm API key in {API_KEY_ENV} {state} (error {code}: {said}); set a "
                "working key from https://www.last.fm/api/account/create",
                raw=raw,
                details=details,
            )
        )
    if code in (_SERVICE_OFFLINE, _TEMPORARY_ERROR) or status >= 500:
        raise EnrichmentFailed(
            PluginError(
                code=ErrorCode.UPSTREAM,
                message=f"Last.fm failed temporarily ({method}, error {code}: {said})",
                retry=True,
                raw=raw,
                details=details,
            )
        )
    if code == _NOT_FOUND:
        raise _ArtistNotFound()
    raise _LookupError(f"{method} for {what}: Last.fm error {code!r} (HTTP {status}: {said})")


def _rate_limit(response: httpx.Response, said: str | None, secret: str) -> PluginError:
    after = retry_after(response.headers.get("Retry-After"), RATE_LIMIT_WAIT)
    text = f"Last.fm rate limit exceeded (error 29: {said})" if said else "Last.fm rate limit exceeded"
    return PluginError(
        code=ErrorCode.RATE_LIMIT,
        message=f"{text}; retry in {after.total_seconds():g} s",
        retry=True,
        after=after,
        raw=_excerpt(response.text, secret),
        details={"http_status": response.status_code},
    )


# --- items -----------------------------------------------------------------------------


def _wanted(item: MediaItem) -> bool:
    return item.type == MediaType.MUSIC and bool((item.creator or "").strip()) and bool(item.title.strip())


def _with_tags(item: MediaItem, tags: list[dict[str, Any]], source: str | None) -> MediaItem:
    """Existing tags first, then the new ones lower-cased, without duplicates."""
    merged = list(item.tags)
    seen = {t.casefold() for t in merged}
    for tag in tags:
        name = " ".join(str(tag["name"]).lower().split())
        if name and name.casefold() not in seen:
            seen.add(name.casefold())
            merged.append(name)
    raw = {
        **item.raw_metadata,
        "lastfm_tags": [{"name": t["name"], "count": t["count"]} for t in tags],
        "lastfm_tags_source": source,
    }
    return item.model_copy(update={"tags": tuple(merged), "raw_metadata": raw})


# --- secrets ---------------------------------------------------------------------------


def _excerpt(text: str, secret: str) -> str:
    return redact(text, [secret])[:RAW_CHARS]


# httpx logs request URLs at INFO, keys included; mask them for the whole process.
mask_api_keys_in_httpx_log()
