"""The connect web app through Starlette's TestClient: sign-in, OAuth, API keys, uploads."""

from __future__ import annotations

import asyncio
import base64
import io
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from cryptography.fernet import Fernet
from starlette.testclient import TestClient

from mca_pipeline.auth import Vault, VaultCredentialStore
from mca_pipeline.auth.oauth_flow import StateStore, s256
from mca_pipeline.auth.sign_in import issue_token
from mca_pipeline.auth.web_app import MaskOAuthQuery, create_app, safe_filename, save_upload
from mca_pipeline.auth.web_security import (
    ANONYMOUS_TTL_S,
    MAX_ANONYMOUS_SESSIONS,
    SWEEP_EVERY_S,
    SessionStore,
)
from mca_pipeline.core import Credentials, PluginRegistry
from mca_pipeline.plugins import (
    LastfmPlugin,
    ListenbrainzPlugin,
    NetflixPlugin,
    SpotifyExportPlugin,
    SpotifyPlugin,
    YoutubePlugin,
)
from mca_pipeline.warehouse import Warehouse
from mca_pipeline.warehouse.accounts import awaiting_first_sync, connection_state
from mca_pipeline.warehouse.export_folders import ExportFolders
from mca_pipeline.warehouse.users import delete_user_data
from mca_pipeline_tests.fakes.lastfm_api import BASE as LASTFM_BASE
from mca_pipeline_tests.fakes.lastfm_api import FakeLastfm
from mca_pipeline_tests.fakes.spotify_web_api import API as SPOTIFY_API
from mca_pipeline_tests.fakes.spotify_web_api import FakeSpotify

LISTENBRAINZ = "https://api.listenbrainz.org"

PUBLIC = "http://127.0.0.1:8642"
REDIRECT = f"{PUBLIC}/connect/spotify/callback"


class FakeTokenEndpoint:
    """Spotify's /api/token for the authorization-code grant, checking PKCE."""

    def __init__(self) -> None:
        self.codes: dict[str, str] = {}  # code -> code_challenge it was issued for
        self.requests: list[httpx.Request] = []

    def grant(self, code: str, challenge: str) -> None:
        self.codes[code] = challenge

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        form = {k: v[0] for k, v in parse_qs(request.content.decode()).items()}
        challenge = self.codes.pop(form.get("code", ""), None)
        if (
            challenge is None
            or form.get("grant_type") != "authorization_code"
            or form.get("redirect_uri") != REDIRECT
            or s256(form.get("code_verifier", "")) != challenge
        ):
            return httpx.Response(
                400, json={"error": "invalid_grant", "error_description": "Invalid authorization code"}
            )
        return httpx.Response(
            200,
            json={
                "access_token": "access-1",
                "token_type": "Bearer",
                "scope": "user-read-recently-played",
                "expires_in": 3600,
                "refresh_token": "refresh-1",
            },
        )


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Env:
    def __init__(self, tmp_path: Path) -> None:
        self.warehouse = Warehouse(tmp_path / "warehouse.duckdb")
        self.credentials = VaultCredentialStore(self.warehouse, Vault([Fernet.generate_key()]))
        self.folders = ExportFolders(tmp_path / "data")
        self.spotify = FakeSpotify()
        self.spotify.listen(5)
        self.lastfm = FakeLastfm()
        self.lastfm.scrobble(3)
        self.tokens = FakeTokenEndpoint()
        self.clock = Clock()
        registry = PluginRegistry()
        registry.register(NetflixPlugin())
        registry.register(SpotifyExportPlugin())
        registry.register(
            SpotifyPlugin(client=httpx.Client(transport=self.spotify.transport(), base_url=SPOTIFY_API))
        )
        registry.register(
            LastfmPlugin(client=httpx.Client(transport=self.lastfm.transport(), base_url=LASTFM_BASE))
        )
        self.listenbrainz_requests: list[httpx.Request] = []
        registry.register(
            ListenbrainzPlugin(
                client=httpx.Client(transport=httpx.MockTransport(self.listenbrainz), base_url=LISTENBRAINZ)
            )
        )
        self.registry = registry
        self.app = create_app(
            registry,
            self.warehouse,
            self.credentials,
            self.folders,
            http=httpx.Client(transport=httpx.MockTransport(self.tokens.handle)),
            public_url=PUBLIC,
            states=StateStore(clock=self.clock),
        )
        self.token = {user: issue_token(self.warehouse, user) for user in ("alice", "bob")}

    def listenbrainz(self, request: httpx.Request) -> httpx.Response:
        """ListenBrainz' public listens: one user exists, others are 404 like the real API."""
        self.listenbrainz_requests.append(request)
        if request.url.path != "/1/user/mv_listener/listens":
            return httpx.Response(404, json={"code": 404, "error": "Cannot find user: nobody"})
        payload = {
            "count": 0,
            "user_id": "mv_listener",
            "listens": [],
            "latest_listen_ts": 0,
            "oldest_listen_ts": 0,
        }
        return httpx.Response(200, json={"payload": payload})

    def client(self) -> TestClient:
        return TestClient(self.app, follow_redirects=False)

    def signed_in(self, user: str) -> tuple[TestClient, str]:
        """A client signed in as `user`, and its session's CSRF token."""
        client = self.client()
        response = client.post(
            "/login", data={"token": self.token[user], "csrf_token": csrf(client.get("/login"))}
        )
        assert response.status_code == 303, response.text
        return client, csrf(client.get("/"))

    def awaiting_first_sync(self) -> list[tuple[str, str]]:
        """What the daemon's first_sync_sensor would sync: (user, plugin) per account."""
        with self.warehouse.connect() as con:
            return [(a.user_id, a.plugin) for a in awaiting_first_sync(con)]

    def state(self, user: str, plugin: str) -> str | None:
        with self.warehouse.connect() as con:
            found = connection_state(con, user, plugin)
        return found[0] if found else None


