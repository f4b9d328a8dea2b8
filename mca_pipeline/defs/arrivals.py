"""Arrivals in data/inbox/<user>/: what the inbox sensor hands to the unpack_arrivals job.

An arrival is a loose file or a folder at the top of a user's inbox (not a plugin's
folder): an archive, an unpacked export, or one export file whose plugin nobody named.
Unpacking runs as its own Dagster run, never inside a sensor tick, so a big Takeout
neither blocks the daemon nor disappears from the run history.
"""

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from dagster import Config, Failure, JobDefinition, OpExecutionContext, job, op

from mca_pipeline.core import PluginRegistry
from mca_pipeline.core.users import is_user_slug
from mca_pipeline.defs.resources import ExportFoldersResource
from mca_pipeline.defs.unpack import DEFAULT_LIMITS, UnpackLimits, file_plugins, unpack_arrival
from mca_pipeline.warehouse.export_folders import ExportFolders, is_export_candidate, is_export_name

UNPACK_JOB = "unpack_arrivals"
UNPACK_OP = "unpack_arrival"


@dataclass(frozen=True)
class Arrival:
    """One file or folder at the top of data/inbox/<user>/, as seen on one tick."""

    user_id: str
    path: Path
    files: int
    size: int
    changed_ns: int

    @property
    def identity(self) -> list[int]:
        """Equal on two ticks in a row means nothing is being written into it any more."""
        return [self.files, self.size, self.changed_ns]

    @property
    def key(self) -> str:
        return f"{self.user_id}/{self.path.name}:{self.files}:{self.size}:{self.changed_ns}"

    @property
    def run_key(self) -> str:
        return "unpack:" + hashlib.sha256(self.key.encode()).hexdigest()[:24]


def find_arrivals(folders: ExportFolders, plugin_folders: set[str], cap: int) -> list[Arrival]:
    """Loose files and non-plugin folders of every user's inbox, with their identity.

    Hidden names and names still being written (`.part`, `.crdownload`) are not arrivals
    yet; a folder counts every file in it, hidden or partial, so a copy in progress keeps
    changing its identity. At most `cap` entries of a folder are looked at per tick.
    """
    root = folders.inbox_root
    if not root.is_dir():
        return []
    arrivals = []
    for user_dir in sorted(p for p in root.iterdir() if p.is_dir() and not p.is_symlink()):
        for entry in sorted(user_dir.iterdir()):
            if entry.is_symlink() or entry.name.startswith((".", "~")):
                continue
            if entry.is_dir():
                if entry.name not in plugin_folders and is_export_name(entry.name):
                    arrivals.append(Arrival(user_dir.name, entry, *_folder_identity(entry, cap)))
            elif is_export_candidate(entry):
                st = entry.stat()
                arrivals.append(Arrival(user_dir.name, entry, 1, st.st_size, _changed(st)))
    return arrivals


def _changed(st: os.stat_result) -> int:
    """When the entry last changed. The status change time counts too: copies keep the
    original's modification time (`cp -p`, copytree), and the same export copied in again
    later must not look like the one already unpacked."""
    return max(st.st_mtime_ns, st.st_ctime_ns)


def _folder_identity(folder: Path, cap: int) -> tuple[int, int, int]:
    files = size = 0
    newest = _changed(folder.stat())
    stack = [folder]
    while stack and files <= cap:
        try:
            with os.scandir(stack.pop()) as entries:
                for entry in entries:
                    st = entry.stat(follow_symlinks=False)
                    files += 1
                    size += st.st_size
                    newest = max(newest, _changed(st))
                    if entry.is_dir(follow_symlinks=False):
                        stack.append(Path(entry.path))
        except OSError:
            continue
    return files, size, newest


def unusable_user(user_id: str) -> str | None:
    if is_user_slug(user_id):
        return None
    return (
        f"{user_id!r} is not a valid user id (lowercase letters, digits, '-' or '_', "
        "starting with a letter or digit)"
    )


class UnpackConfig(Config):
    user: str
    path: str


def build_unpack_job(registry: PluginRegistry, limits: UnpackLimits = DEFAULT_LIMITS) -> JobDefinition:
    """The job the inbox sensor launches for each settled arrival."""
    plugins = file_plugins(registry)

    @op(name=UNPACK_OP, description="Unpack an archive or folder and route each file to its plugin's inbox.")
    def unpack(
        context: OpExecutionContext, config: UnpackConfig, export_folders: ExportFoldersResource
    ) -> None:
        folders = export_folders.folders()
        path = Path(config.path).resolve()
        user_inbox = (folders.inbox_root / config.user).resolve()
        if unusable_user(config.user) or path.parent != user_inbox:
            raise Failure(description=f"{path} is not an arrival in {user_inbox}", allow_retries=False)
        if not path.exists():
            context.log.warning(f"{path} is gone (already unpacked by another run?)")
            return
        report = unpack_arrival(path, config.user, folders, plugins, limits, context.log.info)
        context.add_output_metadata(
            {
                "routed": len(report.routed),
                "unknown": len(report.unknown),
                "refused": len(report.refused),
                "plugins": ", ".join(sorted({p for _, p, _ in report.routed})) or "-",
            }
        )
        if report.unknown:
            context.log.warning(
                f"{path.name}: {len(report.unknown)} file(s) no plugin recognises, left in {report.kept}: "
                + ", ".join(m for m, _ in report.unknown[:10])
            )
        if report.refused:
            context.log.warning(
                f"{path.name}: refused {len(report.refused)} member(s): "
                + "; ".join(f"{m}: {r}" for m, r in report.refused[:10])
            )
        if report.rejected:
            raise Failure(description=f"{path.name} rejected: {report.rejected}", allow_retries=False)

    @job(name=UNPACK_JOB, description="Unpack an archive or folder dropped into data/inbox/<user>/.")
    def unpack_arrivals() -> None:
        unpack()

    return unpack_arrivals
