"""Credentials and OAuth: where tokens and keys are kept, how tokens are refreshed
(ahead of expiry) and revoked on disconnect.

The Dagster assets ask a CredentialStore; the default one is the encrypted vault in the
warehouse.
"""

from mca_pipeline.auth.credential_store import (
    CredentialStore,
    MemoryCredentialStore,
    NoCredentialStore,
    VaultCredentialStore,
)
from mca_pipeline.auth.revocation import Revocation, disconnect, revoke_token
from mca_pipeline.auth.token_refresh import (
    REFRESH_MARGIN,
    RefreshMisconfigured,
    RefreshRefused,
    TokenEndpointUnavailable,
    TokenRefreshError,
    due_for_refresh,
    refresh_access_token,
)
from mca_pipeline.auth.vault import Vault, VaultKeyError

__all__ = [
    "REFRESH_MARGIN",
    "CredentialStore",
    "MemoryCredentialStore",
    "NoCredentialStore",
    "RefreshMisconfigured",
    "RefreshRefused",
    "Revocation",
    "TokenEndpointUnavailable",
    "TokenRefreshError",
    "Vault",
    "VaultCredentialStore",
    "VaultKeyError",
    "disconnect",
    "due_for_refresh",
    "refresh_access_token",
    "revoke_token",
]
