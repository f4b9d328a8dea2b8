"""Exports as they arrive: an archive, a folder or a loose file in data/inbox/<user>/.

People download a whole archive (`my_spotify_data.zip`, a Takeout `.tgz`) and drop it
as it is, or unpack it into folders of their own. Each regular file inside is routed to
the plugin that recognises it (`FileImportPlugin.recognizes`, registry order, first wins)
by MOVING it into data/inbox/<user>/<plugin>/, where the inbox sensor imports it like any
dropped file: dedup, reports and the 20 % rule stay in one place.

Archives are hostile input. Members that climb out (`../`), absolute paths, links and
device files are refused one by one; an archive past the documented limits (members,
unpacked bytes, compression ratio) or one that cannot be read is rejected whole. Members
are streamed in chunks and sizes are counted while writing, never trusted from headers
(zip headers lie). Archives inside the archive are not unpacked: they are kept as
unknown files (one level only, so a bomb cannot hide in nesting).
"""

from __future__ import annotations

import bz2
import errno
import gzip
import lzma
import os
import re
import shutil
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from mca_pipeline.core import FileImportPlugin, PluginRegistry
from mca_pipeline.core.models import utc_now
from mca_pipeline.core.plugin import SNIFF_BYTES
from mca_pipeline.warehouse.export_folders import ExportFolders, report_path

#: Folder under archive/<user>/ and rejected/<user>/ for arrivals and their reports.
ARRIVALS = "arrivals"
#: Bytes copied at a time: a member is never held in memory whole.
CHUNK = 1 << 20


@dataclass(frozen=True)
class UnpackLimits:
    """What an archive may hold before it is refused as a bomb (README, "Archives").

    Generous for real exports (a Takeout with years of history is a few GiB, a few
    thousand files); a ratio above `max_ratio` is judged only once `ratio_floor` bytes
    came out, so small, very compressible files are fine.
    """

    max_members: int = 50_000
    max_member_bytes: int = 4 << 30
    max_total_bytes: int = 16 << 30
    max_ratio: int = 200
    ratio_floor: int = 8 << 20
    #: A zip's central directory (held in memory whole by zipfile).
    max_index_bytes: int = 64 << 20
    #: One tar header block read at once (pax or GNU long-name data; tarfile holds it whole).
    max_header_bytes: int = 1 << 20


DEFAULT_LIMITS = UnpackLimits()


class ArchiveRefused(Exception):
    """The whole archive is rejected: corrupt, or past the limits."""


@dataclass
class UnpackReport:
    """What became of every member: routed to a plugin, unknown (kept) or refused."""

    name: str
    kind: str
    routed: list[tuple[str, str, Path]] = field(default_factory=list)
    unknown: list[tuple[str, str]] = field(default_factory=list)
    refused: list[tuple[str, str]] = field(default_factory=list)
    kept: Path | None = None
    rejected: str | None = None

    def text(self) -> str:
        """The `<name>.report.txt` written beside the archived or rejected arrival."""
        lines = [
            f"Arrival:  {self.name} ({self.kind})",
            f"Unpacked: {utc_now().isoformat(timespec='seconds')}",
        ]
        if self.rejected:
            lines += [
                f"Rejected: {self.rejected}",
                "",
                "Nothing from it was imported. Re-download the export, or unpack it yourself and "
                "drop the files into inbox/<user>/<plugin>/.",
            ]
            return "\n".join(lines) + "\n"
        lines += ["", f"Routed to a plugin ({len(self.routed)}; imported by the inbox sensor next):"]
        lines += [f"  {member} -> {plugin} ({target.name})" for member, plugin, target in self.routed]
        lines += ["", f"Unknown ({len(self.unknown)}; no plugin recognises them, left alone):"]
        lines += [f"  {member}" + (f" ({note})" if note else "") for member, note in self.unknown]
        if self.kept is not None and self.unknown:
            lines.append(f"  kept in {self.kept}")
        lines += ["", f"Refused ({len(self.refused)}; not extracted):"]
        lines += [f"  {member}: {reason}" for member, reason in self.refused]
        return "\n".join(lines) + "\n"


