"""From the warehouse's metrics to the report and charts a person looks at.

The metrics are computed in DuckDB (warehouse/metrics.py); this module only reshapes
them for the charts and the year-in-review page, and writes the page where the README
says: data/reports/<user>/<year>.html.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from mca_pipeline.analysis.charts import ReportData, render_charts
from mca_pipeline.analysis.report import write_report
from mca_pipeline.warehouse import Warehouse
from mca_pipeline.warehouse.metrics import Metrics, compute_metrics


@dataclass(frozen=True)
class Insight:
    metrics: Metrics
    data: ReportData
    report: Path


def report_data(metrics: Metrics) -> ReportData:
    by_platform: dict[str, float] = defaultdict(float)
    by_type: dict[str, float] = defaultdict(float)
    for total in metrics.totals:
        by_platform[total.platform] += total.hours
        by_type[total.media_type] += total.hours
    by_month: dict[str, float] = defaultdict(float)
    by_month_type: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for period in metrics.time_spent:
        if period.grain == "month":
            month = period.period[:7]
            by_month[month] += period.hours
            by_month_type[month][period.media_type] += period.hours

    def top(kind: str, by: str = "plays") -> list:  # type: ignore[type-arg]
        return [e for e in metrics.top if e.kind == kind and e.by == by]

    skips = [s for s in metrics.skips if s.known]
    known = sum(s.known for s in skips)
    return ReportData(
        user_id=metrics.user_id,
        year=metrics.year,
        time_zone=metrics.timezone,
        hours_by_platform=dict(by_platform),
        hours_by_type=dict(by_type),
        hours_by_month=dict(by_month),
        hours_by_month_type={m: dict(t) for m, t in by_month_type.items()},
        top_creators=[(e.name, e.plays, e.hours) for e in top("creator")],
        top_creators_by_hours=[(e.name, e.plays, e.hours) for e in top("creator", "hours")],
        top_titles=[(e.name, e.plays, e.hours) for e in top("title")],
        top_tags=[(e.name, e.plays) for e in top("tag")],
        clock={(cell.weekday - 1, cell.hour): cell.plays for cell in metrics.clock},
        binge_sessions=metrics.binges.count,
        longest_binge=(metrics.binges.longest_series, metrics.binges.longest_episodes)
        if metrics.binges.longest_series
        else None,
        longest_streak_days=metrics.streaks.longest_days,
        current_streak_days=metrics.streaks.current_days,
        discoveries_by_month={d.month[:7]: d.new_creators for d in metrics.discovery},
        skip_share=sum(s.skipped for s in skips) / known if known else None,
        music_rows=metrics.unified.music_rows,
        real_plays=metrics.unified.real_plays,
    )


def build_insight(warehouse: Warehouse, data_dir: Path, user_id: str, year: int | None) -> Insight:
    """Compute the user's metrics for a year (None: all time) and write the report."""
    with warehouse.connect() as con:
        metrics = compute_metrics(con, user_id, year)
    data = report_data(metrics)
    return Insight(metrics, data, write_report(data, data_dir))


def chart_pngs(insight: Insight) -> dict[str, bytes]:
    return render_charts(insight.data)
