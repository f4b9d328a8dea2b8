"""LastfmTags against a fake Last.fm serving track.getTopTags / artist.getTopTags
shaped like the real API (PLATFORMS.md 7.2/7.3)."""

from __future__ import annotations

import logging
from collections import deque
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
    SyncContext,
)
from mca_pipeline.enrich.lastfm_tags import ARTIST_KIND, TRACK_KIND, LastfmTags, normalise, track_key
from mca_pipeline.plugins.lastfm import LastfmPlugin
from mca_pipeline.plugins.listenbrainz import ListenbrainzPlugin
from mca_pipeline.plugins.spotify import SpotifyPlugin
from mca_pipeline.plugins.spotify_export import SpotifyExportPlugin

BASE = "https://ws.audioscrobbler.com"
KEY = "lastfm-app-key-987"
NOT_FOUND = {"error": 6, "message": "The artist you supplied could not be found", "links": []}
RATE_LIMITED = {
    "error": 29,
    "message": "Rate Limit Exceeded - This application has made too many requests in a short period. "
    "If this is your API key, see https://www.last.fm/api/tos#4.4 for information about raising the limit.",
}


def _tag(name: str, count: int) -> dict[str, Any]:
    return {"count": count, "name": name, "url": f"https://www.last.fm/tag/{name.replace(' ', '+')}"}


@dataclass
class FakeLastfmTags:
    """track.getTopTags / artist.getTopTags, keyed by lower-cased names (autocorrect=1)."""

    tracks: dict[tuple[str, str], list[tuple[str, int]]] = field(default_factory=dict)
    artists: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    api_key: str = KEY
    #: Responses for specific (method, artist, track) lookups, served instead of the data.
    special: dict[tuple[str, str, str], httpx.Response] = field(default_factory=dict)
    fail: deque[httpx.Response] = field(default_factory=deque)
    requests: list[httpx.Request] = field(default_factory=list)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=BASE, transport=httpx.MockTransport(self.handle), timeout=5.0)

    def tags(self, **kwargs: Any) -> LastfmTags:
        return LastfmTags(client=self.client(), api_key=kwargs.pop("api_key", KEY), **kwargs)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail:
            return self.fail.popleft()
        p = request.url.params
        assert request.url.path == "/2.0/"
        assert p.get("format") == "json"
        if p.get("api_key") != self.api_key:
            return httpx.Response(
                403,
                json={"error": 10, "message": "Invalid API key - You must be granted a valid key by last.fm"},
            )
        method, artist, track = p.get("method"), p.get("artist", ""), p.get("track", "")
        special = self.special.get((method or "", artist, track))
        if special is not None:
            return special
        if artist.lower() not in self.artists:
            return httpx.Response(200, json=NOT_FOUND)
        if method == "track.getTopTags":
            assert p.get("autocorrect") == "1"
            tags = self.tracks.get((artist.lower(), track.lower()), [])
            attr = {"artist": artist, "track": track}
        elif method == "artist.getTopTags":
            tags = self.artists[artist.lower()]
            attr = {"artist": artist}
        else:
            return httpx.Response(400, json={"error": 3, "message": "Invalid Method"})
        return httpx.Response(200, json={"toptags": {"tag": [_tag(n, c) for n, c in tags], "@attr": attr}})

    def methods(self) -> list[str]:
        return [str(r.url.params.get("method")) for r in self.requests]


def _lastfm() -> FakeLastfmTags:
    return FakeLastfmTags(
        tracks={
            ("marla venn", "lantern street"): [("dream pop", 100), ("indie", 41), ("shoegaze", 9)],
            ("the quiet hours", "paper boats"): [],
        },
        artists={
            "marla venn": [("dream pop", 100), ("female vocalists", 30)],
            "the quiet hours": [("post-rock", 100), ("instrumental", 55), ("seen live", 4)],
        },
    )