def csrf(response: httpx.Response) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', response.text)
    assert match, response.text
    return match.group(1)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", "client-123")
    monkeypatch.delenv("SPOTIFY_CLIENT_SECRET", raising=False)
    return Env(tmp_path)


def start_connect(client: TestClient) -> dict[str, str]:
    response = client.get("/api/v1/plugins/spotify/connect")
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith("https://accounts.spotify.com/authorize?")
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


# ------------------------------------------------------------------------- sign-in


def test_pages_require_sign_in(env: Env) -> None:
    client = env.client()
    for path in ("/", "/api/v1/plugins/spotify/connect", "/connect/spotify/callback?code=x&state=y"):
        response = client.get(path)
        assert response.status_code == 302 and response.headers["location"] == "/login", path
    assert client.get("/api/v1/plugins").status_code == 401


def test_wrong_token_is_refused(env: Env) -> None:
    client = env.client()
    response = client.post("/login", data={"token": "not-a-token", "csrf_token": csrf(client.get("/login"))})
    assert response.status_code == 401
    assert "not valid" in response.text
    assert client.get("/").status_code == 302


def test_session_cookie_is_httponly_and_lax_and_rotated_at_sign_in(env: Env) -> None:
    client = env.client()
    anonymous = client.get("/login").cookies.get("mca_session")
    response = client.post(
        "/login", data={"token": env.token["alice"], "csrf_token": csrf(client.get("/login"))}
    )
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie.replace("Lax", "lax")
    assert client.cookies.get("mca_session") != anonymous
    assert client.get("/").status_code == 200


def test_logout_ends_the_session(env: Env) -> None:
    client, token = env.signed_in("alice")
    assert client.post("/logout", data={"csrf_token": token}).status_code == 303
    assert client.get("/").status_code == 302


def test_users_cannot_see_each_others_states(env: Env) -> None:
    alice, _ = env.signed_in("alice")
    bob, _ = env.signed_in("bob")
    params = start_connect(alice)
    env.tokens.grant("code-a", params["code_challenge"])
    assert (
        alice.get(
            "/connect/spotify/callback", params={"code": "code-a", "state": params["state"]}
        ).status_code
        == 302
    )

    alice_states = {p["name"]: p["state"] for p in alice.get("/api/v1/plugins").json()}
    bob_states = {p["name"]: p["state"] for p in bob.get("/api/v1/plugins").json()}
    assert alice_states["spotify"] == "connected"
    assert bob_states["spotify"] == "not_connected"
    assert "state-connected" not in bob.get("/").text
    assert "state-connected" in alice.get("/").text
    # bob's disconnect only touches bob's own connection
    bob_csrf = csrf(bob.get("/"))
    assert bob.post("/api/v1/plugins/spotify/disconnect", data={"csrf_token": bob_csrf}).status_code == 303
    assert env.credentials.load("alice", "spotify") is not None
    assert env.state("alice", "spotify") == "connected"


