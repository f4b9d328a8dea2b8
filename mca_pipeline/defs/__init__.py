"""The Dagster code location: every asset, sensor and job, derived from the plugin registry."""

from __future__ import annotations

from dagster import AssetSelection, Definitions, define_asset_job

from mca_pipeline.core import PluginRegistry
from mca_pipeline.defs.history import build_media_history
from mca_pipeline.defs.inbox_sensor import build_inbox_sensor
from mca_pipeline.defs.resources import ExportFoldersResource, WarehouseResource
from mca_pipeline.defs.source_assets import build_source_asset
from mca_pipeline.plugins import build_registry

INGEST_JOB = "ingest"


def build_definitions(
    registry: PluginRegistry,
    warehouse: WarehouseResource | None = None,
    export_folders: ExportFoldersResource | None = None,
) -> Definitions:
    """Definitions for a registry; tests pass their own warehouse and folders."""
    sources = [build_source_asset(plugin) for plugin in registry]
    history = build_media_history([s.key.path[-1] for s in sources])
    everything = AssetSelection.assets(*sources, history)
    return Definitions(
        assets=[*sources, history],
        sensors=[build_inbox_sensor(registry, everything)],
        jobs=[
            define_asset_job(
                INGEST_JOB,
                selection=everything,
                description="Import everything waiting in a user's inbox, then refresh media_history.",
            )
        ],
        resources={
            "warehouse": warehouse or WarehouseResource(),
            "export_folders": export_folders or ExportFoldersResource(),
        },
    )


defs = build_definitions(build_registry())
