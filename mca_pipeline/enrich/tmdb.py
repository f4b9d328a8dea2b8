"""TMDB genres and ids for Netflix titles (PLATFORMS.md section 8).

For each video item the title looked up is the series of an episode
(`raw_metadata["series"]`, set by the Netflix plugin) or else the title itself; the year
is the year it was watched. Both `/search/movie` and `/search/tv` are asked, first with
the year (`year=`, `first_air_date_year=`) and, when that gives no acceptable candidate,
without it. The best candidate wins:

- ranking: for an episode, tv results before movie results; then an exact match of the
  normalised title (`title`/`name` or `original_title`/`original_name`) before a fuzzy
  one; then the confidence; then TMDB's popularity;
- confidence = 0.85 * title score + 0.15 * year score, rounded to 3 places. The title
  score is 1.0 for an exact normalised match, else the best `difflib` ratio of the two
  names. The year score compares the release (or first-air) year `r` with the watch
  year `w`: 0.5 when either is unknown, 0.0 when `r > w + 1` (released after it was
  watched), else `max(0, 1 - (w - r) / 20)` (the same year 1.0, ten years before 0.5);
- a best candidate below 0.6 is no match.

Genre ids become names through `/genre/movie/list` and `/genre/tv/list`. The match's
length comes from its details (`/movie/{id}`: `runtime`; `/tv/{id}`: the first positive
`episode_run_time`, else `last_episode_to_air.runtime`; minutes, 0 or null = unknown):
an item without a length gets it as `duration`, so the metrics can estimate the time of
a viewing that came without one (Netflix's simple export). A details call that fails for
one title only leaves the length unknown. Lookups are cached in `ctx.cache`: kind
"tmdb:title" keyed by `<normalised title>|<year>` (the match with its length, without
genre names, or None), kind "tmdb:genres" keyed "movie"/"tv" ({id: name}). So fifty
episodes of one series cost one lookup, and a re-run costs no call.

Errors: 429 (status_code 25) is rate_limit with Retry-After; 401 (status_code 7) is
permission_denied; 5xx, timeouts and network errors are upstream: each raises
EnrichmentFailed for the whole batch. A response for one title that is not the search
shape leaves that title's items unchanged with `raw_metadata["enrichment_error"]`.
The API key travels as `api_key=` and is masked in messages and in httpx's request log.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import unicodedata
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from mca_pipeline.clients.http import PlatformHttp, excerpt, redact
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

TITLE_KIND = "tmdb:title"
GENRES_KIND = "tmdb:genres"
MIN_CONFIDENCE = 0.6
#: Wait after a 429 without a readable Retry-After.
RATE_LIMIT_WAIT = timedelta(seconds=10)
SKIP_MESSAGE = "TMDB genres skipped: TMDB_API_KEY or TMDB_READ_TOKEN is not set"

_KINDS = ("movie", "tv")
_NOT_WORD = re.compile(r"[^\w\s]")
_SPACES = re.compile(r"\s+")
_TITLE_WEIGHT = 0.85
_YEAR_WEIGHT = 0.15

# TMDB status codes (PLATFORMS.md 8.3).
_INVALID_KEY = 7
_RATE_LIMITED = 25


class _ItemError(Exception):
    """A lookup that failed for one title only (garbage body, odd 4xx)."""


def normalise_title(title: str) -> str:
    """Case-folded, accents and punctuation removed, `&` as `and`, spaces collapsed."""
    text = unicodedata.normalize("NFKD", title)
    text = "".join(c for c in text if not unicodedata.combining(c)).casefold()
    text = text.replace("&", " and ")
    text = _NOT_WORD.sub(" ", text).replace("_", " ")
    return _SPACES.sub(" ", text).strip()


def lookup_title(item: MediaItem) -> str:
    """The series for an episode, else the title."""
    series = item.raw_metadata.get("series")
    return series if isinstance(series, str) and series.strip() else item.title


@dataclass(frozen=True)
class _Candidate:
    kind: str
    id: int
    title: str
    year: int | None
    genre_ids: list[int]
    exact: bool
    confidence: float
    popularity: float


class TmdbGenres:
    """Looks Netflix titles up on TMDB and adds their genres as tags."""

    name = "tmdb_genres"

    def __init__(
        self,
        client: httpx.Client | None = None,
        base_url: str | None = None,
        timeout_s: float = 20.0,
        api_key: str | None = None,
        read_token: str | None = None,
    ) -> None:
        self._api = PlatformHttp(
            "TMDB", base_url or endpoints.base_url(endpoints.TMDB_API), client, timeout_s
        )
        self._api_key = api_key
        self._read_token = read_token

    # --- public -----------------------------------------------------------------------

    def enrich_items(self, ctx: SyncContext, items: list[MediaItem]) -> list[MediaItem]:
        """Items with TMDB genres as tags and `raw_metadata["tmdb"]`; others unchanged.

        Raises EnrichmentSkipped without credentials (only when some item needs a lookup)
        and EnrichmentFailed when TMDB fails as a whole.
        """
        wanted = [i for i, item in enumerate(items) if item.type == MediaType.VIDEO]
        if not wanted:
            return list(items)
        api_key = self._api_key or os.environ.get("TMDB_API_KEY") or ""
        read_token = self._read_token or os.environ.get("TMDB_READ_TOKEN") or ""
        if not api_key and not read_token:
            raise EnrichmentSkipped(SKIP_MESSAGE)
        session = _Session(self, ctx, api_key, read_token)
        out = list(items)
        matches: dict[str, dict[str, Any] | _ItemError | None] = {}
        for index in wanted:
            item = items[index]
            title = lookup_title(item)
            year = item.consumed_at.year if item.consumed_at else None
            key = f"{normalise_title(title)}|{year if year is not None else ''}"
            if key not in matches:
                matches[key] = session.match(title, year, key, episode="series" in item.raw_metadata)
            found = matches[key]
            if isinstance(found, _ItemError):
                out[index] = _with_error(item, str(found))
            elif found is not None:
                try:
                    genres = session.genre_names(found["media_type"], found.get("genre_ids") or [])
                except _ItemError as exc:
                    out[index] = _with_error(item, str(exc))
                    continue
                out[index] = _with_match(item, found, genres)
        return out


class _Session:
    """One `enrich_items` call: credentials, cache and the requests."""

    def __init__(self, owner: TmdbGenres, ctx: SyncContext, api_key: str, read_token: str) -> None:
        self.ctx = ctx
        self.api = owner._api
        self.api_key = api_key
        self.read_token = read_token
        self.secrets = [s for s in (api_key, read_token) if s]

    # --- lookups ----------------------------------------------------------------------

    def match(
        self, title: str, year: int | None, key: str, *, episode: bool
    ) -> dict[str, Any] | _ItemError | None:
        cached = self.ctx.cache.get(TITLE_KIND, key)
        if cached is not self.ctx.cache.MISSING:
            return cached
        try:
            best = self._search(title, year, episode)
        except _ItemError as exc:
            self.ctx.log.warning("tmdb: lookup of %r failed: %s", title, exc)
            return exc
        value = None
        if best is not None:
            value = {
                "id": best.id,
                "media_type": best.kind,
                "title": best.title,
                "year": best.year,
                "confidence": best.confidence,
                "genre_ids": best.genre_ids,
                "runtime_s": self._runtime(best.kind, best.id),
            }
        self.ctx.cache.put(TITLE_KIND, key, value)
        return value

    def _search(self, title: str, year: int | None, episode: bool) -> _Candidate | None:
        query = normalise_title(title)
        passes: list[int | None] = [year, None] if year is not None else [None]
        for year_filter in passes:
            candidates: list[_Candidate] = []
            for kind in _KINDS:
                params: dict[str, Any] = {"query": title}
                if year_filter is not None:
                    params["year" if kind == "movie" else "first_air_date_year"] = year_filter
                body = self._get(f"/search/{kind}", params, what=f"search/{kind} for {title!r}")
                candidates += _candidates(body, kind, query, year, f"search/{kind} for {title!r}")
            acceptable = [c for c in candidates if c.confidence >= MIN_CONFIDENCE]
            if acceptable:
                preferred = "tv" if episode else None
                return max(
                    acceptable, key=lambda c: (c.kind == preferred, c.exact, c.confidence, c.popularity)
                )
        return None

    def _runtime(self, kind: str, tmdb_id: int) -> float | None:
        """Seconds one viewing of the match lasts (a film, or an episode of the series)."""
        what = f"{kind}/{tmdb_id} details"
        try:
            body = self._get(f"/{kind}/{tmdb_id}", {}, what=what)
        except _ItemError as exc:
            self.ctx.log.warning("tmdb: %s failed, its length stays unknown: %s", what, exc)
            return None
        return runtime_seconds(body, kind)

    def genre_names(self, kind: str, ids: list[int]) -> list[str]:
        table = self.ctx.cache.get(GENRES_KIND, kind)
        if table is self.ctx.cache.MISSING:
            body = self._get(f"/genre/{kind}/list", {}, what=f"genre/{kind}/list")
            table = _genre_table(body, kind)
            self.ctx.cache.put(GENRES_KIND, kind, table)
        return [table[str(i)] for i in ids if str(i) in table]

    # --- requests ---------------------------------------------------------------------

    def _get(self, path: str, params: dict[str, Any], *, what: str) -> Any:
        headers = {"Accept": "application/json"}
        if self.api_key:
            params = {**params, "api_key": self.api_key}
        else:
            headers["Authorization"] = f"Bearer {self.read_token}"
        self.ctx.cache.count_call()
        response = self.api.get(
            path.lstrip("/"), what=what, secrets=self.secrets, params=params, headers=headers
        )
        return self._read(response, what)

    def _read(self, response: httpx.Response, what: str) -> Any:
        status = response.status_code
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        code = body.get("status_code") if isinstance(body, dict) else None
        said = redact(str(body.get("status_message") or ""), self.secrets) if isinstance(body, dict) else ""
        raw = excerpt(response.text, self.secrets)
        details = {"tmdb_status_code": code}
        if code == _RATE_LIMITED:
            raise EnrichmentFailed(
                self.api.rate_limited(
                    response, what, default_wait=RATE_LIMIT_WAIT, secrets=self.secrets, details=details
                )
            )
        error = self.api.common_error(
            response, what, default_wait=RATE_LIMIT_WAIT, secrets=self.secrets, details=details
        )
        if error is not None:
            raise EnrichmentFailed(error)
        if status == 401 or code == _INVALID_KEY:
            raise EnrichmentFailed(
                PluginError(
                    code=ErrorCode.PERMISSION_DENIED,
                    message=f"TMDB rejected the credentials ({what}: {said or 'HTTP ' + str(status)}); set a "
                    "valid TMDB_API_KEY or TMDB_READ_TOKEN",
                    raw=raw,
                    details={"http_status": status, **details},
                )
            )
        if not 200 <= status < 300:
            raise _ItemError(f"TMDB answered HTTP {status} ({what}): {said or raw[:100]}")
        if body is None:
            raise _ItemError(f"TMDB answered {what} with a body that is not JSON: {raw[:100]!r}")
        return body


# --- payloads --------------------------------------------------------------------------


def _candidates(body: Any, kind: str, query: str, year: int | None, what: str) -> list[_Candidate]:
    results = body.get("results") if isinstance(body, dict) else None
    if not isinstance(results, list):
        raise _ItemError(f"TMDB {what}: expected an object with a 'results' list")
    title_field, original_field, date_field = (
        ("title", "original_title", "release_date")
        if kind == "movie"
        else ("name", "original_name", "first_air_date")
    )
    found = []
    for result in results:
        if not isinstance(result, dict) or type(result.get("id")) is not int:
            continue
        names = [
            n
            for n in (result.get(title_field), result.get(original_field))
            if isinstance(n, str) and n.strip()
        ]
        if not names:
            continue
        normalised = [normalise_title(n) for n in names]
        exact = query in normalised
        title_score = (
            1.0 if exact else max(difflib.SequenceMatcher(None, query, n).ratio() for n in normalised)
        )
        released = _year_of(result.get(date_field))
        confidence = round(_TITLE_WEIGHT * title_score + _YEAR_WEIGHT * year_score(released, year), 3)
        genre_ids = result.get("genre_ids")
        popularity = result.get("popularity")
        found.append(
            _Candidate(
                kind=kind,
                id=result["id"],
                title=names[0],
                year=released,
                genre_ids=[g for g in genre_ids if type(g) is int] if isinstance(genre_ids, list) else [],
                exact=exact,
                confidence=confidence,
                popularity=float(popularity) if isinstance(popularity, int | float) else 0.0,
            )
        )
    return found


def year_score(released: int | None, watched: int | None) -> float:
    """How well a release year fits the year the title was watched (see module doc)."""
    if released is None or watched is None:
        return 0.5
    if released > watched + 1:
        return 0.0
    return max(0.0, 1.0 - max(0, watched - released) / 20)


def _year_of(value: Any) -> int | None:
    if isinstance(value, str) and len(value) >= 4 and value[:4].isdigit():
        return int(value[:4])
    return None


def runtime_seconds(body: Any, kind: str) -> float | None:
    """The length in a details body: a film's `runtime`, a series' first positive
    `episode_run_time` else its last episode's `runtime` (minutes); None when unknown."""
    if not isinstance(body, dict):
        return None
    if kind == "movie":
        minutes: Any = body.get("runtime")
    else:
        times = body.get("episode_run_time")
        listed = [t for t in times if type(t) is int and t > 0] if isinstance(times, list) else []
        last = body.get("last_episode_to_air")
        minutes = listed[0] if listed else last.get("runtime") if isinstance(last, dict) else None
    if type(minutes) is not int or not 0 < minutes < 24 * 60:
        return None
    return float(minutes * 60)


