"""Downstream by itself: an import or sync that stored something for user U refreshes
media_history, unified_plays, plugin_enrichment, universal_tags and insights for U.

This is Dagster's declarative automation. Every downstream asset carries
`after_any_update()`, and `downstream_automation_sensor` (running by default; the daemon
evaluates it) turns the conditions into runs through the run queue like every other run:
a run of its own for a tick that refreshes one user, and a backfill of runs of up to 20
users each for a tick that refreshes many (defs/downstream_batches.py).

Why not `AutomationCondition.eager()`: eager waits until no dependency is missing, and
media_history depends on every source while a user has data in a few of them, so it would
never fire. Nor do we run a partition just because it was added (a new user with nothing
imported has nothing to refresh). What is kept from eager:

- updates are per partition (alice's import never touches bob), and an update made by a
  run that also ran this asset (the `ingest` job, `mca demo`) is ignored, so a run never
  triggers itself again;
- `.since_last_handled()`: once requested, the condition is false until a dependency
  updates again, so a downstream run that fails is not retried in a loop; the next import
  or sync tries again;
- nothing starts while the asset or one of its dependencies is in a queued or running
  run; it starts on the tick after they end;
- nothing starts while a scheduled sync batch is queued or running (`NoSyncBatchInFlight`):
  the batches get the CPU first, and the users they stored are refreshed after them.

What is added: a source's update counts only when its run stored something. An hourly
sync that found no new plays still materializes its asset (its checks and counts are
worth seeing), but must not redraw every user's report each hour. The source asset tags
its run `mca/stored=nothing` when the run added or changed no item (`tag_if_stored`;
`mca/stored=items` when it did, which wins in a run of several sources), and source
updates whose runs all say `nothing` are ignored. The tag marks "nothing" rather than
"something" so that an update Dagster cannot attribute to a run (on the very first tick
of a new instance it does not look at run tags) counts, rather than being lost. Updates
of the other dependencies (a re-enrichment started from the UI) count as they are.

Not guarded: an import of user U that ends while U's downstream run is computing an asset
and before that asset's materialization is recorded counts as handled by it, so what it
added reaches that asset at U's next import or sync. Limiting runs to one per user in the
run queue would close that window, but then one run cut off by a daemon crash (left
STARTED) would hold all of that user's runs until someone marks it failed.
"""

from collections.abc import Sequence

import duckdb
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    AutomationCondition,
    AutomationConditionSensorDefinition,
    AutomationContext,
    AutomationResult,
    DagsterRunStatus,
    DefaultSensorStatus,
    RunsFilter,
)

from mca_pipeline.warehouse.queries import stored_by_run

AUTOMATION_SENSOR = "downstream_automation_sensor"
#: What started a run: "automation" (this sensor), "schedule" (a tick's sync batch), ...
TRIGGER_TAG = "mca/trigger"
SCHEDULED = "schedule"
#: Every run the automation sensor starts carries this tag (filter runs by it in the UI).
TRIGGER_TAGS = {TRIGGER_TAG: "automation"}
IN_FLIGHT = [
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
]
#: On every source run: "items" when it added or changed items, else "nothing" (ignored).
STORED_TAG = "mca/stored"
STORED_ITEMS, STORED_NOTHING = "items", "nothing"
#: The source assets (group of the asset factory in source_assets.py).
SOURCES = AssetSelection.groups("sources")


def after_any_update() -> AutomationCondition:
    """True for a user's partition when a source stored something for that user, or
    another dependency updated for that user, since this asset was last requested or
    materialized, and nothing of it is in progress."""
    source_stored = (
        AutomationCondition.any_deps_match(
            (
                AutomationCondition.newly_updated()
                & ~AutomationCondition.executed_with_root_target()
                & ~AutomationCondition.all_new_updates_have_run_tags(tag_values={STORED_TAG: STORED_NOTHING})
            )
            | AutomationCondition.will_be_requested()
        )
        .allow(SOURCES)
        .with_label("any_source_stored")
    )
    other_updated = AutomationCondition.any_deps_updated().ignore(SOURCES)
    return (
        (source_stored | other_updated).since_last_handled()
        & ~AutomationCondition.any_deps_in_progress()
        & ~AutomationCondition.in_progress()
        & NoSyncBatchInFlight()
    ).with_label("after_any_update")


class NoSyncBatchInFlight(AutomationCondition[AssetKey]):
    """True when no scheduled sync batch is queued or running (every partition alike).

    After a tick, the batches store plays for many users in a few minutes, and each of
    those users then needs seconds of CPU downstream (the report's charts above all).
    Started at once, that work would take the cores the batches need, and the last users'
    plays would wait minutes longer (benchmarks/concurrency.py). The requests are not lost
    meanwhile: `since_last_handled` keeps each user's update until this is true again.
    """

    @property
    def name(self) -> str:
        return "no_sync_batch_in_flight"

    def evaluate(self, context: AutomationContext) -> AutomationResult:  # type: ignore[override]
        in_flight = context.asset_graph_view.instance.get_runs_count(
            RunsFilter(statuses=IN_FLIGHT, tags={TRIGGER_TAG: SCHEDULED})
        )
        return AutomationResult(
            context, context.get_empty_subset() if in_flight else context.candidate_subset
        )


def tag_if_stored(
    context: AssetExecutionContext, con: duckdb.DuckDBPyConnection, user_id: str, platform: str
) -> None:
    """Tag the run with whether it added or changed any of the user's items of this platform
    (retries of the step included), before the asset's materialization is recorded. In a
    run of several sources, one that stored items marks the whole run."""
    run_id = context.run.run_id
    if stored_by_run(con, run_id, user_id, platform):
        context.instance.add_run_tags(run_id, {STORED_TAG: STORED_ITEMS})
        return
    run = context.instance.get_run_by_id(run_id)  # fresh: another step may have tagged it
    if run is not None and STORED_TAG not in run.tags:
        context.instance.add_run_tags(run_id, {STORED_TAG: STORED_NOTHING})


def build_automation_sensor(
    downstream: Sequence[AssetsDefinition],
) -> AutomationConditionSensorDefinition:
    return AutomationConditionSensorDefinition(
        AUTOMATION_SENSOR,
        target=list(downstream),
        default_status=DefaultSensorStatus.RUNNING,
        minimum_interval_seconds=15,
        run_tags=TRIGGER_TAGS,
        # A tick that requests several users emits a backfill: the downstream assets'
        # BackfillPolicy then puts up to DOWNSTREAM_BATCH_SIZE users in one run
        # (defs/downstream_batches.py). A tick of one user starts a run of its own.
        emit_backfills=True,
        # NoSyncBatchInFlight is our own condition: evaluated where our code is loaded.
        use_user_code_server=True,
        description=(
            "Refreshes media_history, unified_plays, enrichment and insights for a user after "
            "an import or sync stored something new for that user."
        ),
    )
