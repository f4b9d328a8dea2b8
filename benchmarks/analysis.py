"""Time to compute every metric of the insights asset, on synthetic histories.

    python benchmarks/analysis.py                  # 1 user x 1,000,000 plays; 100 users x 10,000
    python benchmarks/analysis.py --big 200000 --users 20 --per-user 5000

The histories are generated inside DuckDB (one INSERT ... SELECT over range()); one row
in ten is a Last.fm scrobble of the Spotify play three rows before it, linked into one
play by `link_plays` as a real two-source history is. The figures are the metrics' own: `compute_metrics` for one user (every query it runs,
including the DST-correct local-time bucketing), for every year it has (as the insights
asset computes them), and with the page of its latest year (SVG charts and HTML, as `mca
report` writes it; the PNGs of the Dagster metadata apart); then for many users at once
(`compute_metrics_for_users`, one statement per metric for all of them, as the insights
asset runs them), and one after another for comparison. Each figure is the best of
three runs: the machine may be busy with other work.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from mca_pipeline.warehouse import Warehouse
from mca_pipeline.warehouse.metrics import (
    active_years,
    compute_metrics,
    compute_metrics_for_users,
    set_user_timezone,
)
from mca_pipeline.warehouse.parsed_fields import assignments, from_raw_metadata, from_universal_tags
from mca_pipeline.warehouse.unified_plays import link_plays

# 20,000 titles by 2,000 creators (a title keeps its creator, as a song keeps its artist),
# 300 series, 40 tags and universal genres and moods per creator. Row i % 10 = 9 is a
# Last.fm scrobble of Spotify's row i - 3, five seconds later.
_GENERATE = """
INSERT INTO media_items (user_id, platform, external_id, media_type, title, creator, consumed_at,
    duration_s, time_spent_s, tags, url, raw_metadata, status, first_seen_at, updated_at, universal_tags)
SELECT $user,
       CASE WHEN i % 10 < 7 THEN 'spotify_export' WHEN i % 10 < 9 THEN 'netflix' ELSE 'lastfm' END,
       $user || '-' || i,
       CASE WHEN i % 10 < 7 OR i % 10 = 9 THEN 'music' ELSE 'video' END,
       'Title ' || t,
       'Creator ' || (t % 2000),
       TIMESTAMPTZ '2019-01-01 00:00:00+00' + to_seconds(CASE WHEN i % 10 = 9 THEN (i - 3) * 97 + 5 ELSE i * 97 END),
       200, CASE WHEN i % 13 = 0 THEN 12 ELSE 180 END, ['tag' || (t % 40)], NULL,
       CASE WHEN i % 10 IN (7, 8) THEN json_object('series', 'Series ' || (i % 300))
            ELSE json_object('skipped', i % 13 = 0) END,
       'pending', now(), now(),
       json_object('genre', ['genre ' || (t % 30)], 'mood', ['mood ' || (t % 8)])
FROM (SELECT i, hash(CASE WHEN i % 10 = 9 THEN i - 3 ELSE i END) % 20000 AS t FROM range($n) r(i))
"""


def generate(warehouse: Warehouse, user: str, plays: int) -> None:
    with warehouse.connect() as con:
        con.execute("INSERT INTO users (user_id) VALUES (?) ON CONFLICT DO NOTHING", [user])
        set_user_timezone(con, user, "Europe/Berlin")
        con.execute(_GENERATE, {"user": user, "n": plays})
        # The parsed columns, as store and enrichment write them with the documents.
        parsed = assignments(from_raw_metadata("raw_metadata") | from_universal_tags("universal_tags"))
        con.execute(f"UPDATE media_items SET {parsed} WHERE user_id = ?", [user])
        link_plays(con, user, {"spotify_export": 0, "lastfm": 1})


def timed_metrics(warehouse: Warehouse, user: str) -> float:
    started = time.perf_counter()
    with warehouse.connect() as con:
        compute_metrics(con, user)
    return time.perf_counter() - started


def timed_batch(warehouse: Warehouse, users: list[str]) -> float:
    started = time.perf_counter()
    with warehouse.connect() as con:
        computed = compute_metrics_for_users(con, users)
    assert len(computed) == len(users)
    return time.perf_counter() - started


def timed_years(warehouse: Warehouse, user: str) -> float:
    """Every metric of every year the user has, as the insights asset computes them."""
    with warehouse.connect() as con:
        years = active_years(con, user)
    started = time.perf_counter()
    with warehouse.connect() as con:
        compute_metrics_for_users(con, [user], years)
    return time.perf_counter() - started


def timed_page(warehouse: Warehouse, user: str, data_dir: Path) -> tuple[float, float, float, int]:
    """The page of the user's latest year, as `mca report` makes it: (metrics, page with
    its SVG charts, the PNG charts of the Dagster metadata) seconds and the year.
    matplotlib is imported outside the timing, as the insights asset's process has it
    loaded."""
    from mca_pipeline.analysis.charts import render_charts
    from mca_pipeline.analysis.insights import report_data
    from mca_pipeline.analysis.report import write_report

    with warehouse.connect() as con:
        year = active_years(con, user)[-1]
    started = time.perf_counter()
    with warehouse.connect() as con:
        metrics = compute_metrics_for_users(con, [user], [year])[user, year]
    computed = time.perf_counter()
    data = report_data(metrics, {})
    write_report(data, data_dir)
    written = time.perf_counter()
    render_charts(data)
    return computed - started, written - computed, time.perf_counter() - written, year


def best_of(runs: int, measure: Callable[[], float]) -> float:
    return min(measure() for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--big", type=int, default=1_000_000, help="plays of the one big user")
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--per-user", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="mca-analysis-") as tmp:
        warehouse = Warehouse(Path(tmp) / "warehouse.duckdb")
        started = time.perf_counter()
        generate(warehouse, "big", args.big)
        for n in range(args.users):
            generate(warehouse, f"user{n:03d}", args.per_user)
        print(
            f"generated {args.big + args.users * args.per_user:,} plays in {time.perf_counter() - started:.1f} s"
        )
        big = best_of(3, lambda: timed_metrics(warehouse, "big"))
        print(f"1 user x {args.big:,} plays:        every metric in {big:6.2f} s (all time)")
        years = best_of(3, lambda: timed_years(warehouse, "big"))
        print(
            f"1 user x {args.big:,} plays:        every metric of every year in {years:6.2f} s (the insights asset)"
        )
        timed_page(warehouse, "big", Path(tmp))  # loads matplotlib and its fonts once
        pages = [timed_page(warehouse, "big", Path(tmp)) for _ in range(3)]
        metrics_s, page_s, pngs_s, year = min(pages, key=lambda p: sum(p[:2]))
        print(
            f"1 user x {args.big:,} plays:        every metric and the page of {year} in "
            f"{metrics_s + page_s:6.2f} s (metrics {metrics_s:.2f}, page with SVG charts {page_s * 1000:.0f} ms); "
            f"PNG charts for the Dagster metadata {pngs_s:.2f} s more"
        )
        users = [f"user{n:03d}" for n in range(args.users)]
        batch = best_of(3, lambda: timed_batch(warehouse, users))
        print(
            f"{args.users} users x {args.per_user:,} plays:  every metric in {batch:6.2f} s, all users in one pass"
        )
        started = time.perf_counter()
        slowest = max(timed_metrics(warehouse, user) for user in users)
        total = time.perf_counter() - started
        print(
            f"{args.users} users x {args.per_user:,} plays:  every metric in {total:6.2f} s one user at a time "
            f"({total / args.users:.3f} s per user, slowest {slowest:.3f} s)"
        )


if __name__ == "__main__":
    main()
