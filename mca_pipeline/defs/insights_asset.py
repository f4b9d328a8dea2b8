"""insights: per user, the metrics of every year with data, a year-in-review report per
year (data/reports/<user>/<year>.html) and the latest timed year's charts in the metadata."""

import base64

from dagster import AssetExecutionContext, AssetsDefinition, Config, MaterializeResult, MetadataValue, asset
from pydantic import Field

from mca_pipeline.core import PluginRegistry
from mca_pipeline.defs.automation import after_any_update
from mca_pipeline.defs.downstream_batches import downstream_backfill_policy, for_each_user
from mca_pipeline.defs.partitions import users_partitions
from mca_pipeline.defs.resources import ExportFoldersResource, WarehouseResource
from mca_pipeline.warehouse.metrics import active_years


class InsightsConfig(Config):
    year: int | None = Field(default=None, description="Only this year; empty: every year with data.")


def build_insights_asset(registry: PluginRegistry) -> AssetsDefinition:
    @asset(
        name="insights",
        partitions_def=users_partitions,
        group_name="analysis",
        kinds={"duckdb"},
        deps=["media_history", "unified_plays", "universal_tags"],
        automation_condition=after_any_update(),
        backfill_policy=downstream_backfill_policy(),
        description="Metrics, charts and a year-in-review report per year for one user.",
    )
    def insights(
        context: AssetExecutionContext,
        config: InsightsConfig,
        warehouse: WarehouseResource,
        export_folders: ExportFoldersResource,
    ) -> MaterializeResult:
        # matplotlib is imported here, not with the code location: every run and the
        # daemon load the definitions, and only this step draws.
        from mca_pipeline.analysis.charts import render_charts
        from mca_pipeline.analysis.insights import build_insights
        from mca_pipeline.analysis.report import highlights_md, views_table
        from mca_pipeline.analysis.sources import Sources

        def review(user_id: str) -> dict[str, MetadataValue]:
            wh = warehouse.warehouse()
            data_dir = export_folders.folders().data_dir
            with wh.connect() as con:
                years = [config.year] if config.year else active_years(con, user_id)
            # A user with nothing yet still gets this year's (empty) page rather than nothing.
            built = build_insights(wh, data_dir, user_id, years or [None], Sources.of(registry))
            # The pages draw their charts as SVG; the metadata is Markdown, where a chart is an
            # image: PNGs of one year, the most recent year with measured time in it. A
            # year of a few untimed items (TikTok views, estimated) would otherwise hide the
            # year a person cares about; a user whose sources never measure gets the latest.
            latest = next(
                (i for i in reversed(built) if i.data.total_hours - i.data.estimated_hours > 0.001), built[-1]
            )
            for insight in built:
                context.log.info(f"{user_id}: report for {insight.data.period} at {insight.report}")
            images = "\n\n".join(
                f"**{key.replace('_', ' ')}**\n\n![{key}](data:image/png;base64,{base64.b64encode(png).decode()})"
                for key, png in render_charts(latest.data).items()
            )
            data = latest.data
            return {
                "year": MetadataValue.text(data.period),
                "hours": MetadataValue.float(round(data.total_hours, 2)),
                "estimated_hours": MetadataValue.float(round(data.estimated_hours, 2)),
                "views": MetadataValue.md(views_table(data)),
                "real_plays": MetadataValue.int(data.real_plays),
                "top_creator": MetadataValue.text(data.top_creators[0][0] if data.top_creators else "-"),
                "longest_streak_days": MetadataValue.int(data.longest_streak_days),
                "binge_sessions": MetadataValue.int(data.binge_sessions),
                "year_in_review": MetadataValue.md(highlights_md(data)),
                "reports": MetadataValue.md("\n".join(f"- `{i.report}`" for i in built)),
                "charts": MetadataValue.md(images),
            }

        return for_each_user(context, review)

    return insights
