"""The watched folder: data/inbox/<user>/<plugin>/ files become runs of that plugin's asset.

Anything else at the top of data/inbox/<user>/ (an archive, an unpacked export folder,
a loose file) is an arrival: once settled it becomes an unpack_arrivals run, which moves
each file it recognises into its plugin's folder, where this sensor finds it next.

A run imports the plugin's source only; what depends on it (media_history, unified_plays,
enrichment, insights) follows by itself for that user (defs/automation.py).

A file is requested only once its size and modification time are the same on two
ticks in a row (a browser may still be writing it). The sensor's cursor remembers what
it saw and what it requested, and each request carries a run key made of the files'
identities, so a restarted daemon never imports a file twice.
"""

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from dagster import (
    AssetKey,
    DefaultSensorStatus,
    JobDefinition,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from mca_pipeline.core import AuthType, PluginRegistry
from mca_pipeline.core.users import is_user_slug
from mca_pipeline.defs.arrivals import UNPACK_JOB, UNPACK_OP, Arrival, find_arrivals
from mca_pipeline.defs.notifications import notify
from mca_pipeline.defs.partitions import users_partitions
from mca_pipeline.defs.resources import ExportFoldersResource, WarehouseResource
from mca_pipeline.warehouse import Warehouse
from mca_pipeline.warehouse.export_folders import InboxFile, Misplaced

TICK_SECONDS = 15


@dataclass
class InboxCursor:
    """seen: file path -> (size, mtime) last tick; requested: keys already asked for;
    reported: paths already complained about (logged once, not every tick)."""

    seen: dict[str, list[int]] = field(default_factory=dict)
    requested: set[str] = field(default_factory=set)
    reported: set[str] = field(default_factory=set)

    @classmethod
    def load(cls, raw: str | None) -> "InboxCursor":
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(data.get("seen", {}), set(data.get("requested", [])), set(data.get("reported", [])))

    def dump(self) -> str:
        return json.dumps(
            {"seen": self.seen, "requested": sorted(self.requested), "reported": sorted(self.reported)},
            sort_keys=True,
        )


#: Entries of an arrival folder looked at per tick (the unpack run enforces the real limit).
ARRIVAL_SCAN_CAP = 100_000


def build_inbox_sensor(
    registry: PluginRegistry,
    ingest: Any,  # what define_asset_job returns: its class is not in Dagster's public API
    unpack: JobDefinition,
) -> SensorDefinition:
    importers = {p.name for p in registry if p.auth_type == AuthType.FILE_IMPORT}

    @sensor(
        name="inbox_sensor",
        minimum_interval_seconds=TICK_SECONDS,
        default_status=DefaultSensorStatus.RUNNING,
        jobs=[ingest, unpack],
        description=(
            "Imports export files dropped into data/inbox/<user>/<plugin>/; unpacks and routes "
            "archives, folders and loose files dropped into data/inbox/<user>/."
        ),
    )
    def inbox_sensor(
        context: SensorEvaluationContext,
        export_folders: ExportFoldersResource,
        warehouse: WarehouseResource,
    ) -> SensorResult:
        folders = export_folders.folders()
        state = InboxCursor.load(context.cursor)
        known_users = set(context.instance.get_dynamic_partitions(users_partitions.name))
        # Folders that are not user ids are misplaced as a whole (reported below); files in
        # a user's non-plugin folder belong to that folder's arrival, not to a plugin.
        files = [f for f in folders.scan() if f.plugin in importers and is_user_slug(f.user_id)]
        arrivals = [a for a in find_arrivals(folders, importers, ARRIVAL_SCAN_CAP) if is_user_slug(a.user_id)]
        misplaced = folders.misplaced()
        for entry in misplaced:
            if str(entry.path) not in state.reported:
                _report(context, warehouse.warehouse(), entry, known_users)
                state.reported.add(str(entry.path))

        ready: dict[tuple[str, str], list[InboxFile]] = defaultdict(list)
        seen_now: dict[str, list[int]] = {}
        for f in files:
            identity = [f.size, f.mtime_ns]
            seen_now[str(f.path)] = identity
            if f.key in state.requested:
                continue
            if state.seen.get(str(f.path)) == identity:
                ready[(f.user_id, f.plugin)].append(f)
            else:
                context.log.info(f"{f.path}: waiting for its size to settle ({f.size:,} bytes)")

        settled: list[Arrival] = []
        for arrival in arrivals:
            seen_now[str(arrival.path)] = arrival.identity
            if arrival.key in state.requested:
                continue
            if state.seen.get(str(arrival.path)) == arrival.identity:
                settled.append(arrival)
            else:
                context.log.info(f"{arrival.path}: waiting for it to settle ({arrival.files:,} files)")

        new_users = sorted({user for user, _ in ready} - known_users)
        run_requests = [_unpack_request(a) for a in settled]
        state.requested.update(a.key for a in settled)
        for (user, plugin), batch in sorted(ready.items()):
            keys = sorted(f.key for f in batch)
            run_requests.append(
                RunRequest(
                    run_key="inbox:" + hashlib.sha256("\n".join(keys).encode()).hexdigest()[:24],
                    job_name=ingest.name,
                    partition_key=user,
                    asset_selection=[AssetKey(plugin)],
                    run_config={"ops": {plugin: {"config": {"files": [str(f.path) for f in batch]}}}},
                    tags={"mca/user": user, "mca/plugin": plugin, "mca/trigger": "inbox"},
                )
            )
            state.requested.update(keys)
            context.log.info(f"requesting {plugin} for {user}: {', '.join(f.path.name for f in batch)}")

        # Forget files that left the inbox (archived, rejected or deleted).
        present_keys = {f.key for f in files} | {a.key for a in arrivals}
        state.requested &= present_keys
        state.reported &= {str(m.path) for m in misplaced}
        state.seen = seen_now
        return SensorResult(
            run_requests=run_requests,
            dynamic_partitions_requests=[users_partitions.build_add_request(new_users)] if new_users else [],
            cursor=state.dump(),
        )

    return inbox_sensor


def _unpack_request(arrival: Arrival) -> RunRequest:
    return RunRequest(
        run_key=arrival.run_key,
        job_name=UNPACK_JOB,
        run_config={"ops": {UNPACK_OP: {"config": {"user": arrival.user_id, "path": str(arrival.path)}}}},
        tags={"mca/user": arrival.user_id, "mca/trigger": "inbox", "mca/arrival": arrival.path.name},
    )


#: The notification kind (and plugin column) of an inbox entry that is left alone.
MISPLACED_KIND = "misplaced_file"


def _report(
    context: SensorEvaluationContext, warehouse: Warehouse, entry: Misplaced, known_users: set[str]
) -> None:
    """Say once where a misplaced entry is and what to do: in the daemon's log, and as a
    notification (`mca status`, the webhook) to the user it was meant for or, when that
    cannot be told (a file loose in data/inbox/), to every user, since one of them put it
    there. With no users yet, `mca status` still lists it."""
    message = f"{entry.path} is left alone: {entry.reason}"
    context.log.warning(f"inbox sensor: {message}")
    users = [entry.meant_for] if entry.meant_for in known_users else sorted(known_users)
    for user in users:
        notify(warehouse, context.log, user, "inbox", MISPLACED_KIND, message)
