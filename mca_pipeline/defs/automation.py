"""Downstream by itself: a new materialization of any source for user U refreshes
media_history, unified_plays, plugin_enrichment, universal_tags and insights for U.

This is Dagster's declarative automation. Every downstream asset carries
`after_any_update()`, and `downstream_automation_sensor` (running by default; the daemon
evaluates it) turns the conditions into runs, one per user partition, through the run
queue like every other run.

Why not `AutomationCondition.eager()`: eager waits until no dependency is missing, and
media_history depends on every source while a user has data in a few of them, so it would
never fire. Nor do we run a partition just because it was added (a new user with nothing
imported has nothing to refresh). What is kept from eager:

- `any_deps_updated()` is per partition (alice's import never touches bob) and ignores an
  update made by a run that also ran this asset (the `ingest` job, `mca demo`), so a run
  never triggers itself again;
- `.since_last_handled()`: once requested, the condition is false until a dependency
  updates again, so a downstream run that fails is not retried in a loop; the next import
  or sync tries again;
- nothing starts while the asset or one of its dependencies is in a queued or running
  run; it starts on the tick after they end.

Runs of one user wait for each other in the run queue (dagster.yaml limits
`dagster/partition` to one run per value), so a source cannot store new rows in the middle
of a downstream run of the same user and have its update counted as handled.
"""

from collections.abc import Sequence

from dagster import (
    AssetsDefinition,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    DefaultSensorStatus,
)

AUTOMATION_SENSOR = "downstream_automation_sensor"
#: Every run the automation sensor starts carries this tag (filter runs by it in the UI).
TRIGGER_TAGS = {"mca/trigger": "automation"}


def after_any_update() -> AutomationCondition:
    """True for a user's partition when any dependency of it updated for that user since
    this asset was last requested or materialized, and nothing of it is in progress."""
    return (
        AutomationCondition.any_deps_updated().since_last_handled()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
    ).with_label("after_any_update")


def build_automation_sensor(
    downstream: Sequence[AssetsDefinition],
) -> AutomationConditionSensorDefinition:
    return AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR,
        target=list(downstream),
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=15,
        run_tags=TRIGGER_TAGS,
        # One run per user rather than one backfill for every user updated in a tick:
        # each run is then that user's, with its partition tag and its own queue slot.
        emit_backfills=False,
        description=(
            "Refreshes media_history, unified_plays, enrichment and insights for a user after "
            "any of that user's sources was imported or synced."
        ),
    )