def _play(artist: str | None, title: str, n: int = 0, **extra: Any) -> MediaItem:
    return MediaItem(
        platform=extra.pop("platform", "spotify_export"),
        type=extra.pop("type", "music"),
        title=title,
        creator=artist,
        consumed_at=datetime(2024, 3, 1, tzinfo=UTC) + timedelta(minutes=4 * n),
        external_id=f"{n}|{artist}|{title}",
        **extra,
    )


def _ctx(cache: EnrichmentCache | None = None) -> SyncContext:
    return SyncContext(user_id="alice", cache=cache if cache is not None else EnrichmentCache())


# --- tags ------------------------------------------------------------------------------


def test_track_tags_are_added_with_counts_at_least_ten_best_first() -> None:
    fake = _lastfm()
    [item] = fake.tags().enrich_items(_ctx(), [_play("Marla Venn", "Lantern Street", tags=("Night",))])

    assert item.tags == ("Night", "dream pop", "indie")  # shoegaze (9) is below the threshold
    assert item.raw_metadata["lastfm_tags"] == [
        {"name": "dream pop", "count": 100},
        {"name": "indie", "count": 41},
    ]
    assert item.raw_metadata["lastfm_tags_source"] == "track"
    assert fake.methods() == ["track.getTopTags"]
    params = fake.requests[0].url.params
    assert (params["artist"], params["track"], params["autocorrect"]) == ("Marla Venn", "Lantern Street", "1")


def test_a_track_without_tags_falls_back_to_the_artist() -> None:
    fake = _lastfm()
    [item] = fake.tags().enrich_items(_ctx(), [_play("The Quiet Hours", "Paper Boats")])

    assert item.tags == ("post-rock", "instrumental")
    assert item.raw_metadata["lastfm_tags_source"] == "artist"
    assert fake.methods() == ["track.getTopTags", "artist.getTopTags"]


def test_an_unknown_track_of_a_known_artist_gets_the_artist_tags() -> None:
    fake = _lastfm()
    [item] = fake.tags().enrich_items(_ctx(), [_play("Marla Venn", "Never Released")])
    assert item.tags == ("dream pop", "female vocalists")


def test_an_unknown_artist_error_6_with_http_200_gives_no_tags_and_is_cached() -> None:
    fake = _lastfm()
    cache = EnrichmentCache()
    items = [_play("Nobody Known", "Some Song", n) for n in range(3)]
    out = fake.tags().enrich_items(_ctx(cache), items)

    assert [i.tags for i in out] == [(), (), ()]
    assert all(i.raw_metadata["lastfm_tags"] == [] for i in out)
    assert all("enrichment_error" not in i.raw_metadata for i in out)
    assert fake.methods() == ["track.getTopTags"]  # error 6 tells the artist is unknown too
    assert cache.get(TRACK_KIND, "nobody known|some song") == []
    assert cache.get(ARTIST_KIND, "nobody known") == []


def test_tags_merge_with_existing_ones_lower_cased_without_duplicates() -> None:
    fake = FakeLastfmTags(
        tracks={("a", "b"): [("Dream Pop", 100), ("INDIE", 50), ("dream  pop", 40)]}, artists={"a": []}
    )
    [item] = fake.tags().enrich_items(_ctx(), [_play("A", "B", tags=("indie", "mine"))])
    assert item.tags == ("indie", "mine", "dream pop")


def test_at_most_five_tags_are_kept() -> None:
    many = [(f"tag {i}", 100 - i) for i in range(8)]
    fake = FakeLastfmTags(tracks={("a", "b"): many}, artists={"a": []})
    [item] = fake.tags().enrich_items(_ctx(), [_play("A", "B")])
    assert item.tags == tuple(f"tag {i}" for i in range(5))


def test_keys_are_normalised() -> None:
    assert normalise("  Beyoncé   Knowles ") == "beyonce knowles"
    assert track_key("Sigur Rós", "Hoppípolla") == "sigur ros|hoppipolla"


