"""The signed-in person's own page in the connect app: what each source holds, when it
last and next syncs, what went wrong and what to do, imports in progress (from the run's
own sync_log pages), their year-in-review pages, and corrections that recompute only
their history."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mca_pipeline.analysis.report import write_report
from mca_pipeline.analysis.report_data import ReportData
from mca_pipeline.core import ErrorCode, MediaItem, PluginError
from mca_pipeline.warehouse import SyncAttempt, store_sync
from mca_pipeline.warehouse.accounts import CONNECTED, NEEDS_REAUTH, set_connection_state
from mca_pipeline_tests.auth.test_web_app import Env

T0 = datetime(2024, 1, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Env:
    monkeypatch.setenv("SPOTIFY_CLIENT_ID", "client-123")
    return Env(tmp_path)


def song(platform: str, key: str, at: datetime, artist: str, spent: float | None = None) -> MediaItem:
    return MediaItem(
        platform=platform,
        type="music",
        title="Halo",
        creator=artist,
        consumed_at=at,
        time_spent=timedelta(seconds=spent) if spent is not None else None,
        external_id=key,
    )


def store(env: Env, user: str, platform: str, items: list[MediaItem], **attempt: object) -> None:
    with env.warehouse.connect() as con:
        fields = {
            "started_at": datetime.now(UTC),
            "cursor_in": "",
            "cursor_out": "c",
            "has_more": False,
        } | attempt
        store_sync(con, SyncAttempt(user, platform, **fields), items)  # type: ignore[arg-type]


def row(page: str, plugin: str) -> str:
    match = re.search(rf'<tr id="plugin-{plugin}">(.*?)</tr>', page, re.S)
    assert match, plugin
    return re.sub(r"<[^>]+>", " ", match.group(1))


def test_each_source_shows_what_is_stored_when_and_what_to_do(env: Env) -> None:
    store(
        env,
        "alice",
        "spotify_export",
        [song("spotify_export", f"s{n}", T0 + timedelta(minutes=4 * n), "Beyoncé", 200) for n in range(3)],
        source="Streaming_History_Audio_2024_0.json",
        run_id="run-1",
    )
    store(env, "bob", "spotify_export", [song("spotify_export", "b", T0, "Queen B", 200)])
    expired = PluginError(code=ErrorCode.AUTH_EXPIRED, message="Last.fm says the session key is invalid")
    store(env, "alice", "lastfm", [], error=expired, run_id="run-2")
    with env.warehouse.connect() as con:
        set_connection_state(con, "alice", "lastfm", NEEDS_REAUTH, "Last.fm refused the stored key")
        set_connection_state(con, "alice", "listenbrainz", CONNECTED, "added")
    client, _ = env.signed_in("alice")
    page = client.get("/").text

    assert "3 items from 1 source" in page and "2 problem(s) to look at" in page
    spotify_export = row(page, "spotify_export")
    assert "Spotify — data download" in spotify_export and " 3 " in spotify_export
    assert "1 file(s), 3 new" in spotify_export and "when you upload an export" in spotify_export
    lastfm = row(page, "lastfm")
    assert "Last.fm refused the stored key" in lastfm and "Reconnect this source" in lastfm
    assert "Last.fm says the session key is invalid" in lastfm and "after you reconnect" in lastfm
    # ListenBrainz syncs at minute 30 of every hour: the next one is within the hour.
    assert re.search(r"in (\d+ min|a minute|1 h)", row(page, "listenbrainz")), row(page, "listenbrainz")
    assert "after you connect" in row(page, "spotify")
    assert "Queen B" not in page  # bob's history is his


def test_imports_in_progress_show_records_and_bytes_read_so_far(env: Env) -> None:
    inbox = env.folders.inbox("alice", "spotify_export")
    inbox.mkdir(parents=True)
    reading = inbox / "Streaming_History_Audio_2019-2024_0.json"
    reading.write_bytes(b"[" + b" " * 998 + b"]")
    waiting = inbox / "Streaming_History_Audio_2019-2024_1.json"
    waiting.write_bytes(b"[]")
    arrived = datetime.now(UTC) - timedelta(minutes=5)
    os.utime(reading, (arrived.timestamp(), arrived.timestamp()))
    # An older run of a file with the same name (long archived) does not count.
    store(
        env,
        "alice",
        "spotify_export",
        [],
        source=reading.name,
        run_id="old",
        started_at=arrived - timedelta(days=30),
        cursor_out='{"file":"a","offset":990}',
    )
    for page_no in range(2):  # the running import stored two pages of 60 records
        store(
            env,
            "alice",
            "spotify_export",
            [
                song("spotify_export", f"p{page_no}-{n}", T0 + timedelta(minutes=n), "Beyoncé", 200)
                for n in range(60)
            ],
            source=reading.name,
            run_id="run-7",
            started_at=datetime.now(UTC),
            cursor_out=f'{{"file":"a","offset":{200 * (page_no + 1)}}}',
        )
    (env.folders.inbox_root / "alice" / "my_spotify_data.zip").write_bytes(b"PK\x03\x04" + b"\0" * 60)
    client, _ = env.signed_in("alice")
    page = client.get("/").text
    imports = page.split('id="imports"')[1].split("</ul>")[0]
    assert "120 records and 400 of 1,000 bytes read (40%)" in imports
    assert '<progress max="1000" value="400">' in imports
    assert f"{waiting.name}</strong> (spotify_export) <progress></progress><br>2 bytes, waiting" in imports
    assert "my_spotify_data.zip</strong> (arrived)" in imports


def test_year_in_review_pages_are_the_users_own(env: Env) -> None:
    write_report(
        ReportData(user_id="alice", year=2024, views_by_kind={"music": 3}, real_plays=3), env.folders.data_dir
    )
    client, _ = env.signed_in("alice")
    assert 'href="/reports/2024"' in client.get("/").text
    report = client.get("/reports/2024")
    assert report.status_code == 200 and "Your 2024 in media" in report.text
    # The report's inline styles and data: images are allowed for that page only.
    assert report.headers["content-security-policy"].startswith(
        "default-src 'none'; style-src 'unsafe-inline'"
    )
    assert client.get("/").headers["content-security-policy"].startswith("default-src 'self'")
    for missing in ("2023", "..%2F..%2Fwarehouse", "all"):
        assert client.get(f"/reports/{missing}").status_code == 404, missing
    bob, _ = env.signed_in("bob")
    assert bob.get("/reports/2024").status_code == 404


def test_corrections_recompute_the_links_and_pages_of_that_user(env: Env) -> None:
    store(env, "alice", "spotify_export", [song("spotify_export", "s1", T0, "Beyoncé", 180)])
    store(env, "alice", "lastfm", [song("lastfm", "l1", T0 + timedelta(seconds=60), "Queen B")])
    client, token = env.signed_in("alice")
    answer = client.post(
        "/aliases",
        data={"csrf_token": token, "field": "artist", "spelling": "Queen B", "canonical": "Beyoncé"},
    )
    assert answer.status_code == 303
    page = client.get("/").text
    aliases = page.split('id="aliases"')[1].split("</table>")[0]
    assert "queen b" in aliases and "Beyoncé" in aliases
    merges = page.split('id="merges"')[1].split("</ul>")[0]
    assert "Queen B &ndash; Halo" in merges and "counted as" in merges
    assert "counting your aliases, 60 s apart (within 300 s)" in merges
    report = (env.folders.data_dir / "reports" / "alice" / "2024.html").read_text(encoding="utf-8")
    assert "1 play ·" in report and "Queen B" not in report

    answer = client.post(
        "/separate", data={"csrf_token": token, "row_a": "lastfm:l1", "row_b": "spotify_export:s1"}
    )
    assert answer.status_code == 303
    page = client.get("/").text
    assert "No play was seen by two sources yet" in page
    assert "lastfm:l1 / spotify_export:s1" in page
    refused = client.post(
        "/separate", data={"csrf_token": token, "row_a": "lastfm:l1", "row_b": "lastfm:none"}
    )
    assert refused.status_code == 400 and "not two stored rows" in refused.text
    assert (
        client.post("/aliases", data={"field": "artist", "spelling": "a", "canonical": "b"}).status_code
        == 403
    )


def test_an_upload_asked_for_json_answers_json(env: Env) -> None:
    client, token = env.signed_in("alice")
    answer = client.post(
        "/upload",
        files={"file": ("NetflixViewingHistory.csv", b"Title,Date\n")},
        headers={"X-CSRF-Token": token, "Accept": "application/json"},
    )
    assert answer.status_code == 200
    assert answer.json()["message"].startswith("NetflixViewingHistory.csv is in your inbox")
    assert client.get("/upload.js").headers["content-type"].startswith("text/javascript")


def test_a_cursor_that_is_not_json_shows_records_without_bytes(env: Env) -> None:
    """Cursors are opaque to core: a plugin's may be any text, and a run that failed on its
    first page leaves an empty one. The page reads what it can and never fails on it."""
    inbox = env.folders.inbox("alice", "netflix")
    inbox.mkdir(parents=True)
    (inbox / "NetflixViewingHistory.csv").write_bytes(b"Title,Date\n")
    for n, cursor in enumerate(("", "line 40", "[[[[")):
        store(
            env,
            "alice",
            "netflix",
            [],
            source="NetflixViewingHistory.csv",
            run_id="run-9",
            started_at=datetime.now(UTC) + timedelta(seconds=n),
            cursor_out=cursor,
        )
    client, _ = env.signed_in("alice")
    answer = client.get("/")
    assert answer.status_code == 200
    assert "0 records and 0 of 11 bytes read" in answer.text.split('id="imports"')[1]
