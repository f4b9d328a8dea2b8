"""The `mca` command, driven by CliRunner in a throwaway project folder: its own
dagster.yaml/workspace.yaml, DAGSTER_HOME and data folder, so the real repo is untouched."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result
from cryptography.fernet import Fernet
from dagster import DagsterInstance, RunsFilter

from mca_pipeline.auth import Vault, VaultCredentialStore, VaultKeyError
from mca_pipeline.auth.sign_in import hash_token, user_for_token
from mca_pipeline.cli import main
from mca_pipeline.warehouse import SyncAttempt, Warehouse, store_sync
from mca_pipeline.warehouse.accounts import (
    DISCONNECTED,
    add_notification,
    connection_state,
    set_connection_state,
)
from mca_pipeline.warehouse.lake import LakeWarehouse, open_warehouse
from mca_pipeline.warehouse.pauses import pause_sync
from mca_pipeline_tests.conftest import FIXTURES, play
from mca_pipeline_tests.defs.dagster_env import Pipeline

API_KEY = "lastfm-key-7f3a9c0d1e2b4a5f"


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "dagster.yaml").write_text("")
    (tmp_path / "workspace.yaml").write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path))
    monkeypatch.setenv("MCA_DATA_DIR", str(tmp_path / "data"))
    for name in ("MCA_WAREHOUSE", "MCA_VAULT_KEY", "MCA_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def mca(*args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), input=input)


def ok(*args: str, input: str | None = None) -> str:
    result = mca(*args, input=input)
    assert result.exit_code == 0, result.output
    return result.output


def assert_one_line_error(result: Result, *fragments: str) -> None:
    assert result.exit_code != 0
    assert isinstance(result.exception, SystemExit)  # not an exception escaping click
    assert "Traceback" not in result.output
    errors = [line for line in result.output.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.output
    for fragment in fragments:
        assert fragment in errors[0]


def warehouse() -> Warehouse:
    return open_warehouse()


def db_bytes(project: Path) -> bytes:
    files = sorted((project / "data").glob("warehouse.duckdb*"))
    return b"".join(f.read_bytes() for f in files if f.is_file())


def has_partition(user: str) -> bool:
    with DagsterInstance.get() as instance:
        return instance.has_dynamic_partition("users", user)


def sign_in_token(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.startswith("    ")]
    assert len(lines) == 1, output
    return lines[0]


def add_items(user: str, count: int, platform: str = "spotify_export") -> None:
    items = [play(n, platform=platform) for n in range(count)]
    attempt = SyncAttempt(
        user_id=user,
        platform=platform,
        started_at=datetime(2024, 3, 2, tzinfo=UTC),
        cursor_in="",
        cursor_out="done",
        has_more=False,
    )
    with warehouse().connect() as con:
        store_sync(con, attempt, items)


# --- users ----------------------------------------------------------------------------


def test_users_add_prints_the_token_once_and_stores_only_its_hash(project: Path) -> None:
    out = ok("users", "add", "alice")
    token = sign_in_token(out)
    assert "shown only once" in out and "mca web" in out
    assert user_for_token(warehouse(), token) == "alice"
    with warehouse().connect() as con:
        stored = con.execute("SELECT token_hash FROM user_tokens WHERE user_id = 'alice'").fetchall()
    assert stored == [(hash_token(token),)]
    assert token.encode() not in db_bytes(project)
    assert has_partition("alice")

    again = sign_in_token(ok("users", "add", "alice"))
    assert again != token
    assert user_for_token(warehouse(), token) is None
    assert user_for_token(warehouse(), again) == "alice"


def test_users_add_refuses_an_invalid_slug(project: Path) -> None:
    assert_one_line_error(mca("users", "add", "../Alice"), "invalid user id")
    assert not has_partition("../Alice")


def test_users_list_shows_item_counts_and_connected_plugins(project: Path) -> None:
    assert "no users yet" in ok("users", "list")
    ok("users", "add", "alice")
    ok("users", "add", "bob")
    add_items("alice", 3)
    ok("apikey", "set", "lastfm", "--user", "alice", "--account", "mv_listener", input=f"{API_KEY}\n")
    lines = {line.split()[0]: line for line in ok("users", "list").splitlines()[1:]}
    assert lines["alice"].split()[1] == "3" and lines["alice"].endswith("lastfm")
    assert lines["bob"].split()[1] == "0" and lines["bob"].endswith("-")


def test_users_delete_asks_then_removes_rows_files_and_partition(project: Path) -> None:
    ok("users", "add", "alice")
    ok("users", "add", "bob")
    add_items("bob", 2)
    data = project / "data"
    with DagsterInstance.get() as instance:
        pipeline = Pipeline(data, instance)
        pipeline.drop(
            "alice",
            "spotify_export",
            FIXTURES / "spotify_export" / "Streaming_History_Audio_2023-2024_0.json",
        )
        assert pipeline.materialize("alice", "spotify_export", "unified_plays").success
    ok("export", "--user", "alice")
    links = (data / "exports" / "alice" / "unified_plays.jsonl").read_text().splitlines()
    assert len(links) == 6 and {"play_key", "platform", "external_id"} <= json.loads(links[0]).keys()
    ok("report", "--user", "alice")
    for kind in ("inbox", "rejected"):
        folder = data / kind / "alice" / "netflix"
        folder.mkdir(parents=True)
        (folder / "history.csv").write_text("Title,Date\n")
    (data / "inbox" / "bob" / "netflix").mkdir(parents=True)
    written = {
        kind
        for kind in ("inbox", "archive", "rejected", "exports", "reports")
        if (data / kind / "alice").is_dir()
    }
    assert written == {"inbox", "archive", "rejected", "exports", "reports"}

    refused = mca("users", "delete", "alice", input="n\n")
    assert refused.exit_code != 0 and "Aborted" in refused.output
    assert (data / "inbox" / "alice").exists() and has_partition("alice")
    with warehouse().connect() as con:
        assert con.execute("SELECT count(*) FROM media_items WHERE user_id = 'alice'").fetchone() == (8,)

    out = ok("users", "delete", "alice", "--yes")
    assert "media_items 8" in out and "unified_plays 6" in out and "partition" in out and "run(s)" in out
    with warehouse().connect() as con:
        tables = con.execute(
            "SELECT table_name FROM information_schema.columns WHERE column_name = 'user_id'"
        ).fetchall()
        assert len(tables) >= 9
        for (table,) in tables:
            assert con.execute(f"SELECT count(*) FROM {table} WHERE user_id = 'alice'").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM media_items WHERE user_id = 'bob'").fetchone() == (2,)
    assert not [p for p in data.glob("*/alice")], "nothing of alice's is left under data/"
    assert (data / "inbox" / "bob" / "netflix").is_dir()
    assert not has_partition("alice") and has_partition("bob")
    with DagsterInstance.get() as instance:
        assert not instance.get_run_records(filters=RunsFilter(tags={"dagster/partition": "alice"}))

    assert_one_line_error(mca("users", "delete", "alice", "--yes"), "no user 'alice'")


def test_exports_reports_and_the_warehouse_are_owner_only(project: Path) -> None:
    ok("users", "add", "alice")
    add_items("alice", 3)
    ok("export", "--user", "alice")
    ok("report", "--user", "alice")
    written = [p for p in (project / "data").rglob("*") if p.is_file()]
    assert {p.parent.name for p in written} >= {"data", "alice"} and len(written) >= 6
    assert {str(p): oct(p.stat().st_mode & 0o777) for p in written if p.stat().st_mode & 0o077} == {}


def test_users_delete_confirmed_interactively(project: Path) -> None:
    ok("users", "add", "carol")
    out = ok("users", "delete", "carol", input="y\n")
    assert "is gone" in out and not has_partition("carol")


# --- connect, apikey ------------------------------------------------------------------


def test_connect_prints_the_web_app_url_or_points_elsewhere(project: Path) -> None:
    ok("users", "add", "alice")
    out = ok("connect", "spotify", "--user", "alice")
    assert "http://127.0.0.1:8642/api/v1/plugins/spotify/connect" in out and "mca web" in out
    assert "http://127.0.0.1:9000/api/v1/plugins/spotify/connect" in ok(
        "connect", "spotify", "--user", "alice", "--port", "9000"
    )
    assert "mca apikey set lastfm --user alice" in ok("connect", "lastfm", "--user", "alice")
    assert "mca import" in ok("connect", "netflix", "--user", "alice")
    assert_one_line_error(mca("connect", "myspace", "--user", "alice"), "unknown plugin 'myspace'")
    assert_one_line_error(mca("connect", "spotify", "--user", "nobody"), "no user 'nobody'")


def test_apikey_set_stores_the_key_encrypted_and_marks_connected(project: Path) -> None:
    ok("users", "add", "alice")
    result = mca("apikey", "set", "lastfm", "--user", "alice", input=f"{API_KEY}\nmv_listener\n")
    assert result.exit_code == 0, result.output
    assert API_KEY not in result.output
    assert API_KEY.encode() not in db_bytes(project)

    creds = VaultCredentialStore(warehouse()).load("alice", "lastfm")
    assert creds is not None and creds.api_key is not None
    assert creds.api_key.get_secret_value() == API_KEY
    assert creds.account == "mv_listener"
    with warehouse().connect() as con:
        assert connection_state(con, "alice", "lastfm") == ("connected", "API key set with mca apikey set")


def test_apikey_set_refuses_other_plugins_and_unknown_users(project: Path) -> None:
    ok("users", "add", "alice")
    assert_one_line_error(
        mca("apikey", "set", "spotify", "--user", "alice", input=f"{API_KEY}\nx\n"),
        "does not use an API key",
    )
    assert_one_line_error(
        mca("apikey", "set", "lastfm", "--user", "bob", "--account", "x", input=f"{API_KEY}\n"),
        "no user 'bob'",
    )
    assert VaultCredentialStore(warehouse()).users_with("spotify") == []


def test_disconnect_deletes_the_credentials_and_marks_disconnected(project: Path) -> None:
    from mca_pipeline.core import Credentials

    ok("users", "add", "alice")
    ok("apikey", "set", "lastfm", "--user", "alice", "--account", "mv", input=f"{API_KEY}\n")
    VaultCredentialStore(warehouse()).save("alice", "spotify", Credentials(refresh_token="refresh-1"))

    out = ok("disconnect", "lastfm", "--user", "alice")
    assert "deleted" in out and "disconnected" in out
    spotify_out = ok("disconnect", "spotify", "--user", "alice")
    assert "offers no revocation" in spotify_out, "Spotify tokens can only be revoked on spotify.com"
    store = VaultCredentialStore(warehouse())
    assert store.load("alice", "lastfm") is None and store.load("alice", "spotify") is None
    with warehouse().connect() as con:
        assert connection_state(con, "alice", "lastfm") == (
            "disconnected",
            "disconnected with mca disconnect",
        )
    assert_one_line_error(mca("disconnect", "netflix", "--user", "alice"), "no connection to end")
    assert_one_line_error(mca("disconnect", "lastfm", "--user", "bob"), "no user 'bob'")


# --- import ---------------------------------------------------------------------------


def test_import_copies_into_the_inbox(project: Path, tmp_path_factory: pytest.TempPathFactory) -> None:
    export = tmp_path_factory.mktemp("downloads") / "NetflixViewingHistory.csv"
    export.write_text('Title,Date\n"Dark: Season 1: Secrets","3/1/24"\n')
    out = ok("import", str(export), "--user", "alice", "--plugin", "netflix")
    target = project / "data" / "inbox" / "alice" / "netflix" / export.name
    assert target.read_text() == export.read_text()
    assert export.exists()  # copied, not moved
    assert str(target) in out and "within a minute" in out and "mca ui" in out
    assert [p.name for p in target.parent.iterdir()] == [export.name]  # no partial file left

    assert_one_line_error(
        mca("import", str(export), "--user", "alice", "--plugin", "netflix"), "already waiting"
    )


def test_import_rejects_bad_requests_with_one_line(project: Path) -> None:
    export = project / "history.csv"
    export.write_text("Title,Date\n")
    assert_one_line_error(
        mca("import", str(export), "--user", "alice", "--plugin", "myspace"), "unknown plugin 'myspace'"
    )
    assert_one_line_error(
        mca("import", str(export), "--user", "alice", "--plugin", "spotify"), "does not import files"
    )
    assert_one_line_error(
        mca("import", str(export), "--user", "Al/ice", "--plugin", "netflix"), "invalid user id"
    )
    assert_one_line_error(
        mca("import", str(project / "missing.csv"), "--user", "alice", "--plugin", "netflix"), "no such file"
    )
    assert not (project / "data" / "inbox").exists()


def test_import_resolves_a_relative_file_against_the_cwd(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sub = project / "downloads"
    sub.mkdir()
    (sub / "history.csv").write_text("Title,Date\n")
    monkeypatch.chdir(sub)  # mca moves to the project root; the path must still be found
    ok("import", "history.csv", "--user", "alice", "--plugin", "netflix")
    assert (project / "data" / "inbox" / "alice" / "netflix" / "history.csv").is_file()


def test_import_without_a_plugin_places_an_archive_for_unpacking(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    import zipfile

    archive = tmp_path_factory.mktemp("downloads") / "my_spotify_data.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("Spotify Extended Streaming History/Streaming_History_Audio_2024_0.json", "[]")
    out = ok("import", str(archive), "--user", "alice")
    target = project / "data" / "inbox" / "alice" / archive.name
    assert target.read_bytes() == archive.read_bytes()
    assert str(target) in out and "unpacks it" in out and "data/archive/alice/arrivals/" in out
    assert [p.name for p in target.parent.iterdir()] == [archive.name]  # no partial copy left
    assert_one_line_error(mca("import", str(archive), "--user", "alice"), "already waiting")


def test_import_of_a_folder_copies_it_whole_without_a_plugin_only(
    project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    folder = tmp_path_factory.mktemp("downloads") / "netflix-report"
    (folder / "CONTENT_INTERACTION").mkdir(parents=True)
    (folder / "CONTENT_INTERACTION" / "ViewingActivity.csv").write_text("Profile Name,Start Time\n")
    assert_one_line_error(mca("import", str(folder), "--user", "alice", "--plugin", "netflix"), "is a folder")
    ok("import", str(folder), "--user", "alice")
    copied = (
        project
        / "data"
        / "inbox"
        / "alice"
        / "netflix-report"
        / "CONTENT_INTERACTION"
        / "ViewingActivity.csv"
    )
    assert copied.read_text() == "Profile Name,Start Time\n"
    assert sorted(p.name for p in copied.parents[2].iterdir()) == ["netflix-report"]


# --- status ---------------------------------------------------------------------------


def test_status_shows_connections_last_sync_and_notifications(project: Path) -> None:
    ok("users", "add", "alice")
    add_items("alice", 5)
    with warehouse().connect() as con:
        set_connection_state(con, "alice", "spotify", DISCONNECTED, "refresh token refused")
        add_notification(
            con, "alice", "spotify", "disconnected", "Reconnect Spotify: the refresh was refused"
        )
    out = ok("status", "--user", "alice")
    rows = {line.split()[0]: line for line in out.splitlines() if line.split()}
    assert "oauth" in rows["spotify"] and "disconnected (refresh token refused)" in rows["spotify"]
    assert "never" in rows["spotify"]
    export_row = rows["spotify_export"]
    assert "file_import" in export_row and "success, 5 new" in export_row
    assert export_row.split()[2] == "5"  # items
    assert "not connected" in rows["lastfm"]
    assert "1 unread notification" in out
    assert "spotify disconnected: Reconnect Spotify: the refresh was refused" in out

    assert_one_line_error(mca("status", "--user", "nobody"), "no user 'nobody'")


def test_status_shows_a_sync_waiting_for_a_long_rate_limit(project: Path) -> None:
    ok("users", "add", "alice")
    reset = datetime.now(UTC) + timedelta(hours=11)
    with warehouse().connect() as con:
        pause_sync(con, "alice", "youtube", reset, "YouTube daily quota exhausted")
        pause_sync(con, "alice", "spotify", datetime.now(UTC) - timedelta(minutes=1), "over")
    rows = {line.split()[0]: line for line in ok("status", "--user", "alice").splitlines() if line.split()}
    assert f"waiting until {reset.strftime('%Y-%m-%d %H:%M')} UTC (rate limit)" in rows["youtube"]
    assert "waiting" not in rows["spotify"], "a pause that has ended is not shown"


def test_status_counts_an_import_by_its_files_not_its_last_file(project: Path) -> None:
    ok("users", "add", "alice")
    spotify = FIXTURES / "spotify_export"
    with DagsterInstance.get() as instance:
        pipeline = Pipeline(project / "data", instance)
        pipeline.drop(
            "alice",
            "spotify_export",
            spotify / "Streaming_History_Audio_2023-2024_0.json",
            spotify / "Streaming_History_Audio_2023-2024_1.json",
            spotify / "truncated.json",  # sorted last: the run's last file is the broken one
        )
        assert not pipeline.materialize("alice", "spotify_export").success
    [(stored,)] = pipeline.count("SELECT count(*) FROM media_items WHERE platform = 'spotify_export'")
    rows = {line.split()[0]: line for line in ok("status", "--user", "alice").splitlines() if line.split()}
    row = rows["spotify_export"]
    assert f"2 file(s) imported, {stored:,} new; 1 rejected" in row
    assert "failed" not in row and "partial" not in row


def test_status_lists_what_the_inbox_leaves_alone(project: Path) -> None:
    ok("users", "add", "alice")
    inbox = project / "data" / "inbox"
    (inbox / "Alice" / "netflix").mkdir(parents=True)
    (inbox / "Alice" / "netflix" / "NetflixViewingHistory.csv").write_text("Title,Date\n")
    (inbox / "takeout.zip").write_bytes(b"PK")
    (inbox / "alice").mkdir()
    (inbox / "alice" / "my_spotify_data.zip").write_bytes(b"PK")  # in place: to be unpacked
    for out in (ok("status", "--user", "alice"), ok("status")):
        assert "2 entries in the inbox left alone:" in out
        assert f"{inbox / 'Alice'}: 'Alice' is not a user id" in out and "rename it to 'alice'" in out
        assert f"{inbox / 'takeout.zip'}: files go in a user's folder" in out
        assert "my_spotify_data" not in out
    assert "alice" in ok("status").splitlines()[1], "without --user: the users, then the inbox"

    (inbox / "takeout.zip").rename(inbox / "alice" / "takeout.zip")
    (inbox / "Alice").rename(inbox / "alice" / "unpacked")
    assert "left alone" not in ok("status", "--user", "alice")


# --- export ---------------------------------------------------------------------------


def test_export_jsonl_has_one_object_per_item(project: Path) -> None:
    ok("users", "add", "alice")
    ok("users", "add", "bob")
    add_items("alice", 3)
    add_items("bob", 1)
    ok("apikey", "set", "lastfm", "--user", "alice", "--account", "mv", input=f"{API_KEY}\n")
    out = ok("export", "--user", "alice")
    folder = project / "data" / "exports" / "alice"
    path = folder / "media_items.jsonl"
    assert str(path) in out
    assert sorted(p.name for p in folder.iterdir()) == [
        "aliases.jsonl",
        "connections.jsonl",
        "media_items.jsonl",
        "notifications.jsonl",
        "separate_plays.jsonl",
        "sync_log.jsonl",
        "unified_plays.jsonl",
        "user.jsonl",
    ]
    [user] = [json.loads(line) for line in (folder / "user.jsonl").read_text().splitlines()]
    assert user["user_id"] == "alice" and user["timezone"] == "UTC" and "token_hash" not in user
    [connection] = [json.loads(line) for line in (folder / "connections.jsonl").read_text().splitlines()]
    assert (connection["plugin"], connection["state"]) == ("lastfm", "connected")
    assert all(API_KEY not in f.read_text() for f in folder.iterdir())
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(records) == 3
    assert {r["user_id"] for r in records} == {"alice"}
    assert records[0]["raw_metadata"] == {"album": "Night Lines", "n": 0}
    assert records[0]["title"] == "Track 0"
    assert API_KEY not in path.read_text()


def test_export_parquet_is_readable_by_duckdb(project: Path) -> None:
    ok("users", "add", "alice")
    add_items("alice", 4)
    ok("export", "--user", "alice", "--format", "parquet", "--out", str(project / "out"))
    out_file = project / "out" / "media_items.parquet"
    con = duckdb.connect()
    rows = con.execute("SELECT user_id, title, raw_metadata FROM read_parquet(?)", [str(out_file)]).fetchall()
    assert len(rows) == 4
    assert {r[0] for r in rows} == {"alice"}
    assert json.loads(rows[0][2]) == {"album": "Night Lines", "n": 0}


# --- vault ----------------------------------------------------------------------------


def test_vault_rotate_with_the_key_file(project: Path) -> None:
    ok("users", "add", "alice")
    ok("apikey", "set", "lastfm", "--user", "alice", "--account", "mv", input=f"{API_KEY}\n")
    key_file = project / "data" / "vault.key"
    old = key_file.read_text().strip().encode()

    out = ok("vault", "rotate")
    assert "1 credential" in out and "key file" in out
    new = key_file.read_text().strip().encode()
    assert new != old and b"," not in new  # only the new key remains
    assert new.decode() not in out and old.decode() not in out
    assert key_file.stat().st_mode & 0o777 == 0o600

    creds = VaultCredentialStore(warehouse()).load("alice", "lastfm")  # reads the key file
    assert creds is not None and creds.api_key is not None
    assert creds.api_key.get_secret_value() == API_KEY
    with pytest.raises(VaultKeyError):
        VaultCredentialStore(warehouse(), Vault([old])).load("alice", "lastfm")


def test_vault_rotate_with_the_env_key_prints_the_new_key(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    old = Fernet.generate_key()
    monkeypatch.setenv("MCA_VAULT_KEY", old.decode())
    ok("users", "add", "alice")
    ok("apikey", "set", "lastfm", "--user", "alice", "--account", "mv", input=f"{API_KEY}\n")

    out = ok("vault", "rotate")
    assert "MCA_VAULT_KEY" in out and old.decode() not in out
    new = sign_in_token(out).encode()
    assert not (project / "data" / "vault.key").exists()
    saved = project / "data" / "vault.key.rotated"
    assert str(saved) in out and saved.stat().st_mode & 0o777 == 0o600
    assert saved.read_text().strip().split(",") == [new.decode(), old.decode()]
    creds = VaultCredentialStore(warehouse(), Vault([new])).load("alice", "lastfm")
    assert creds is not None and creds.api_key is not None
    assert creds.api_key.get_secret_value() == API_KEY
    with pytest.raises(VaultKeyError):
        VaultCredentialStore(warehouse(), Vault([old])).load("alice", "lastfm")


def test_an_env_key_rotation_whose_output_is_lost_leaves_the_key_on_disk(project: Path) -> None:
    """`MCA_VAULT_KEY=$K mca vault rotate | head -n1`: the new key was printed last, into
    a pipe already closed; nothing else held it."""
    old = Fernet.generate_key()
    env = {**os.environ, "MCA_VAULT_KEY": old.decode()}
    ok("users", "add", "alice")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MCA_VAULT_KEY", old.decode())
        ok("apikey", "set", "lastfm", "--user", "alice", "--account", "mv", input=f"{API_KEY}\n")
    mca_bin = Path(sys.executable).with_name("mca")
    shown = subprocess.run(
        f"'{mca_bin}' vault rotate | head -n1",
        shell=True,
        env=env,
        cwd=project,
        capture_output=True,
        text=True,
    )
    assert "re-encrypted 1 credential" in shown.stdout
    [new, _] = (project / "data" / "vault.key.rotated").read_text().strip().split(",")
    creds = VaultCredentialStore(warehouse(), Vault([new.encode()])).load("alice", "lastfm")
    assert creds is not None and creds.api_key is not None
    assert creds.api_key.get_secret_value() == API_KEY


def test_a_malformed_vault_key_is_one_line_before_any_prompt(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok("users", "add", "alice")
    monkeypatch.setenv("MCA_VAULT_KEY", "not-a-fernet-key")
    result = mca("apikey", "set", "lastfm", "--user", "alice", "--account", "mv", input=f"{API_KEY}\n")
    assert_one_line_error(result, "vault key is malformed")
    assert "API key:" not in result.output
    assert_one_line_error(mca("vault", "rotate"), "vault key is malformed")


def test_a_wrong_vault_key_is_one_line_and_changes_nothing(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ok("users", "add", "alice")
    ok("apikey", "set", "lastfm", "--user", "alice", "--account", "mv", input=f"{API_KEY}\n")
    monkeypatch.setenv("MCA_VAULT_KEY", Fernet.generate_key().decode())
    assert_one_line_error(mca("vault", "rotate"), "cannot be opened")
    other = mca("apikey", "set", "lastfm", "--user", "alice", "--account", "x", input=f"{API_KEY}\n")
    assert_one_line_error(other, "not the vault's current key")
    assert "API key:" not in other.output, "refused before the secret is asked for"
    monkeypatch.delenv("MCA_VAULT_KEY")
    creds = VaultCredentialStore(warehouse()).load("alice", "lastfm")
    assert creds is not None and creds.api_key is not None
    assert creds.api_key.get_secret_value() == API_KEY


def test_credentials_are_not_printed_by_any_read_command(project: Path) -> None:
    ok("users", "add", "alice")
    ok("apikey", "set", "lastfm", "--user", "alice", "--account", "mv", input=f"{API_KEY}\n")
    for args in (("users", "list"), ("status", "--user", "alice"), ("connect", "lastfm", "--user", "alice")):
        assert API_KEY not in ok(*args)


def test_connect_a_public_data_source_with_an_account(project: Path) -> None:
    ok("users", "add", "alice")
    out = ok("connect", "listenbrainz", "--user", "alice", "--account", "mv_listener")
    assert "mv_listener" in out
    creds = VaultCredentialStore(open_warehouse(), Vault()).load("alice", "listenbrainz")
    assert creds is not None and creds.account == "mv_listener"
    assert_one_line_error(mca("connect", "listenbrainz", "--user", "alice"), "--account")


def test_demo_imports_every_bundled_sample_and_a_second_run_adds_nothing(project: Path) -> None:
    first = ok("demo")
    for source in ("netflix", "spotify_export", "tiktok", "youtube_takeout", "instapaper"):
        line = next(row for row in first.splitlines() if row.startswith(source + " "))
        assert "new      0" not in line and "files 0" not in line, line
    assert "media_history" in first and "unified_plays" in first
    assert "Dagster:" in first and "Warehouse:" in first
    again = ok("demo")
    for source in ("netflix", "spotify_export", "tiktok", "youtube_takeout", "instapaper"):
        line = next(row for row in again.splitlines() if row.startswith(source + " "))
        assert "new      0" in line, line
    instance = DagsterInstance.get()
    assert instance.has_dynamic_partition("users", "demo")
    assert len(instance.get_runs()) == 2


def test_report_writes_a_year_in_review_page(project: Path) -> None:
    ok("users", "add", "alice")
    add_items("alice", 3)
    out = ok("report", "--user", "alice", "--year", "2024")
    path = project / "data" / "reports" / "alice" / "2024.html"
    assert str(path) in out
    page = path.read_text()
    assert page.count('<svg class="chart"') == 5 and "alice" in page
    # Issue 16 changed this: a year with nothing is an error naming the years there are.
    assert_one_line_error(mca("report", "--user", "alice", "--year", "2019"), "nothing dated in 2019", "2024")
    assert not (project / "data" / "reports" / "alice" / "2019.html").exists()
    ok("users", "add", "bob")
    assert "0 plays" in ok("report", "--user", "bob", "--year", "2019"), "nobody's first page says so"


def test_aliases_separate_plays_and_why_recompute_one_user(project: Path) -> None:
    from mca_pipeline.core import MediaItem

    def song(platform: str, key: str, when: str, artist: str, spent: float | None) -> MediaItem:
        return MediaItem(
            platform=platform,
            type="music",
            title="Halo",
            creator=artist,
            consumed_at=datetime.fromisoformat(when).replace(tzinfo=UTC),
            time_spent=timedelta(seconds=spent) if spent is not None else None,
            external_id=key,
        )

    ok("users", "add", "alice")
    with warehouse().connect() as con:
        for platform, items in (
            ("spotify_export", [song("spotify_export", "s1", "2024-01-02T09:00:00", "Beyoncé", 180)]),
            ("lastfm", [song("lastfm", "l1", "2024-01-02T09:01:00", "Queen B", None)]),
        ):
            store_sync(
                con, SyncAttempt("alice", platform, datetime(2024, 2, 1, tzinfo=UTC), "", "c", False), items
            )

    out = ok("alias", "add", "--user", "alice", "--artist", "Queen B", "--is", "Beyoncé")
    assert "artist 'queen b' is now counted as 'Beyoncé'" in out
    assert "recomputed alice: 2 music rows are 1 plays; 1 report(s) rewritten" in out
    page = (project / "data" / "reports" / "alice" / "2024.html").read_text(encoding="utf-8")
    assert "Queen B" not in page and "1 play ·" in page

    out = ok("why", "--user", "alice")
    assert "lastfm:l1  Queen B - Halo" in out and "counted as spotify_export:s1" in out
    assert "counting your aliases, 60 s apart" in out and "1 linked row(s)" in out
    assert "'queen b' -> 'Beyoncé'" in ok("alias", "list", "--user", "alice")

    out = ok("separate", "--user", "alice", "lastfm:l1", "spotify_export:s1")
    assert "2 music rows are 2 plays" in out
    assert "0 linked row(s)" in ok("why", "--user", "alice")
    assert "apart  lastfm:l1  /  spotify_export:s1" in ok("alias", "list", "--user", "alice")

    assert_one_line_error(
        mca("separate", "--user", "alice", "lastfm:l1", "lastfm:nope"), "not two stored rows"
    )
    assert_one_line_error(mca("alias", "add", "--user", "alice", "--is", "X"), "--artist")
    assert_one_line_error(mca("alias", "remove", "--user", "alice", "--title", "Halo"), "no title alias")


@pytest.mark.lake
def test_a_persons_commands_read_and_write_a_lake(
    project: Path, lake: LakeWarehouse, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With MCA_WAREHOUSE naming a lake, every command works on it, and no file appears."""
    monkeypatch.setenv("MCA_WAREHOUSE", lake.catalog)
    monkeypatch.setenv("MCA_WAREHOUSE_DATA_PATH", lake.data_path)
    token = sign_in_token(ok("users", "add", "alice"))
    ok("users", "add", "bob")
    assert user_for_token(warehouse(), token) == "alice"
    add_items("alice", 3)
    add_items("bob", 1)
    ok("apikey", "set", "lastfm", "--user", "alice", "--account", "mv", input=f"{API_KEY}\n")
    lines = {line.split()[0]: line for line in ok("users", "list").splitlines()[1:]}
    assert lines["alice"].split()[1] == "3" and lines["alice"].endswith("lastfm")
    status = {line.split()[0]: line for line in ok("status", "--user", "alice").splitlines()[2:] if line}
    assert "connected (API key set" in status["lastfm"] and "success, 3 new" in status["spotify_export"]

    ok("export", "--user", "alice", "--out", str(project / "it's here"))
    exported = (project / "it's here" / "media_items.jsonl").read_text().splitlines()
    assert len(exported) == 3 and {json.loads(line)["user_id"] for line in exported} == {"alice"}
    ok("report", "--user", "alice")
    assert list((project / "data" / "reports" / "alice").glob("*.html"))

    out = ok("users", "delete", "alice", "--yes")
    assert "media_items 3" in out
    with warehouse().connect() as con:
        left = con.execute("SELECT user_id, count(*) FROM media_items GROUP BY ALL").fetchall()
    assert left == [("bob", 1)]
    assert not list((project / "data").glob("warehouse.duckdb*"))


@pytest.mark.lake
def test_warehouse_migrate_copies_the_file_into_a_lake_and_resumes(
    project: Path, lake: LakeWarehouse
) -> None:
    ok("users", "add", "alice")
    add_items("alice", 7)
    out = ok("warehouse", "migrate", "--to", lake.catalog, "--data-path", lake.data_path)
    [media] = [line.split() for line in out.splitlines() if line.startswith("media_items")]
    assert media == ["media_items", "copied", "7", "file", "7", "lake", "7"]
    assert "set MCA_WAREHOUSE to the lake's catalog" in out
    again = ok("warehouse", "migrate", "--to", lake.catalog, "--data-path", lake.data_path)
    assert [line.split()[2] for line in again.splitlines() if "copied" in line] == ["0"] * out.count("copied")
    assert_one_line_error(
        mca("warehouse", "migrate", "--to", lake.catalog, "--from", str(project / "nothing.duckdb")),
        "no warehouse file",
    )
