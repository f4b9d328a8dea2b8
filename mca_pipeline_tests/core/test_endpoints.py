"""Base URLs by configuration (issue 14, item 6): every API plugin and enrichment reaches
the platform its environment variable names, and the real platform without it."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from pydantic import SecretStr

from mca_pipeline.core import Credentials, SyncContext
from mca_pipeline.core.endpoints import EndpointError
from mca_pipeline.enrich.lastfm_tags import LastfmTags
from mca_pipeline.enrich.tmdb import TmdbGenres
from mca_pipeline.enrich.youtube_videos import YoutubeVideoDetails
from mca_pipeline.plugins import LastfmPlugin
from mca_pipeline.plugins.listenbrainz import ListenbrainzPlugin
from mca_pipeline.plugins.spotify import SpotifyPlugin
from mca_pipeline.plugins.youtube import YoutubePlugin
from mca_pipeline_tests.fakes.lastfm_server import LastfmServer


@contextmanager
def recorder() -> Iterator[tuple[str, list[str]]]:
    """A local server that notes each request's path and answers 503."""
    paths: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            paths.append(self.path)
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", paths
    finally:
        server.shutdown()
        server.server_close()


def test_a_lastfm_sync_reaches_the_server_named_by_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    lastfm = LastfmServer()
    lastfm.account("alice_fm", 30)
    with lastfm.serving() as url:
        monkeypatch.setenv("MCA_LASTFM_API_URL", url)
        result = LastfmPlugin().sync(
            SyncContext(user_id="alice"),
            Credentials(api_key=SecretStr("lastfm-key-123"), account="alice_fm"),
            "",
        )
    assert result.err is None and len(result.items) == 30
    assert lastfm.requests == 1


@pytest.mark.parametrize(
    ("variable", "plugin", "creds", "path"),
    [
        (
            "MCA_SPOTIFY_API_URL",
            SpotifyPlugin,
            Credentials(access_token=SecretStr("t")),
            "/v1/me/player/recently-played",
        ),
        (
            "MCA_LISTENBRAINZ_API_URL",
            ListenbrainzPlugin,
            Credentials(account="mv_listener"),
            "/1/user/mv_listener/listens",
        ),
        ("MCA_YOUTUBE_API_URL", YoutubePlugin, Credentials(access_token=SecretStr("t")), "/playlistItems"),
    ],
)
def test_each_api_plugin_syncs_from_its_variables_base_url(
    monkeypatch: pytest.MonkeyPatch, variable: str, plugin: type, creds: Credentials, path: str
) -> None:
    with recorder() as (url, paths):
        monkeypatch.setenv(variable, url + "/base")
        plugin().sync(SyncContext(user_id="alice"), creds, "")
    assert paths and all(p.startswith("/base" + path) for p in paths), paths


def test_oauth_endpoints_follow_their_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCA_SPOTIFY_ACCOUNTS_URL", "http://127.0.0.1:9/spotify/")
    monkeypatch.setenv("MCA_GOOGLE_OAUTH_URL", "http://127.0.0.1:9/consent")
    monkeypatch.setenv("MCA_GOOGLE_TOKEN_URL", "http://127.0.0.1:9/google")
    spotify, youtube = SpotifyPlugin().auth_config, YoutubePlugin().auth_config
    assert spotify is not None and youtube is not None
    assert (spotify.auth_url, spotify.token_url) == (
        "http://127.0.0.1:9/spotify/authorize",
        "http://127.0.0.1:9/spotify/api/token",
    )
    assert (youtube.auth_url, youtube.token_url, youtube.revoke_url) == (
        "http://127.0.0.1:9/consent/o/oauth2/v2/auth",
        "http://127.0.0.1:9/google/token",
        "http://127.0.0.1:9/google/revoke",
    )


def test_enrichments_share_their_platforms_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCA_LASTFM_API_URL", "http://127.0.0.1:9/lastfm")
    monkeypatch.setenv("MCA_YOUTUBE_API_URL", "http://127.0.0.1:9/youtube")
    monkeypatch.setenv("MCA_TMDB_API_URL", "http://127.0.0.1:9/tmdb")
    assert str(LastfmTags(api_key="k")._api.client.base_url) == "http://127.0.0.1:9/lastfm/"
    assert str(YoutubeVideoDetails(api_key="k")._api.client.base_url) == "http://127.0.0.1:9/youtube/"
    assert str(TmdbGenres(api_key="k")._api.client.base_url) == "http://127.0.0.1:9/tmdb/"


def test_without_variables_the_real_platforms_are_used(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MCA_SPOTIFY_API_URL", "MCA_SPOTIFY_ACCOUNTS_URL", "MCA_GOOGLE_TOKEN_URL"):
        monkeypatch.delenv(name, raising=False)
    spotify = SpotifyPlugin()
    assert str(spotify.client.base_url).startswith("https://api.spotify.com")
    assert (
        spotify.auth_config is not None
        and spotify.auth_config.token_url == "https://accounts.spotify.com/api/token"
    )
    youtube = YoutubePlugin().auth_config
    assert youtube is not None and youtube.revoke_url == "https://oauth2.googleapis.com/revoke"


def test_a_variable_that_is_not_a_url_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MCA_LASTFM_API_URL", "ws.audioscrobbler.com")
    with pytest.raises(EndpointError, match="MCA_LASTFM_API_URL"):
        LastfmPlugin()
