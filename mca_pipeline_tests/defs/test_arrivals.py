"""Exports as they arrive: archives, folders and loose files in data/inbox/<user>/.

Two real archives (fixtures/arrivals/real/, see SOURCES.md: a Spotify "MyData" zip and a
YouTube Takeout zip, trimmed and anonymised with their layout and zip details kept), plus
archives built here with zipfile/tarfile in the platforms' layouts from the repo's other
fixtures, and hostile ones. Routing uses the shipped plugins' own recognizes(), so these
tests also check that each plugin claims its files and no other plugin's.
"""

from __future__ import annotations

import io
import random
import tarfile
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from dagster import ExecuteInProcessResult, RunRequest

from mca_pipeline.core import PluginRegistry
from mca_pipeline.defs import INGEST_JOB, UNPACK_JOB
from mca_pipeline.defs.arrivals import UNPACK_OP
from mca_pipeline.defs.unpack import (
    ARRIVALS,
    DEFAULT_LIMITS,
    UnpackLimits,
    UnpackReport,
    file_plugins,
    unpack_arrival,
)
from mca_pipeline.plugins import build_registry
from mca_pipeline.warehouse.export_folders import ExportFolders, report_path
from mca_pipeline_tests.conftest import FIXTURES
from mca_pipeline_tests.defs.dagster_env import Pipeline
from mca_pipeline_tests.defs.test_inbox_sensor import Daemon

SPOTIFY = FIXTURES / "spotify_export" / "Streaming_History_Audio_2023-2024_0.json"
NETFLIX = FIXTURES / "netflix" / "ViewingActivity.csv"
YOUTUBE = FIXTURES / "youtube_takeout" / "watch-history.html"
REAL = FIXTURES / "arrivals" / "real"
SPOTIFY_ZIP = REAL / "my_spotify_data.zip"
TAKEOUT_ZIP = REAL / "takeout-20211029T105452Z-001.zip"


def registry() -> PluginRegistry:
    return build_registry()


@pytest.fixture
def folders(tmp_path: Path) -> ExportFolders:
    return ExportFolders(tmp_path / "data")


def drop(folders: ExportFolders, name: str, data: bytes) -> Path:
    path = folders.inbox_root / "alice" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def make_zip(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return buf.getvalue()


def make_tar(members: list[tarfile.TarInfo | tuple[str, bytes]], mode: str = "w:gz") -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode=mode) as tf:
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tf.addfile(member)
            else:
                info = tarfile.TarInfo(member[0])
                info.size = len(member[1])
                tf.addfile(info, io.BytesIO(member[1]))
    return buf.getvalue()


def unpack(folders: ExportFolders, path: Path, limits: UnpackLimits = DEFAULT_LIMITS) -> UnpackReport:
    return unpack_arrival(path, "alice", folders, file_plugins(registry()), limits)


def routed_files(folders: ExportFolders, plugin: str) -> list[str]:
    inbox = folders.inbox("alice", plugin)
    return sorted(p.name for p in inbox.iterdir()) if inbox.is_dir() else []


def arrival_report(folders: ExportFolders, name: str, where: str = "archive") -> str:
    return report_path(folders.data_dir / where / "alice" / ARRIVALS / name).read_text()


# ---------------------------------------------------------------------- real layouts


def test_a_real_spotify_account_data_zip_routes_its_streaming_history(folders: ExportFolders) -> None:
    archive = drop(folders, SPOTIFY_ZIP.name, SPOTIFY_ZIP.read_bytes())
    report = unpack(folders, archive)
    assert routed_files(folders, "spotify_export") == ["StreamingHistory0.json", "StreamingHistory1.json"]
    with zipfile.ZipFile(SPOTIFY_ZIP) as zf:
        original = zf.read("MyData/StreamingHistory0.json")
    assert (folders.inbox("alice", "spotify_export") / "StreamingHistory0.json").read_bytes() == original
    assert sorted(m for m, _ in report.unknown) == [
        f"MyData/{n}"
        for n in (
            "Follow.json",
            "Identity.json",
            "Inferences.json",
            "Payments.json",
            "Playlist1.json",
            "Read_Me_First.pdf",
            "SearchQueries.json",
            "Userdata.json",
            "YourLibrary.json",
        )
    ]
    assert report.refused == [], "the 'MyData/' member (a file named like a folder) is a folder entry"
    assert report.kept is not None and (report.kept / "MyData" / "Userdata.json").is_file()


