"""media_history: one user's whole history across sources, the node that enrichment
and analysis will hang from. For now it reports totals per platform and media type."""

from collections.abc import Sequence

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, MetadataValue, asset

from mca_pipeline.defs.automation import after_any_update
from mca_pipeline.defs.downstream_batches import downstream_backfill_policy, for_each_user
from mca_pipeline.defs.partitions import users_partitions
from mca_pipeline.defs.resources import WarehouseResource
from mca_pipeline.warehouse import platform_totals


def build_media_history(source_names: Sequence[str]) -> AssetsDefinition:
    @asset(
        name="media_history",
        partitions_def=users_partitions,
        group_name="history",
        kinds={"duckdb"},
        deps=list(source_names),
        automation_condition=after_any_update(),
        backfill_policy=downstream_backfill_policy(),
        description="Everything one user consumed, all sources together: totals per platform and type.",
    )
    def media_history(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        return for_each_user(context, lambda user_id: _history(context, warehouse, user_id))

    return media_history


def _history(
    context: AssetExecutionContext, warehouse: WarehouseResource, user_id: str
) -> dict[str, MetadataValue]:
    """One user's totals per platform and media type, as metadata."""
    with warehouse.warehouse().connect() as con:
        totals = platform_totals(con, user_id)
    rows = [
        f"| {t.platform} | {t.media_type} | {t.items:,} | {t.hours:,.1f} | "
        f"{t.first:%Y-%m-%d} | {t.last:%Y-%m-%d} |"
        for t in totals
        if t.first and t.last
    ]
    table = "\n".join(
        ["| platform | type | items | hours | first | last |", "|---|---|---|---|---|---|", *rows]
    )
    context.log.info(
        f"{user_id}: {sum(t.items for t in totals):,} items in {len(totals)} platform/type pairs"
    )
    metadata: dict[str, MetadataValue] = {
        "items": MetadataValue.int(sum(t.items for t in totals)),
        "hours": MetadataValue.float(round(sum(t.hours for t in totals), 2)),
        "totals": MetadataValue.md(table if rows else "nothing imported yet"),
    }
    for platform in sorted({t.platform for t in totals}):
        metadata[f"items/{platform}"] = MetadataValue.int(
            sum(t.items for t in totals if t.platform == platform)
        )
    return metadata
