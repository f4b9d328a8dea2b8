"""The Dagster code location: every asset, check, sensor, schedule and job, derived from
the plugin registry."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import httpx
from dagster import AssetSelection, Definitions, RetryPolicy, define_asset_job, in_process_executor

from mca_pipeline.auth import CredentialStore, VaultCredentialStore
from mca_pipeline.core import AuthType, PluginRegistry
from mca_pipeline.core.models import utc_now
from mca_pipeline.defs.arrivals import UNPACK_JOB, build_unpack_job
from mca_pipeline.defs.automation import build_automation_sensor
from mca_pipeline.defs.continuation_sensor import build_continuation_sensor
from mca_pipeline.defs.enrichment_assets import build_enrichment_assets
from mca_pipeline.defs.error_policy import SOURCE_RETRY_POLICY
from mca_pipeline.defs.first_sync_sensor import build_first_sync_sensor
from mca_pipeline.defs.history import build_media_history
from mca_pipeline.defs.inbox_sensor import build_inbox_sensor
from mca_pipeline.defs.insights_asset import build_insights_asset
from mca_pipeline.defs.lake_upkeep import build_lake_upkeep_schedule, lake_upkeep_job
from mca_pipeline.defs.resources import ExportFoldersResource, WarehouseResource
from mca_pipeline.defs.schedules import build_sync_schedule
from mca_pipeline.defs.source_assets import build_source_asset
from mca_pipeline.defs.sync_batches import build_sync_batch_job
from mca_pipeline.defs.unified_plays import build_unified_plays
from mca_pipeline.plugins import build_registry

INGEST_JOB = "ingest"
__all__ = ["INGEST_JOB", "UNPACK_JOB", "build_definitions", "defs"]


def build_definitions(
    registry: PluginRegistry,
    warehouse: WarehouseResource | None = None,
    export_folders: ExportFoldersResource | None = None,
    credentials: CredentialStore | None = None,
    oauth_http: httpx.Client | None = None,
    retry_policy: RetryPolicy = SOURCE_RETRY_POLICY,
    clock: Callable[[], datetime] = utc_now,
) -> Definitions:
    """Definitions for a registry; tests pass their own storage, credentials, HTTP and
    clock (what "now" is when deciding whether a token is about to expire)."""
    warehouse = warehouse or WarehouseResource()
    sources = {plugin.name: build_source_asset(plugin, retry_policy) for plugin in registry}
    api = [p for p in registry if p.auth_type != AuthType.FILE_IMPORT]
    history = build_media_history(list(sources))
    unified = build_unified_plays(registry, list(sources))
    enrichment = build_enrichment_assets(registry, list(sources), retry_policy)
    insights = build_insights_asset(registry)
    # API sources run on their schedules; the inbox and the ingest job cover the imports.
    imports = AssetSelection.assets(
        *[sources[p.name] for p in registry if p.auth_type == AuthType.FILE_IMPORT],
        history,
        unified,
        *enrichment,
        insights,
    )
    ingest = define_asset_job(
        INGEST_JOB,
        selection=imports,
        description=(
            "Import everything waiting in a user's inbox, then everything downstream (history, "
            "unified plays, enrichment, insights) in the same run."
        ),
    )
    unpack = build_unpack_job(registry)
    batches = {p.name: build_sync_batch_job(p, retry_policy) for p in api}
    sensors = [
        build_inbox_sensor(registry, ingest, unpack),
        build_automation_sensor([history, unified, *enrichment, insights]),
    ]
    if api:
        sensors.append(build_continuation_sensor([sources[p.name] for p in api]))
        sensors.append(build_first_sync_sensor({p.name: sources[p.name] for p in api}))
    return Definitions(
        assets=[*sources.values(), history, unified, *enrichment, insights],
        sensors=sensors,
        schedules=[
            *(build_sync_schedule(p, batches[p.name]) for p in api),
            build_lake_upkeep_schedule(warehouse, lake_upkeep_job),
        ],
        jobs=[ingest, unpack, *batches.values(), lake_upkeep_job],
        # Steps run in the run's own process, one after another. Our runs are one user's
        # few assets, each waiting on the DuckDB file or a platform anyway, so a process
        # per step bought no parallelism and cost an interpreter start per step; and
        # terminating a run then interrupts the process doing the sync, which stores the
        # page in flight before it ends (defs/cancellation.py) instead of being killed
        # with an executor's child.
        executor=in_process_executor,
        resources={
            "warehouse": warehouse,
            "export_folders": export_folders or ExportFoldersResource(),
            "credentials": credentials or VaultCredentialStore(warehouse.warehouse()),
            "oauth_http": oauth_http or httpx.Client(timeout=httpx.Timeout(20.0)),
            "clock": clock,
        },
    )


defs = build_definitions(build_registry())
