"""Scheduled syncs of many users in one run: a job per API plugin, `<plugin>_sync_batch`.

Why a job of its own rather than the asset with a BackfillPolicy: a run of a partitioned
asset over many partitions has one step, so it succeeds, fails and retries for all of
them at once and records one materialization with one set of counts for the range; one
user's expired grant would fail everyone's sync. This job's one op syncs its users one
after another with the same code as the asset (defs/user_sync.py) and records each
user's outcome as that user's own event on the asset's partition:

- stored something: an AssetMaterialization of the partition with the user's counts, so
  the downstream automation refreshes that user, and only that user;
- nothing new: an AssetObservation with the same counts (the partition's last
  materialization stays the last time something arrived; a materialization here would
  redraw every synced user's report each hour);
- an error: an AssetObservation with its code and message, after the connection state,
  sync_log row and notification the error calls for. An error worth retrying (upstream,
  partial sync, a rate limit short enough to wait for, anything unexpected) is tried once
  more at the end of the batch, when every other user is done, after the wait the
  platform asked for (or the RetryPolicy's delay), if that is at most SECOND_TRY_WAIT_S
  away. Failing again, the user is marked `retry_as_own_run`: the continuation sensor
  asks for that user's own run of the asset, with the RetryPolicy's further retries and
  waits. The others (auth expired, permission denied, invalid data, a bug) need a person.
- the source checks run for each user; each check is recorded once per batch (an event
  per user and check cost more than the syncs themselves), failed when it failed for any
  of the batch's users, with the users it failed for and each user's figures in its
  metadata.

Each user gets `max_pages` pages (one by default: a routine sync is one page); a user
with more waiting gets `has_more` and the continuation sensor's own run. So no user keeps
the others waiting for more than a page, and no user's retries or rate limits touch them.

The op runs in the asset's pool (`platform_<plugin>`), so batches and single runs share
the platform's limit: a batch is one sync at a time. Terminating the run stops the user
in flight after the request in flight (defs/cancellation.py); users not reached are
synced at the next tick.
"""

import os
import time
from collections.abc import Callable
from datetime import datetime

import httpx
from dagster import (
    AssetCheckEvaluation,
    AssetCheckResult,
    AssetKey,
    AssetMaterialization,
    AssetObservation,
    Config,
    Failure,
    JobDefinition,
    MetadataValue,
    Nothing,
    OpExecutionContext,
    Out,
    ResourceParam,
    RetryPolicy,
    job,
    op,
)
from pydantic import Field

from mca_pipeline.auth import CredentialStore
from mca_pipeline.core import SourcePlugin
from mca_pipeline.core.models import RETRIED_BY_DEFAULT
from mca_pipeline.core.users import check_user_slug
from mca_pipeline.defs.automation import STORED_ITEMS, STORED_NOTHING, STORED_TAG
from mca_pipeline.defs.cancellation import SyncTerminated
from mca_pipeline.defs.resources import WarehouseResource
from mca_pipeline.defs.user_sync import SyncRequest, UserSync, sync_user
from mca_pipeline.warehouse import Warehouse

#: Users per batch run; MCA_SYNC_BATCH_SIZE overrides it.
DEFAULT_BATCH_SIZE = 50
BATCH_SIZE_ENV = "MCA_SYNC_BATCH_SIZE"
#: Observation metadata that asks the continuation sensor for the user's own run.
RETRY_AS_OWN_RUN = "retry_as_own_run"
#: On the runs that sync (batches, continuations, retries): the run queue starts them
#: before the downstream automation's runs (priority 0), which a tick that stored plays
#: for hundreds of users would otherwise put in front of the retries of its users.
SYNC_PRIORITY = {"dagster/priority": "1"}
#: The longest a batch waits, after its other users, to try a user a second time.
SECOND_TRY_WAIT_S = 30.0


