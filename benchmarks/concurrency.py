"""Warehouse writes under many concurrent runs, in production mode.

    python benchmarks/concurrency.py                          # 50 users x 10,000 plays
    python benchmarks/concurrency.py --users 10 --plays 2000 --pool-limit 4 --max-runs 6

Sets up production mode the way the README describes it: Dagster storage in a database
of its own on PostgreSQL (MCA_TEST_POSTGRES_URL, default the local server), and
`dagster-daemon` and `dagster-webserver` as separate processes. Each user has connected
Last.fm; a fake Last.fm on 127.0.0.1 serves their scrobbles in pages of 200 like the real
API, `--latency` seconds per request. The webserver is asked for one backfill of the
`lastfm` asset over every user, as a person would in the UI; the daemon's queued run
coordinator launches a run per user through the default run launcher (a process each),
at most `--max-runs` at a time and at most `--pool-limit` Last.fm syncs at a time.

Prints: total time (backfill asked -> last run ended), runs succeeded and failed, step
retries, queue wait and run time per run, how long syncs waited for the DuckDB file
(from each materialization's warehouse_* metadata), sync_log error rows, and plays
expected, stored, lost and duplicated.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for mca_pipeline_tests.deploy and .fakes

from dagster import AssetKey, AssetRecordsFilter, DagsterEventType, DagsterRunStatus, RunsFilter  # noqa: E402

from mca_pipeline_tests.deploy.deployment import Deployment, fresh_database, max_overlap  # noqa: E402
from mca_pipeline_tests.fakes.lastfm_server import LastfmServer  # noqa: E402

ENDED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--plays", type=int, default=10_000, help="scrobbles per user")
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per Last.fm request")
    parser.add_argument("--max-runs", type=int, default=None, help="concurrency.runs.max_concurrent_runs")
    parser.add_argument("--pool-limit", type=int, default=None, help="concurrency.pools.default_limit")
    parser.add_argument("--port", type=int, default=3300, help="webserver port")
    args = parser.parse_args()

    config: dict[str, dict[str, dict[str, int]]] = {"concurrency": {}}
    if args.max_runs:
        config["concurrency"]["runs"] = {"max_concurrent_runs": args.max_runs}
    if args.pool_limit:
        config["concurrency"]["pools"] = {"default_limit": args.pool_limit}
    users = [f"user{n:03d}" for n in range(args.users)]
    lastfm = LastfmServer(delay_s=args.latency)
    for user in users:
        lastfm.account(f"{user}_fm", args.plays)

    with (
        tempfile.TemporaryDirectory(prefix="mca-concurrency-") as work,
        fresh_database() as postgres_url,
        lastfm.serving() as lastfm_url,
        Deployment(
            Path(work), postgres_url, env={"MCA_LASTFM_API_URL": lastfm_url}, config=config
        ) as deployment,
    ):
        for user in users:
            deployment.connect_lastfm(user, f"{user}_fm")
        deployment.start_daemon()
        deployment.start_webserver(args.port)
        settings = deployment.instance.get_concurrency_config()
        print(
            f"{args.users} users x {args.plays:,} plays, {args.latency * 1000:.0f} ms per request; "
            f"max_concurrent_runs {settings.run_queue_config.max_concurrent_runs}, "
            f"pool limit {settings.pool_config.default_pool_limit}"
        )

        started = time.time()
        backfill = deployment.launch_backfill("lastfm", users)
        runs = _wait_for_runs(deployment, backfill, len(users))
        total_s = max(r.end_time for r in runs) - started
        _report(deployment, lastfm, users, args.plays, runs, total_s)


def _wait_for_runs(deployment: Deployment, backfill: str, count: int) -> list:  # type: ignore[type-arg]
    """Every run of the instance once the backfill's runs and any others (a schedule tick,
    a continuation) have ended."""
    shown = 0.0
    while True:
        ours = deployment.instance.get_run_records(filters=RunsFilter(tags={"dagster/backfill": backfill}))
        records = deployment.instance.get_run_records()
        ended = [r for r in records if r.dagster_run.status in ENDED]
        if sum(r.dagster_run.status in ENDED for r in ours) >= count and len(ended) == len(records):
            return ended
        if time.monotonic() - shown > 30:
            print(f"  ... {len(ended)}/{count} runs ended, {len(records) - len(ended)} queued or running")
            shown = time.monotonic()
        for name, process in deployment.processes.items():
            if process.poll() is not None:
                raise SystemExit(f"{name} exited\n{deployment.logs()}")
        time.sleep(2)


def _report(
    deployment: Deployment, lastfm: LastfmServer, users: list[str], plays: int, runs: list, total_s: float
) -> None:  # type: ignore[type-arg]
    instance = deployment.instance
    ok = [r for r in runs if r.dagster_run.status == DagsterRunStatus.SUCCESS]
    run_ids = [r.dagster_run.run_id for r in runs]
    retries = sum(len(instance.all_logs(i, of_type=DagsterEventType.STEP_UP_FOR_RETRY)) for i in run_ids)
    queued = [r.start_time - r.create_timestamp.timestamp() for r in runs if r.start_time]
    running = [r.end_time - r.start_time for r in runs if r.start_time and r.end_time]
    windows = deployment.step_windows(run_ids, "lastfm")
    materializations = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("lastfm")), limit=10 * len(users)
    ).records
    meta = [m.asset_materialization.metadata for m in materializations if m.asset_materialization]
    waits = [float(m["warehouse_wait_s"].value) for m in meta]
    waited = sum(int(m["warehouse_waits"].value) for m in meta)
    open_retries = sum(int(m["warehouse_open_retries"].value) for m in meta)

    with deployment.warehouse().connect() as con:
        stored = dict(
            con.execute(
                "SELECT user_id, count(*) FROM media_items WHERE platform = 'lastfm' GROUP BY user_id"
            ).fetchall()
        )
        distinct = con.execute(
            "SELECT count(DISTINCT (user_id, external_id)) FROM media_items WHERE platform = 'lastfm'"
        ).fetchall()[0][0]
        errors = con.execute("SELECT count(*) FROM sync_log WHERE error_code IS NOT NULL").fetchall()[0][0]
    expected = plays * len(users)
    lost = sum(max(0, plays - stored.get(u, 0)) for u in users)

    print(f"total time:          {total_s:.1f} s ({expected / total_s:,.0f} plays/s overall)")
    origins = Counter(_origin(r.dagster_run.tags) for r in runs)
    print(
        f"runs:                {len(ok)} succeeded, {len(runs) - len(ok)} failed "
        f"({', '.join(f'{n} {origin}' for origin, n in sorted(origins.items()))}); step retries {retries}"
    )
    print(f"queue wait per run:  median {statistics.median(queued):.1f} s, max {max(queued):.1f} s")
    print(f"run time per run:    median {statistics.median(running):.1f} s, max {max(running):.1f} s")
    print(f"syncs at once:       at most {max_overlap(windows)}")
    print(
        f"warehouse waits:     {waited} of {len(meta)} syncs waited for the DuckDB file; "
        f"total {sum(waits):.1f} s, max {max(waits, default=0):.2f} s; DuckDB open retries {open_retries}"
    )
    print(f"sync_log errors:     {errors}")
    print(
        f"plays:               expected {expected:,}, stored {sum(stored.values()):,}, "
        f"lost {lost:,}, duplicated {sum(stored.values()) - distinct:,}"
    )
    print(f"Last.fm requests:    {lastfm.requests:,}")


def _origin(tags: dict[str, str]) -> str:
    if "dagster/backfill" in tags:
        return "from the backfill"
    for tag in ("dagster/schedule_name", "dagster/sensor_name"):
        if tag in tags:
            return f"from {tags[tag]}"
    return "launched by hand"


if __name__ == "__main__":
    main()
