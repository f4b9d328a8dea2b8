"""Where a user's credentials for a plugin come from.

`CredentialStore` is what the Dagster assets and schedules ask; implementations decide
where secrets live. `MemoryCredentialStore` keeps them in the process (tests, and a
deployment that injects credentials itself); `NoCredentialStore` is the embedded
default until the encrypted vault exists: nobody is connected, so API syncs say so.
"""

from __future__ import annotations

from typing import Protocol

from mca_pipeline.core import Credentials


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
