"""The credential vault: secrets are encrypted at rest, a wrong key fails clearly, and
rotation re-encrypts every row."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from mca_pipeline.auth import Vault, VaultCredentialStore, VaultKeyError
from mca_pipeline.auth.sign_in import hash_token, issue_token, user_for_token
from mca_pipeline.auth.vault import load_keys, rotate_vault
from mca_pipeline.core import Credentials
from mca_pipeline.warehouse import Warehouse
from mca_pipeline_tests.conftest import stored_bytes

SECRET_TOKEN = "BQDx-very-secret-access-token-9kQ"
SECRET_KEY = "lastfm-api-key-0123456789abcdef"


def spotify_creds() -> Credentials:
    return Credentials(
        access_token=SECRET_TOKEN, refresh_token="AQCy-refresh-Zp0", scopes=("user-read-recently-played",)
    )


def test_credentials_round_trip_and_are_encrypted_on_disk(warehouse: Warehouse) -> None:
    store = VaultCredentialStore(warehouse, Vault([Fernet.generate_key()]))
    store.save("alice", "spotify", spotify_creds())
    store.save("alice", "lastfm", Credentials(api_key=SECRET_KEY, account="mv_listener"))
    loaded = store.load("alice", "spotify")
    assert loaded is not None and loaded.access_token is not None
    assert loaded.access_token.get_secret_value() == SECRET_TOKEN
    assert loaded.scopes == ("user-read-recently-played",)
    lastfm = store.load("alice", "lastfm")
    assert lastfm is not None and lastfm.account == "mv_listener"
    assert store.users_with("spotify") == ["alice"]
    assert store.load("bob", "spotify") is None
    on_disk = stored_bytes(warehouse)
    assert b"mv_listener" not in on_disk  # the account is sealed too; and the check below can fail:
    assert b"alice" in on_disk
    for secret in (SECRET_TOKEN, "AQCy-refresh-Zp0", SECRET_KEY):
        assert secret.encode() not in on_disk
    assert store.delete("alice", "spotify") and store.load("alice", "spotify") is None


def test_a_wrong_key_is_a_clear_error_without_secrets(warehouse: Warehouse) -> None:
    VaultCredentialStore(warehouse, Vault([Fernet.generate_key()])).save("alice", "spotify", spotify_creds())
    with pytest.raises(VaultKeyError, match="does not open the stored credentials") as info:
        VaultCredentialStore(warehouse, Vault([Fernet.generate_key()])).load("alice", "spotify")
    assert SECRET_TOKEN not in str(info.value) and info.value.__cause__ is None
    with pytest.raises(VaultKeyError, match="malformed"):
        Vault([b"not-a-fernet-key"])


def test_rotation_re_encrypts_every_row(warehouse: Warehouse) -> None:
    old, new = Fernet.generate_key(), Fernet.generate_key()
    store = VaultCredentialStore(warehouse, Vault([old]))
    for user in ("alice", "bob", "carol"):
        store.save(user, "spotify", spotify_creds())
    assert rotate_vault(warehouse, Vault([new, old])) == 3
    rotated = VaultCredentialStore(warehouse, Vault([new]))
    for user in ("alice", "bob", "carol"):
        creds = rotated.load(user, "spotify")
        assert creds is not None and creds.access_token is not None
        assert creds.access_token.get_secret_value() == SECRET_TOKEN
    with pytest.raises(VaultKeyError):
        VaultCredentialStore(warehouse, Vault([old])).load("alice", "spotify")


def test_a_process_holding_a_retired_key_cannot_write(warehouse: Warehouse) -> None:
    """A daemon that loaded the key before `mca vault rotate` would seal new tokens with
    the retired key: nothing could open them afterwards."""
    old, new = Fernet.generate_key(), Fernet.generate_key()
    before = VaultCredentialStore(warehouse, Vault([old]))
    before.save("alice", "spotify", spotify_creds())
    rotate_vault(warehouse, Vault([new, old]))
    with pytest.raises(VaultKeyError, match="not the vault's current key"):
        before.save("alice", "spotify", spotify_creds())
    after = VaultCredentialStore(warehouse, Vault([new]))
    after.save("bob", "lastfm", Credentials(api_key=SECRET_KEY, account="mv"))
    assert after.load("alice", "spotify") is not None and after.users_with("lastfm") == ["bob"]


def test_a_well_formed_wrong_key_cannot_write_and_rotation_still_works(warehouse: Warehouse) -> None:
    right, wrong = Fernet.generate_key(), Fernet.generate_key()
    VaultCredentialStore(warehouse, Vault([right])).save("alice", "spotify", spotify_creds())
    with pytest.raises(VaultKeyError, match="not the vault's current key"):
        VaultCredentialStore(warehouse, Vault([wrong])).save("bob", "lastfm", Credentials(api_key=SECRET_KEY))
    assert VaultCredentialStore(warehouse, Vault([right])).users_with("lastfm") == []
    newest = Fernet.generate_key()
    assert rotate_vault(warehouse, Vault([newest, right])) == 1
    assert VaultCredentialStore(warehouse, Vault([newest])).load("alice", "spotify") is not None


def test_credentials_stored_before_the_key_check_are_checked_on_the_first_write(warehouse: Warehouse) -> None:
    right, wrong = Fernet.generate_key(), Fernet.generate_key()
    VaultCredentialStore(warehouse, Vault([right])).save("alice", "spotify", spotify_creds())
    with warehouse.connect() as con:
        con.execute("DELETE FROM vault_check")  # a vault from before the check existed
    with pytest.raises(VaultKeyError):
        VaultCredentialStore(warehouse, Vault([wrong])).save("bob", "lastfm", Credentials(api_key=SECRET_KEY))
    VaultCredentialStore(warehouse, Vault([right])).save("bob", "lastfm", Credentials(api_key=SECRET_KEY))


def test_embedded_default_generates_an_owner_only_key_file_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MCA_VAULT_KEY", raising=False)
    monkeypatch.setenv("MCA_DATA_DIR", str(tmp_path / "data"))
    first = load_keys()
    key_file = tmp_path / "data" / "vault.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert load_keys() == first, "made once, then reused"
    monkeypatch.setenv("MCA_VAULT_KEY", Fernet.generate_key().decode())
    assert load_keys() != first, "the environment wins"


def test_sign_in_tokens_are_stored_only_as_hashes(warehouse: Warehouse) -> None:
    token = issue_token(warehouse, "alice")
    assert user_for_token(warehouse, token) == "alice"
    assert user_for_token(warehouse, token + "x") is None
    with warehouse.connect() as con:
        stored = con.execute("SELECT token_hash FROM user_tokens").fetchall()
    assert stored == [(hash_token(token),)] and token not in stored[0][0]
    renewed = issue_token(warehouse, "alice")
    assert user_for_token(warehouse, token) is None and user_for_token(warehouse, renewed) == "alice"
