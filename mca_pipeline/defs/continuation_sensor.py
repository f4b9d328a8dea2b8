"""Asks for a user's own run of an API asset where a sync left work for one:

- a sync that stopped at its page budget with more waiting (`has_more` in the metadata of
  its materialization, or of its observation when a batch found only known items);
- a user of a batch run whose sync failed in a way worth retrying (`retry_as_own_run`,
  defs/sync_batches.py): the own run has the asset's RetryPolicy and waits out a short
  rate limit, which the batch does not do for one user.

It reads the assets' materialization and observation metadata from the Dagster instance,
not the warehouse, so it never contends for DuckDB's lock. Its cursor is the last event
storage id it looked at (materializations and observations share the event log's ids),
and each request's run key names the event it follows, so nothing is requested twice.
"""

from collections.abc import Mapping, Sequence

from dagster import (
    AssetRecordsFilter,
    AssetsDefinition,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from mca_pipeline.defs.sync_batches import RETRY_AS_OWN_RUN, SYNC_PRIORITY


def build_continuation_sensor(api_assets: Sequence[AssetsDefinition]) -> SensorDefinition:
    @sensor(
        name="sync_continuation_sensor",
        minimum_interval_seconds=15,
        default_status=DefaultSensorStatus.RUNNING,
        target=list(api_assets),
        description=(
            "Continues API syncs that stopped at their page budget (has_more), and retries a "
            "batch's user whose sync failed in a way worth retrying, each in the user's own run."
        ),
    )
    def sync_continuation_sensor(context: SensorEvaluationContext) -> SensorResult:
        after = int(context.cursor or 0)
        newest = after
        requests = []
        for asset_def in api_assets:
            records = [
                *context.instance.fetch_materializations(
                    AssetRecordsFilter(asset_key=asset_def.key, after_storage_id=after),
                    limit=1000,
                    ascending=True,
                ).records,
                *context.instance.fetch_observations(
                    AssetRecordsFilter(asset_key=asset_def.key, after_storage_id=after),
                    limit=1000,
                    ascending=True,
                ).records,
            ]
            for record in sorted(records, key=lambda r: r.storage_id):
                newest = max(newest, record.storage_id)
                event = (
                    record.event_log_entry.asset_materialization or record.event_log_entry.asset_observation
                )
                if event is None or event.partition is None:
                    continue
                if _flag(event.metadata, "has_more"):
                    why = "continue"
                elif _flag(event.metadata, RETRY_AS_OWN_RUN):
                    why = "retry"
                else:
                    continue
                requests.append(
                    RunRequest(
                        run_key=f"{why}:{asset_def.key.to_user_string()}:{record.storage_id}",
                        partition_key=event.partition,
                        asset_selection=[asset_def.key],
                        tags={
                            "mca/user": event.partition,
                            "mca/trigger": "continuation" if why == "continue" else "batch_retry",
                            **SYNC_PRIORITY,
                        },
                    )
                )
        return SensorResult(run_requests=requests, cursor=str(newest))

    return sync_continuation_sensor


def _flag(metadata: Mapping[str, object], name: str) -> bool:
    return bool(getattr(metadata.get(name), "value", False))