def batch_size() -> int:
    """DEFAULT_BATCH_SIZE, or MCA_SYNC_BATCH_SIZE where a deployment sets a positive number."""
    raw = os.environ.get(BATCH_SIZE_ENV, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_BATCH_SIZE


def batch_job_name(plugin: SourcePlugin) -> str:
    return f"{plugin.name}_sync_batch"


#: Ends the name of each batch job's one op: `<plugin>_sync_users`.
BATCH_OP_SUFFIX = "_sync_users"


def batch_op_name(plugin: SourcePlugin) -> str:
    """The batch job's one op, whose config lists the users (see BatchConfig)."""
    return f"{plugin.name}{BATCH_OP_SUFFIX}"


class BatchConfig(Config):
    users: list[str] = Field(description="The users to sync, one after another.")
    max_pages: int = Field(
        default=1,
        ge=1,
        description="Pages per user; a user with more waiting is continued in a run of their own.",
    )
    page_size: int = Field(default=10_000, ge=1, description="Items the plugin may return per page.")


def build_sync_batch_job(plugin: SourcePlugin, retry_policy: RetryPolicy) -> JobDefinition:
    asset_key = AssetKey(plugin.name)
    retry_policy_delay = float(retry_policy.delay or 0)

    @op(
        name=batch_op_name(plugin),
        pool=f"platform_{plugin.name}",
        out=Out(Nothing),
        description=f"Syncs {plugin.name} for each user of the batch, each with an outcome of its own.",
    )
    def sync_users(
        context: OpExecutionContext,
        config: BatchConfig,
        warehouse: WarehouseResource,
        credentials: ResourceParam[CredentialStore],
        oauth_http: ResourceParam[httpx.Client],
        clock: ResourceParam[Callable[[], datetime]],
    ) -> None:
        wh = warehouse.warehouse()
        request = SyncRequest(config.max_pages, config.page_size)
        tally = {
            "stored": 0,
            "nothing new": 0,
            "stored on a second try": 0,
            "retried in own run": 0,
            "failed": 0,
        }
        checked: list[UserSync] = []
        tagged = False

        def attempt(user_id: str, last_try: bool) -> tuple[float, str, str] | None:
            """Sync one user and record the outcome; or, when the sync failed in a way worth
            retrying and this is not the last try, return how many seconds to wait first,
            with the error's code and message."""
            nonlocal tagged
            try:
                check_user_slug(user_id)
                outcome = sync_user(
                    plugin,
                    wh,
                    user_id,
                    request,
                    credentials=credentials,
                    oauth_http=oauth_http,
                    clock=clock,
                    log=context.log,
                    run_id=context.run.run_id,
                    final_try=False,
                )
            except SyncTerminated:
                raise
            except (Failure, ValueError) as exc:  # needs a person: no retry
                message = exc.description if isinstance(exc, Failure) else str(exc)
                context.log.error(f"{plugin.name} for {user_id}: {message}")
                _observe(context, asset_key, user_id, "failed", message or "", retry=False)
                tally["failed"] += 1
                return None
            except Exception as exc:  # the warehouse busy too long, a bug: try again
                context.log.exception(f"{plugin.name} for {user_id} failed unexpectedly")
                if not last_try:
                    return retry_policy_delay, "failed", f"{type(exc).__name__}: {exc}"
                _observe(context, asset_key, user_id, "failed", f"{type(exc).__name__}: {exc}", retry=True)
                tally["retried in own run"] += 1
                return None
            error = outcome.error
            if error is not None:
                retry = error.retry is not False and error.code in RETRIED_BY_DEFAULT
                if retry and not last_try:
                    wait = error.after.total_seconds() if error.after is not None else retry_policy_delay
                    return wait, error.code.value, error.message
                _observe(context, asset_key, user_id, error.code.value, error.message, retry=retry)
                tally["retried in own run" if retry else "failed"] += 1
                return None
            if outcome.stored and not tagged:
                # Before the first materialization is recorded: the automation reads it.
                context.instance.add_run_tags(context.run.run_id, {STORED_TAG: STORED_ITEMS})
                tagged = True
            _report(context, asset_key, outcome, wh)
            tally[
                "stored on a second try" if last_try else "stored" if outcome.stored else "nothing new"
            ] += 1
            checked.append(outcome)
            return None

        # Every user once; then, when everyone else is done, those whose sync failed in a
        # way worth retrying, each once more after the wait asked for (already over for
        # most: the first pass took that long). What fails again, or would keep the
        # batch waiting longer than SECOND_TRY_WAIT_S, goes to the user's own run.
        later: list[tuple[float, str, str, str]] = []
        for user_id in config.users:
            failed = attempt(user_id, last_try=False)
            if failed is not None:
                wait, code, message = failed
                later.append((time.monotonic() + wait, user_id, code, message))
        for due, user_id, code, message in sorted(later):
            pause = due - time.monotonic()
            if pause > SECOND_TRY_WAIT_S:
                _observe(context, asset_key, user_id, code, message, retry=True)
                tally["retried in own run"] += 1
                continue
            if pause > 0:
                time.sleep(pause)
            attempt(user_id, last_try=True)
        if not tagged:
            context.instance.add_run_tags(context.run.run_id, {STORED_TAG: STORED_NOTHING})
        for evaluation in _evaluations(asset_key, checked):
            context.log_event(evaluation)
        context.log.info(
            f"{plugin.name}: {len(config.users)} user(s): "
            + ", ".join(f"{n} {what}" for what, n in tally.items() if n)
        )

    @job(
        name=batch_job_name(plugin),
        tags={"mca/plugin": plugin.name},
        description=f"Scheduled {plugin.name} syncs of many users in one run ({plugin.name}_sync).",
    )
    def sync_batch() -> None:
        sync_users()

    return sync_batch


def _report(
    context: OpExecutionContext, asset_key: AssetKey, outcome: UserSync, warehouse: Warehouse
) -> None:
    metadata = outcome.metadata(warehouse)
    event_type = AssetMaterialization if outcome.stored else AssetObservation
    context.log_event(event_type(asset_key=asset_key, partition=outcome.user_id, metadata=metadata))


def _observe(
    context: OpExecutionContext, asset_key: AssetKey, user_id: str, code: str, message: str, *, retry: bool
) -> None:
    context.log_event(
        AssetObservation(
            asset_key=asset_key,
            partition=user_id,
            description=message,
            metadata={
                "error_code": MetadataValue.text(code),
                "error": MetadataValue.text(message),
                RETRY_AS_OWN_RUN: MetadataValue.bool(retry),
            },
        )
    )


def _evaluations(asset_key: AssetKey, outcomes: list[UserSync]) -> list[AssetCheckEvaluation]:
    """One evaluation per check over the users it ran for."""
    by_check: dict[str, list[tuple[str, AssetCheckResult]]] = {}
    for outcome in outcomes:
        for check in outcome.checks:
            by_check.setdefault(str(check.check_name), []).append((outcome.user_id, check))
    evaluations = []
    for name, results in by_check.items():
        failed = [user for user, check in results if not check.passed]
        figures = "\n".join(
            f"| {user} | {'passed' if check.passed else 'failed'} | "
            + ", ".join(f"{k}: {getattr(v, 'value', v)}" for k, v in check.metadata.items())
            + " |"
            for user, check in results
        )
        evaluations.append(
            AssetCheckEvaluation(
                asset_key=asset_key,
                check_name=name,
                passed=not failed,
                severity=results[0][1].severity,
                description=f"failed for {', '.join(failed)}"
                if failed
                else f"passed for {len(results)} user(s)",
                metadata={
                    "users": MetadataValue.int(len(results)),
                    "failed_for": MetadataValue.text(", ".join(failed)),
                    "per_user": MetadataValue.md("| user | outcome | figures |\n|---|---|---|\n" + figures),
                },
            )
        )
    return evaluations
