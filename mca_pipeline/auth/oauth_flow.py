"""The OAuth 2.0 authorization-code flow of the connect web app (RFC 6749 4.1, RFC 7636).

- `StateStore` keeps the pending authorizations in memory: each `state` is random,
  single-use, expires after ten minutes and is bound to the user (and plugin) that
  started it, so a callback can neither be replayed nor finished by someone else.
- `authorization_url` builds the redirect to the platform with the minimum scopes and,
  where the platform supports it, PKCE S256.
- `exchange_code` trades the code for tokens at the token URL and returns Credentials;
  a refusal raises TokenExchangeError carrying the platform's error code, never a token.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlencode

import httpx

from mca_pipeline.core import Credentials, OAuthConfig
from mca_pipeline.core.models import utc_now

STATE_TTL_S = 600.0


class StateError(Exception):
    """The callback's `state` is unknown, used already, expired, or someone else's."""


class TokenExchangeError(Exception):
    """The platform refused the code (or could not be asked). No secret in the message."""

    def __init__(self, error: str, description: str = "") -> None:
        super().__init__(f"{error}: {description}" if description else error)
        self.error = error
        self.description = description


@dataclass(frozen=True)
class PendingAuth:
    state: str
    user_id: str
    plugin: str
    redirect_uri: str
    code_verifier: str | None
    created_at: float

    def __repr__(self) -> str:  # the verifier is a secret until the code is exchanged
        return f"PendingAuth(user_id={self.user_id!r}, plugin={self.plugin!r})"


def pkce_pair() -> tuple[str, str]:
    """A fresh (code_verifier, S256 code_challenge) pair (RFC 7636 4.1-4.2)."""
    verifier = secrets.token_urlsafe(64)  # 86 characters of [A-Za-z0-9_-]
    return verifier, s256(verifier)


def s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


class StateStore:
    """Pending authorizations by state, in memory, thread-safe."""

    def __init__(self, ttl_s: float = STATE_TTL_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl_s = ttl_s
        self._clock = clock
        self._pending: dict[str, PendingAuth] = {}
        self._lock = threading.Lock()

    def issue(self, user_id: str, plugin: str, redirect_uri: str, *, pkce: bool) -> PendingAuth:
        verifier = pkce_pair()[0] if pkce else None
        now = self._clock()
        pending = PendingAuth(secrets.token_urlsafe(32), user_id, plugin, redirect_uri, verifier, now)
        with self._lock:
            for state in [s for s, p in self._pending.items() if now - p.created_at > self.ttl_s]:
                del self._pending[state]
            self._pending[pending.state] = pending
        return pending

    def consume(self, state: str, user_id: str, plugin: str) -> PendingAuth:
        """The pending authorization, removed so that it cannot be used again.

        A state presented by another user (or for another plugin) is refused but kept,
        so that the person who started the flow can still finish it.
        """
        with self._lock:
            pending = self._pending.get(state)
            if pending is None:
                raise StateError("unknown or already used")
            if pending.user_id != user_id or pending.plugin != plugin:
                raise StateError("issued for another sign-in")
            del self._pending[state]
        if self._clock() - pending.created_at > self.ttl_s:
            raise StateError("expired")
        return pending

    def __len__(self) -> int:
        return len(self._pending)


def authorization_url(config: OAuthConfig, pending: PendingAuth) -> str:
    client_id = config.client_id()
    if not client_id:
        raise TokenExchangeError("not_configured", f"{config.client_id_env} is not set")
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": pending.redirect_uri,
        "scope": " ".join(config.scopes),
        "state": pending.state,
    }
    if pending.code_verifier is not None:
        params |= {"code_challenge": s256(pending.code_verifier), "code_challenge_method": "S256"}
    separator = "&" if "?" in config.auth_url else "?"
    return config.auth_url + separator + urlencode(params)


def exchange_code(config: OAuthConfig, code: str, pending: PendingAuth, http: httpx.Client) -> Credentials:
    """Trade the authorization code for tokens (confidential clients authenticate with
    HTTP Basic; public PKCE clients send client_id in the form)."""
    client_id = config.client_id()
    if not client_id:
        raise TokenExchangeError("not_configured", f"{config.client_id_env} is not set")
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": pending.redirect_uri}
    if pending.code_verifier is not None:
        form["code_verifier"] = pending.code_verifier
    secret = config.client_secret()
    auth = None
    if secret is not None:
        auth = httpx.BasicAuth(client_id, secret.get_secret_value())
    else:
        form["client_id"] = client_id
    try:
        response = http.post(config.token_url, data=form, auth=auth, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise TokenExchangeError("unreachable", f"{type(exc).__name__} at the token endpoint") from None
    try:
        body = response.json()
    except ValueError:
        body = None
    if response.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
        if isinstance(body, dict) and body.get("error"):
            raise TokenExchangeError(str(body["error"])[:100], str(body.get("error_description") or "")[:300])
        raise TokenExchangeError("bad_response", f"the token endpoint answered HTTP {response.status_code}")
    expires_in = body.get("expires_in")
    try:
        expires_at = utc_now() + timedelta(seconds=int(expires_in)) if expires_in else None
    except (TypeError, ValueError):
        expires_at = None
    scope = body.get("scope")
    # RFC 6749 5.1: an absent scope means the requested scopes were granted.
    scopes = tuple(str(scope).split()) if scope else tuple(config.scopes)
    return Credentials(
        access_token=str(body["access_token"]),
        refresh_token=str(body["refresh_token"]) if body.get("refresh_token") else None,
        expires_at=expires_at,
        scopes=scopes,
    )


def missing_scopes(config: OAuthConfig, creds: Credentials) -> list[str]:
    return [s for s in config.scopes if s not in creds.scopes]
