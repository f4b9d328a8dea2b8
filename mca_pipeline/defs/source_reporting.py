"""What every source asset reports, whatever its kind: metadata counts and asset checks."""

import logging
from collections import Counter
from collections.abc import Callable, Iterator

import duckdb
from dagster import AssetCheckResult, AssetCheckSeverity, AssetCheckSpec, MaterializeResult, MetadataValue

from mca_pipeline.core import AuthType, SourcePlugin
from mca_pipeline.warehouse import SourceHealth, Warehouse, source_health
from mca_pipeline.warehouse.import_report import METADATA_EXAMPLES
from mca_pipeline.warehouse.queries import recent_cursors
from mca_pipeline.warehouse.sync_loop import SyncSummary


def check_specs(plugin: SourcePlugin) -> list[AssetCheckSpec]:
    specs = [
        AssetCheckSpec("unique_keys", asset=plugin.name, description="One item per external_id."),
        AssetCheckSpec(
            "no_future_items", asset=plugin.name, description="No item consumed more than a day from now."
        ),
    ]
    if plugin.auth_type != AuthType.FILE_IMPORT:
        specs.append(
            AssetCheckSpec(
                "cursor_never_backwards",
                asset=plugin.name,
                description="Each sync's cursor is at or after the last.",
            )
        )
    return specs


def check_results(
    plugin: SourcePlugin, health: SourceHealth, recent_cursors: list[str] | None = None
) -> list[AssetCheckResult]:
    results = [
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
    if plugin.auth_type != AuthType.FILE_IMPORT:
        # Cursors are opaque to core: the plugin places them in time (None: no order).
        positions = [plugin.cursor_order(c) for c in recent_cursors or []]
        newest, previous = [*positions, None, None][:2]
        passed = newest is None or previous is None or newest >= previous
        results.append(
            AssetCheckResult(
                check_name="cursor_never_backwards",
                passed=passed,
                metadata={"cursor": str(newest), "previous": str(previous)},
            )
        )
    return results


def stored_checks(
    plugin: SourcePlugin, con: duckdb.DuckDBPyConnection, user_id: str
) -> list[AssetCheckResult]:
    """The checks of a source asset, on what is stored for the user."""
    cursors = recent_cursors(con, user_id, plugin.name) if plugin.auth_type != AuthType.FILE_IMPORT else None
    return check_results(plugin, source_health(con, user_id, plugin.name), cursors)


def checks_even_on_failure(
    plugin: SourcePlugin,
    warehouse: Warehouse,
    user_id: str,
    log: logging.Logger | logging.LoggerAdapter,  # type: ignore[type-arg]
    materialize: Callable[[], MaterializeResult],
) -> Iterator[MaterializeResult | AssetCheckResult]:
    """The step's result, or, when the step fails (a rejected file, a platform error, a
    terminated run), the checks on what is stored before the failure goes on: a check that
    is planned and never evaluated shows in the UI as failed, although the data it checks
    (kept from earlier syncs and the pages stored before the error) is fine."""
    try:
        result = materialize()
    except Exception:
        try:
            with warehouse.connect() as con:
                checks = stored_checks(plugin, con, user_id)
        except Exception as exc:  # the failure being raised matters more than the checks
            log.warning(f"the checks of {plugin.name} could not run after the failure ({type(exc).__name__})")
            checks = []
        yield from checks
        raise
    yield result


def sync_metadata(summaries: list[SyncSummary], total: int) -> dict[str, MetadataValue]:
    """Counts a person checks after a sync: what was new, what was already there."""
    last = summaries[-1] if summaries else None
    rows = [
        f"| {s.source or 'api'} | {s.received:,} | {s.new:,} | {s.updated:,} | {s.skipped:,} | "
        f"{s.tally.unreadable:,} | {s.error.code.value if s.error else 'ok'} |"
        for s in summaries
    ]
    table = "\n".join(
        [
            "| source | read | new | updated | already stored | unreadable | outcome |",
            "|---|---|---|---|---|---|---|",
            *rows,
        ]
    )
    return skip_metadata(summaries) | {
        "new": MetadataValue.int(sum(s.new for s in summaries)),
        "updated": MetadataValue.int(sum(s.updated for s in summaries)),
        "skipped": MetadataValue.int(sum(s.skipped for s in summaries)),
        "received": MetadataValue.int(sum(s.received for s in summaries)),
        "files": MetadataValue.int(sum(1 for s in summaries if s.source)),
        "pages": MetadataValue.int(sum(s.pages for s in summaries)),
        "cursor": MetadataValue.text(last.cursor if last else ""),
        "has_more": MetadataValue.bool(last.has_more if last else False),
        "dagster/row_count": MetadataValue.int(total),
        "syncs": MetadataValue.md(table if summaries else "nothing to import"),
    }


def contention_metadata(warehouse: Warehouse) -> dict[str, MetadataValue]:
    """How long this step waited for the warehouse: under many concurrent runs, the figure
    that says whether the one DuckDB file is the bottleneck."""
    stats = warehouse.stats
    return {
        "warehouse_wait_s": MetadataValue.float(round(stats.wait_s, 3)),
        "warehouse_waits": MetadataValue.int(stats.waited),
        "warehouse_open_retries": MetadataValue.int(stats.open_retries),
    }


def skip_metadata(summaries: list[SyncSummary]) -> dict[str, MetadataValue]:
    """Records that could not be read and records left out on purpose, over all files:
    the counts, the most common reasons and a few located examples."""
    reasons: Counter[str] = Counter()
    left_out: Counter[str] = Counter()
    examples: list[str] = []
    for s in summaries:
        reasons.update(s.tally.reasons)
        left_out.update(s.tally.left_out)
        for r in s.tally.examples[: METADATA_EXAMPLES - len(examples)]:
            where = ", ".join(
                part
                for part in (
                    f"line {r.line}" if r.line is not None else "",
                    f"byte {r.byte_offset}" if r.byte_offset is not None else "",
                    f"field `{r.field}`" if r.field else "",
                )
                if part
            )
            examples.append(
                f"- {s.source}: {where}: {r.reason}" + (f" ({r.detail[:120]})" if r.detail else "")
            )
    return {
        "records_skipped": MetadataValue.int(sum(reasons.values())),
        "records_left_out": MetadataValue.int(sum(left_out.values())),
        "skip_reasons": MetadataValue.md(
            "\n".join(f"- {reason}: {n:,}" for reason, n in reasons.most_common(10)) or "none"
        ),
        "skip_examples": MetadataValue.md("\n".join(examples) or "none"),
        "left_out": MetadataValue.md(
            "\n".join(f"- {reason}: {n:,}" for reason, n in sorted(left_out.items())) or "none"
        ),
    }
