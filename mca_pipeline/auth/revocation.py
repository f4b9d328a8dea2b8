"""Disconnecting a source: revoke the tokens at the platform, then forget them here.

The web app's disconnect button and `mca disconnect` both call `disconnect`. Revocation
follows RFC 7009 (a form POST of `token` and `token_type_hint`) where the platform has a
revocation endpoint (`OAuthConfig.revoke_url`: Google does). Spotify has none: its tokens
can only be revoked by the person on their account page (spotify.com/account/apps), so
deleting them here is all the app can do. A failed revocation is logged (never the
token) and does not stop the local delete: the person asked to disconnect, and keeping
the tokens because the platform was down would do the opposite.
"""

from __future__ import annotations

import logging
from enum import StrEnum

import httpx

from mca_pipeline.auth.credential_store import VaultCredentialStore
from mca_pipeline.auth.vault import VaultKeyError
from mca_pipeline.core import Credentials, OAuthConfig, SourcePlugin
from mca_pipeline.warehouse import Warehouse
from mca_pipeline.warehouse.accounts import DISCONNECTED, set_connection_state

log = logging.getLogger("mca_pipeline.auth")


class Revocation(StrEnum):
    REVOKED = "revoked"
    #: The platform has no revocation endpoint, or nothing was stored to revoke.
    NOT_OFFERED = "not_offered"
    FAILED = "failed"


def revoke_token(config: OAuthConfig, creds: Credentials, http: httpx.Client) -> Revocation:
    """Revoke the refresh token (which ends the whole grant) or else the access token."""
    if config.revoke_url is None:
        return Revocation.NOT_OFFERED
    if creds.refresh_token is not None:
        token, hint = creds.refresh_token, "refresh_token"
    elif creds.access_token is not None:
        token, hint = creds.access_token, "access_token"
    else:
        return Revocation.NOT_OFFERED
    form = {"token": token.get_secret_value(), "token_type_hint": hint}
    client_id = config.client_id()
    if client_id:
        form["client_id"] = client_id
    try:
        response = http.post(config.revoke_url, data=form)
    except httpx.HTTPError as exc:
        log.warning("revoking the %s token failed: %s", config.provider_name, type(exc).__name__)
        return Revocation.FAILED
    # RFC 7009 2.2: 200 also when the token was invalid already, so anything else failed.
    if response.status_code != 200:
        log.warning("revoking the %s token failed: HTTP %s", config.provider_name, response.status_code)
        return Revocation.FAILED
    return Revocation.REVOKED


def disconnect(
    plugin: SourcePlugin,
    credentials: VaultCredentialStore,
    warehouse: Warehouse,
    user: str,
    http: httpx.Client,
    reason: str,
) -> Revocation:
    """Revoke where the platform can, delete the stored credentials, mark the connection
    disconnected. The local delete happens whatever the revocation did."""
    outcome = Revocation.NOT_OFFERED
    config = plugin.auth_config
    if config is not None and config.revoke_url is not None:
        try:
            creds = credentials.load(user, plugin.name)
        except VaultKeyError:  # sealed with a key no longer held: nothing to revoke, still delete
            log.warning(
                "the stored %s credentials of %s could not be opened to revoke them", plugin.name, user
            )
            creds = None
        if creds is not None:
            outcome = revoke_token(config, creds, http)
    credentials.delete(user, plugin.name)
    with warehouse.connect() as con:
        set_connection_state(con, user, plugin.name, DISCONNECTED, reason)
    return outcome
