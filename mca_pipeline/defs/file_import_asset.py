"""The asset of a file-import plugin: import export files waiting in the user's inbox.

It imports the files named in its run config (the inbox sensor names them) or, when
started from the UI with no config, everything waiting in data/inbox/<user>/<plugin>/.
Imported files move to archive/, unreadable ones to rejected/ with a report.
"""

from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    DagsterLogManager,
    Failure,
    MaterializeResult,
    RetryPolicy,
    asset,
)
from pydantic import Field

from mca_pipeline.core import Credentials, ErrorCode, SourcePlugin
from mca_pipeline.core.models import utc_now
from mca_pipeline.defs.automation import tag_if_stored
from mca_pipeline.defs.error_policy import raise_for
from mca_pipeline.defs.partitions import partition_user, users_partitions
from mca_pipeline.defs.resources import ExportFoldersResource, WarehouseResource
from mca_pipeline.defs.source_reporting import (
    check_specs,
    checks_even_on_failure,
    contention_metadata,
    stored_checks,
    sync_metadata,
)
from mca_pipeline.warehouse import item_count
from mca_pipeline.warehouse.columnar_pages import ColumnarFile
from mca_pipeline.warehouse.export_folders import report_path
from mca_pipeline.warehouse.import_report import report_text
from mca_pipeline.warehouse.sync_loop import SyncSummary, read_ahead, run_sync


class ImportConfig(Config):
    files: list[str] = Field(
        default_factory=list,
        description="Export files to import. Empty: every file waiting in data/inbox/<user>/<plugin>/.",
    )


def build_file_import_asset(plugin: SourcePlugin, retry_policy: RetryPolicy) -> AssetsDefinition:
    @asset(
        name=plugin.name,
        partitions_def=users_partitions,
        group_name="sources",
        kinds={"duckdb"},
        retry_policy=retry_policy,
        tags={"mca/auth_type": str(plugin.auth_type)},
        check_specs=check_specs(plugin),
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
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        user_id = partition_user(context.partition_key)
        wh = warehouse.warehouse()

        def import_files() -> MaterializeResult:
            folders = export_folders.folders()
            inbox = folders.inbox(user_id, plugin.name)
            files = [Path(f).resolve() for f in config.files] or folders.waiting(user_id, plugin.name)
            outside = [str(f) for f in files if f.parent != inbox.resolve()]
            if outside:
                raise Failure(
                    description=f"files must be in {inbox} (drop them there first): {', '.join(outside)}",
                    allow_retries=False,
                )
            if not files:
                context.log.info(f"nothing waiting in {inbox}")
            summaries: list[SyncSummary] = []
            rejected: list[str] = []
            with _ReadAhead(plugin, files, context.log) as reads:
                for path in files:
                    ahead = reads.take(path)
                    if not path.exists():
                        if ahead is not None:
                            ahead.close()
                        context.log.warning(f"{path} is gone (already imported by another run?); skipping it")
                        continue
                    context.log.info(f"importing {path.name} ({path.stat().st_size:,} bytes)")
                    try:
                        summary = run_sync(
                            plugin,
                            wh,
                            user_id,
                            Credentials(file=path),
                            log=context.log,
                            source=path.name,
                            run_id=context.run.run_id,
                            ahead=ahead,
                        )
                    finally:
                        if ahead is not None:
                            ahead.close()
                    summaries.append(summary)
                    tally = summary.tally
                    if summary.error is None:
                        report = (
                            file_report(plugin.name, path.name, summary)
                            if tally.unreadable or tally.left_out
                            else None
                        )
                        moved = folders.archive(path, user_id, plugin.name, report)
                        if tally.unreadable:
                            context.log.warning(
                                f"{path.name}: imported {summary.received:,} records, skipped {tally.unreadable:,} "
                                f"that could not be read ({_top_reasons(summary)}); see {report_path(moved)}"
                            )
                        context.log.info(f"{path.name}: done, moved to {moved}")
                    elif summary.error.code is ErrorCode.FILE_PARSE_ERROR:
                        moved = folders.reject(
                            path, user_id, plugin.name, file_report(plugin.name, path.name, summary)
                        )
                        rejected.append(f"{path.name}: {summary.error.message}")
                        context.log.error(
                            f"{summary.error.message} - moved to {moved} with a report beside it"
                        )
                    else:
                        raise_for(summary.error, plugin.name, user_id, retry_policy)
            with wh.connect() as con:
                total = item_count(con, user_id, plugin.name)
                checks = stored_checks(plugin, con, user_id)
                tag_if_stored(context, con, user_id, plugin.name)
            metadata = sync_metadata(summaries, total) | contention_metadata(wh)
            if rejected:
                raise Failure(
                    description=f"{len(rejected)} file(s) rejected: " + "; ".join(rejected),
                    metadata=metadata,
                    allow_retries=False,
                )
            return MaterializeResult(metadata=metadata, check_results=checks)

        yield from checks_even_on_failure(plugin, wh, user_id, context.log, import_files)

    return _source


def file_report(plugin: str, file_name: str, summary: SyncSummary) -> str:
    """The import report of one file, imported or rejected."""
    error = summary.error
    return report_text(
        file_name=file_name,
        plugin=plugin,
        when=utc_now(),
        outcome="Rejected" if error is not None else "Imported",
        readable=summary.received,
        new=summary.new,
        tally=summary.tally,
        error=error,
        stored=None if error is None or summary.too_many_unreadable else summary.received,
    )


def _top_reasons(summary: SyncSummary) -> str:
    return ", ".join(f"{reason}: {n:,}" for reason, n in summary.tally.reasons.most_common(3))


#: Files read ahead at once: two keep both cores busy while a file is stored (1,000,000
#: plays re-imported in 7.0 s against 8.9 s with one), for about 60 MiB more at the peak.
AHEAD = 2


class _ReadAhead:
    """Reads the next files (DuckDB's columnar read, see `read_ahead`) in threads while
    the one before them is stored, so parsing and storing share the cores; closes
    whatever was read and not taken."""

    def __init__(self, plugin: SourcePlugin, files: list[Path], log: DagsterLogManager) -> None:
        self._plugin = plugin
        self._files = files
        self._log = log
        self._pool = ThreadPoolExecutor(max_workers=AHEAD, thread_name_prefix="mca-read-ahead")
        self._pending: dict[Path, Future[ColumnarFile | None]] = {}

    def __enter__(self) -> "_ReadAhead":
        for index in range(min(AHEAD, len(self._files))):
            self._submit(index)
        return self

    def _submit(self, index: int) -> None:
        path = self._files[index]
        if path.exists():
            self._pending[path] = self._pool.submit(read_ahead, self._plugin, path, self._log)

    def take(self, path: Path) -> ColumnarFile | None:
        """`path`'s read, and the next file's begun."""
        index = self._files.index(path)
        if index + AHEAD < len(self._files):
            self._submit(index + AHEAD)
        future = self._pending.pop(path, None)
        return future.result() if future is not None else None

    def __exit__(self, *exc: object) -> None:
        for future in self._pending.values():
            read = future.result()
            if read is not None:
                read.close()
        self._pool.shutdown()
