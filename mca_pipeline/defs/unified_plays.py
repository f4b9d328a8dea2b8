"""unified_plays: per user, which stored plays are the same real play seen by several
sources (a Spotify play and its Last.fm scrobble), so that each real play counts once.
The matching rule is in mca_pipeline.warehouse.unified_plays."""

from collections.abc import Sequence

from dagster import AssetExecutionContext, AssetsDefinition, MaterializeResult, MetadataValue, asset

from mca_pipeline.core import PluginRegistry
from mca_pipeline.defs.automation import after_any_update
from mca_pipeline.defs.downstream_batches import downstream_backfill_policy, for_each_user
from mca_pipeline.defs.partitions import users_partitions
from mca_pipeline.defs.resources import WarehouseResource
from mca_pipeline.warehouse.unified_plays import link_plays, linked_pairs


def build_unified_plays(registry: PluginRegistry, source_names: Sequence[str]) -> AssetsDefinition:
    # `unify_rank` (lower = preferred) says whose copy of a play is kept as the key: the
    # source with the richest record (an export with ms_played) should win.
    ranks = {p.name: int(p.unify_rank) for p in registry}

    @asset(
        name="unified_plays",
        partitions_def=users_partitions,
        group_name="history",
        kinds={"duckdb"},
        deps=list(source_names),
        automation_condition=after_any_update(),
        backfill_policy=downstream_backfill_policy(),
        description="Links the same real play seen by several sources, so each play counts once.",
    )
    def unified_plays(context: AssetExecutionContext, warehouse: WarehouseResource) -> MaterializeResult:
        def link(user_id: str) -> dict[str, MetadataValue]:
            with warehouse.warehouse().connect() as con:
                plays, real = link_plays(con, user_id, ranks)
                pairs = linked_pairs(con, user_id)
            rows = [f"| {platform} | {preferred} | {count:,} |" for platform, preferred, count in pairs]
            table = "\n".join(["| plays from | counted as | plays |", "|---|---|---|", *rows])
            context.log.info(f"{user_id}: {plays:,} music plays are {real:,} real plays")
            return {
                "plays": MetadataValue.int(plays),
                "real_plays": MetadataValue.int(real),
                "duplicates": MetadataValue.int(plays - real),
                "links": MetadataValue.md(table if rows else "no play was seen by two sources"),
            }

        return for_each_user(context, link)

    return unified_plays
