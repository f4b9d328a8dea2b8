"""A schedule per API plugin that syncs every user who connected it.

The plugin says how often (`schedule_cron`, hourly by default); run keys carry the
tick's time so a tick evaluated twice (a daemon restart) never runs twice.
"""

from dagster import (
    AssetsDefinition,
    DefaultScheduleStatus,
    ResourceParam,
    RunRequest,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    schedule,
)

from mca_pipeline.auth import CredentialStore
from mca_pipeline.core import SourcePlugin
from mca_pipeline.defs.partitions import users_partitions


def build_sync_schedule(plugin: SourcePlugin, source_asset: AssetsDefinition) -> ScheduleDefinition:
    cron = plugin.schedule_cron

    @schedule(
        name=f"{plugin.name}_sync",
        cron_schedule=cron,
        target=source_asset,
        default_status=DefaultScheduleStatus.RUNNING,
        description=f"Syncs {plugin.name} for every user who connected it ({cron}).",
    )
    def _sync(
        context: ScheduleEvaluationContext, credentials: ResourceParam[CredentialStore]
    ) -> list[RunRequest] | SkipReason:
        known = set(context.instance.get_dynamic_partitions(users_partitions.name))
        users = credentials.users_with(plugin.name)
        for user in sorted(set(users) - known):
            context.log.warning(f"{user} connected {plugin.name} but is not a user partition yet; skipped")
        tick = context.scheduled_execution_time.strftime("%Y-%m-%dT%H:%M")
        requests = [
            RunRequest(
                run_key=f"{plugin.name}:{user}:{tick}",
                partition_key=user,
                tags={"mca/user": user, "mca/plugin": plugin.name, "mca/trigger": "schedule"},
            )
            for user in sorted(set(users) & known)
        ]
        return requests or SkipReason(f"nobody has connected {plugin.name}")

    return _sync
