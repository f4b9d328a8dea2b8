"""Refreshing an expired OAuth access token at the platform's token URL.

RFC 6749 section 6: a form POST with grant_type=refresh_token, the client authenticated
with HTTP Basic. A platform may leave refresh_token out of the answer (Spotify does):
the old one is then kept.
"""

from __future__ import annotations

from datetime import timedelta

import httpx

from mca_pipeline.core import Credentials, OAuthConfig
from mca_pipeline.core.models import utc_now


class TokenRefreshError(Exception):
    """The platform refused the refresh (or could not be asked); the user must reconnect.

    The message carries the platform's error code and description, never a token."""


def refresh_access_token(config: OAuthConfig, creds: Credentials, client: httpx.Client) -> Credentials:
    if creds.refresh_token is None:
        raise TokenRefreshError("no refresh token is stored for this connection")
    client_id = config.client_id()
    secret = config.client_secret()
    if not client_id:
        raise TokenRefreshError(f"{config.client_id_env} is not set, so the token cannot be refreshed")
    form = {"grant_type": "refresh_token", "refresh_token": creds.refresh_token.get_secret_value()}
    auth = None
    if secret is not None:
        auth = httpx.BasicAuth(client_id, secret.get_secret_value())
    else:
        form["client_id"] = client_id  # public (PKCE) client
    try:
        response = client.post(config.token_url, data=form, auth=auth)
    except httpx.HTTPError as exc:
        raise TokenRefreshError(
            f"could not reach {config.provider_name}'s token endpoint: {type(exc).__name__}"
        ) from None
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200 or not isinstance(body, dict) or "access_token" not in body:
        error = body.get("error", f"HTTP {response.status_code}") if isinstance(body, dict) else "bad answer"
        description = body.get("error_description", "") if isinstance(body, dict) else ""
        raise TokenRefreshError(
            f"{config.provider_name} refused the token refresh: {error} {description}".strip()
        )
    expires_in = body.get("expires_in")
    # validated again (not model_copy) so that the new tokens are SecretStr too
    return Credentials.model_validate(
        creds.model_dump()
        | {
            "access_token": body["access_token"],
            "refresh_token": body.get("refresh_token") or creds.refresh_token,
            "expires_at": utc_now() + timedelta(seconds=int(expires_in)) if expires_in else None,
            "scopes": tuple(str(body["scope"]).split()) if body.get("scope") else creds.scopes,
        }
    )
