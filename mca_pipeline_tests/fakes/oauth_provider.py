"""A tiny real OAuth 2.0 authorization server on 127.0.0.1, for the browser test.

GET /authorize shows a consent page with "Allow" and "Deny" buttons; Allow redirects to
the client's redirect_uri with a one-time code and the same state, Deny with
error=access_denied. POST /token exchanges the code, checking client_id, redirect_uri
and the PKCE verifier (S256), and issues the tokens it was given.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import secrets
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlencode, urlsplit


@dataclass
class _Grant:
    client_id: str
    redirect_uri: str
    state: str
    scope: str
    code_challenge: str | None


@dataclass
class FakeOAuthProvider:
    client_id: str = "test-client"
    access_token: str = "access-1"
    refresh_token: str = "refresh-1"
    expires_in: int = 3600
    authorize_requests: list[dict[str, str]] = field(default_factory=list)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    _requests: dict[str, _Grant] = field(default_factory=dict)
    _codes: dict[str, _Grant] = field(default_factory=dict)
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def base_url(self) -> str:
        assert self._server is not None, "start() the provider first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    @property
    def auth_url(self) -> str:
        return self.base_url + "/authorize"

    @property
    def token_url(self) -> str:
        return self.base_url + "/token"

    def start(self) -> FakeOAuthProvider:
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = urlsplit(self.path)
                if url.path == "/authorize":
                    provider._authorize_page(self, {k: v[0] for k, v in parse_qs(url.query).items()})
                else:
                    _send(self, 404, "text/plain", b"not found")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
                path = urlsplit(self.path).path
                if path == "/authorize":
                    provider._decide(self, form)
                elif path == "/token":
                    provider._token(self, form)
                else:
                    _send(self, 404, "text/plain", b"not found")

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # ---- endpoints

    def _authorize_page(self, handler: BaseHTTPRequestHandler, params: dict[str, str]) -> None:
        self.authorize_requests.append(params)
        problems = []
        if params.get("response_type") != "code":
            problems.append("response_type must be code")
        if params.get("client_id") != self.client_id:
            problems.append("unknown client_id")
        if not params.get("redirect_uri") or not params.get("state"):
            problems.append("redirect_uri and state are required")
        if params.get("code_challenge") and params.get("code_challenge_method") != "S256":
            problems.append("only S256 is supported")
        if problems:
            _send(handler, 400, "text/plain", "; ".join(problems).encode())
            return
        request_id = secrets.token_urlsafe(16)
        with self._lock:
            self._requests[request_id] = _Grant(
                params["client_id"],
                params["redirect_uri"],
                params["state"],
                params.get("scope", ""),
                params.get("code_challenge"),
            )
        scope = html.escape(params.get("scope", ""))
        page = (
            "<!doctype html><html><head><title>Fake provider</title></head><body>"
            f"<h1>Allow access?</h1><p>The app asks for: <code>{scope}</code></p>"
            '<form method="post" action="/authorize">'
            f'<input type="hidden" name="request_id" value="{request_id}">'
            '<button name="decision" value="allow" type="submit">Allow</button> '
            '<button name="decision" value="deny" type="submit">Deny</button>'
            "</form></body></html>"
        )
        _send(handler, 200, "text/html; charset=utf-8", page.encode())

    def _decide(self, handler: BaseHTTPRequestHandler, form: dict[str, str]) -> None:
        with self._lock:
            grant = self._requests.pop(form.get("request_id", ""), None)
        if grant is None:
            _send(handler, 400, "text/plain", b"unknown request")
            return
        if form.get("decision") == "allow":
            code = secrets.token_urlsafe(16)
            with self._lock:
                self._codes[code] = grant
            query = {"code": code, "state": grant.state}
        else:
            query = {"error": "access_denied", "state": grant.state}
        separator = "&" if "?" in grant.redirect_uri else "?"
        handler.send_response(302)
        handler.send_header("Location", grant.redirect_uri + separator + urlencode(query))
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    def _token(self, handler: BaseHTTPRequestHandler, form: dict[str, str]) -> None:
        self.token_requests.append(form)
        client_id = form.get("client_id")
        auth = handler.headers.get("Authorization", "")
        if auth.startswith("Basic "):
            client_id = base64.b64decode(auth[6:]).decode().split(":", 1)[0]
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)  # codes are single-use
        error = None
        if form.get("grant_type") != "authorization_code":
            error = ("unsupported_grant_type", "only authorization_code")
        elif grant is None:
            error = ("invalid_grant", "Invalid authorization code")
        elif client_id != grant.client_id:
            error = ("invalid_client", "client_id does not match")
        elif form.get("redirect_uri") != grant.redirect_uri:
            error = ("invalid_grant", "Invalid redirect URI")
        elif (
            grant.code_challenge is not None and _s256(form.get("code_verifier", "")) != grant.code_challenge
        ):
            error = ("invalid_grant", "code_verifier was incorrect")
        if error is not None:
            body = {"error": error[0], "error_description": error[1]}
            _send(handler, 400, "application/json", json.dumps(body).encode())
            return
        assert grant is not None
        body = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "scope": grant.scope,
            "expires_in": self.expires_in,
            "refresh_token": self.refresh_token,
        }
        _send(handler, 200, "application/json", json.dumps(body).encode())


def _s256(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def _send(handler: BaseHTTPRequestHandler, status: int, content_type: str, body: bytes) -> None:
    handler.send_response(status)
    handler.send_header("Content-Type", content_type)
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
