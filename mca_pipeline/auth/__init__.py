"""Credentials and OAuth: where tokens and keys are kept, and how tokens are refreshed.

The Dagster assets ask a CredentialStore; the default one is the encrypted vault in the
warehouse.
"""

from mca_pipeline.auth.credential_store import (
    CredentialStore,
    MemoryCredentialStore,
    NoCredentialStore,
    VaultCredentialStore,
)
from mca_pipeline.auth.token_refresh import TokenRefreshError, refresh_access_token
from mca_pipeline.auth.vault import Vault, VaultKeyError

__all__ = [
    "CredentialStore",
    "MemoryCredentialStore",
    "NoCredentialStore",
    "TokenRefreshError",
    "Vault",
    "VaultCredentialStore",
    "VaultKeyError",
    "refresh_access_token",
]