def test_plugins_json(env: Env) -> None:
    client, _ = env.signed_in("alice")
    body = client.get("/api/v1/plugins").json()
    assert body == [
        {"name": "netflix", "auth_type": "file_import", "state": "not_connected"},
        {"name": "spotify_export", "auth_type": "file_import", "state": "not_connected"},
        {"name": "spotify", "auth_type": "oauth", "state": "not_connected"},
        {"name": "lastfm", "auth_type": "api_key", "state": "not_connected"},
        {"name": "listenbrainz", "auth_type": "none", "state": "not_connected"},
    ]


def test_home_page_lists_every_plugin_with_a_button(env: Env) -> None:
    client, _ = env.signed_in("alice")
    page = client.get("/").text
    assert 'href="/api/v1/plugins/spotify/connect"' in page
    assert 'action="/connect/lastfm/apikey"' in page
    assert 'action="/upload/netflix"' in page and 'action="/upload/spotify_export"' in page
    # No external assets, no inline script: only the upload progress script of this app.
    assert re.findall(r"<script[^>]*>", page) == ['<script src="/upload.js" defer>']
    assert "http" not in page.split("<body>")[1]
    # Sources by the names people know, not the internal plugin names (issue 16, item 6).
    rows = dict(re.findall(r'<tr id="plugin-([a-z_]+)"><td class="source">([^<]+)</td>', page))
    assert rows["spotify_export"] == "Spotify — data download"
    assert rows["spotify"] == "Spotify — account, recent plays"
    assert rows["lastfm"] == "Last.fm — scrobbles"
    assert "Export file for Netflix — viewing activity" in page


# --------------------------------------------------------------------------- OAuth


def test_connect_redirects_with_state_pkce_and_minimum_scopes(env: Env) -> None:
    client, _ = env.signed_in("alice")
    params = start_connect(client)
    assert params["response_type"] == "code"
    assert params["client_id"] == "client-123"
    assert params["redirect_uri"] == REDIRECT
    assert params["scope"] == "user-read-recently-played"
    assert params["code_challenge_method"] == "S256"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", params["code_challenge"])
    assert len(params["state"]) >= 32
    assert start_connect(client)["state"] != params["state"]


def test_successful_callback_stores_encrypted_tokens(env: Env) -> None:
    client, _ = env.signed_in("alice")
    params = start_connect(client)
    env.tokens.grant("good-code", params["code_challenge"])
    response = client.get("/connect/spotify/callback", params={"code": "good-code", "state": params["state"]})
    assert response.status_code == 302 and response.headers["location"] == "/"

    creds = env.credentials.load("alice", "spotify")
    assert creds is not None and creds.access_token is not None and creds.refresh_token is not None
    assert creds.access_token.get_secret_value() == "access-1"
    assert creds.refresh_token.get_secret_value() == "refresh-1"
    assert creds.scopes == ("user-read-recently-played",)
    assert creds.expires_at is not None
    with env.warehouse.connect() as con:
        raw = con.execute("SELECT * FROM credentials").fetchall()
    assert raw and "access-1" not in repr(raw) and "refresh-1" not in repr(raw)
    assert env.state("alice", "spotify") == "connected"
    assert env.awaiting_first_sync() == [("alice", "spotify")]

    token_request = env.tokens.requests[-1]
    form = parse_qs(token_request.content.decode())
    assert form["grant_type"] == ["authorization_code"] and form["client_id"] == ["client-123"]
    assert "authorization" not in token_request.headers  # public PKCE client: no secret