# --- cache -----------------------------------------------------------------------------


def test_a_thousand_plays_of_one_track_cost_one_call_and_a_rerun_none() -> None:
    fake = _lastfm()
    cache = EnrichmentCache()
    tags = fake.tags()
    spellings = ["Marla Venn", "marla  venn", "MARLA VENN"]
    items = [_play(spellings[n % 3], "Lantern Street", n) for n in range(1000)]

    out = tags.enrich_items(_ctx(cache), items)
    assert len(fake.requests) == 1
    assert cache.calls == 1
    assert all(i.tags == ("dream pop", "indie") for i in out)

    again = tags.enrich_items(_ctx(cache), items)
    assert len(fake.requests) == 1  # no new calls
    assert again == out


def test_a_second_run_with_the_cache_entries_makes_no_calls() -> None:
    fake = _lastfm()
    first = _ctx()
    items = [_play("The Quiet Hours", "Paper Boats"), _play("Marla Venn", "Lantern Street", 1)]
    out = fake.tags().enrich_items(first, items)
    assert first.cache.calls == 3

    # As core does: a new batch, its cache filled from what the warehouse stored.
    fresh = _lastfm()
    second = _ctx(EnrichmentCache(first.cache.new_entries()))
    assert fresh.tags().enrich_items(second, items) == out
    assert fresh.requests == []
    assert second.cache.calls == 0


def test_artist_lookups_are_shared_between_tracks() -> None:
    fake = _lastfm()
    items = [_play("The Quiet Hours", f"Untitled {n}", n) for n in range(5)]
    fake.tags().enrich_items(_ctx(), items)
    assert fake.methods().count("artist.getTopTags") == 1


# --- skip and failures -----------------------------------------------------------------