def file_plugins(registry: PluginRegistry) -> list[FileImportPlugin]:
    """The plugins that can tell their files apart, in registry order."""
    return [p for p in registry if isinstance(p, FileImportPlugin)]


def archive_kind(path: Path) -> str | None:
    """The kind of archive the file's first bytes say it is, if any (names lie both ways)."""
    try:
        with path.open("rb") as f:
            head = f.read(512)
    except OSError:
        return None
    return _kind_of(head)


def _kind_of(head: bytes) -> str | None:
    if head[:4] in (b"PK\x03\x04", b"PK\x05\x06", b"PK\x07\x08"):
        return "zip"
    if head[:2] == b"\x1f\x8b" or head[:3] == b"BZh" or head[:6] == b"\xfd7zXZ\x00":
        return "tar"
    if head[257:262] == b"ustar":
        return "tar"
    return None


def unpack_arrival(
    path: Path,
    user_id: str,
    folders: ExportFolders,
    plugins: list[FileImportPlugin],
    limits: UnpackLimits = DEFAULT_LIMITS,
    log: Callable[[str], None] = lambda _: None,
) -> UnpackReport:
    """Route everything in one arrival, then move the arrival out of the inbox."""
    if path.is_dir() and not path.is_symlink():
        return _unpack_folder(path, user_id, folders, plugins, limits, log)
    kind = archive_kind(path)
    if kind is None:
        return _route_loose_file(path, user_id, folders, plugins, log)
    return _unpack_archive(path, kind, user_id, folders, plugins, limits, log)


# ------------------------------------------------------------------------ three kinds


def _unpack_archive(
    path: Path,
    kind: str,
    user_id: str,
    folders: ExportFolders,
    plugins: list[FileImportPlugin],
    limits: UnpackLimits,
    log: Callable[[str], None],
) -> UnpackReport:
    report = UnpackReport(path.name, f"{kind} archive")
    staging = _staging(folders, user_id, path.name)
    try:
        extract = _extract_zip if kind == "zip" else _extract_tar
        extract(path, staging, limits, report)
    except ArchiveRefused as exc:
        shutil.rmtree(staging, ignore_errors=True)
        report.refused.clear()
        report.rejected = str(exc)
        moved = folders.reject(path, user_id, ARRIVALS, report.text())
        log(f"{path.name}: rejected ({exc}); moved to {moved} with a report beside it")
        return report
    except BaseException:  # a full disk, a terminated run: the archive stays for a retry
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _route_tree(staging, user_id, folders, plugins, report, log)
    if report.unknown:
        report.kept = _unique(folders.archive_dir(user_id, ARRIVALS) / f"{path.name}.unknown")
        report.kept.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(staging), report.kept)
    else:
        shutil.rmtree(staging, ignore_errors=True)
    moved = folders.archive(path, user_id, ARRIVALS, report.text())
    log(f"{path.name}: done, moved to {moved}")
    return report


def _unpack_folder(
    path: Path,
    user_id: str,
    folders: ExportFolders,
    plugins: list[FileImportPlugin],
    limits: UnpackLimits,
    log: Callable[[str], None],
) -> UnpackReport:
    report = UnpackReport(path.name, "folder")
    count = sum(1 for _ in _walk(path, limits.max_members + 1))
    if count > limits.max_members:
        report.rejected = f"more than {limits.max_members:,} files and folders"
        moved = folders.reject(path, user_id, ARRIVALS, report.text())
        log(f"{path.name}: rejected ({report.rejected}); moved to {moved}")
        return report
    for entry in _walk(path, limits.max_members + 1):
        if entry.is_symlink():
            report.refused.append((_relative(entry, path), "symbolic link (not followed)"))
        elif not entry.is_dir() and not entry.is_file():
            report.refused.append((_relative(entry, path), "device or special file"))
    _route_tree(path, user_id, folders, plugins, report, log)
    moved = _archive_with_report(path, user_id, folders, report)
    log(f"{path.name}: done, moved to {moved}")
    return report


