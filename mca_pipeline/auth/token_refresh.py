"""The life of an OAuth access token: refreshed ahead of expiry, and what a failed refresh means.

RFC 6749 section 6: a form POST with grant_type=refresh_token, the client authenticated
with HTTP Basic. A platform may leave refresh_token out of the answer (Spotify does):
the old one is then kept.

A failed refresh is one of three things, and each needs someone else to act:

* `RefreshRefused`: the platform refused the grant (HTTP 400/401 with `invalid_grant`,
  `invalid_client` or `unauthorized_client`, RFC 6749 section 5.2), or no refresh token
  is stored. Only the person can fix it, by connecting again: the connection is marked
  disconnected and they are notified.
* `TokenEndpointUnavailable`: the token endpoint could not be reached, timed out, or
  answered 5xx, 429 or something unreadable. Nothing is wrong with the connection; the
  run fails as an upstream error and is retried. Marking it disconnected here would cost
  the person a reconnect for a blip of the platform.
* `RefreshMisconfigured`: the client id is not set, or the endpoint rejected the request
  itself (another 4xx: invalid_request, unsupported_grant_type, 403, 404). That is the
  operator's configuration, not the person's connection: the run fails without retry
  and the connection stays as it is, so that fixing the configuration is enough.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx

from mca_pipeline.core import Credentials, OAuthConfig

#: Refresh when the access token expires within this: a sync of many pages must not
#: run into the expiry halfway, and clocks differ a little.
REFRESH_MARGIN = timedelta(minutes=5)

#: RFC 6749 section 5.2 error codes that mean the grant itself is refused.
_REFUSING_ERRORS = frozenset({"invalid_grant", "invalid_client", "unauthorized_client"})


class TokenRefreshError(Exception):
    """The refresh failed. The message carries the platform's error code and
    description, never a token."""


class RefreshRefused(TokenRefreshError):
    """The platform refused the grant: the person must connect again."""


class TokenEndpointUnavailable(TokenRefreshError):
    """The token endpoint failed for now (network, timeout, 5xx, 429): try again later."""


class RefreshMisconfigured(TokenRefreshError):
    """The app's OAuth configuration is wrong or missing: the operator must fix it."""


def due_for_refresh(creds: Credentials, now: datetime, margin: timedelta = REFRESH_MARGIN) -> bool:
    """Whether to refresh before syncing: the token expires within `margin` and can be
    refreshed. Without a stored expiry or refresh token, the sync just tries the token."""
    if creds.expires_at is None or creds.refresh_token is None:
        return False
    return creds.expires_at - margin <= now


def refresh_access_token(
    config: OAuthConfig, creds: Credentials, client: httpx.Client, now: datetime
) -> Credentials:
    """New credentials from the token URL; `now` dates the new token's expiry."""
    if creds.refresh_token is None:
        raise RefreshRefused("no refresh token is stored for this connection")
    client_id = config.client_id()
    secret = config.client_secret()
    if not client_id:
        raise RefreshMisconfigured(f"{config.client_id_env} is not set, so the token cannot be refreshed")
    form = {"grant_type": "refresh_token", "refresh_token": creds.refresh_token.get_secret_value()}
    auth = None
    if secret is not None:
        auth = httpx.BasicAuth(client_id, secret.get_secret_value())
    else:
        form["client_id"] = client_id  # public (PKCE) client
    try:
        response = client.post(config.token_url, data=form, auth=auth)
    except httpx.HTTPError as exc:  # timeouts and connection errors alike
        raise TokenEndpointUnavailable(
            f"could not reach {config.provider_name}'s token endpoint: {type(exc).__name__}"
        ) from None
    body = _json_object(response)
    if response.status_code == 200 and "access_token" in body:
        return _renewed(creds, body, now)
    raise _failure(config.provider_name, response.status_code, body)


def _json_object(response: httpx.Response) -> dict[str, object]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _failure(provider: str, status: int, body: dict[str, object]) -> TokenRefreshError:
    """The exception class a failed answer calls for (see the module docstring)."""
    error = str(body.get("error") or f"HTTP {status}")[:100]
    description = str(body.get("error_description") or "")[:300]
    said = f"{error} {description}".strip()
    if status in (400, 401) and error in _REFUSING_ERRORS:
        return RefreshRefused(f"{provider} refused the token refresh: {said}")
    if status == 429 or status >= 500 or status == 200:
        return TokenEndpointUnavailable(f"{provider}'s token endpoint failed: {said}")
    return RefreshMisconfigured(f"{provider} rejected the refresh request: {said}")


def _renewed(creds: Credentials, body: dict[str, object], now: datetime) -> Credentials:
    expires_in = body.get("expires_in")
    # validated again (not model_copy) so that the new tokens are SecretStr too
    return Credentials.model_validate(
        creds.model_dump()
        | {
            "access_token": body["access_token"],
            "refresh_token": body.get("refresh_token") or creds.refresh_token,
            "expires_at": now + timedelta(seconds=int(str(expires_in))) if expires_in else None,
            "scopes": tuple(str(body["scope"]).split()) if body.get("scope") else creds.scopes,
        }
    )
