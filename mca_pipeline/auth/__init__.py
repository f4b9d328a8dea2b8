"""Credentials and OAuth: where tokens and keys are kept, and how tokens are refreshed.

The encrypted vault and the connect web app come later; this room already holds the
interface the Dagster assets use, so they will not change when the vault arrives.
"""

from mca_pipeline.auth.credential_store import CredentialStore, MemoryCredentialStore, NoCredentialStore
from mca_pipeline.auth.token_refresh import TokenRefreshError, refresh_access_token

__all__ = [
    "CredentialStore",
    "MemoryCredentialStore",
    "NoCredentialStore",
    "TokenRefreshError",
    "refresh_access_token",
]
