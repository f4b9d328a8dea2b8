"""The downstream assets over several users in one run.

After a scheduled tick, a sync batch stores plays for many users at once, and each of
them needs media_history, unified_plays, enrichment and insights refreshed. A run per
user spent about 5.5 s starting a process and loading the code location on top of about
2 s of work (then half of it drawing the report's charts; benchmarks/concurrency.py): 1,000
users made 1,000 runs and two hours of CPU per tick. So the downstream assets carry a
multi-run BackfillPolicy (`DOWNSTREAM_BATCH_SIZE` users per run,
`MCA_DOWNSTREAM_BATCH_SIZE`), and the automation sensor emits a backfill when a tick
requests several users: Dagster's backfill daemon then launches a run per range of up
to that many users, one process for all of them. A tick that requests one user (an
import, a first sync) still starts a run of its own.

Dagster cuts a backfill into runs by ranges of the partitions' order (users in the order
they were added), so users who were not requested split a range: a tick whose users are
interleaved with others (users whose sync failed, or stored nothing) gets more, smaller
runs.

Inside such a run each asset refreshes its users one after another (`for_each_user`),
with the isolation the sync batches have:

- a user's error does not stop the others, nor their next assets: it is logged, recorded
  as an observation on that user's partition (`error`), and listed in the batch's
  metadata (`failed_users`); the step fails only when every user failed. As after a
  failed run of one user, the next update of that user tries again;
- an error worth retrying later (a rate limit or a 5xx of the tag service) is raised at
  once: it would hit every user, and the step's RetryPolicy retries the batch; the work
  is idempotent (only pending items are enriched, reports are rewritten);
- Dagster gives a ranged step one set of metadata for all of its partitions
  (dagster-io/dagster#18123), so each user's partition shows the batch's table, a row per
  user with that user's figures. A run of one user shows its own metadata as before.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Mapping

from dagster import (
    AssetExecutionContext,
    AssetObservation,
    BackfillPolicy,
    Failure,
    MaterializeResult,
    MetadataValue,
    RetryRequested,
)

from mca_pipeline.defs.error_policy import UpstreamError
from mca_pipeline.defs.partitions import partition_user

# Expected, and said once here rather than at every load of the code location: the
# policy and the automation sensor's evaluation in the code server (automation.py) are
# marked beta, and the `ingest` job (sources, whose runs are one user each, and these
# assets) uses one user per run when backfilled, which is what it should do.
warnings.filterwarnings("ignore", message="Parameter `backfill_policy` of function `asset`")
warnings.filterwarnings("ignore", message="Parameter `use_user_code_server`")
warnings.filterwarnings("ignore", message="Parameter `owners` of initializer `SensorDefinition")
warnings.filterwarnings("ignore", message="Asset job .* materializes assets with varying BackfillPolicies")

#: Users per downstream run when a tick refreshes many: about 40 s of work, so that a run
#: holds its slot (and a core) for a short while.
DOWNSTREAM_BATCH_SIZE = int(os.environ.get("MCA_DOWNSTREAM_BATCH_SIZE", "20"))

#: What one user's refresh returns: that user's metadata.
Refresh = Callable[[str], Mapping[str, MetadataValue]]


def downstream_backfill_policy() -> BackfillPolicy:
    return BackfillPolicy.multi_run(max_partitions_per_run=DOWNSTREAM_BATCH_SIZE)


def for_each_user(context: AssetExecutionContext, refresh: Refresh) -> MaterializeResult:
    """Refresh every user of the step's partitions (see the module docstring)."""
    users = [partition_user(key) for key in context.partition_keys]
    if len(users) == 1:
        return MaterializeResult(metadata=dict(refresh(users[0])))
    figures: dict[str, Mapping[str, MetadataValue]] = {}
    failed: dict[str, str] = {}
    for user in users:
        try:
            figures[user] = refresh(user)
        except (RetryRequested, UpstreamError):
            raise
        except Exception as exc:  # one user's error must not stop the others
            failed[user] = _reason(exc)
            context.log.error(f"{user}: {failed[user]}")
            context.log_event(
                AssetObservation(
                    asset_key=context.asset_key,
                    partition=user,
                    metadata={"error": MetadataValue.text(failed[user])},
                )
            )
    if not figures:
        raise Failure(
            description="every user failed: "
            + "; ".join(f"{user}: {reason}" for user, reason in failed.items()),
            allow_retries=False,
        )
    return MaterializeResult(metadata=batch_metadata(figures, failed))


def batch_metadata(
    figures: Mapping[str, Mapping[str, MetadataValue]], failed: Mapping[str, str]
) -> dict[str, MetadataValue]:
    """The batch's metadata: how many users, and a table of each user's numbers (text and
    tables stay in the users' own runs: fifty charts would not fit in one entry)."""
    columns = sorted(
        {
            key
            for values in figures.values()
            for key, value in values.items()
            if isinstance(value.value, (int, float)) and not isinstance(value.value, bool)
        }
    )
    header = ["| user | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    rows = [
        f"| {user} | " + " | ".join(_cell(values.get(key)) for key in columns) + " |"
        for user, values in figures.items()
    ]
    return {
        "users": MetadataValue.int(len(figures)),
        "per_user": MetadataValue.md("\n".join([*header, *rows])),
        "failed_users": MetadataValue.json(dict(failed)),
    }


def _cell(value: MetadataValue | None) -> str:
    if value is None:
        return "-"
    number = value.value
    return f"{number:,}" if isinstance(number, int) else f"{number:,.2f}"


def _reason(exc: Exception) -> str:
    if isinstance(exc, Failure) and exc.description:
        return exc.description
    return f"{type(exc).__name__}: {exc}"