def test_a_real_takeout_zip_routes_watch_history_only(folders: ExportFolders) -> None:
    archive = drop(folders, TAKEOUT_ZIP.name, TAKEOUT_ZIP.read_bytes())
    report = unpack(folders, archive)
    assert [(m, p) for m, p, _ in report.routed] == [
        ("Takeout/YouTube and YouTube Music/history/watch-history.json", "youtube_takeout")
    ]
    unknown = {m for m, _ in report.unknown}
    assert len(unknown) == 10
    assert "Takeout/YouTube and YouTube Music/my-comments/my-comments.html" in unknown
    assert "Takeout/YouTube and YouTube Music/playlists/Uploads from Account Owner.csv" in unknown
    text = arrival_report(folders, TAKEOUT_ZIP.name)
    assert "history/watch-history.json -> youtube_takeout (watch-history.json)" in text


def test_a_spotify_zip_is_unpacked_and_each_file_routed_by_content(folders: ExportFolders) -> None:
    archive = drop(
        folders,
        "my_spotify_data.zip",
        make_zip(
            {
                "Spotify Extended Streaming History/": b"",
                "Spotify Extended Streaming History/Streaming_History_Audio_2023-2024_0.json": SPOTIFY.read_bytes(),
                # renamed by the person: still recognised by its content
                "Spotify Extended Streaming History/my plays.json": SPOTIFY.read_bytes(),
                "Spotify Extended Streaming History/ReadMeFirst_ExtendedStreamingHistory.pdf": b"%PDF-1.7\n",
                "Spotify Extended Streaming History/nested.zip": make_zip({"a.txt": b"x"}),
            }
        ),
    )
    report = unpack(folders, archive)

    assert routed_files(folders, "spotify_export") == [
        "Streaming_History_Audio_2023-2024_0.json",
        "my plays.json",
    ]
    routed = folders.inbox("alice", "spotify_export") / "my plays.json"
    assert routed.read_bytes() == SPOTIFY.read_bytes()
    assert not archive.exists()
    assert (folders.archive_dir("alice", ARRIVALS) / "my_spotify_data.zip").is_file()
    text = arrival_report(folders, "my_spotify_data.zip")
    assert "Spotify Extended Streaming History/my plays.json -> spotify_export" in text
    assert "ReadMeFirst_ExtendedStreamingHistory.pdf" in text
    assert "nested.zip (archive inside the archive, not unpacked)" in text
    kept = folders.archive_dir("alice", ARRIVALS) / "my_spotify_data.zip.unknown"
    assert report.kept == kept
    assert (
        kept / "Spotify Extended Streaming History" / "ReadMeFirst_ExtendedStreamingHistory.pdf"
    ).is_file()
    assert not (folders.data_dir / "staging" / "alice").exists() or not any(
        (folders.data_dir / "staging" / "alice").iterdir()
    )


def test_a_takeout_tgz_routes_watch_history_and_keeps_the_rest(folders: ExportFolders) -> None:
    archive = drop(
        folders,
        "takeout-20240601T101010Z-001.tgz",
        make_tar(
            [
                ("Takeout/YouTube and YouTube Music/history/watch-history.html", YOUTUBE.read_bytes()),
                (
                    "Takeout/YouTube and YouTube Music/history/search-history.html",
                    b"<html><body></body></html>",
                ),
                ("Takeout/archive_browser.html", b"<html>Archive overview</html>"),
                ("Takeout/Netflix/CONTENT_INTERACTION/ViewingActivity.csv", NETFLIX.read_bytes()),
            ]
        ),
    )
    report = unpack(folders, archive)
    assert routed_files(folders, "youtube_takeout") == ["watch-history.html"]
    assert routed_files(folders, "netflix") == ["ViewingActivity.csv"]
    assert sorted(m for m, _ in report.unknown) == [
        "Takeout/YouTube and YouTube Music/history/search-history.html",
        "Takeout/archive_browser.html",
    ]
    assert report.refused == []


