"""A schedule per API plugin that syncs every user who connected it.

The plugin says how often (`schedule_cron`, hourly by default). A tick asks for batch
runs (defs/sync_batches.py) of up to `batch_size()` users each rather than a run per
user: a run costs seconds to start whatever it does, so a run per user could not keep
hundreds of users current. Run keys carry the tick's time and the batch's first user, so
a tick evaluated twice (a daemon restart) never runs twice. A user whose sync a long
rate limit paused (warehouse/pauses.py) is left out until the pause ends, and so is one
that an unfinished run already syncs (defs/syncs_in_flight.py).
"""

from dagster import (
    DefaultScheduleStatus,
    JobDefinition,
    ResourceParam,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from mca_pipeline.auth import CredentialStore
from mca_pipeline.core import SourcePlugin
from mca_pipeline.defs.automation import SCHEDULED, TRIGGER_TAG
from mca_pipeline.defs.partitions import users_partitions
from mca_pipeline.defs.resources import WarehouseResource
from mca_pipeline.defs.sync_batches import SYNC_PRIORITY, batch_op_name, batch_size
from mca_pipeline.defs.syncs_in_flight import syncs_in_flight
from mca_pipeline.warehouse.pauses import paused_users


def build_sync_schedule(plugin: SourcePlugin, batch_job: JobDefinition) -> ScheduleDefinition:
    cron = plugin.schedule_cron

    @schedule(
        name=f"{plugin.name}_sync",
        cron_schedule=cron,
        job=batch_job,
        default_status=DefaultScheduleStatus.RUNNING,
        description=f"Syncs {plugin.name} for every user who connected it ({cron}).",
    )
    def _sync(
        context: ScheduleEvaluationContext,
        credentials: ResourceParam[CredentialStore],
        warehouse: WarehouseResource,
    ) -> list[RunRequest] | SkipReason:
        known = set(context.instance.get_dynamic_partitions(users_partitions.name))
        users = set(credentials.users_with(plugin.name))
        for user in sorted(users - known):
            context.log.warning(f"{user} connected {plugin.name} but is not a user partition yet; skipped")
        with warehouse.warehouse().connect() as con:
            paused = paused_users(con, plugin.name, context.scheduled_execution_time)
        for user, until in sorted(paused.items()):
            if user in users:
                context.log.info(f"{user}: {plugin.name} asked to wait until {until.isoformat()}; skipped")
        users -= paused.keys()
        pending = syncs_in_flight(context.instance).get(plugin.name, set())
        if users & pending:
            context.log.info(
                f"{len(users & pending)} user(s) already queued or syncing (an earlier tick, a first "
                "sync, a continuation or a run from the UI); left to that run"
            )
        users -= pending
        tick = context.scheduled_execution_time.strftime("%Y-%m-%dT%H:%M")
        due = sorted(users & known)
        size = batch_size()
        batches = [due[i : i + size] for i in range(0, len(due), size)]
        requests = [
            RunRequest(
                run_key=f"{plugin.name}:{tick}:{batch[0]}",
                run_config={"ops": {batch_op_name(plugin): {"config": {"users": batch}}}},
                tags={
                    "mca/plugin": plugin.name,
                    TRIGGER_TAG: SCHEDULED,
                    "mca/batch": f"{n} of {len(batches)}",
                    "mca/users": str(len(batch)),
                    **SYNC_PRIORITY,
                },
            )
            for n, batch in enumerate(batches, start=1)
        ]
        return requests or SkipReason(f"nobody to sync for {plugin.name} (none connected, or all waiting)")

    return _sync
