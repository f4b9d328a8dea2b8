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

# Browsers and copy tools write under these names until a download is complete.
_PARTIAL_SUFFIXES = (".part", ".crdownload", ".tmp", ".download", ".partial")


def is_export_candidate(path: Path) -> bool:
    """A regular, visible file that is not a download still in progress."""
    name = path.name
    return (
        path.is_file()
        and not name.startswith((".", "~"))
        and not name.lower().endswith(_PARTIAL_SUFFIXES)
        and not name.endswith(".report.txt")
    )


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

    def scan(self) -> tuple[list[InboxFile], list[Path]]:
        """Every candidate file in the inbox, plus files found where no <user>/<plugin> is."""
        files: list[InboxFile] = []
        stray: list[Path] = []
        if not self.inbox_root.is_dir():
            return files, stray
        for user_dir in sorted(self.inbox_root.iterdir()):
            if not user_dir.is_dir():
                if is_export_candidate(user_dir):
                    stray.append(user_dir)
                continue
            for plugin_dir in sorted(user_dir.iterdir()):
                if not plugin_dir.is_dir():
                    if is_export_candidate(plugin_dir):
                        stray.append(plugin_dir)
                    continue
                for path in sorted(plugin_dir.iterdir()):
                    if is_export_candidate(path):
                        stat = path.stat()
                        files.append(
                            InboxFile(user_dir.name, plugin_dir.name, path, stat.st_size, stat.st_mtime_ns)
                        )
        return files, stray

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
    return target