def test_no_api_key_skips(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LASTFM_API_KEY", raising=False)
    fake = _lastfm()
    tags = LastfmTags(client=fake.client())
    with pytest.raises(EnrichmentSkipped, match=r"^Last\.fm tags skipped: LASTFM_API_KEY is not set$"):
        tags.enrich_items(_ctx(), [_play("Marla Venn", "Lantern Street")])
    assert fake.requests == []


def test_the_api_key_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LASTFM_API_KEY", KEY)
    fake = _lastfm()
    [item] = LastfmTags(client=fake.client()).enrich_items(_ctx(), [_play("Marla Venn", "Lantern Street")])
    assert item.tags == ("dream pop", "indie")


def test_http_429_is_a_rate_limit_with_retry_after() -> None:
    fake = _lastfm()
    fake.fail.append(httpx.Response(429, json=RATE_LIMITED, headers={"Retry-After": "17"}))
    with pytest.raises(EnrichmentFailed) as failed:
        fake.tags().enrich_items(_ctx(), [_play("Marla Venn", "Lantern Street")])
    error = failed.value.error
    assert error.code == ErrorCode.RATE_LIMIT
    assert error.retry
    assert error.after == timedelta(seconds=17)


def test_error_29_without_retry_after_waits_sixty_seconds() -> None:
    fake = _lastfm()
    fake.fail.append(httpx.Response(200, json=RATE_LIMITED))
    with pytest.raises(EnrichmentFailed) as failed:
        fake.tags().enrich_items(_ctx(), [_play("Marla Venn", "Lantern Street")])
    assert failed.value.error.code == ErrorCode.RATE_LIMIT
    assert failed.value.error.after == timedelta(seconds=60)


def test_lookups_made_before_a_rate_limit_stay_cached() -> None:
    fake = _lastfm()
    cache = EnrichmentCache()
    fake.special[("track.getTopTags", "The Quiet Hours", "Paper Boats")] = httpx.Response(
        429, json=RATE_LIMITED
    )
    items = [_play("Marla Venn", "Lantern Street"), _play("The Quiet Hours", "Paper Boats", 1)]
    with pytest.raises(EnrichmentFailed):
        fake.tags().enrich_items(_ctx(cache), items)
    assert cache.new_entries() == {
        (TRACK_KIND, "marla venn|lantern street"): [
            {"name": "dream pop", "count": 100},
            {"name": "indie", "count": 41},
        ]
    }


def test_a_bad_key_is_permission_denied_without_the_key_in_the_message() -> None:
    fake = _lastfm()
    with pytest.raises(EnrichmentFailed) as failed:
        fake.tags(api_key="wrong-key-555").enrich_items(_ctx(), [_play("Marla Venn", "Lantern Street")])
    error = failed.value.error
    assert error.code == ErrorCode.PERMISSION_DENIED
    assert "LASTFM_API_KEY" in error.message
    assert "wrong-key-555" not in error.model_dump_json()


def test_a_suspended_key_is_permission_denied() -> None:
    fake = _lastfm()
    fake.fail.append(httpx.Response(200, json={"error": 26, "message": "Suspended API key"}))
    with pytest.raises(EnrichmentFailed) as failed:
        fake.tags().enrich_items(_ctx(), [_play("Marla Venn", "Lantern Street")])
    assert failed.value.error.code == ErrorCode.PERMISSION_DENIED


@pytest.mark.parametrize(
    "response",
    [
        httpx.Response(200, json={"error": 11, "message": "Service Offline"}),
        httpx.Response(
            503, json={"error": 16, "message": "There was a temporary error processing your request."}
        ),
        httpx.Response(502, text="<html>Bad Gateway</html>"),
    ],
    ids=["error-11", "error-16", "http-502"],
)
def test_outages_are_upstream_and_retried(response: httpx.Response) -> None:
    fake = _lastfm()
    fake.fail.append(response)
    with pytest.raises(EnrichmentFailed) as failed:
        fake.tags().enrich_items(_ctx(), [_play("Marla Venn", "Lantern Street")])
    assert failed.value.error.code == ErrorCode.UPSTREAM
    assert failed.value.error.retry


def test_a_timeout_is_upstream_without_the_key() -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout(f"timed out reading {request.url}", request=request)

    client = httpx.Client(base_url=BASE, transport=httpx.MockTransport(timeout), timeout=5.0)
    with pytest.raises(EnrichmentFailed) as failed:
        LastfmTags(client=client, api_key=KEY).enrich_items(_ctx(), [_play("Marla Venn", "Lantern Street")])
    assert failed.value.error.code == ErrorCode.UPSTREAM
    assert failed.value.error.retry
    assert KEY not in failed.value.error.message


@pytest.mark.parametrize(
    "garbage",
    [
        httpx.Response(200, text="<lfm status='ok'><toptags"),
        httpx.Response(200, json={"similartracks": {}}),
        httpx.Response(200, json={"toptags": {"tag": [{"name": "indie", "count": "lots"}]}}),
    ],
    ids=["not-json", "other-shape", "bad-count"],
)
def test_a_garbage_body_for_one_item_does_not_fail_the_others(garbage: httpx.Response) -> None:
    fake = _lastfm()
    cache = EnrichmentCache()
    fake.special[("track.getTopTags", "Marla Venn", "Broken Song")] = garbage
    items = [
        _play("Marla Venn", "Lantern Street", 0),
        _play("Marla Venn", "Broken Song", 1, raw_metadata={"album": "Night Lines"}),
        _play("Marla Venn", "Broken Song", 2),
        _play("The Quiet Hours", "Paper Boats", 3),
    ]
    out = fake.tags().enrich_items(_ctx(cache), items)

    assert out[0].tags == ("dream pop", "indie")
    assert out[3].tags == ("post-rock", "instrumental")
    for broken, original in zip(out[1:3], items[1:3], strict=True):
        assert broken.tags == ()
        assert "track.getTopTags" in broken.raw_metadata["enrichment_error"]
        assert "lastfm_tags" not in broken.raw_metadata
        assert broken.model_copy(update={"raw_metadata": original.raw_metadata}) == original
    assert out[1].raw_metadata["album"] == "Night Lines"
    assert fake.methods().count("track.getTopTags") == 3  # the broken track is asked once per run
    assert (TRACK_KIND, "marla venn|broken song") not in cache.new_entries()  # tried again next run


def test_non_music_items_and_music_without_a_creator_pass_unchanged() -> None:
    fake = _lastfm()
    video = _play("Some Channel", "A Video", platform="youtube", type="video")
    nameless = _play(None, "Unknown Artist Track", 1)
    music = _play("Marla Venn", "Lantern Street", 2)
    out = fake.tags().enrich_items(_ctx(), [video, nameless, music])
    assert out[0] is video
    assert out[1] is nameless
    assert out[2].tags == ("dream pop", "indie")
    assert len(fake.requests) == 1


def test_a_batch_without_music_needs_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LASTFM_API_KEY", raising=False)
    video = _play("Some Channel", "A Video", platform="youtube", type="video")
    assert LastfmTags(client=_lastfm().client()).enrich_items(_ctx(), [video]) == [video]


def test_the_key_is_masked_in_the_httpx_log(caplog: pytest.LogCaptureFixture) -> None:
    fake = _lastfm()
    with caplog.at_level(logging.INFO, logger="httpx"):
        fake.tags().enrich_items(_ctx(), [_play("Marla Venn", "Lantern Street")])
    assert KEY not in caplog.text


# --- plugins ---------------------------------------------------------------------------


def test_spotify_export_plugin_enriches_end_to_end(tmp_path: Path) -> None:
    export = tmp_path / "Streaming_History_Audio_2024.json"
    export.write_text(
        '[{"ts": "2024-05-03T18:18:02Z", "ms_played": 215000, '
        '"master_metadata_track_name": "Lantern Street", "master_metadata_album_artist_name": "Marla Venn", '
        '"master_metadata_album_album_name": "Night Lines", "spotify_track_uri": "spotify:track:0aB1cD2eF3gH4iJ5kL6mN7", '
        '"episode_name": null, "reason_start": "trackdone", "reason_end": "trackdone", "shuffle": false, '
        '"skipped": false, "offline": false, "platform": "android", "conn_country": "DE", '
        '"ip_addr": "192.0.2.1", "incognito_mode": false}]',
        encoding="utf-8",
    )
    fake = _lastfm()
    plugin = SpotifyExportPlugin(tags=fake.tags())
    ctx, creds = _ctx(), Credentials(file=export)
    result = plugin.sync(ctx, creds, "")
    assert result.err is None and len(result.items) == 1

    [item] = plugin.enrich(ctx, creds, result.items)
    assert item.tags == ("dream pop", "indie")
    assert item.external_id == result.items[0].external_id
    assert ctx.cache.calls == 1


@pytest.mark.parametrize(
    "make",
    [
        lambda tags: SpotifyExportPlugin(tags=tags),
        lambda tags: SpotifyPlugin(tags=tags),
        lambda tags: LastfmPlugin(tags=tags),
        lambda tags: ListenbrainzPlugin(tags=tags),
    ],
    ids=["spotify_export", "spotify", "lastfm", "listenbrainz"],
)
def test_every_music_plugin_uses_the_tagger(make: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _lastfm()
    plugin = make(fake.tags())
    [item] = plugin.enrich(_ctx(), Credentials(), [_play("Marla Venn", "Lantern Street")])
    assert item.tags == ("dream pop", "indie")

    monkeypatch.delenv("LASTFM_API_KEY", raising=False)
    default = make(None)
    with pytest.raises(EnrichmentSkipped, match="LASTFM_API_KEY"):
        default.enrich(_ctx(), Credentials(), [_play("Marla Venn", "Lantern Street")])
