"""Asks for another run when an API sync stopped at its page budget with more waiting.

It reads the assets' materialization metadata (has_more) from the Dagster instance, not
the warehouse, so it never contends for DuckDB's lock. Its cursor is the last event
storage id it looked at, and each request's run key names the materialization it
continues, so nothing is requested twice.
"""

from collections.abc import Sequence

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


def build_continuation_sensor(api_assets: Sequence[AssetsDefinition]) -> SensorDefinition:
    @sensor(
        name="sync_continuation_sensor",
        minimum_interval_seconds=30,
        default_status=DefaultSensorStatus.RUNNING,
        target=list(api_assets),
        description="Continues API syncs that stopped at their page budget (has_more).",
    )
    def sync_continuation_sensor(context: SensorEvaluationContext) -> SensorResult:
        after = int(context.cursor or 0)
        newest = after
        requests = []
        for asset_def in api_assets:
            records = context.instance.fetch_materializations(
                AssetRecordsFilter(asset_key=asset_def.key, after_storage_id=after),
                limit=1000,
                ascending=True,
            ).records
            for record in records:
                newest = max(newest, record.storage_id)
                mat = record.asset_materialization
                has_more = mat.metadata.get("has_more") if mat else None
                if mat is None or mat.partition is None or not getattr(has_more, "value", False):
                    continue
                requests.append(
                    RunRequest(
                        run_key=f"continue:{asset_def.key.to_user_string()}:{record.storage_id}",
                        partition_key=mat.partition,
                        asset_selection=[asset_def.key],
                        tags={"mca/user": mat.partition, "mca/trigger": "continuation"},
                    )
                )
        return SensorResult(run_requests=requests, cursor=str(newest))

    return sync_continuation_sensor
