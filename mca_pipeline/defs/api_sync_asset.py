"""The asset of an API plugin: sync one user's account from the stored cursor, in that
user's own run (a manual materialization, a per-user backfill, the first sync after
connecting, a continuation or a retry of a batch's user).

The sync itself, and what each PluginError code does to the user's connection, is
defs/user_sync.py, shared with the batch runs of the schedules; here what is left of an
error becomes the step's outcome (error_policy.raise_for: retried by the RetryPolicy,
waited for, or failed), and the run is tagged with whether it stored anything (for the
downstream automation).
"""

from collections.abc import Callable, Iterator
from datetime import datetime

import httpx
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    MaterializeResult,
    ResourceParam,
    RetryPolicy,
    asset,
)
from pydantic import Field

from mca_pipeline.auth import CredentialStore
from mca_pipeline.core import SourcePlugin
from mca_pipeline.defs.automation import tag_if_stored
from mca_pipeline.defs.error_policy import raise_for
from mca_pipeline.defs.partitions import partition_user, users_partitions
from mca_pipeline.defs.resources import WarehouseResource
from mca_pipeline.defs.source_reporting import check_specs, checks_even_on_failure
from mca_pipeline.defs.user_sync import SyncRequest, sync_user


class SyncConfig(Config):
    full_resync: bool = Field(
        default=False,
        description="Start from an empty cursor, as on the first sync, instead of the stored one.",
    )
    max_pages: int = Field(
        default=20,
        ge=1,
        description="Pages to sync in this run; if more remain, the continuation sensor asks for another run.",
    )
    page_size: int = Field(default=10_000, ge=1, description="Items the plugin may return per page.")


def build_api_sync_asset(plugin: SourcePlugin, retry_policy: RetryPolicy) -> AssetsDefinition:
    @asset(
        name=plugin.name,
        partitions_def=users_partitions,
        group_name="sources",
        kinds={"duckdb"},
        retry_policy=retry_policy,
        pool=f"platform_{plugin.name}",
        tags={"mca/auth_type": str(plugin.auth_type)},
        check_specs=check_specs(plugin),
        description=f"{plugin.name}: the user's history synced from the platform's API, from the stored cursor.",
    )
    def _source(
        context: AssetExecutionContext,
        config: SyncConfig,
        warehouse: WarehouseResource,
        credentials: ResourceParam[CredentialStore],
        oauth_http: ResourceParam[httpx.Client],
        clock: ResourceParam[Callable[[], datetime]],
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        user_id = partition_user(context.partition_key)
        wh = warehouse.warehouse()

        def sync_source() -> MaterializeResult:
            # A retry resumes from the stored cursor even when a full resync was asked for.
            request = SyncRequest(
                config.max_pages, config.page_size, config.full_resync and context.retry_number == 0
            )
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
                final_try=context.retry_number >= retry_policy.max_retries,
                after=lambda con: tag_if_stored(context, con, user_id, plugin.name),
            )
            if outcome.error is not None:
                raise_for(outcome.error, plugin.name, user_id, retry_policy)
            return MaterializeResult(metadata=outcome.metadata(wh), check_results=outcome.checks)

        yield from checks_even_on_failure(plugin, wh, user_id, context.log, sync_source)

    return _source
