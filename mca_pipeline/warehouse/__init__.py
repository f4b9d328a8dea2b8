"""The DuckDB warehouse: versioned schema, set-based dedup store, sync_log and cursors.

The only room that writes SQL; it never imports a plugin.
"""

from mca_pipeline.warehouse.database import Warehouse, WarehouseBusyError
from mca_pipeline.warehouse.queries import (
    PlatformTotal,
    SourceHealth,
    item_count,
    last_cursor,
    platform_totals,
    source_health,
)
from mca_pipeline.warehouse.schema import SCHEMA_VERSION, SchemaTooNewError, migrate
from mca_pipeline.warehouse.store import StoreCounts, SyncAttempt, store_sync

__all__ = [
    "SCHEMA_VERSION",
    "PlatformTotal",
    "SchemaTooNewError",
    "SourceHealth",
    "StoreCounts",
    "SyncAttempt",
    "Warehouse",
    "WarehouseBusyError",
    "item_count",
    "last_cursor",
    "migrate",
    "platform_totals",
    "source_health",
    "store_sync",
]
