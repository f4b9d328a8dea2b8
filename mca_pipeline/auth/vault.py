"""The credential vault: tokens and API keys encrypted at rest with Fernet.

Fernet (AES-128-CBC + HMAC-SHA256, from the `cryptography` package) is authenticated:
a wrong key or a tampered row fails loudly instead of decrypting to garbage. The key
comes from MCA_VAULT_KEY (several comma-separated keys: the first encrypts, all decrypt,
which is how rotation works) or, on the embedded default, from a key file generated
once under data/ with owner-only permissions.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import duckdb
from cryptography.fernet import Fernet, InvalidToken, MultiFernet

from mca_pipeline import paths
from mca_pipeline.core import Credentials
from mca_pipeline.warehouse import Warehouse
from mca_pipeline.warehouse.credentials import (
    all_sealed,
    any_sealed,
    load_key_check,
    replace_sealed,
    save_key_check,
)
from mca_pipeline.warehouse.transactions import transaction

KEY_ENV = "MCA_VAULT_KEY"


class VaultKeyError(RuntimeError):
    """The vault key is missing, malformed or does not open the stored credentials."""


def key_file() -> Path:
    return paths.data_dir() / "vault.key"


def load_keys(create: bool = True) -> list[bytes]:
    """The vault keys, newest first: MCA_VAULT_KEY, else the key file (made if absent)."""
    raw = os.environ.get(KEY_ENV)
    if raw:
        return [k.strip().encode() for k in raw.split(",") if k.strip()]
    path = key_file()
    if path.exists():
        return [k.strip().encode() for k in path.read_text().split(",") if k.strip()]
    if not create:
        raise VaultKeyError(f"no vault key: set {KEY_ENV} or create {path}")
    path.parent.mkdir(parents=True, exist_ok=True)
    key = Fernet.generate_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key + b"\n")
    return [key]


class Vault:
    """Seals and opens credentials. Never puts a secret in an exception or a repr."""

    def __init__(self, keys: list[bytes] | None = None) -> None:
        keys = keys if keys is not None else load_keys()
        try:
            self._current = Fernet(keys[0]) if keys else None
            self._fernet = MultiFernet([Fernet(k) for k in keys])
        except (ValueError, TypeError):
            raise VaultKeyError(
                f"the vault key is malformed: {KEY_ENV} (or the key file) must hold url-safe base64 Fernet keys"
            ) from None

    def __repr__(self) -> str:
        return "Vault(<keys hidden>)"

    def seal(self, creds: Credentials) -> bytes:
        secrets = {
            "access_token": _reveal(creds.access_token),
            "refresh_token": _reveal(creds.refresh_token),
            "api_key": _reveal(creds.api_key),
            "account": creds.account,
        }
        return self._fernet.encrypt(json.dumps(secrets).encode())

    def open(self, sealed: bytes, scopes: tuple[str, ...] = (), expires_at: object = None) -> Credentials:
        try:
            secrets = json.loads(self._fernet.decrypt(sealed))
        except InvalidToken:
            raise VaultKeyError(
                "the vault key does not open the stored credentials (wrong MCA_VAULT_KEY or key file?)"
            ) from None
        return Credentials(**secrets, scopes=scopes, expires_at=expires_at)

    def key_check(self) -> bytes:
        """A known text sealed with the current (first) key: stored beside the
        credentials, it tells a later process whether its key is still the current one."""
        return self._fernet.encrypt(_KEY_CHECK)

    def is_current(self, check: bytes) -> bool:
        """Whether `check` (a key_check, or any credential) opens with the first key."""
        try:
            return self._current is not None and self._current.decrypt(check) is not None
        except InvalidToken:
            return False

    def rotate(self, sealed: bytes) -> bytes:
        """Re-encrypt with the first (newest) key."""
        try:
            return self._fernet.rotate(sealed)
        except InvalidToken:
            raise VaultKeyError("a stored credential cannot be opened with any of the given keys") from None


_KEY_CHECK = b"mca vault key check"


def verify_key(con: duckdb.DuckDBPyConnection, vault: Vault) -> None:
    """Refuse to write with a key that is not the vault's current one: a process that
    loaded the key before a rotation, or a well-formed but wrong MCA_VAULT_KEY, would
    seal credentials nothing can open afterwards. The first write records the check (when
    credentials are already stored, only if the key opens them)."""
    check = load_key_check(con)
    if check is None:
        stored = any_sealed(con)
        if stored is not None and not vault.is_current(stored):
            raise VaultKeyError(_NOT_CURRENT)
        save_key_check(con, vault.key_check())
    elif not vault.is_current(check):
        raise VaultKeyError(_NOT_CURRENT)


_NOT_CURRENT = (
    "the vault key is not the vault's current key (a wrong MCA_VAULT_KEY or key file, or one "
    "retired by `mca vault rotate`: restart with the new key); nothing was written"
)


def _reveal(secret: object) -> str | None:
    return secret.get_secret_value() if secret is not None else None  # type: ignore[attr-defined]


def rotate_vault(warehouse: Warehouse, vault: Vault) -> int:
    """Re-encrypt every stored credential with the vault's first key, in one transaction.

    Give the vault [new key, old key(s)]; afterwards the old keys can be dropped.
    """
    with warehouse.connect() as con, transaction(con):
        check = load_key_check(con)
        if check is not None:
            vault.rotate(check)  # the old key must be among the vault's keys
        rows = [(user, plugin, vault.rotate(sealed)) for user, plugin, sealed in all_sealed(con)]
        count = replace_sealed(con, rows)
        save_key_check(con, vault.key_check())
    return count