def _route_loose_file(
    path: Path,
    user_id: str,
    folders: ExportFolders,
    plugins: list[FileImportPlugin],
    log: Callable[[str], None],
) -> UnpackReport:
    report = UnpackReport(path.name, "file")
    plugin = _recognizer(path, plugins, log)
    if plugin is None:
        report.unknown.append((path.name, ""))
        moved = _archive_with_report(path, user_id, folders, report)
        log(f"{path.name}: no plugin recognises it; moved to {moved}")
    else:
        target = _route(path, user_id, plugin, folders)
        report.routed.append((path.name, plugin, target))
        log(f"{path.name} -> {plugin}: moved to {target}")
    return report


def _archive_with_report(path: Path, user_id: str, folders: ExportFolders, report: UnpackReport) -> Path:
    """Move a folder or file arrival to archive/ itself: what is left in it is kept there."""
    moved = folders.archive(path, user_id, ARRIVALS)
    report.kept = moved if report.unknown else None
    report_path(moved).write_text(report.text(), encoding="utf-8")
    return moved


# ------------------------------------------------------------------------- routing


def _route_tree(
    root: Path,
    user_id: str,
    folders: ExportFolders,
    plugins: list[FileImportPlugin],
    report: UnpackReport,
    log: Callable[[str], None],
) -> None:
    """Move every recognised regular file under root to its plugin's inbox."""
    files = sorted(e for e in _walk(root, None) if e.is_file() and not e.is_symlink())
    for path in files:
        member = _relative(path, root)
        plugin = _recognizer(path, plugins, log)
        if plugin is None:
            report.unknown.append(
                (member, "archive inside the archive, not unpacked" if archive_kind(path) else "")
            )
            continue
        target = _route(path, user_id, plugin, folders)
        report.routed.append((member, plugin, target))
        log(f"{member} -> {plugin}")


def _recognizer(path: Path, plugins: list[FileImportPlugin], log: Callable[[str], None]) -> str | None:
    """The first plugin that recognises the file; a plugin that raises recognises nothing."""
    try:
        with path.open("rb") as f:
            head = f.read(SNIFF_BYTES)
    except OSError:
        return None
    for plugin in plugins:
        try:
            if plugin.recognizes(path.name, head):
                return plugin.name
        except Exception as exc:  # a plugin bug must not stop the routing of the others
            log(f"{plugin.name}.recognizes failed on {path.name}: {type(exc).__name__}: {exc}")
    return None


def _route(path: Path, user_id: str, plugin: str, folders: ExportFolders) -> Path:
    inbox = folders.inbox(user_id, plugin)
    inbox.mkdir(parents=True, exist_ok=True)
    return _move_claiming(path, inbox / _safe_name(path.name))


def _move_claiming(path: Path, target: Path) -> Path:
    """Move without ever replacing a file another run put there at the same moment: a
    hard link fails if the name is taken (staging and inbox are both under data/)."""
    while True:
        candidate = _unique(target)
        try:
            os.link(path, candidate)
        except FileExistsError:
            continue
        except OSError:  # no hard links on this file system
            shutil.move(str(path), candidate)
            return candidate
        path.unlink()
        return candidate


_UNSAFE = re.compile(r"[^\w.() -]+")


def _safe_name(name: str) -> str:
    """A name the inbox sensor will look at: no leading dots or tildes, no odd characters."""
    return _UNSAFE.sub("_", name).lstrip(".~ -")[:200] or "export"


def _unique(target: Path) -> Path:
    n = 1
    candidate = target
    while candidate.exists() or candidate.is_symlink():
        stem, dot, suffix = target.name.partition(".")
        candidate = target.with_name(f"{stem}-{n}{dot}{suffix}")
        n += 1
    return candidate