def test_an_unpacked_folder_is_routed_and_kept_with_its_unknown_files(folders: ExportFolders) -> None:
    root = folders.inbox_root / "alice" / "netflix-report"
    (root / "CONTENT_INTERACTION").mkdir(parents=True)
    (root / "CONTENT_INTERACTION" / "ViewingActivity.csv").write_bytes(NETFLIX.read_bytes())
    (root / "PROFILES").mkdir()
    (root / "PROFILES" / "Profiles.csv").write_text("Profile Name,Email Address\n")
    outside = folders.data_dir.parent / "secret.csv"
    outside.write_bytes(NETFLIX.read_bytes())
    (root / "link.csv").symlink_to(outside)

    report = unpack(folders, root)
    assert routed_files(folders, "netflix") == ["ViewingActivity.csv"]
    assert report.refused == [("link.csv", "symbolic link (not followed)")]
    assert outside.read_bytes() == NETFLIX.read_bytes(), "a link's target is never moved"
    kept = folders.archive_dir("alice", ARRIVALS) / "netflix-report"
    assert (kept / "PROFILES" / "Profiles.csv").is_file()
    text = arrival_report(folders, "netflix-report")
    assert "PROFILES/Profiles.csv" in text and f"kept in {kept}" in text
    assert "link.csv: symbolic link (not followed)" in text


def test_a_loose_file_is_routed_and_an_unknown_one_moved_out_with_a_report(folders: ExportFolders) -> None:
    loose = drop(folders, "history (1).csv", NETFLIX.read_bytes())
    unpack(folders, loose)
    assert routed_files(folders, "netflix") == ["history (1).csv"]

    photo = drop(folders, "IMG_0001.jpg", b"\xff\xd8\xff\xe0" + bytes(100))
    report = unpack(folders, photo)
    assert report.unknown == [("IMG_0001.jpg", "")]
    assert (folders.archive_dir("alice", ARRIVALS) / "IMG_0001.jpg").is_file()
    assert "IMG_0001.jpg" in arrival_report(folders, "IMG_0001.jpg")


def test_same_names_in_different_folders_both_arrive(folders: ExportFolders) -> None:
    archive = drop(
        folders,
        "two.zip",
        make_zip(
            {"a/ViewingActivity.csv": NETFLIX.read_bytes(), "b/ViewingActivity.csv": NETFLIX.read_bytes()}
        ),
    )
    unpack(folders, archive)
    assert routed_files(folders, "netflix") == ["ViewingActivity-1.csv", "ViewingActivity.csv"]


class Greedy:
    """Claims every file: registered after the real ones it must never win."""

    name = "greedy"

    def recognizes(self, name: str, head: bytes) -> bool:
        return True


class Broken:
    name = "broken"

    def recognizes(self, name: str, head: bytes) -> bool:
        raise UnicodeDecodeError("utf-8", head, 0, 1, "bad byte")


def test_registry_order_wins_and_a_raising_recognizer_recognizes_nothing(folders: ExportFolders) -> None:
    archive = drop(folders, "mixed.zip", make_zip({"x.csv": NETFLIX.read_bytes(), "notes.txt": b"hello"}))
    plugins = [Broken(), *file_plugins(registry()), Greedy()]
    logged: list[str] = []
    report = unpack_arrival(archive, "alice", folders, plugins, UnpackLimits(), logged.append)  # type: ignore[arg-type]
    assert sorted((m, p) for m, p, _ in report.routed) == [("notes.txt", "greedy"), ("x.csv", "netflix")]
    assert any("broken.recognizes failed" in line for line in logged)


# --------------------------------------------------------------------------- hostile


def _link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info


def test_climbing_absolute_and_link_members_of_a_zip_are_refused(
    folders: ExportFolders, tmp_path: Path
) -> None:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("../../evil.csv", NETFLIX.read_bytes())
        zf.writestr("/tmp/absolute.csv", NETFLIX.read_bytes())
        zf.writestr("C:\\Windows\\win.csv", NETFLIX.read_bytes())
        link = zipfile.ZipInfo("link.csv")
        link.create_system = 3
        link.external_attr = 0o120777 << 16
        zf.writestr(link, "/etc/passwd")
        zf.writestr("secret/ViewingActivity.csv", NETFLIX.read_bytes())
        zf.writestr("ok/ViewingActivity.csv", NETFLIX.read_bytes())
    # zipfile cannot encrypt: set the "encrypted" flag of the member's central entry.
    data = bytearray(buf.getvalue())
    entry = data.rindex(b"PK\x01\x02", 0, data.rindex(b"secret/ViewingActivity.csv"))
    data[entry + 8] |= 0x1
    archive = drop(folders, "hostile.zip", bytes(data))
    report = unpack(folders, archive)
    assert dict(report.refused) == {
        "../../evil.csv": "path climbs out of the archive (../)",
        "/tmp/absolute.csv": "absolute path",
        "C:\\Windows\\win.csv": "absolute path",
        "link.csv": "symbolic link",
        "secret/ViewingActivity.csv": "encrypted",
    }
    assert routed_files(folders, "netflix") == ["ViewingActivity.csv"]
    assert not (tmp_path / "evil.csv").exists() and not (folders.data_dir / "evil.csv").exists()
    assert "link.csv: symbolic link" in arrival_report(folders, "hostile.zip")


