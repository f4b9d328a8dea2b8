"""The plugin contract: models, the SourcePlugin protocol and the registry.

Imports neither dagster nor duckdb, so a plugin can be written and tested with nothing
but its platform's payloads.
"""

from mca_pipeline.core.enrichment import EnrichmentCache, EnrichmentFailed, EnrichmentSkipped
from mca_pipeline.core.models import (
    AuthType,
    Credentials,
    DedupPolicy,
    ErrorCode,
    MediaItem,
    MediaType,
    OAuthConfig,
    PluginError,
    SkippedRecord,
    SyncResult,
    is_plugin_name,
)
from mca_pipeline.core.plugin import (
    SNIFF_BYTES,
    ColumnarFileImportPlugin,
    FileImportPlugin,
    SourcePlugin,
    SyncContext,
)
from mca_pipeline.core.registry import PluginRegistry, RegistryError

__all__ = [
    "SNIFF_BYTES",
    "AuthType",
    "ColumnarFileImportPlugin",
    "Credentials",
    "DedupPolicy",
    "EnrichmentCache",
    "EnrichmentFailed",
    "EnrichmentSkipped",
    "ErrorCode",
    "FileImportPlugin",
    "MediaItem",
    "MediaType",
    "OAuthConfig",
    "PluginError",
    "PluginRegistry",
    "RegistryError",
    "SkippedRecord",
    "SourcePlugin",
    "SyncContext",
    "SyncResult",
    "is_plugin_name",
]
