"""Whose syncs are already queued or running, whatever asked for them.

A sync of one account may be asked for by the plugin's schedule (a batch run of many
users), the first-sync sensor, the continuation sensor or a person in the UI (a run of
the plugin's asset for one user partition). Two at once would fetch the same pages
twice, spend the platform's rate limit twice and wait on each other's store lock, so the
schedule and the first-sync sensor leave out an account an unfinished run already syncs.
"""

from collections import defaultdict

from dagster import DagsterInstance, DagsterRunStatus, RunsFilter

from mca_pipeline.defs.sync_batches import BATCH_OP_SUFFIX

#: Runs that have not ended: a user in one of them is being (or about to be) synced.
UNFINISHED = (
    DagsterRunStatus.QUEUED,
    DagsterRunStatus.NOT_STARTED,
    DagsterRunStatus.STARTING,
    DagsterRunStatus.STARTED,
    DagsterRunStatus.CANCELING,
)
#: More unfinished runs than this would mean a stuck queue; the newest are looked at.
_LOOKED_AT = 1000
_PARTITION_TAG = "dagster/partition"


def syncs_in_flight(instance: DagsterInstance) -> dict[str, set[str]]:
    """Plugin name -> users an unfinished run syncs: the users listed in a batch run's
    config (op `<plugin>_sync_users`, see defs/sync_batches.py) and the partition of a run
    that materializes the plugin's asset. One query for every plugin."""
    syncing: dict[str, set[str]] = defaultdict(set)
    records = instance.get_run_records(filters=RunsFilter(statuses=list(UNFINISHED)), limit=_LOOKED_AT)
    for record in records:
        run = record.dagster_run
        for op, op_config in ((run.run_config or {}).get("ops") or {}).items():
            if op.endswith(BATCH_OP_SUFFIX):
                users = (op_config or {}).get("config", {}).get("users", [])
                syncing[op.removesuffix(BATCH_OP_SUFFIX)].update(users)
        user = run.tags.get(_PARTITION_TAG)
        if user and run.asset_selection:
            for key in run.asset_selection:
                syncing[key.to_user_string()].add(user)
    return syncing