def test_links_devices_and_climbing_members_of_a_tarball_are_refused(
    folders: ExportFolders, tmp_path: Path
) -> None:
    device = tarfile.TarInfo("dev/sda")
    device.type = tarfile.CHRTYPE
    fifo = tarfile.TarInfo("pipe")
    fifo.type = tarfile.FIFOTYPE
    archive = drop(
        folders,
        "hostile.tar.gz",
        make_tar(
            [
                ("../evil.csv", NETFLIX.read_bytes()),
                ("/abs.csv", NETFLIX.read_bytes()),
                _link("sym.csv", "/etc/passwd", tarfile.SYMTYPE),
                _link("hard.csv", "ok.csv", tarfile.LNKTYPE),
                device,
                fifo,
                ("ok.csv", NETFLIX.read_bytes()),
            ]
        ),
    )
    report = unpack(folders, archive)
    assert dict(report.refused) == {
        "../evil.csv": "path climbs out of the archive (../)",
        "/abs.csv": "absolute path",
        "sym.csv": "symbolic link",
        "hard.csv": "hard link",
        "dev/sda": "device or special file",
        "pipe": "device or special file",
    }
    assert routed_files(folders, "netflix") == ["ok.csv"]
    assert not (tmp_path / "evil.csv").exists()


SMALL = UnpackLimits(
    max_members=20, max_member_bytes=64 << 20, max_total_bytes=64 << 20, max_ratio=50, ratio_floor=1 << 20
)


def _zeros_zip(size: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf, zf.open("zeros.csv", "w") as out:
        chunk = bytes(1 << 20)
        for _ in range(size >> 20):
            out.write(chunk)
    return buf.getvalue()


def _zeros_tgz(size: int) -> bytes:
    class Zeros(io.RawIOBase):
        def __init__(self) -> None:
            self.left = size

        def readable(self) -> bool:
            return True

        def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
            n = min(len(b), self.left)
            b[:n] = bytes(n)
            self.left -= n
            return n

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        info = tarfile.TarInfo("zeros.csv")
        info.size = size
        tf.addfile(info, io.BufferedReader(Zeros()))
    return buf.getvalue()


def _many(n: int) -> dict[str, bytes]:
    return {f"f{i}.txt": b"x" for i in range(n)}


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("ratio.zip", lambda: _zeros_zip(16 << 20), "compression bomb"),
        ("ratio.tgz", lambda: _zeros_tgz(16 << 20), "compression bomb"),
        ("members.zip", lambda: make_zip(_many(21)), "more than 20"),
        ("members.tgz", lambda: make_tar(list(_many(21).items())), "more than 20 members"),
        ("corrupt.zip", lambda: b"PK\x03\x04" + bytes(range(256)) * 8, "not a zip archive"),
        ("truncated.zip", lambda: make_zip({"a.csv": NETFLIX.read_bytes() * 50})[:900], "not a zip archive"),
        ("corrupt.tgz", lambda: b"\x1f\x8b\x08\x00" + b"\x00garbage" * 200, "not a readable tar archive"),
        (
            "truncated.tgz",
            lambda: make_tar([("a.csv", random.Random(13).randbytes(200_000))])[:100_000],
            "not a readable tar archive",
        ),
    ],
)
def test_bombs_and_corrupt_archives_are_rejected_whole_with_a_report(
    folders: ExportFolders, name: str, data: Callable[[], bytes], reason: str
) -> None:
    archive = drop(folders, name, data())
    report = unpack(folders, archive, SMALL)
    assert report.rejected and reason in report.rejected
    assert not archive.exists()
    assert (folders.rejected_dir("alice", ARRIVALS) / name).is_file()
    assert reason in arrival_report(folders, name, "rejected")
    assert not any((folders.data_dir / "staging" / "alice").iterdir()), "nothing half-unpacked is left"
    assert not folders.inbox_root.joinpath("alice", "netflix").exists()


