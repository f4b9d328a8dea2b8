"""Disconnecting revokes the tokens where the platform can (RFC 7009) and always forgets
them here: Google's revocation endpoint gets the refresh token, Spotify has none, and a
revocation endpoint that is down does not keep the tokens stored."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import pytest
from cryptography.fernet import Fernet

from mca_pipeline.auth import Revocation, Vault, VaultCredentialStore, disconnect
from mca_pipeline.core import Credentials, SourcePlugin
from mca_pipeline.plugins import SpotifyPlugin, YoutubePlugin
from mca_pipeline.warehouse import Warehouse
from mca_pipeline.warehouse.accounts import CONNECTED, connection_state, set_connection_state

GOOGLE_REVOKE = "https://oauth2.googleapis.com/revoke"


class RevokeEndpoint:
    """Google's /revoke: 200 for a token it knows, 400 invalid_token otherwise."""

    def __init__(self, answer: httpx.Response | Exception | None = None) -> None:
        self.answer = answer
        self.requests: list[httpx.Request] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer or httpx.Response(200, json={})

    def forms(self) -> list[dict[str, str]]:
        return [{k: v[0] for k, v in parse_qs(r.content.decode()).items()} for r in self.requests]


class Connected:
    def __init__(self, tmp_path: Path, plugin: SourcePlugin) -> None:
        self.plugin = plugin
        self.warehouse = Warehouse(tmp_path / "warehouse.duckdb")
        self.store = VaultCredentialStore(self.warehouse, Vault([Fernet.generate_key()]))
        self.store.save(
            "alice",
            plugin.name,
            Credentials(access_token="ya29.access", refresh_token="1//refresh-token", scopes=("s",)),
        )
        with self.warehouse.connect() as con:
            set_connection_state(con, "alice", plugin.name, CONNECTED, "connected in the web app")

    def disconnect(self, endpoint: RevokeEndpoint) -> Revocation:
        http = httpx.Client(transport=httpx.MockTransport(endpoint.handle))
        return disconnect(self.plugin, self.store, self.warehouse, "alice", http, "disconnected in a test")

    def forgotten(self) -> bool:
        with self.warehouse.connect() as con:
            found = connection_state(con, "alice", self.plugin.name)
        return (
            self.store.load("alice", self.plugin.name) is None
            and found is not None
            and found[0] == "disconnected"
        )


@pytest.fixture(autouse=True)
def google_client(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_CLIENT_ID", "google-client")


def test_google_gets_the_refresh_token_revoked(tmp_path: Path) -> None:
    youtube = Connected(tmp_path, YoutubePlugin())
    endpoint = RevokeEndpoint()
    assert youtube.disconnect(endpoint) is Revocation.REVOKED
    [request] = endpoint.requests
    assert str(request.url) == GOOGLE_REVOKE and request.method == "POST"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert endpoint.forms() == [
        {"token": "1//refresh-token", "token_type_hint": "refresh_token", "client_id": "google-client"}
    ]
    assert youtube.forgotten()


def test_only_an_access_token_is_revoked_as_such(tmp_path: Path) -> None:
    youtube = Connected(tmp_path, YoutubePlugin())
    youtube.store.save("alice", "youtube", Credentials(access_token="ya29.access"))
    endpoint = RevokeEndpoint()
    youtube.disconnect(endpoint)
    assert endpoint.forms()[0]["token"] == "ya29.access"
    assert endpoint.forms()[0]["token_type_hint"] == "access_token"


def test_spotify_has_no_revocation_endpoint_so_nothing_is_sent(tmp_path: Path) -> None:
    spotify = Connected(tmp_path, SpotifyPlugin())
    endpoint = RevokeEndpoint()
    assert spotify.disconnect(endpoint) is Revocation.NOT_OFFERED
    assert endpoint.requests == []
    assert spotify.forgotten()


@pytest.mark.parametrize(
    "answer",
    [httpx.ConnectError("connection refused"), httpx.Response(503, text="unavailable")],
    ids=["unreachable", "503"],
)
def test_a_revocation_endpoint_that_is_down_still_deletes_locally(
    tmp_path: Path, answer: httpx.Response | Exception, caplog: pytest.LogCaptureFixture
) -> None:
    youtube = Connected(tmp_path, YoutubePlugin())
    with caplog.at_level(logging.WARNING, logger="mca_pipeline.auth"):
        assert youtube.disconnect(RevokeEndpoint(answer)) is Revocation.FAILED
    assert youtube.forgotten()
    assert "revoking the Google token failed" in caplog.text
    assert "refresh-token" not in caplog.text and "ya29" not in caplog.text
