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

import os
import unicodedata
from collections.abc import Iterable
from typing import Any

import httpx

from mca_pipeline.clients.lastfm import INVALID_PARAMETERS, LastfmAnswer, LastfmClient
from mca_pipeline.core import (
    EnrichmentFailed,
    EnrichmentSkipped,
    MediaItem,
    MediaType,
    SyncContext,
)

API_KEY_ENV = "LASTFM_API_KEY"

TRACK_KIND = "lastfm:track"
ARTIST_KIND = "lastfm:artist"

#: Tags below this count (0-100, relative to the top tag) are noise ("seen live", typos).
MIN_COUNT = 10
#: Tags kept per track or artist.
MAX_TAGS = 5


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
        self._api = LastfmClient(client, base_url, timeout_s)
        self._api_key = api_key

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
        ctx.cache.count_call()
        method = params["method"]
        answer = self._api.call(params, secret, method)
        if answer.code == INVALID_PARAMETERS:
            raise _ArtistNotFound()
        error = self._api.common_error(answer, secret, method, f"set {API_KEY_ENV} to a working key")
        if error is not None:
            raise EnrichmentFailed(error)
        return _read_tags(answer, method, what)


# --- responses -------------------------------------------------------------------------


def _read_tags(answer: LastfmAnswer, method: str, what: str) -> list[dict[str, Any]]:
    """The kept tags of a getTopTags answer; _LookupError for an answer about this one
    lookup only (another error code, another status, not the toptags shape)."""
    status = answer.status
    if answer.code is not None:
        raise _LookupError(
            f"{method} for {what}: Last.fm error {answer.code!r} (HTTP {status}: {answer.said})"
        )
    if answer.body is None:
        raise _LookupError(f"{method} for {what}: HTTP {status} with a body that is not JSON")
    if not 200 <= status < 300:
        raise _LookupError(f"{method} for {what}: HTTP {status} without an error code")
    try:
        return _kept_tags(answer.body)
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