def _pax_bomb() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as tf:
        info = tarfile.TarInfo("a.csv")
        info.pax_headers = {"comment": "x" * (4 << 20)}
        info.size = 3
        tf.addfile(info, io.BytesIO(b"a,b"))
    return buf.getvalue()


def test_a_tar_header_claiming_megabytes_is_refused_before_it_is_read(folders: ExportFolders) -> None:
    """tarfile reads pax header data whole: 4 MiB of it, 4 KiB compressed, is refused."""
    data = _pax_bomb()
    assert len(data) < 64 << 10
    report = unpack(folders, drop(folders, "pax.tgz", data), SMALL)
    assert report.rejected and "a header of more than" in report.rejected


def test_a_zip_with_a_huge_central_directory_is_refused_before_it_is_loaded(folders: ExportFolders) -> None:
    archive = drop(folders, "index.zip", make_zip({f"{'d' * 200}/{i}.txt": b"" for i in range(20)}))
    report = unpack(folders, archive, UnpackLimits(max_index_bytes=1000))
    assert report.rejected and "central directory" in report.rejected


@pytest.mark.parametrize("mode", ["w", "w:bz2", "w:xz"])
def test_plain_bzip2_and_xz_tarballs_are_unpacked_too(folders: ExportFolders, mode: str) -> None:
    archive = drop(
        folders, "export.tar", make_tar([("Takeout/x/ViewingActivity.csv", NETFLIX.read_bytes())], mode)
    )
    unpack(folders, archive)
    assert routed_files(folders, "netflix") == ["ViewingActivity.csv"]


def test_a_zip_whose_headers_lie_about_sizes_is_rejected_not_trusted(folders: ExportFolders) -> None:
    """The headers say 10 bytes; the stream holds 16 MiB of zeros. With the ratio check
    out of the way, the lie itself is caught: at most the declared bytes come out, and
    their checksum does not match."""
    data = _zeros_zip(16 << 20).replace((16 << 20).to_bytes(4, "little"), (10).to_bytes(4, "little"))
    archive = drop(folders, "liar.zip", data)
    report = unpack(folders, archive, UnpackLimits(max_ratio=10**9))
    assert report.rejected and "Bad CRC-32" in report.rejected
    assert (folders.rejected_dir("alice", ARRIVALS) / "liar.zip").is_file()
    assert not any((folders.data_dir / "staging" / "alice").iterdir())


