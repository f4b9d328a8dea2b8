"""The whole connect flow in a real headless Chromium: sign in, Connect, Allow on the
provider's page, back to the list showing "connected"; then the daemon's
first_sync_sensor asks for the first sync, whose run stores the plays in DuckDB.

The app runs under uvicorn on 127.0.0.1; the OAuth provider is a small real HTTP server
(fakes/oauth_provider.py); the Spotify API is FakeSpotify behind the plugin's httpx
client (only the server talks to it). Debian's chromium must be at /usr/bin/chromium
(CI installs it); without it this test fails, it does not skip.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import uvicorn
from cryptography.fernet import Fernet
from dagster import AssetKey, instance_for_test

from mca_pipeline.auth import Vault, VaultCredentialStore
from mca_pipeline.auth.sign_in import issue_token
from mca_pipeline.auth.web_app import create_app
from mca_pipeline.core import OAuthConfig, PluginRegistry
from mca_pipeline.plugins import NetflixPlugin, SpotifyPlugin
from mca_pipeline.warehouse import Warehouse
from mca_pipeline.warehouse.export_folders import ExportFolders
from mca_pipeline_tests.defs.dagster_env import FirstSyncDaemon, Pipeline
from mca_pipeline_tests.fakes.oauth_provider import FakeOAuthProvider
from mca_pipeline_tests.fakes.spotify_web_api import API as SPOTIFY_API
from mca_pipeline_tests.fakes.spotify_web_api import FakeSpotify

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PLAYS = 12


class ProviderSpotifyPlugin(SpotifyPlugin):
    """The Spotify plugin, signing in at the fake provider instead of accounts.spotify.com."""

    def __init__(self, client: httpx.Client, auth_config: OAuthConfig) -> None:
        super().__init__(client=client)
        self.auth_config = auth_config  # type: ignore[misc]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def provider() -> Iterator[FakeOAuthProvider]:
    fake = FakeOAuthProvider(client_id="browser-client", access_token="access-1").start()
    yield fake
    fake.stop()


def serve_in_thread(app: object, port: int) -> tuple[uvicorn.Server, threading.Thread]:
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))  # type: ignore[arg-type]
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert thread.is_alive(), "uvicorn stopped while starting"
        assert time.monotonic() < deadline, "uvicorn did not start within 10 s"
        time.sleep(0.02)
    return server, thread


def item_count(warehouse: Warehouse, user: str) -> int:
    with warehouse.connect() as con:
        row = con.execute(
            "SELECT count(*) FROM media_items WHERE user_id = ? AND platform = 'spotify'", [user]
        ).fetchone()
    return int(row[0]) if row else 0


def test_connect_spotify_in_a_real_browser(
    tmp_path: Path, provider: FakeOAuthProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not CHROMIUM.exists():
        pytest.fail(
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); "
            "Playwright cannot download browsers here",
            pytrace=False,
        )
    from playwright.sync_api import expect, sync_playwright

    monkeypatch.setenv("MCA_BROWSER_CLIENT_ID", "browser-client")
    monkeypatch.delenv("MCA_BROWSER_CLIENT_SECRET", raising=False)
    spotify = FakeSpotify(access_token="access-1")
    spotify.listen(PLAYS)
    config = OAuthConfig(
        provider_name="Spotify",
        auth_url=provider.auth_url,
        token_url=provider.token_url,
        scopes=("user-read-recently-played",),
        client_id_env="MCA_BROWSER_CLIENT_ID",
        client_secret_env="MCA_BROWSER_CLIENT_SECRET",
        supports_pkce=True,
    )
    registry = PluginRegistry()
    registry.register(NetflixPlugin())
    registry.register(
        ProviderSpotifyPlugin(httpx.Client(transport=spotify.transport(), base_url=SPOTIFY_API), config)
    )
    warehouse = Warehouse(tmp_path / "warehouse.duckdb")
    credentials = VaultCredentialStore(warehouse, Vault([Fernet.generate_key()]))
    token = issue_token(warehouse, "alice")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    http = httpx.Client(timeout=10)
    app = create_app(
        registry, warehouse, credentials, ExportFolders(tmp_path / "data"), http=http, public_url=base
    )
    server, thread = serve_in_thread(app, port)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            try:
                page = browser.new_page()
                page.set_default_timeout(15_000)
                page.goto(base + "/login")
                page.fill("#token", token)
                page.get_by_role("button", name="Sign in").click()
                page.wait_for_url(base + "/")
                expect(page.locator("#plugin-spotify .state")).to_have_text("not connected")

                page.click("#connect-spotify")
                page.wait_for_url(provider.auth_url + "?*")
                expect(page.locator("code")).to_have_text("user-read-recently-played")
                page.get_by_role("button", name="Allow").click()
                page.wait_for_url(base + "/")
                expect(page.locator("#plugin-spotify .state")).to_have_text("connected")
                expect(page.locator("#plugin-spotify button")).to_have_text("Disconnect")

                shot = tmp_path / "connected.png"
                page.screenshot(path=str(shot), full_page=True)
            finally:
                browser.close()
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        http.close()

    # What the daemon does next: the sensor requests the first sync, the run stores the plays.
    assert item_count(warehouse, "alice") == 0, "the web app itself syncs nothing"
    home = tmp_path / "dagster_home"
    home.mkdir()
    with instance_for_test(temp_dir=str(home)) as instance:
        pipeline = Pipeline(tmp_path, instance, registry=registry, credentials=credentials)  # type: ignore[arg-type]
        [request] = FirstSyncDaemon(pipeline).tick()
        assert request.partition_key == "alice" and request.asset_selection == [AssetKey("spotify")]
        assert pipeline.materialize("alice", "spotify").success
    assert item_count(warehouse, "alice") == PLAYS

    assert shot.stat().st_size > 0
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    token_request = provider.token_requests[-1]
    assert token_request["code_verifier"] and token_request["client_id"] == "browser-client"
    authorize = provider.authorize_requests[-1]
    assert authorize["code_challenge_method"] == "S256"
    assert authorize["redirect_uri"] == base + "/connect/spotify/callback"
    creds = credentials.load("alice", "spotify")
    assert creds is not None and creds.access_token is not None
    assert creds.access_token.get_secret_value() == "access-1"
    assert item_count(warehouse, "bob") == 0
