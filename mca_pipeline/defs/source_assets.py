"""One Dagster asset per registered plugin, partitioned by user, built by a factory.

Adding a plugin to the registry adds its asset: nothing here names a platform. A
file-import asset imports the files named in its run config (the inbox sensor names
them) or, when started from the UI with no config, everything waiting in
data/inbox/<user>/<plugin>/.
"""

from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)
from pydantic import Field

from mca_pipeline.core import AuthType, Credentials, ErrorCode, SourcePlugin
from mca_pipeline.defs.error_policy import SOURCE_RETRY_POLICY, raise_for
from mca_pipeline.defs.partitions import partition_user, users_partitions
from mca_pipeline.defs.resources import ExportFoldersResource, WarehouseResource
from mca_pipeline.defs.sync_loop import SyncSummary, run_sync
from mca_pipeline.warehouse import SourceHealth, item_count, source_health


class ImportConfig(Config):
    files: list[str] = Field(
        default_factory=list,
        description="Export files to import. Empty: every file waiting in data/inbox/<user>/<plugin>/.",
    )


def build_source_asset(plugin: SourcePlugin) -> AssetsDefinition:
    """The asset for one plugin. Only file-import plugins exist so far; API plugins will
    get their credentials from the vault resource here."""
    if plugin.auth_type != AuthType.FILE_IMPORT:
        raise NotImplementedError(f"plugin {plugin.name!r}: only file-import plugins can be scheduled yet")

    @asset(
        name=plugin.name,
        partitions_def=users_partitions,
        group_name="sources",
        kinds={"duckdb"},
        retry_policy=SOURCE_RETRY_POLICY,
        tags={"mca/auth_type": str(plugin.auth_type)},
        check_specs=[
            AssetCheckSpec("unique_keys", asset=plugin.name, description="One item per external_id."),
            AssetCheckSpec(
                "no_future_items", asset=plugin.name, description="No item consumed more than a day from now."
            ),
        ],
        description=(
            f"{plugin.name}: items imported from export files dropped into "
            f"data/inbox/<user>/{plugin.name}/, deduplicated into the warehouse's media_items."
        ),
    )
    def _source(
        context: AssetExecutionContext,
        config: ImportConfig,
        warehouse: WarehouseResource,
        export_folders: ExportFoldersResource,
    ) -> MaterializeResult:
        user_id = partition_user(context.partition_key)
        folders = export_folders.folders()
        inbox = folders.inbox(user_id, plugin.name)
        files = [Path(f).resolve() for f in config.files] or folders.waiting(user_id, plugin.name)
        outside = [str(f) for f in files if f.parent != inbox.resolve()]
        if outside:
            raise Failure(
                description=f"files must be in {inbox} (drop them there first): {', '.join(outside)}",
                allow_retries=False,
            )
        wh = warehouse.warehouse()
        if not files:
            context.log.info(f"nothing waiting in {inbox}")
        summaries: list[SyncSummary] = []
        rejected: list[str] = []
        for path in files:
            if not path.exists():
                context.log.warning(f"{path} is gone (already imported by another run?); skipping it")
                continue
            context.log.info(f"importing {path.name} ({path.stat().st_size:,} bytes)")
            summary = run_sync(
                plugin,
                wh,
                user_id,
                Credentials(file=path),
                log=context.log,
                source=path.name,
                run_id=context.run.run_id,
            )
            summaries.append(summary)
            if summary.error is None:
                moved = folders.archive(path, user_id, plugin.name)
                context.log.info(f"{path.name}: done, moved to {moved}")
            elif summary.error.code is ErrorCode.FILE_PARSE_ERROR:
                moved = folders.reject(path, user_id, plugin.name, summary.error, stored=summary.received)
                rejected.append(f"{path.name}: {summary.error.message}")
                context.log.error(f"{summary.error.message} - moved to {moved} with a report beside it")
            else:
                raise_for(summary.error, plugin.name, user_id)
        with wh.connect() as con:
            total = item_count(con, user_id, plugin.name)
            health = source_health(con, user_id, plugin.name)
        metadata = _metadata(summaries, total)
        if rejected:
            raise Failure(
                description=f"{len(rejected)} file(s) rejected: " + "; ".join(rejected),
                metadata=metadata,
                allow_retries=False,
            )
        return MaterializeResult(metadata=metadata, check_results=_checks(health))

    return _source


def _checks(health: SourceHealth) -> list[AssetCheckResult]:
    return [
        AssetCheckResult(
            check_name="unique_keys",
            passed=health.duplicate_keys == 0,
            metadata={"duplicates": health.duplicate_keys},
        ),
        AssetCheckResult(
            check_name="no_future_items",
            passed=health.future_items == 0,
            severity=AssetCheckSeverity.WARN,
            metadata={
                "future_items": health.future_items,
                "latest": health.latest.isoformat() if health.latest else "",
            },
        ),
    ]


def _metadata(summaries: list[SyncSummary], total: int) -> dict[str, MetadataValue]:
    """Counts a person checks after an import: what was new, what was already there."""
    last = summaries[-1] if summaries else None
    rows = [
        f"| {s.source} | {s.received:,} | {s.new:,} | {s.updated:,} | {s.skipped:,} | "
        f"{s.error.code.value if s.error else 'ok'} |"
        for s in summaries
    ]
    table = "\n".join(
        ["| file | read | new | updated | skipped | outcome |", "|---|---|---|---|---|---|", *rows]
    )
    return {
        "new": MetadataValue.int(sum(s.new for s in summaries)),
        "updated": MetadataValue.int(sum(s.updated for s in summaries)),
        "skipped": MetadataValue.int(sum(s.skipped for s in summaries)),
        "received": MetadataValue.int(sum(s.received for s in summaries)),
        "files": MetadataValue.int(len(summaries)),
        "cursor": MetadataValue.text(last.cursor if last else ""),
        "has_more": MetadataValue.bool(last.has_more if last else False),
        "dagster/row_count": MetadataValue.int(total),
        "imports": MetadataValue.md(table if summaries else "no files were waiting"),
    }