def test_confidential_client_authenticates_with_basic(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPOTIFY_CLIENT_SECRET", "s3cret")
    client, _ = env.signed_in("alice")
    params = start_connect(client)
    env.tokens.grant("good-code", params["code_challenge"])
    client.get("/connect/spotify/callback", params={"code": "good-code", "state": params["state"]})
    request = env.tokens.requests[-1]
    assert request.headers["authorization"] == "Basic " + base64.b64encode(b"client-123:s3cret").decode()
    assert "client_id" not in parse_qs(request.content.decode())


def assert_nothing_stored(env: Env, user: str = "alice") -> None:
    assert env.credentials.load(user, "spotify") is None
    assert env.state(user, "spotify") is None
    assert env.awaiting_first_sync() == []


def test_callback_with_unknown_state_is_refused(env: Env) -> None:
    client, _ = env.signed_in("alice")
    start_connect(client)
    response = client.get("/connect/spotify/callback", params={"code": "x", "state": "made-up"})
    assert response.status_code == 400
    assert env.tokens.requests == []
    assert_nothing_stored(env)


def test_callback_with_reused_state_is_refused(env: Env) -> None:
    client, _ = env.signed_in("alice")
    params = start_connect(client)
    env.tokens.grant("good-code", params["code_challenge"])
    first = client.get("/connect/spotify/callback", params={"code": "bad-code", "state": params["state"]})
    assert first.status_code == 400  # invalid_grant, and the state is used up
    again = client.get("/connect/spotify/callback", params={"code": "good-code", "state": params["state"]})
    assert again.status_code == 400 and "not valid" in again.text
    assert_nothing_stored(env)


def test_callback_with_expired_state_is_refused(env: Env) -> None:
    client, _ = env.signed_in("alice")
    params = start_connect(client)
    env.tokens.grant("good-code", params["code_challenge"])
    env.clock.now += 601
    response = client.get("/connect/spotify/callback", params={"code": "good-code", "state": params["state"]})
    assert response.status_code == 400 and "expired" in response.text
    assert env.tokens.requests == []
    assert_nothing_stored(env)


def test_callback_with_another_users_state_is_refused(env: Env) -> None:
    alice, _ = env.signed_in("alice")
    bob, _ = env.signed_in("bob")
    params = start_connect(alice)
    env.tokens.grant("good-code", params["code_challenge"])
    response = bob.get("/connect/spotify/callback", params={"code": "good-code", "state": params["state"]})
    assert response.status_code == 400
    assert_nothing_stored(env, "bob")
    assert_nothing_stored(env, "alice")
    # alice can still finish her own flow
    ok = alice.get("/connect/spotify/callback", params={"code": "good-code", "state": params["state"]})
    assert ok.status_code == 302


def test_access_denied_says_the_user_declined(env: Env) -> None:
    client, _ = env.signed_in("alice")
    params = start_connect(client)
    response = client.get(
        "/connect/spotify/callback", params={"error": "access_denied", "state": params["state"]}
    )
    assert "You declined" in response.text
    assert_nothing_stored(env)


def test_invalid_grant_gives_a_page_and_stores_nothing(env: Env) -> None:
    client, _ = env.signed_in("alice")
    params = start_connect(client)
    response = client.get(
        "/connect/spotify/callback", params={"code": "expired-code", "state": params["state"]}
    )
    assert response.status_code == 400
    assert "invalid_grant" in response.text and "Nothing was stored" in response.text
    assert_nothing_stored(env)


# ---------------------------------------------------------------- security plumbing


@pytest.mark.parametrize(
    ("path", "data"),
    [
        ("/login", {"token": "x"}),
        ("/logout", {}),
        ("/api/v1/plugins/spotify/disconnect", {}),
        ("/connect/lastfm/apikey", {"api_key": "lastfm-key-123", "account": "mv_listener"}),
    ],
)
def test_post_without_csrf_token_is_forbidden(env: Env, path: str, data: dict[str, str]) -> None:
    client, _ = env.signed_in("alice")
    assert client.post(path, data=data).status_code == 403
    assert client.post(path, data=data | {"csrf_token": "wrong"}).status_code == 403
    assert env.credentials.load("alice", "lastfm") is None


def test_upload_without_csrf_token_is_forbidden(env: Env) -> None:
    client, _ = env.signed_in("alice")
    response = client.post("/upload/netflix", files={"file": ("a.csv", b"Title,Date\n")})
    assert response.status_code == 403
    assert not env.folders.inbox("alice", "netflix").exists()


def test_csrf_token_of_another_session_is_forbidden(env: Env) -> None:
    alice, _ = env.signed_in("alice")
    _, bob_csrf = env.signed_in("bob")
    assert alice.post("/api/v1/plugins/spotify/disconnect", data={"csrf_token": bob_csrf}).status_code == 403


def test_security_headers_on_every_response(env: Env) -> None:
    client, _ = env.signed_in("alice")
    responses = [
        client.get("/"),
        client.get("/login"),
        client.get("/api/v1/plugins"),
        client.get("/nope"),
        env.client().get("/"),
        client.post("/logout"),  # a 403
    ]
    for response in responses:
        headers = response.headers
        assert "default-src 'self'" in headers["content-security-policy"]
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"


# ------------------------------------------------------------- API keys and uploads


def test_bad_api_key_is_refused(env: Env) -> None:
    client, token = env.signed_in("alice")
    response = client.post(
        "/connect/lastfm/apikey", data={"api_key": "wrong", "account": "mv_listener", "csrf_token": token}
    )
    assert response.status_code == 400 and "refused" in response.text
    assert "wrong" not in response.text
    assert env.credentials.load("alice", "lastfm") is None
    assert env.awaiting_first_sync() == []


def test_good_api_key_is_stored(env: Env) -> None:
    client, token = env.signed_in("alice")
    response = client.post(
        "/connect/lastfm/apikey",
        data={"api_key": "lastfm-key-123", "account": "mv_listener", "csrf_token": token},
    )
    assert response.status_code == 303
    creds = env.credentials.load("alice", "lastfm")
    assert creds is not None and creds.api_key is not None
    assert creds.api_key.get_secret_value() == "lastfm-key-123" and creds.account == "mv_listener"
    assert env.state("alice", "lastfm") == "connected"
    assert env.awaiting_first_sync() == [("alice", "lastfm")]
    assert len(env.lastfm.requests) == 1  # one cheap call


@pytest.mark.parametrize(
    ("filename", "expected"),
    [
        ("ViewingActivity.csv", "ViewingActivity.csv"),
        ("../../etc/passwd", "passwd"),
        ("..\\..\\evil.csv", "evil.csv"),
        ("/abs/path/history.zip", "history.zip"),
        ("..", "upload"),
        (".hidden.csv", "hidden.csv"),
        ("we<ird>|name.csv", "we_ird_name.csv"),
    ],
)
def test_safe_filename(filename: str, expected: str) -> None:
    assert safe_filename(filename) == expected


def test_upload_lands_in_the_inbox_with_a_sanitised_name(env: Env, tmp_path: Path) -> None:
    client, token = env.signed_in("alice")
    response = client.post(
        "/upload/netflix",
        data={"csrf_token": token},
        files={"file": ("../../../outside/ViewingActivity.csv", b'Title,Date\n"Show","1/2/24"\n')},
    )
    assert response.status_code == 200, response.text
    inbox = env.folders.inbox("alice", "netflix")
    assert [p.name for p in inbox.iterdir()] == ["ViewingActivity.csv"]
    assert (inbox / "ViewingActivity.csv").read_bytes().startswith(b"Title,Date")
    assert not (tmp_path / "outside").exists()
    # a second upload of the same name does not overwrite the first
    client.post("/upload/netflix", data={"csrf_token": token}, files={"file": ("ViewingActivity.csv", b"x")})
    assert sorted(p.name for p in inbox.iterdir()) == ["ViewingActivity-1.csv", "ViewingActivity.csv"]


def test_an_archive_uploaded_without_a_source_lands_at_the_top_of_the_inbox(env: Env) -> None:
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("CONTENT_INTERACTION/ViewingActivity.csv", "Profile Name,Start Time\n")
    client, token = env.signed_in("alice")
    assert 'action="/upload"' in client.get("/").text
    response = client.post(
        "/upload", data={"csrf_token": token}, files={"file": ("../netflix-report.zip", buf.getvalue())}
    )
    assert response.status_code == 200, response.text
    assert "unpacked" in response.text
    inbox = env.folders.inbox_root / "alice"
    assert [p.name for p in inbox.iterdir()] == ["netflix-report.zip"]
    assert (inbox / "netflix-report.zip").read_bytes() == buf.getvalue()
    assert client.post("/upload", files={"file": ("a.zip", b"PK")}).status_code == 403  # no CSRF token
    anonymous = env.client()
    response = anonymous.post(
        "/upload", data={"csrf_token": csrf(anonymous.get("/login"))}, files={"file": ("b.zip", b"PK")}
    )
    assert response.status_code == 302 and response.headers["location"] == "/login"
    assert [p.name for p in inbox.iterdir()] == ["netflix-report.zip"], "nothing saved without signing in"


def test_upload_to_an_oauth_plugin_is_refused(env: Env) -> None:
    client, token = env.signed_in("alice")
    response = client.post("/upload/spotify", data={"csrf_token": token}, files={"file": ("a.json", b"{}")})
    assert response.status_code == 404


# ----------------------------------------------------------------------- disconnect


def test_disconnect_deletes_the_credentials(env: Env) -> None:
    client, token = env.signed_in("alice")
    params = start_connect(client)
    env.tokens.grant("good-code", params["code_challenge"])
    client.get("/connect/spotify/callback", params={"code": "good-code", "state": params["state"]})
    assert env.credentials.load("alice", "spotify") is not None

    response = client.post("/api/v1/plugins/spotify/disconnect", data={"csrf_token": token})
    assert response.status_code == 303
    assert env.credentials.load("alice", "spotify") is None
    assert env.state("alice", "spotify") == "disconnected"
    assert {p["name"]: p["state"] for p in client.get("/api/v1/plugins").json()}["spotify"] == "disconnected"


def test_a_public_source_connects_with_the_users_name_checked_first(env: Env) -> None:
    client, token = env.signed_in("alice")
    page = client.get("/").text
    assert 'action="/connect/listenbrainz/account"' in page
    refused = client.post("/connect/listenbrainz/account", data={"account": "nobody", "csrf_token": token})
    assert refused.status_code == 400 and env.credentials.load("alice", "listenbrainz") is None
    response = client.post(
        "/connect/listenbrainz/account", data={"account": "mv_listener", "csrf_token": token}
    )
    assert response.status_code == 303
    creds = env.credentials.load("alice", "listenbrainz")
    assert creds is not None and creds.account == "mv_listener" and creds.api_key is None
    assert env.state("alice", "listenbrainz") == "connected"


def test_disconnecting_youtube_revokes_the_token_at_google(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GOOGLE_CLIENT_ID", "google-client")
    revoked: list[httpx.Request] = []

    def google(request: httpx.Request) -> httpx.Response:
        revoked.append(request)
        return httpx.Response(200, json={})

    registry = PluginRegistry()
    registry.register(YoutubePlugin())
    app = create_app(
        registry,
        env.warehouse,
        env.credentials,
        env.folders,
        http=httpx.Client(transport=httpx.MockTransport(google)),
        public_url=PUBLIC,
    )
    client = TestClient(app, follow_redirects=False)
    client.post("/login", data={"token": env.token["alice"], "csrf_token": csrf(client.get("/login"))})
    env.credentials.save("alice", "youtube", Credentials(access_token="ya29.a", refresh_token="1//r"))

    response = client.post("/api/v1/plugins/youtube/disconnect", data={"csrf_token": csrf(client.get("/"))})
    assert response.status_code == 303
    [request] = revoked
    assert str(request.url) == "https://oauth2.googleapis.com/revoke"
    assert parse_qs(request.content.decode())["token"] == ["1//r"]
    assert env.credentials.load("alice", "youtube") is None
    assert env.state("alice", "youtube") == "disconnected"


def test_disconnecting_spotify_sends_nothing_to_revoke(env: Env) -> None:
    client, token = env.signed_in("alice")
    env.credentials.save("alice", "spotify", Credentials(access_token="a", refresh_token="r"))
    assert client.post("/api/v1/plugins/spotify/disconnect", data={"csrf_token": token}).status_code == 303
    assert env.tokens.requests == [] and env.spotify.requests == []
    assert env.credentials.load("alice", "spotify") is None


def test_a_crash_while_checking_an_api_key_stores_nothing(
    env: Env, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken_sync(self: LastfmPlugin, ctx: object, creds: Credentials, cursor: str) -> None:
        raise TypeError(
            f"unsupported operand in a plugin bug, url=...?api_key={creds.api_key.get_secret_value()}"
        )  # type: ignore[union-attr]

    monkeypatch.setattr(LastfmPlugin, "sync", broken_sync)
    client, token = env.signed_in("alice")
    with caplog.at_level(logging.ERROR, logger="mca_pipeline.web"):
        response = client.post(
            "/connect/lastfm/apikey",
            data={"api_key": "lastfm-key-123", "account": "mv_listener", "csrf_token": token},
        )
    assert response.status_code == 500
    assert "Nothing was stored" in response.text and "lastfm-key-123" not in response.text
    assert env.credentials.load("alice", "lastfm") is None
    assert env.state("alice", "lastfm") is None
    assert env.awaiting_first_sync() == []
    assert "Traceback" in caplog.text and "TypeError" in caplog.text
    assert "lastfm-key-123" not in caplog.text, "the key is masked in the logged traceback"


# --- hostile requests and ended sign-ins (issue 15, items 4, 5 and 10) --------------------


class CountingReceive:
    """An ASGI receive that counts the body bytes a middleware asks for."""

    def __init__(self, size: int) -> None:
        self.left = size
        self.read = 0

    async def __call__(self) -> dict[str, object]:
        chunk = min(self.left, 1 << 20)
        self.left -= chunk
        self.read += chunk
        return {"type": "http.request", "body": b"x" * chunk, "more_body": self.left > 0}


def post_scope(path: str, headers: dict[str, str]) -> dict[str, object]:
    return {
        "type": "http",
        "method": "POST",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "scheme": "http",
        "server": ("127.0.0.1", 8642),
        "client": ("127.0.0.1", 5000),
        "http_version": "1.1",
        "root_path": "",
    }


def answer(
    env: Env, headers: dict[str, str], size: int = 0, path: str = "/upload"
) -> tuple[int, int, dict[str, str]]:
    """(status, body bytes the app read, response headers) of one raw POST."""
    receive = CountingReceive(size)
    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    asyncio.run(env.app(post_scope(path, {"host": "127.0.0.1:8642", **headers}), receive, send))  # type: ignore[arg-type]
    start = next(m for m in sent if m["type"] == "http.response.start")
    response_headers = {k.decode(): v.decode() for k, v in start["headers"]}  # type: ignore[attr-defined]
    return int(start["status"]), receive.read, response_headers  # type: ignore[call-overload]


def test_a_large_post_is_refused_before_its_body_is_read(env: Env) -> None:
    """One 256 MiB POST before signing in took 95 s of CPU and 968 MB: the CSRF check read
    the whole body first."""
    big = {"content-type": "multipart/form-data; boundary=x", "content-length": str(256 << 20)}
    assert answer(env, big, 256 << 20)[:2] == (403, 0), "no session: refused unread"
    assert answer(env, {**big, "content-length": str(600 << 20)}, 600 << 20)[:2] == (413, 0)
    assert answer(env, {"content-type": "multipart/form-data; boundary=x", "transfer-encoding": "chunked"})[
        :2
    ] == (
        411,
        0,
    )
    client, _ = env.signed_in("alice")
    cookie = f"mca_session={client.cookies['mca_session']}"
    assert answer(env, {**big, "cookie": cookie}, 256 << 20)[:2] == (403, 0), (
        "no proof of origin: refused unread"
    )
    cross = {**big, "cookie": cookie, "sec-fetch-site": "cross-site", "origin": "https://evil.test"}
    assert answer(env, cross, 256 << 20)[:2] == (403, 0)


def test_a_browser_upload_is_checked_by_its_origin_and_streamed(env: Env) -> None:
    client, _ = env.signed_in("alice")
    body = b"".join(
        [
            b'--x\r\nContent-Disposition: form-data; name="file"; filename="ViewingActivity.csv"\r\n',
            b"Content-Type: text/csv\r\n\r\n",
            b'Title,Date\n"Show","1/2/24"\n' + b"#" * (3 << 20),
            b"\r\n--x--\r\n",
        ]
    )
    headers = {
        "content-type": "multipart/form-data; boundary=x",
        "cookie": f"mca_session={client.cookies['mca_session']}",
        "origin": "http://127.0.0.1:8642",
        "sec-fetch-site": "same-origin",
    }
    response = client.post("/upload/netflix", content=body, headers=headers)
    assert response.status_code == 200, response.text
    [saved] = env.folders.inbox("alice", "netflix").iterdir()
    assert saved.stat().st_size == len(b'Title,Date\n"Show","1/2/24"\n') + (3 << 20)


def test_a_token_that_is_not_ascii_is_a_403_with_the_security_headers(env: Env) -> None:
    client, _ = env.signed_in("alice")
    cookie = f"mca_session={client.cookies['mca_session']}"
    status, _, headers = answer(env, {"cookie": cookie, "x-csrf-token": "tök"}, path="/logout")
    assert status == 403 and headers["x-frame-options"] == "DENY"
    assert client.post("/logout", data={"csrf_token": "tök"}).status_code == 403  # the form field too


def test_a_new_sign_in_token_ends_the_sessions_of_the_old_one(env: Env) -> None:
    client, token = env.signed_in("alice")
    assert client.get("/").status_code == 200
    issue_token(env.warehouse, "alice")  # `mca users add alice` again: a new token
    assert client.get("/").status_code == 302
    upload = client.post("/upload/netflix", data={"csrf_token": token}, files={"file": ("a.csv", b"x")})
    assert upload.status_code == 403 and not env.folders.inbox("alice", "netflix").exists()  # session gone


def test_a_deleted_user_is_signed_out(env: Env) -> None:
    client, token = env.signed_in("bob")
    with env.warehouse.connect() as con:
        delete_user_data(con, "bob")
    response = client.post("/upload", data={"csrf_token": token}, files={"file": ("b.zip", b"PK")})
    assert response.status_code == 302 and response.headers["location"] == "/login"
    assert not (env.folders.inbox_root / "bob").exists(), "nothing uploaded, so nothing re-creates bob"


def test_anonymous_sessions_are_capped_and_signed_in_ones_kept() -> None:
    now = [0.0]
    store = SessionStore(clock=lambda: now[0])
    alice = store.create("alice", "hash")
    for _ in range(MAX_ANONYMOUS_SESSIONS + 500):
        store.create(None)
    assert len(store) == MAX_ANONYMOUS_SESSIONS + 1
    assert store.get(alice.id) is alice
    now[0] += ANONYMOUS_TTL_S + SWEEP_EVERY_S + 1  # the anonymous ones expire, and are swept
    store.create(None)
    assert len(store) == 2


def test_concurrent_uploads_of_one_name_each_keep_their_file(env: Env) -> None:
    """120 uploads of `ViewingActivity.csv` at once had lost 90."""
    contents = [f'Title,Date\n"Show {n}","1/2/24"\n'.encode() for n in range(120)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        saved = list(
            pool.map(
                lambda data: save_upload(
                    env.folders, "alice", "netflix", "ViewingActivity.csv", io.BytesIO(data)
                ),
                contents,
            )
        )
    assert len({p.name for p in saved}) == 120
    assert sorted(p.read_bytes() for p in saved) == sorted(contents)
    assert sorted(p.name for p in env.folders.inbox("alice", "netflix").iterdir()) == sorted(
        p.name for p in saved
    )


@pytest.mark.parametrize("name", ["history.csv.part", "watch-history.tmp", "a.crdownload", "x.report.txt"])
def test_an_upload_named_like_a_skipped_file_is_renamed_so_it_is_imported(env: Env, name: str) -> None:
    client, token = env.signed_in("alice")
    response = client.post(
        "/upload/netflix", data={"csrf_token": token}, files={"file": (name, b"Title,Date\n")}
    )
    assert response.status_code == 200
    assert [p.name for p in env.folders.waiting("alice", "netflix")] == [f"{name}.upload"]


def test_the_access_log_masks_the_oauth_code_and_state() -> None:
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/connect/spotify/callback?code=AQB-secret&state=xyz123", "1.1", 302),
        None,
    )
    MaskOAuthQuery().filter(record)
    line = record.getMessage()
    assert "AQB-secret" not in line and "xyz123" not in line
    assert "/connect/spotify/callback?code=[REDACTED]&state=[REDACTED]" in line