def _genre_table(body: Any, kind: str) -> dict[str, str]:
    genres = body.get("genres") if isinstance(body, dict) else None
    if not isinstance(genres, list):
        raise _ItemError(f"TMDB genre/{kind}/list: expected an object with a 'genres' list")
    return {
        str(g["id"]): g["name"]
        for g in genres
        if isinstance(g, dict) and type(g.get("id")) is int and isinstance(g.get("name"), str)
    }


def _with_match(item: MediaItem, match: dict[str, Any], genres: list[str]) -> MediaItem:
    tags = tuple(dict.fromkeys([*item.tags, *(g.lower() for g in genres)]))
    runtime = match.get("runtime_s")
    tmdb = {
        "id": match["id"],
        "media_type": match["media_type"],
        "title": match["title"],
        "year": match["year"],
        "confidence": match["confidence"],
        "genres": genres,
        "runtime_s": runtime,
    }
    update: dict[str, Any] = {"tags": tags, "raw_metadata": {**item.raw_metadata, "tmdb": tmdb}}
    if item.duration is None and isinstance(runtime, int | float) and runtime > 0:
        update["duration"] = timedelta(seconds=runtime)
    return item.model_copy(update=update)


def _with_error(item: MediaItem, reason: str) -> MediaItem:
    return item.model_copy(
        update={"raw_metadata": {**item.raw_metadata, "enrichment_error": f"tmdb: {reason}"}}
    )


__all__ = ["GENRES_KIND", "MIN_CONFIDENCE", "TITLE_KIND", "TmdbGenres", "normalise_title"]