def test_a_full_disk_is_not_the_archives_fault(
    folders: ExportFolders, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run fails (to be retried); the archive stays in the inbox, nothing half-unpacked."""
    import errno

    from mca_pipeline.defs import unpack as unpack_module

    def full(*_: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(unpack_module, "_extract_member", full)
    archive = drop(folders, SPOTIFY_ZIP.name, SPOTIFY_ZIP.read_bytes())
    with pytest.raises(OSError, match="No space left"):
        unpack(folders, archive)
    assert archive.is_file()
    assert not any((folders.data_dir / "staging" / "alice").iterdir())
    assert not folders.rejected_dir("alice", ARRIVALS).exists()


# ------------------------------------------------------------- sensor -> run -> import


def run_request(pipeline: Pipeline, request: RunRequest) -> ExecuteInProcessResult:
    """Launch a sensor's request as the daemon does: the job it names, with its config,
    partition and asset selection."""
    return pipeline.defs.resolve_job_def(request.job_name or "").execute_in_process(
        run_config=request.run_config,
        instance=pipeline.instance,
        partition_key=request.partition_key,
        asset_selection=request.asset_selection,
        tags=request.tags,
        raise_on_error=False,
    )


def test_a_dropped_archive_is_unpacked_by_a_run_then_imported(pipeline: Pipeline) -> None:
    pipeline.registry = registry()
    daemon = Daemon(pipeline)
    archive = drop(pipeline.folders, SPOTIFY_ZIP.name, SPOTIFY_ZIP.read_bytes())
    assert daemon.tick().run_requests == [], "an archive seen once may still be downloading"
    [request] = daemon.tick().run_requests
    assert request.job_name == UNPACK_JOB
    assert request.run_config == {"ops": {UNPACK_OP: {"config": {"user": "alice", "path": str(archive)}}}}
    assert daemon.tick().run_requests == [], "never unpacked twice"

    run = run_request(pipeline, request)
    assert run.success
    assert not archive.exists()
    routed = sorted(pipeline.folders.inbox("alice", "spotify_export").iterdir())
    assert [p.name for p in routed] == ["StreamingHistory0.json", "StreamingHistory1.json"]

    daemon.tick()
    [imp] = daemon.tick().run_requests
    assert imp.job_name == INGEST_JOB and imp.tags["mca/plugin"] == "spotify_export"
    assert imp.run_config["ops"]["spotify_export"]["config"]["files"] == [str(p) for p in routed]
    assert run_request(pipeline, imp).success
    titles = pipeline.count(
        "SELECT creator, title FROM media_items WHERE user_id = 'alice' ORDER BY consumed_at"
    )
    assert ("Vampire Weekend", "Cousins") in titles
    assert ("Twin Peaks", "Blue Coupe") in titles, "both history files of the archive are imported"
    assert (pipeline.folders.archive_dir("alice", "spotify_export") / "StreamingHistory1.json").is_file()
    assert report_path(pipeline.folders.archive_dir("alice", ARRIVALS) / SPOTIFY_ZIP.name).is_file()
    assert daemon.tick().run_requests == []


def test_a_folder_still_being_copied_waits_until_it_settles(pipeline: Pipeline) -> None:
    pipeline.registry = registry()
    daemon = Daemon(pipeline)
    folder = pipeline.folders.inbox_root / "alice" / "Takeout"
    folder.mkdir(parents=True)
    (folder / "a.csv").write_bytes(NETFLIX.read_bytes())
    daemon.tick()
    (folder / "sub").mkdir()
    (folder / "sub" / "b.html").write_bytes(YOUTUBE.read_bytes())
    assert daemon.tick().run_requests == [], "a new file changed the folder"
    [request] = daemon.tick().run_requests
    assert request.job_name == UNPACK_JOB and request.tags["mca/arrival"] == "Takeout"
    assert run_request(pipeline, request).success
    assert routed_files(pipeline.folders, "netflix") == ["a.csv"]
    assert routed_files(pipeline.folders, "youtube_takeout") == ["b.html"]


def test_the_same_export_folder_copied_in_again_later_is_unpacked_again(
    pipeline: Pipeline, tmp_path: Path
) -> None:
    """copytree keeps the files' modification times: the copy is still a new arrival."""
    import shutil

    pipeline.registry = registry()
    daemon = Daemon(pipeline)
    source = tmp_path / "downloads" / "netflix-report"
    (source / "CONTENT_INTERACTION").mkdir(parents=True)
    shutil.copy2(NETFLIX, source / "CONTENT_INTERACTION" / "ViewingActivity.csv")
    (source / "notes.txt").write_text("kept")
    target = pipeline.folders.inbox_root / "alice" / "netflix-report"
    keys = []
    for _ in range(2):
        shutil.copytree(source, target)
        daemon.tick()
        [request] = daemon.tick().run_requests
        keys.append(request.run_key)
        assert run_request(pipeline, request).success
        assert not target.exists()
        daemon.tick()
    assert keys[0] != keys[1]
    assert routed_files(pipeline.folders, "netflix") == ["ViewingActivity-1.csv", "ViewingActivity.csv"]


def test_a_corrupt_archive_fails_its_run_and_is_rejected_with_a_report(pipeline: Pipeline) -> None:
    pipeline.registry = registry()
    daemon = Daemon(pipeline)
    drop(pipeline.folders, "broken.zip", b"PK\x03\x04 this is not a zip")
    daemon.tick()
    [request] = daemon.tick().run_requests
    run = run_request(pipeline, request)
    assert not run.success
    assert report_path(pipeline.folders.rejected_dir("alice", ARRIVALS) / "broken.zip").is_file()
    assert daemon.tick().run_requests == []


def test_the_unpack_run_refuses_a_path_outside_the_users_inbox(pipeline: Pipeline, tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.zip"
    elsewhere.write_bytes(make_zip({"a.csv": NETFLIX.read_bytes()}))
    run = pipeline.defs.resolve_job_def(UNPACK_JOB).execute_in_process(
        run_config={"ops": {UNPACK_OP: {"config": {"user": "alice", "path": str(elsewhere)}}}},
        instance=pipeline.instance,
        raise_on_error=False,
    )
    assert not run.success
    assert elsewhere.exists()
