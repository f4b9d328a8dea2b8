"""Charts and the year-in-review HTML report, drawn from a user's metrics."""

from mca_pipeline.analysis.charts import (
    CHARTS,
    ReportData,
    discoveries_png,
    hours_by_month_png,
    hours_by_platform_png,
    listening_clock_png,
    render_charts,
    top_creators_png,
)
from mca_pipeline.analysis.report import render_report, report_path, write_report

__all__ = [
    "CHARTS",
    "ReportData",
    "discoveries_png",
    "hours_by_month_png",
    "hours_by_platform_png",
    "listening_clock_png",
    "render_charts",
    "render_report",
    "report_path",
    "top_creators_png",
    "write_report",
]
