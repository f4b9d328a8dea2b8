"""Where a user's credentials for a plugin come from.

`CredentialStore` is what the Dagster assets and schedules ask; implementations decide
where secrets live. `VaultCredentialStore` (the default) keeps them in the warehouse,
encrypted by the vault; `MemoryCredentialStore` keeps them in the process (tests, and
a deployment that injects credentials itself); `NoCredentialStore` connects nobody.
"""

from __future__ import annotations

from typing import Protocol

from mca_pipeline.auth.vault import Vault, verify_key
from mca_pipeline.core import Credentials
from mca_pipeline.warehouse import Warehouse
from mca_pipeline.warehouse.credentials import (
    delete_sealed,
    load_sealed,
    save_sealed,
    users_with_credentials,
)
from mca_pipeline.warehouse.transactions import transaction


class CredentialStore(Protocol):
    def load(self, user_id: str, plugin: str) -> Credentials | None:
        """The user's credentials for the plugin, or None when not connected."""
        ...

    def save(self, user_id: str, plugin: str, creds: Credentials) -> None:
        """Replace the stored credentials (after a token refresh, say)."""
        ...

    def users_with(self, plugin: str) -> list[str]:
        """Users who have connected this plugin: whom a schedule syncs."""
        ...


class MemoryCredentialStore:
    def __init__(self, initial: dict[tuple[str, str], Credentials] | None = None) -> None:
        self._creds: dict[tuple[str, str], Credentials] = dict(initial or {})

    def load(self, user_id: str, plugin: str) -> Credentials | None:
        return self._creds.get((user_id, plugin))

    def save(self, user_id: str, plugin: str, creds: Credentials) -> None:
        self._creds[(user_id, plugin)] = creds

    def users_with(self, plugin: str) -> list[str]:
        return sorted(user for user, name in self._creds if name == plugin)

    def __repr__(self) -> str:
        return f"MemoryCredentialStore({len(self._creds)} connections)"


class NoCredentialStore:
    """Nobody is connected: the encrypted vault and `mca connect` are not there yet."""

    def load(self, user_id: str, plugin: str) -> Credentials | None:
        return None

    def save(self, user_id: str, plugin: str, creds: Credentials) -> None:
        raise RuntimeError("no credential store is configured; credentials cannot be saved")

    def users_with(self, plugin: str) -> list[str]:
        return []


class VaultCredentialStore:
    """Credentials sealed by the vault, stored in the warehouse's credentials table."""

    def __init__(self, warehouse: Warehouse, vault: Vault | None = None) -> None:
        self.warehouse = warehouse
        self._vault = vault

    @property
    def vault(self) -> Vault:
        if self._vault is None:  # the key is read (or made) on first use, not at import
            self._vault = Vault()
        return self._vault

    def load(self, user_id: str, plugin: str) -> Credentials | None:
        with self.warehouse.connect() as con:
            row = load_sealed(con, user_id, plugin)
        if row is None:
            return None
        sealed, scopes, expires_at = row
        return self.vault.open(sealed, scopes, expires_at)

    def check_key(self) -> None:
        """Raise VaultKeyError now if the key is not the vault's current one (before a
        person is asked for a secret that could not be stored)."""
        with self.warehouse.connect() as con:
            verify_key(con, self.vault)

    def save(self, user_id: str, plugin: str, creds: Credentials) -> None:
        sealed = self.vault.seal(creds)
        with self.warehouse.connect() as con, transaction(con):
            verify_key(con, self.vault)
            save_sealed(con, user_id, plugin, sealed, creds.scopes, creds.expires_at)

    def delete(self, user_id: str, plugin: str) -> bool:
        with self.warehouse.connect() as con:
            return delete_sealed(con, user_id, plugin)

    def users_with(self, plugin: str) -> list[str]:
        with self.warehouse.connect() as con:
            return users_with_credentials(con, plugin)

    def __repr__(self) -> str:
        return f"VaultCredentialStore({self.warehouse!r})"
