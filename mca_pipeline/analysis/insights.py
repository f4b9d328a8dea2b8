"""From the warehouse's metrics to the report and charts a person looks at.

The metrics are computed in DuckDB (warehouse/metrics.py); this module only reshapes
them for the charts and the year-in-review page, and writes the page where the README
says: data/reports/<user>/<year>.html.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from mca_pipeline.analysis.report import write_report
from mca_pipeline.analysis.report_data import ReportData
from mca_pipeline.analysis.sources import Sources
from mca_pipeline.warehouse import Warehouse
from mca_pipeline.warehouse.metrics import Metrics, TopEntry, active_years, compute_metrics_for_users
from mca_pipeline.warehouse.unified_plays import link_plays


@dataclass(frozen=True)
class Insight:
    metrics: Metrics
    data: ReportData
    report: Path


def report_data(metrics: Metrics, display_names: Mapping[str, str] | None = None) -> ReportData:
    names = display_names or {}
    by_platform: dict[str, float] = defaultdict(float)
    by_type: dict[str, float] = defaultdict(float)
    by_kind: dict[str, float] = defaultdict(float)
    views: dict[str, int] = defaultdict(int)
    for total in metrics.totals:
        by_platform[names.get(total.platform, total.platform)] += total.hours
        by_type[total.media_type] += total.hours
        by_kind[total.kind] += total.hours
        views[total.kind] += total.plays
    by_month: dict[str, float] = defaultdict(float)
    by_month_kind: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for period in metrics.time_spent:
        if period.grain == "month":
            month = period.period[:7]
            by_month[month] += period.hours
            by_month_kind[month][period.kind] += period.hours

    def top(kind: str, by: str = "plays", within: str = "") -> list[TopEntry]:
        return [e for e in metrics.top if e.kind == kind and e.by == by and e.within == within]

    def listed(entries: list[TopEntry]) -> list[tuple[str, int, float]]:
        return [(e.name, e.plays, e.hours) for e in entries]

    skips = [s for s in metrics.skips if s.known]
    known = sum(s.known for s in skips)
    kinds = sorted({e.within for e in metrics.top if e.within})
    return ReportData(
        user_id=metrics.user_id,
        year=metrics.year,
        time_zone=metrics.timezone,
        hours_by_platform=dict(by_platform),
        hours_by_type=dict(by_type),
        hours_by_month=dict(by_month),
        hours_by_month_type={m: dict(t) for m, t in by_month_kind.items()},
        top_creators=listed(top("creator")),
        top_creators_by_hours=listed(top("creator", "hours")),
        top_titles=listed(top("title")),
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
        views_by_kind=dict(views),
        hours_by_kind=dict(by_kind),
        estimated_hours=float(sum(t.estimated_hours for t in metrics.totals)),
        top_by_kind={kind: listed(top("creator", "hours", kind)) for kind in kinds},
        top_genres=listed(top("genre", "hours")),
        top_moods=listed(top("mood", "hours")),
        previous_year={k.kind: (k.views, k.hours) for k in metrics.previous_year},
        busiest_day=(metrics.busiest_day.day, metrics.busiest_day.views, metrics.busiest_day.hours)
        if metrics.busiest_day
        else None,
        new_favourites=[(f.name, f.kind, f.first_seen, f.hours) for f in metrics.new_favourites],
    )


def build_insights(
    warehouse: Warehouse,
    data_dir: Path,
    user_id: str,
    years: Sequence[int | None],
    sources: Sources | None = None,
) -> list[Insight]:
    """Compute the user's metrics for each year (None: all time) in one pass over the
    history, and write a report per year."""
    sources = sources or Sources()
    with warehouse.connect() as con:
        computed = compute_metrics_for_users(con, [user_id], list(years), sources.typical_lengths)
    insights = []
    for year in years:
        metrics = computed[user_id, year]
        data = report_data(metrics, sources.display_names)
        insights.append(Insight(metrics, data, write_report(data, data_dir)))
    return insights


def recompute_user(
    warehouse: Warehouse,
    data_dir: Path,
    user_id: str,
    sources: Sources,
) -> tuple[int, int, list[Insight]]:
    """After a correction (an alias, "not the same play"): the user's links, then every
    year's metrics and report, from scratch. Set-based and idempotent; no other user's
    rows are read or written. Returns (music rows, real plays, the insights written)."""
    with warehouse.connect() as con:
        plays, real = link_plays(con, user_id, dict(sources.ranks))
        years = active_years(con, user_id)
    return plays, real, build_insights(warehouse, data_dir, user_id, years or [None], sources)
