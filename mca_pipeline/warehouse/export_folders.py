"""The watched folder layout: data/inbox/<user>/<plugin>/ in, archive/ or rejected/ out.

Moving a file out of the inbox is how a person sees the outcome without opening the UI:
imported files go to archive/, broken ones to rejected/ with a report beside them that
says what was wrong and where.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from mca_pipeline.core.models import utc_now
from mca_pipeline.core.users import is_user_slug

# Browsers and copy tools write under these names until a download is complete.
_PARTIAL_SUFFIXES = (".part", ".crdownload", ".tmp", ".download", ".partial")


def is_export_name(name: str) -> bool:
    """A name the inbox takes: not hidden, not a download still in progress, not a report."""
    return (
        not name.startswith((".", "~"))
        and not name.lower().endswith(_PARTIAL_SUFFIXES)
        and not name.endswith(".report.txt")
    )


def is_export_candidate(path: Path) -> bool:
    """A regular file with a name the inbox takes."""
    return path.is_file() and is_export_name(path.name)


@dataclass(frozen=True)
class InboxFile:
    user_id: str
    plugin: str
    path: Path
    size: int
    mtime_ns: int

    @property
    def key(self) -> str:
        """Identifies this version of the file: a file dropped again is a new request."""
        return f"{self.user_id}/{self.plugin}/{self.path.name}:{self.size}:{self.mtime_ns}"


@dataclass(frozen=True)
class Misplaced:
    """Something in data/inbox/ that will never be imported where it is, and why."""

    path: Path
    reason: str
    #: The user it was probably meant for: the folder's name in lower case, when that is
    #: a user id (`Alice/` for alice); None for a file loose in data/inbox/ itself.
    meant_for: str | None


@dataclass(frozen=True)
class ExportFolders:
    data_dir: Path

    @property
    def inbox_root(self) -> Path:
        return self.data_dir / "inbox"

    def inbox(self, user_id: str, plugin: str) -> Path:
        return self.inbox_root / user_id / plugin

    def archive_dir(self, user_id: str, plugin: str) -> Path:
        return self.data_dir / "archive" / user_id / plugin

    def rejected_dir(self, user_id: str, plugin: str) -> Path:
        return self.data_dir / "rejected" / user_id / plugin

    def scan(self) -> list[InboxFile]:
        """Every candidate file in data/inbox/<user>/<folder>/ (user and folder unchecked)."""
        files: list[InboxFile] = []
        if not self.inbox_root.is_dir():
            return files
        for user_dir in sorted(p for p in self.inbox_root.iterdir() if p.is_dir()):
            for plugin_dir in sorted(p for p in user_dir.iterdir() if p.is_dir()):
                for path in sorted(plugin_dir.iterdir()):
                    if is_export_candidate(path):
                        stat = path.stat()
                        files.append(
                            InboxFile(user_dir.name, plugin_dir.name, path, stat.st_size, stat.st_mtime_ns)
                        )
        return files

    def misplaced(self) -> list[Misplaced]:
        """What the inbox leaves alone for good: files loose in data/inbox/ itself (no user
        to import them for) and folders whose name is not a user id. Everything inside a
        user's folder is imported or unpacked, so it is never misplaced."""
        found: list[Misplaced] = []
        if not self.inbox_root.is_dir():
            return found
        for entry in sorted(self.inbox_root.iterdir()):
            if entry.is_symlink() or entry.name.startswith((".", "~")):
                continue
            if entry.is_dir() and not is_user_slug(entry.name):
                guess = entry.name.lower()
                meant_for = guess if is_user_slug(guess) else None
                fix = f"rename it to {guess!r}" if meant_for else "rename it to one"
                found.append(
                    Misplaced(
                        entry,
                        f"{entry.name!r} is not a user id (lowercase letters, digits, '-' or '_'); {fix}",
                        meant_for,
                    )
                )
            elif not entry.is_dir() and is_export_candidate(entry):
                found.append(
                    Misplaced(
                        entry, "files go in a user's folder: data/inbox/<user>/, e.g. data/inbox/alice/", None
                    )
                )
        return found

    def waiting(self, user_id: str, plugin: str) -> list[Path]:
        folder = self.inbox(user_id, plugin)
        if not folder.is_dir():
            return []
        return sorted(p for p in folder.iterdir() if is_export_candidate(p))

    def archive(self, path: Path, user_id: str, plugin: str, report: str | None = None) -> Path:
        """Move an imported file to archive/, with its import report beside it when there
        is something to say (records skipped or left out)."""
        target = _move(path, self.archive_dir(user_id, plugin))
        if report is not None:
            _write_report(target, report)
        return target

    def reject(self, path: Path, user_id: str, plugin: str, report: str) -> Path:
        """Move a broken file to rejected/ and write `<name>.report.txt` beside it."""
        target = _move(path, self.rejected_dir(user_id, plugin))
        _write_report(target, report)
        return target


def report_path(target: Path) -> Path:
    return target.with_name(target.name + ".report.txt")


def _write_report(target: Path, report: str) -> None:
    report_path(target).write_text(report, encoding="utf-8")


def _move(path: Path, folder: Path) -> Path:
    """Move into folder, keeping the name unless taken (then a timestamp is added)."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / path.name
    if target.exists():
        stamp = utc_now().strftime("%Y%m%dT%H%M%S%f")
        target = folder / f"{path.stem}.{stamp}{path.suffix}"
    shutil.move(str(path), target)
    # A move keeps the dropped file's mode (often world-readable): archived and rejected
    # exports are owner-only, like everything else the project writes.
    target.chmod(0o600)
    return target
