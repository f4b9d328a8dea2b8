"""TmdbGenres against a fake TMDB v3 shaped like PLATFORMS.md section 8."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from mca_pipeline.core import (
    Credentials,
    EnrichmentCache,
    EnrichmentFailed,
    EnrichmentSkipped,
    ErrorCode,
    MediaItem,
    MediaType,
    SyncContext,
)
from mca_pipeline.enrich.tmdb import GENRES_KIND, TITLE_KIND, TmdbGenres, normalise_title
from mca_pipeline.plugins.netflix import NetflixPlugin, parse_title

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "tmdb"
KEY = "tmdb-secret-key-123"
BASE = "https://api.themoviedb.org/3"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


@dataclass
class FakeTmdb:
    """Search filters the catalogue by query words and year, like the real API roughly does."""

    movies: list[dict[str, Any]] = field(default_factory=lambda: fixture("movies.json"))
    tv: list[dict[str, Any]] = field(default_factory=lambda: fixture("tv.json"))
    requests: list[httpx.Request] = field(default_factory=list)
    garbage_for: set[str] = field(default_factory=set)
    fail_with: tuple[int, dict[str, str], Any] | None = None

    def handler(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail_with is not None:
            status, headers, body = self.fail_with
            return httpx.Response(status, headers=headers, json=body)
        params = request.url.params
        if params.get("api_key") != KEY and request.headers.get("Authorization") != f"Bearer {KEY}":
            return httpx.Response(401, json=fixture("error_401.json"))
        path = request.url.path.removeprefix("/3")
        if path in ("/genre/movie/list", "/genre/tv/list"):
            return httpx.Response(200, json=fixture(f"genre_{path.split('/')[2]}_list.json"))
        if path.startswith(("/movie/", "/tv/")):
            return self.details(path.strip("/"))
        if path not in ("/search/movie", "/search/tv"):
            return httpx.Response(404, json=fixture("error_404.json"))
        query = params["query"]
        if query in self.garbage_for:
            return httpx.Response(200, text="<html><body>502 Bad Gateway</body></html>")
        movie = path == "/search/movie"
        catalogue = self.movies if movie else self.tv
        names = ("title", "original_title") if movie else ("name", "original_name")
        date_field = "release_date" if movie else "first_air_date"
        year = params.get("year" if movie else "first_air_date_year")
        words = normalise_title(query).split()
        results = [
            r
            for r in catalogue
            if any(all(w in normalise_title(r[n]).split() for w in words) for n in names)
            and (year is None or r[date_field][:4] == year)
        ]
        body = {
            "page": 1,
            "results": results,
            "total_pages": 1 if results else 0,
            "total_results": len(results),
        }
        return httpx.Response(200, json=body)

    def details(self, key: str) -> httpx.Response:
        """A title's details: its search entry with `genres` for `genre_ids`, plus the
        fields of details.json (runtime, episode_run_time...)."""
        kind, _, tmdb_id = key.partition("/")
        catalogue = self.movies if kind == "movie" else self.tv
        found = [r for r in catalogue if str(r["id"]) == tmdb_id]
        extra = fixture("details.json").get(key)
        if not found or extra is None:
            return httpx.Response(404, json=fixture("error_404.json"))
        body = {k: v for k, v in found[0].items() if k != "genre_ids"}
        return httpx.Response(200, json={**body, "genres": [], **extra})

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=BASE, transport=httpx.MockTransport(self.handler))

    def paths(self) -> list[str]:
        return [r.url.path.removeprefix("/3") for r in self.requests]


def watch(title: str, when: datetime, n: int = 0) -> MediaItem:
    return MediaItem(
        platform="netflix",
        type=MediaType.VIDEO,
        title=title,
        consumed_at=when,
        external_id=f"{title}|{when.date().isoformat()}|{n}",
        raw_metadata={"date_precision": "day", **parse_title(title)},
    )


def enricher(fake: FakeTmdb, **kwargs: Any) -> TmdbGenres:
    return TmdbGenres(client=fake.client(), api_key=kwargs.pop("api_key", KEY), **kwargs)


def ctx_with(cache: EnrichmentCache | None = None) -> SyncContext:
    return SyncContext(user_id="alice", cache=cache or EnrichmentCache())


# --- matching ----------------------------------------------------------------------------


def test_best_match_among_movie_and_tv_candidates() -> None:
    fake = FakeTmdb()
    ctx = ctx_with()
    [item] = enricher(fake).enrich_items(ctx, [watch("Night Lines", datetime(2024, 3, 1, tzinfo=UTC))])
    tmdb = item.raw_metadata["tmdb"]
    # Candidates: movie 901234 (exact, 2021), movie 1204455 (exact title, 2019),
    # tv 230017 "Night Lines Live" (fuzzy, 2023): the exact 2021 film wins.
    assert (tmdb["id"], tmdb["media_type"], tmdb["title"], tmdb["year"]) == (
        901234,
        "movie",
        "Night Lines",
        2021,
    )
    # 0.85 * 1.0 (exact title) + 0.15 * (1 - (2024 - 2021) / 20)
    assert tmdb["confidence"] == pytest.approx(0.85 + 0.15 * 0.85, abs=1e-3)
    assert tmdb["genres"] == ["Drama", "Music"]
    assert item.tags == ("drama", "music")
    # Nothing for 2024 with the year filter, so both kinds are asked again without it.
    assert fake.paths() == [
        "/search/movie",
        "/search/tv",
        "/search/movie",
        "/search/tv",
        "/movie/901234",
        "/genre/movie/list",
    ]
    assert fake.requests[0].url.params["year"] == "2024"
    assert fake.requests[1].url.params["first_air_date_year"] == "2024"
    assert "year" not in fake.requests[2].url.params
    assert ctx.cache.calls == 6
    # The film's runtime (102 min) becomes the viewing's length: a simple export has none.
    assert tmdb["runtime_s"] == 6120.0 and item.duration == timedelta(minutes=102)


def test_fuzzy_candidate_confidence_and_threshold() -> None:
    fake = FakeTmdb(movies=[], tv=[t for t in fixture("tv.json") if t["id"] == 230017])
    # Query "Night Lines" only finds "Night Lines Live": ratio 22/27, first aired 2023.
    [item] = enricher(fake).enrich_items(ctx_with(), [watch("Night Lines", datetime(2024, 3, 1, tzinfo=UTC))])
    tmdb = item.raw_metadata["tmdb"]
    assert (tmdb["id"], tmdb["media_type"]) == (230017, "tv")
    assert tmdb["confidence"] == pytest.approx(0.85 * 22 / 27 + 0.15 * 0.95, abs=1e-3)
    assert item.tags == ("reality",)


def test_below_threshold_is_no_match_and_cached_as_none() -> None:
    weak = {**fixture("movies.json")[2], "title": "Glass Orchard Stories of the Valley"}
    weak["original_title"] = weak["title"]
    fake = FakeTmdb(movies=[weak], tv=[])
    ctx = ctx_with()
    item = watch("Glass", datetime(2024, 3, 1, tzinfo=UTC))
    [out] = enricher(fake).enrich_items(ctx, [item])
    # 0.85 * ratio("glass", "glass orchard stories of the valley") + 0.15 * 0.5 < 0.6
    assert out == item
    assert ctx.cache.get(TITLE_KIND, "glass|2024") is None
    assert fake.paths() == ["/search/movie", "/search/tv"] * 2


def test_original_title_matches_exactly_and_accents_are_ignored() -> None:
    fake = FakeTmdb()
    [item] = enricher(fake).enrich_items(ctx_with(), [watch("Les Emotifs", datetime(2024, 3, 1, tzinfo=UTC))])
    assert item.raw_metadata["tmdb"]["id"] == 555123
    assert item.raw_metadata["tmdb"]["confidence"] == 1.0
    assert item.tags == ("comedy",)


def test_episodes_are_looked_up_by_series_once_for_fifty_episodes() -> None:
    fake = FakeTmdb()
    ctx = ctx_with()
    start = datetime(2022, 10, 20, tzinfo=UTC)
    items = [
        watch(f"The Glass Orchard: Season 1: Chapter {n}", start + timedelta(hours=n), n)
        for n in range(1, 51)
    ]
    out = enricher(fake).enrich_items(ctx, items)
    # One search per kind (the year filter already finds the series), its details, one
    # genre list.
    assert fake.paths() == ["/search/movie", "/search/tv", "/tv/215500", "/genre/tv/list"]
    # No episode_run_time (as for many recent series): the last episode's 52 minutes.
    assert all(o.duration == timedelta(minutes=52) for o in out)
    assert fake.requests[0].url.params["query"] == "The Glass Orchard"
    assert {o.raw_metadata["tmdb"]["id"] for o in out} == {215500}
    assert all(o.tags == ("drama", "mystery") for o in out)
    assert out[0].raw_metadata["tmdb"]["media_type"] == "tv"
    assert out[0].raw_metadata["episode_title"] == "Chapter 1"
    assert ctx.cache.get(TITLE_KIND, "the glass orchard|2022")["id"] == 215500
    assert ctx.cache.get(GENRES_KIND, "tv")["18"] == "Drama"


def test_second_run_with_the_same_cache_makes_no_calls() -> None:
    fake = FakeTmdb()
    cache = EnrichmentCache()
    items = [
        watch("Night Lines", datetime(2024, 3, 1, tzinfo=UTC)),
        watch("The Glass Orchard: Season 1: Chapter 2", datetime(2022, 11, 1, tzinfo=UTC)),
        watch("Nothing Like This Exists", datetime(2022, 11, 1, tzinfo=UTC)),
    ]
    first = enricher(fake).enrich_items(ctx_with(cache), items)
    calls = len(fake.requests)
    assert calls == cache.calls > 0
    # A new cache filled from the stored entries, as core does between runs.
    again = EnrichmentCache(cache.new_entries())
    second = enricher(fake).enrich_items(ctx_with(again), items)
    assert second == first
    assert len(fake.requests) == calls
    assert again.calls == 0
    assert first[2] == items[2]


def test_existing_tags_are_kept_and_not_duplicated() -> None:
    fake = FakeTmdb()
    item = watch("Night Lines", datetime(2024, 3, 1, tzinfo=UTC)).model_copy(
        update={"tags": ("music", "live")}
    )
    [out] = enricher(fake).enrich_items(ctx_with(), [item])
    assert out.tags == ("music", "live", "drama")


def test_non_video_items_pass_through_without_a_key() -> None:
    item = MediaItem(
        platform="netflix",
        type=MediaType.MUSIC,
        title="x",
        consumed_at=datetime(2024, 1, 1, tzinfo=UTC),
        external_id="x",
    )
    assert TmdbGenres(client=FakeTmdb().client()).enrich_items(ctx_with(), [item]) == [item]


# --- credentials ---------------------------------------------------------------------------


def test_missing_keys_skip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TMDB_API_KEY", raising=False)
    monkeypatch.delenv("TMDB_READ_TOKEN", raising=False)
    fake = FakeTmdb()
    with pytest.raises(
        EnrichmentSkipped, match="TMDB genres skipped: TMDB_API_KEY or TMDB_READ_TOKEN is not set"
    ):
        TmdbGenres(client=fake.client()).enrich_items(ctx_with(), [watch("Night Lines", datetime.now(UTC))])
    assert fake.requests == []


def test_key_and_read_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TMDB_API_KEY", raising=False)
    monkeypatch.setenv("TMDB_READ_TOKEN", KEY)
    fake = FakeTmdb()
    [item] = TmdbGenres(client=fake.client()).enrich_items(
        ctx_with(), [watch("Night Lines", datetime(2024, 3, 1, tzinfo=UTC))]
    )
    assert item.raw_metadata["tmdb"]["id"] == 901234
    assert all("api_key" not in r.url.params for r in fake.requests)
    assert fake.requests[0].headers["Authorization"] == f"Bearer {KEY}"
    monkeypatch.setenv("TMDB_API_KEY", KEY)
    fake2 = FakeTmdb()
    TmdbGenres(client=fake2.client()).enrich_items(
        ctx_with(), [watch("Night Lines", datetime(2024, 3, 1, tzinfo=UTC))]
    )
    assert fake2.requests[0].url.params["api_key"] == KEY
    assert "Authorization" not in fake2.requests[0].headers


# --- errors ----------------------------------------------------------------------------------


def test_rate_limit_429() -> None:
    fake = FakeTmdb(fail_with=(429, {"Retry-After": "7"}, fixture("error_429.json")))
    with pytest.raises(EnrichmentFailed) as info:
        enricher(fake).enrich_items(ctx_with(), [watch("Night Lines", datetime.now(UTC))])
    error = info.value.error
    assert (error.code, error.after, error.retry) == (ErrorCode.RATE_LIMIT, timedelta(seconds=7), True)
    assert error.details["tmdb_status_code"] == 25


def test_invalid_key_401_is_permission_denied_and_masked() -> None:
    fake = FakeTmdb()
    with pytest.raises(EnrichmentFailed) as info:
        enricher(fake, api_key="wrong-key-456").enrich_items(
            ctx_with(), [watch("Night Lines", datetime.now(UTC))]
        )
    error = info.value.error
    assert error.code == ErrorCode.PERMISSION_DENIED
    assert not error.retry
    assert "Invalid API key" in error.message
    assert "wrong-key-456" not in str(error.model_dump())


def test_server_error_500_is_upstream() -> None:
    fake = FakeTmdb(fail_with=(500, {}, {"status_code": 11, "status_message": "Internal error."}))
    with pytest.raises(EnrichmentFailed) as info:
        enricher(fake).enrich_items(ctx_with(), [watch("Night Lines", datetime.now(UTC))])
    assert info.value.error.code == ErrorCode.UPSTREAM
    assert info.value.error.retry


def test_timeout_is_upstream_without_the_key(caplog: pytest.LogCaptureFixture) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout(f"timed out reading {request.url}", request=request)

    client = httpx.Client(base_url=BASE, transport=httpx.MockTransport(handler))
    with caplog.at_level(logging.DEBUG), pytest.raises(EnrichmentFailed) as info:
        TmdbGenres(client=client, api_key=KEY).enrich_items(
            ctx_with(), [watch("Night Lines", datetime.now(UTC))]
        )
    assert info.value.error.code == ErrorCode.UPSTREAM
    assert KEY not in info.value.error.message
    assert KEY not in caplog.text


def test_garbage_body_for_one_title_leaves_that_item_unchanged() -> None:
    fake = FakeTmdb(garbage_for={"Broken Title"})
    good = watch("Night Lines", datetime(2024, 3, 1, tzinfo=UTC))
    bad = watch("Broken Title", datetime(2024, 3, 1, tzinfo=UTC))
    cache = EnrichmentCache()
    out = enricher(fake).enrich_items(ctx_with(cache), [bad, good])
    assert out[1].raw_metadata["tmdb"]["id"] == 901234
    assert out[0].tags == bad.tags
    assert "not JSON" in out[0].raw_metadata["enrichment_error"]
    assert out[0].model_copy(update={"raw_metadata": bad.raw_metadata}) == bad
    # Not cached: the next run asks again.
    assert cache.get(TITLE_KIND, "broken title|2024") is EnrichmentCache.MISSING


# --- plugin --------------------------------------------------------------------------------


def test_netflix_plugin_enrich_uses_the_injected_tmdb() -> None:
    fake = FakeTmdb()
    plugin = NetflixPlugin(tmdb=enricher(fake))
    [item] = plugin.enrich(
        ctx_with(), Credentials(), [watch("Night Lines", datetime(2024, 3, 1, tzinfo=UTC))]
    )
    assert item.tags == ("drama", "music")


def test_netflix_plugin_default_skips_without_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TMDB_API_KEY", raising=False)
    monkeypatch.delenv("TMDB_READ_TOKEN", raising=False)
    with pytest.raises(EnrichmentSkipped):
        NetflixPlugin().enrich(ctx_with(), Credentials(), [watch("Night Lines", datetime.now(UTC))])


def test_a_length_the_item_has_is_kept_and_unknown_runtimes_stay_unknown() -> None:
    from mca_pipeline.enrich.tmdb import runtime_seconds

    fake = FakeTmdb()
    timed = watch("Night Lines", datetime(2024, 3, 1, tzinfo=UTC)).model_copy(
        update={"duration": timedelta(minutes=99)}
    )
    [kept] = enricher(fake).enrich_items(ctx_with(), [timed])
    assert kept.duration == timedelta(minutes=99) and kept.raw_metadata["tmdb"]["runtime_s"] == 6120.0
    # A series' first positive episode_run_time; 0, null, junk and a day or more are unknown.
    assert runtime_seconds({"episode_run_time": [0, 44, 48]}, "tv") == 2640.0
    for body, kind in (
        ({"runtime": 0}, "movie"),
        ({"runtime": None}, "movie"),
        ({"runtime": "102"}, "movie"),
        ({"runtime": 1440}, "movie"),
        ({"episode_run_time": [], "last_episode_to_air": None}, "tv"),
        ([], "movie"),
    ):
        assert runtime_seconds(body, kind) is None, body


def test_details_that_fail_for_one_title_leave_its_length_unknown() -> None:
    fake = FakeTmdb()
    [item] = enricher(fake).enrich_items(ctx_with(), [watch("Shy Hearts", datetime(2024, 3, 1, tzinfo=UTC))])
    assert item.raw_metadata["tmdb"]["id"] == 555123 and item.duration == timedelta(minutes=97)
    fake = FakeTmdb(movies=[{**fixture("movies.json")[3], "id": 999}])  # no details for 999: 404
    [item] = enricher(fake).enrich_items(ctx_with(), [watch("Shy Hearts", datetime(2024, 3, 1, tzinfo=UTC))])
    assert item.raw_metadata["tmdb"]["id"] == 999
    assert item.raw_metadata["tmdb"]["runtime_s"] is None and item.duration is None
