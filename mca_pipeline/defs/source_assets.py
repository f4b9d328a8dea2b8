"""One Dagster asset per registered plugin, partitioned by user, built by a factory.

Adding a plugin to the registry adds its asset, its checks and (for API plugins) its
schedule: nothing in defs names a platform. File-import plugins and API plugins differ
only in where their input comes from (the inbox, or credentials and a cursor).
"""

from dagster import AssetsDefinition, RetryPolicy

from mca_pipeline.core import AuthType, SourcePlugin
from mca_pipeline.defs.api_sync_asset import build_api_sync_asset
from mca_pipeline.defs.file_import_asset import build_file_import_asset


def build_source_asset(plugin: SourcePlugin, retry_policy: RetryPolicy) -> AssetsDefinition:
    if plugin.auth_type == AuthType.FILE_IMPORT:
        return build_file_import_asset(plugin, retry_policy)
    return build_api_sync_asset(plugin, retry_policy)