def _walk(root: Path, cap: int | None) -> Iterator[Path]:
    """Every entry under root, depth first, never following links, at most cap entries."""
    seen = 0
    stack = [root]
    while stack:
        try:
            entries = sorted(os.scandir(stack.pop()), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            seen += 1
            if cap is not None and seen > cap:
                return
            yield Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                stack.append(Path(entry.path))


def _relative(path: Path, root: Path) -> str:
    return path.relative_to(root).as_posix()


def _staging(folders: ExportFolders, user_id: str, name: str) -> Path:
    stamp = utc_now().strftime("%Y%m%dT%H%M%S%f")
    staging = _unique(folders.data_dir / "staging" / user_id / f"{_safe_name(name)}.{stamp}")
    staging.mkdir(parents=True)
    return staging


# ---------------------------------------------------------------------- extraction

#: What reading a broken archive raises, besides ArchiveRefused.
_CORRUPT = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    tarfile.TarError,
    EOFError,
    zlib.error,
    lzma.LZMAError,
    ValueError,
    NotImplementedError,
    OSError,
)


class _Meter:
    """Counts bytes as they come out, refusing the archive the moment a limit is passed."""

    def __init__(self, limits: UnpackLimits, archive_bytes: int) -> None:
        self.limits = limits
        self.archive_bytes = max(archive_bytes, 1)
        self.total = 0
        self.members = 0

    def member(self) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise ArchiveRefused(f"more than {self.limits.max_members:,} members (limit)")

    def add(self, name: str, member_bytes: int, compressed: int | None, chunk: int) -> None:
        lim = self.limits
        self.total += chunk
        if member_bytes > lim.max_member_bytes:
            raise ArchiveRefused(f"{name}: unpacks to more than {lim.max_member_bytes:,} bytes (limit)")
        if self.total > lim.max_total_bytes:
            raise ArchiveRefused(f"unpacks to more than {lim.max_total_bytes:,} bytes in all (limit)")
        if self.total > lim.ratio_floor and self.total > lim.max_ratio * self.archive_bytes:
            raise ArchiveRefused(
                f"unpacks to more than {lim.max_ratio} times its own size (a compression bomb?)"
            )
        if (
            compressed is not None
            and member_bytes > lim.ratio_floor
            and member_bytes > lim.max_ratio * max(compressed, 1)
        ):
            raise ArchiveRefused(
                f"{name}: unpacks to more than {lim.max_ratio} times its compressed size (a compression bomb?)"
            )


def _extract_zip(path: Path, staging: Path, limits: UnpackLimits, report: UnpackReport) -> None:
    meter = _Meter(limits, path.stat().st_size)
    try:
        declared, index_bytes = _zip_index(path)
        if declared > limits.max_members:
            raise ArchiveRefused(f"{declared:,} members, more than {limits.max_members:,} (limit)")
        if index_bytes > limits.max_index_bytes:
            raise ArchiveRefused(
                f"a central directory of {index_bytes:,} bytes, more than {limits.max_index_bytes:,} (limit)"
            )
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                meter.member()
                problem = _zip_member_problem(info)
                if problem:
                    report.refused.append((info.filename, problem))
                    continue
                if info.is_dir():
                    continue
                _extract_member(
                    info.filename, lambda info=info: zf.open(info), staging, meter, info.compress_size, report
                )
    except ArchiveRefused:
        raise
    except _CORRUPT as exc:
        _raise_unless_ours(exc)
        raise ArchiveRefused(f"not a readable zip archive ({type(exc).__name__}: {exc})") from exc


def _zip_index(path: Path) -> tuple[int, int]:
    """Members and central-directory bytes the end record declares, read before zipfile
    loads the central directory (which it holds in memory whole)."""
    with path.open("rb") as f:
        end = zipfile._EndRecData(f)  # type: ignore[attr-defined]
    if end is None:
        raise ArchiveRefused("not a zip archive: no end of central directory (truncated?)")
    return int(end[zipfile._ECD_ENTRIES_TOTAL]), int(end[zipfile._ECD_SIZE])  # type: ignore[attr-defined]


def _zip_member_problem(info: zipfile.ZipInfo) -> str | None:
    problem = _path_problem(info.filename)
    if problem:
        return problem
    mode = info.external_attr >> 16
    if stat.S_ISLNK(mode):
        return "symbolic link"
    # Many zip writers set permission bits only (no file type): that is a regular file.
    if stat.S_IFMT(mode) and not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        return "device or special file"
    if info.flag_bits & 0x1:
        return "encrypted"
    return None


def _path_problem(name: str) -> str | None:
    clean = name.replace("\\", "/")
    if "\x00" in clean:
        return "NUL character in its name"
    if clean.startswith("/") or re.match(r"^[A-Za-z]:", clean):
        return "absolute path"
    if ".." in PurePosixPath(clean).parts:
        return "path climbs out of the archive (../)"
    if not [p for p in PurePosixPath(clean).parts if p not in ("", ".")]:
        return "empty name"
    return None


def _extract_tar(path: Path, staging: Path, limits: UnpackLimits, report: UnpackReport) -> None:
    meter = _Meter(limits, path.stat().st_size)
    try:
        with (
            _open_decompressed(path) as raw,
            tarfile.open(fileobj=_BoundedReads(raw, limits), mode="r:") as tf,
        ):
            # Headers are read one at a time as the stream goes; forgetting each one
            # keeps memory flat however many members there are.
            while (member := tf.next()) is not None:
                tf.members.clear()
                meter.member()
                problem = _tar_member_problem(member, staging)
                if problem:
                    report.refused.append((member.name, problem))
                    continue
                if member.isdir():
                    continue
                _extract_member(member.name, lambda m=member: tf.extractfile(m), staging, meter, None, report)
    except ArchiveRefused:
        raise
    except _CORRUPT as exc:
        _raise_unless_ours(exc)
        raise ArchiveRefused(f"not a readable tar archive ({type(exc).__name__}: {exc})") from exc


def _open_decompressed(path: Path) -> IO[bytes]:
    """The tar stream inside the file's compression, chosen by its first bytes."""
    with path.open("rb") as f:
        head = f.read(6)
    if head[:2] == b"\x1f\x8b":
        return gzip.open(path, "rb")
    if head[:3] == b"BZh":
        return bz2.open(path, "rb")
    if head[:6] == b"\xfd7zXZ\x00":
        return lzma.open(path, "rb")
    return path.open("rb")


class _BoundedReads:
    """The tar stream as tarfile sees it, refusing any single read larger than a header
    may be: tarfile reads pax and GNU long-name data whole, so a header claiming
    gigabytes (a few KiB compressed) would otherwise be read into memory."""

    def __init__(self, raw: IO[bytes], limits: UnpackLimits) -> None:
        self.raw = raw
        self.limit = max(limits.max_header_bytes, CHUNK)

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0 or n > self.limit:
            raise ArchiveRefused(f"a header of more than {self.limit:,} bytes (limit)")
        return self.raw.read(n)

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.raw.seek(offset, whence)

    def tell(self) -> int:
        return self.raw.tell()


def _tar_member_problem(member: tarfile.TarInfo, staging: Path) -> str | None:
    problem = _path_problem(member.name)
    if problem:
        return problem
    if member.issym():
        return "symbolic link"
    if member.islnk():
        return "hard link"
    if not (member.isreg() or member.isdir()):
        return "device or special file"
    try:
        tarfile.data_filter(member, str(staging))
    except tarfile.FilterError as exc:
        return f"refused by the safe extraction filter ({type(exc).__name__})"
    return None


def _extract_member(
    name: str,
    open_member: Callable[[], IO[bytes] | None],
    staging: Path,
    meter: _Meter,
    compressed: int | None,
    report: UnpackReport,
) -> None:
    parts = [p for p in PurePosixPath(name.replace("\\", "/")).parts if p not in ("", ".")]
    target = staging.joinpath(*parts)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        out = target.open("xb")
    except OSError as exc:
        _raise_unless_ours(exc)
        report.refused.append((name, f"cannot be written here ({exc.strerror or exc})"))
        return
    with out:
        src = open_member()
        if src is None:
            return
        with src:
            written = 0
            while chunk := src.read(CHUNK):
                written += len(chunk)
                meter.add(name, written, compressed, len(chunk))
                out.write(chunk)


def _raise_unless_ours(exc: BaseException) -> None:
    """A full disk is not the archive's fault: let it fail the run, to be retried."""
    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
        raise exc
