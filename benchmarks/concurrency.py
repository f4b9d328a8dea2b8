"""Syncs of many users in production mode: a backfill, or a scheduled tick.

    python benchmarks/concurrency.py                          # backfill: 50 users x 10,000 plays
    python benchmarks/concurrency.py --users 10 --plays 2000 --pool-limit 4 --max-runs 6
    python benchmarks/concurrency.py --scenario tick --users 100 --plays 50 --faulty 0.1
    .venv-lake/bin/python benchmarks/concurrency.py --warehouse lake   # the same on a DuckLake

Sets up production mode the way the README describes it: Dagster storage in a database
of its own on PostgreSQL (MCA_TEST_POSTGRES_URL, default the local server), and
`dagster-daemon` and `dagster-webserver` as separate processes. Each user has connected
Last.fm; a fake Last.fm on 127.0.0.1 serves their scrobbles in pages of 200 like the real
API, `--latency` seconds per request.

backfill: the webserver is asked for one backfill of the `lastfm` asset over every user,
as a person would in the UI; the daemon's queued run coordinator launches a run per user
through the default run launcher (a process each), at most `--max-runs` at a time and at
most `--pool-limit` Last.fm syncs at a time. Prints: total time (backfill asked -> last
run ended), runs succeeded and failed, step retries, queue wait and run time per run, how
long syncs waited for the DuckDB file (from each materialization's warehouse_* metadata),
sync_log error rows, and plays expected, stored, lost and duplicated.

tick: the `lastfm_sync` schedule runs every minute (MCA_TEST_LASTFM_CRON) and the
benchmark waits for its first tick, which asks for batch runs of `--batch-size` users
(defs/sync_batches.py). `--faulty` of the users misbehave, in thirds: Last.fm refuses the
API key (a person must act), answers two 500s (retried in the user's own run), or
rate-limits for 20 s (waited for in the user's own run). Prints: time from the tick to
the last play stored, runs launched by kind, per-run overhead (run time outside its
step, and queue wait), plays expected/stored/lost/duplicated, users failed and retried.
"""

from __future__ import annotations

import argparse
import contextlib
import signal
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for mca_pipeline_tests.deploy and .fakes

from dagster import AssetKey, AssetRecordsFilter, DagsterEventType, DagsterRunStatus, RunsFilter  # noqa: E402
from dagster._core.scheduler.instigation import InstigatorStatus  # noqa: E402

from mca_pipeline_tests.deploy.deployment import Deployment, max_overlap, wait_until  # noqa: E402
from mca_pipeline_tests.fakes.lastfm_server import LastfmServer  # noqa: E402
from mca_pipeline_tests.postgres import fresh_database  # noqa: E402

T = TypeVar("T")
ENDED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


@contextlib.contextmanager
def warehouse_env(kind: str, work: Path) -> Iterator[dict[str, str]]:
    """The deployment's warehouse settings: none for the DuckDB file; for a lake, a catalog
    database of its own (dropped after) and a data path in the work folder."""
    if kind == "file":
        yield {}
        return
    with fresh_database() as catalog:
        yield {"MCA_WAREHOUSE": f"ducklake:postgres:{catalog}", "MCA_WAREHOUSE_DATA_PATH": str(work / "lake")}


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
    parser.add_argument("--scenario", choices=["backfill", "tick"], default="backfill")
    parser.add_argument("--faulty", type=float, default=0.1, help="tick: share of users that misbehave")
    parser.add_argument("--batch-size", type=int, default=None, help="tick: MCA_SYNC_BATCH_SIZE")
    parser.add_argument(
        "--downstream",
        action="store_true",
        help="tick: also wait until every synced user's insights are refreshed, and print when",
    )
    parser.add_argument(
        "--warehouse",
        choices=["file", "lake"],
        default="file",
        help="lake: a DuckLake (catalog in a database of its own; run with .venv-lake's python)",
    )
    args = parser.parse_args()
    if args.scenario == "tick":
        tick(args)
        return

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
        warehouse_env(args.warehouse, Path(work)) as warehouse,
        lastfm.serving() as lastfm_url,
        Deployment(
            Path(work), postgres_url, env={"MCA_LASTFM_API_URL": lastfm_url, **warehouse}, config=config
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


def tick(args: argparse.Namespace) -> None:
    users = [f"user{n:04d}" for n in range(args.users)]
    faulty = users[: round(len(users) * args.faulty)]
    revoked, erroring, limited = faulty[0::3], faulty[1::3], faulty[2::3]
    lastfm = LastfmServer(delay_s=args.latency)
    for user in users:
        fake = lastfm.account(f"{user}_fm", args.plays)
        if user in erroring:
            fake.fail.extend(httpx.Response(500, text="Internal Server Error") for _ in range(2))
        if user in limited:
            fake.fail.append(
                httpx.Response(
                    429, json={"error": 29, "message": "Rate Limit Exceeded"}, headers={"Retry-After": "20"}
                )
            )
    config: dict[str, dict[str, dict[str, int]]] = {"concurrency": {}}
    if args.max_runs:
        config["concurrency"]["runs"] = {"max_concurrent_runs": args.max_runs}
    if args.pool_limit:
        config["concurrency"]["pools"] = {"default_limit": args.pool_limit}
    env = {"MCA_TEST_LASTFM_CRON": "* * * * *"}
    if args.batch_size:
        env["MCA_SYNC_BATCH_SIZE"] = str(args.batch_size)
    healthy = [u for u in users if u not in revoked]
    expected = args.plays * len(healthy)

    with (
        tempfile.TemporaryDirectory(prefix="mca-tick-") as work,
        fresh_database() as postgres_url,
        warehouse_env(args.warehouse, Path(work)) as warehouse,
        lastfm.serving() as lastfm_url,
        Deployment(
            Path(work),
            postgres_url,
            env={"MCA_LASTFM_API_URL": lastfm_url, **env, **warehouse},
            config=config,
        ) as deployment,
    ):
        for user in users:
            deployment.connect_lastfm(
                user, f"{user}_fm", api_key="revoked-key" if user in revoked else lastfm.api_key
            )
        settings = deployment.instance.get_concurrency_config()
        print(
            f"tick: {len(users)} users x {args.plays:,} new plays, {args.latency * 1000:.0f} ms per request; "
            f"{len(faulty)} misbehaving ({len(revoked)} refused key, {len(erroring)} 500s, {len(limited)} rate-limited); "
            f"max_concurrent_runs {settings.run_queue_config.max_concurrent_runs}, "
            f"pool limit {settings.pool_config.default_pool_limit}"
        )
        deployment.start_daemon()
        first = wait_until(lambda: _first_tick(deployment), 180, "the schedule's first tick", deployment)
        tick_at = first.timestamp
        # One tick is measured: the schedule runs every minute only to tick soon, and the
        # ticks after it (every user again, as on a schedule shorter than the syncs take)
        # would add their batches to the figures. Production schedules are hourly.
        state = deployment.instigator("lastfm_sync")
        deployment.instance.update_instigator_state(state.with_status(InstigatorStatus.STOPPED))
        print(
            f"  tick at {time.strftime('%H:%M:%S', time.localtime(tick_at))}: {len(first.run_ids)} batch run(s)"
        )
        sync_runs = wait_until(
            _every(5, lambda: _tick_done(deployment, first.run_ids)),
            1800,
            "the tick's batches and retries to end",
            deployment,
        )
        synced = [u for u in healthy if u not in faulty]
        if args.downstream:
            wait_until(
                _every(10, lambda: _refreshed(deployment, healthy, tick_at)),
                3600,
                "every user's insights",
                deployment,
            )
        deployment.stop("daemon", signal.SIGKILL)
        _report_tick(deployment, users, healthy, revoked, args.plays, expected, sync_runs, tick_at, synced)
        if args.downstream:
            _report_downstream(deployment, healthy, tick_at)


def _every(seconds: float, check: Callable[[], T]) -> Callable[[], T | None]:
    """`check`, asked at most every `seconds`: the benchmark shares the 2 cores it measures,
    and reading every run record twice a second took a fifth of one."""
    last = [0.0]

    def throttled() -> T | None:
        if time.monotonic() - last[0] < seconds:
            return None
        last[0] = time.monotonic()
        return check()

    return throttled


def _first_tick(deployment: Deployment) -> Any:
    try:
        ticks = deployment.ticks("lastfm_sync")
    except AssertionError:  # no state stored yet
        return None
    launched = [t for t in ticks if t.run_ids]
    return min(launched, key=lambda t: t.timestamp) if launched else None


def _tick_done(deployment: Deployment, batch_ids: list[str]) -> list[Any] | None:
    """The tick's batch runs and the own runs of the users they passed on, once all have
    ended (a batch passes a user on with an observation marked retry_as_own_run)."""
    instance = deployment.instance
    batches = [instance.get_run_record_by_id(i) for i in batch_ids]
    if any(r is None or r.dagster_run.status not in ENDED for r in batches):
        return None
    observations = instance.fetch_observations(AssetRecordsFilter(asset_key=AssetKey("lastfm")), limit=10_000)
    passed_on = {
        r.partition_key
        for r in observations.records
        if r.run_id in batch_ids
        and r.asset_observation is not None
        and getattr(r.asset_observation.metadata.get("retry_as_own_run"), "value", False)
    }
    retry = list(instance.get_run_records(filters=RunsFilter(tags={"mca/trigger": "batch_retry"})))
    if {r.dagster_run.tags.get("mca/user") for r in retry} < passed_on:
        return None
    if any(r.dagster_run.status not in ENDED for r in retry):
        return None
    return [*batches, *retry]


def _report_tick(
    deployment: Deployment,
    users: list[str],
    healthy: list[str],
    revoked: list[str],
    plays: int,
    expected: int,
    runs: list[Any],
    tick_at: float,
    well: list[str],
) -> None:
    instance = deployment.instance
    with deployment.warehouse().connect() as con:
        stored, distinct = _stored_plays(con)
        [(last_stored,)] = con.execute(
            "SELECT epoch(max(finished_at)) FROM sync_log WHERE platform = 'lastfm' AND new_count > 0"
        ).fetchall()
        [(last_well,)] = con.execute(
            """
            SELECT epoch(max(finished_at)) FROM sync_log
            WHERE platform = 'lastfm' AND new_count > 0 AND user_id IN (SELECT unnest(CAST(? AS VARCHAR[])))
            """,
            [well],
        ).fetchall()
        states = dict(
            con.execute("SELECT user_id, state FROM connections WHERE plugin = 'lastfm'").fetchall()
        )
    lost = sum(max(0, plays - stored.get(u, 0)) for u in healthy)
    total = sum(stored.values())
    batches = [r for r in runs if r.dagster_run.tags.get("mca/trigger") == "schedule"]
    retries = [r for r in runs if r.dagster_run.tags.get("mca/trigger") == "batch_retry"]
    overhead, queued = [], []
    for record in runs:
        windows = deployment.step_windows([record.dagster_run.run_id], _step_of(record))
        if record.start_time and record.end_time and windows:
            start, end = windows[0]
            overhead.append((record.end_time - record.start_time) - (end - start))
        if record.start_time:
            queued.append(record.start_time - record.create_timestamp.timestamp())
    all_runs = list(instance.get_run_records())
    downstream = [r for r in all_runs if r.dagster_run.tags.get("mca/trigger") == "automation"]
    failed = [u for u in users if states.get(u) not in (None, "connected")]
    print("timeline (s after the tick): run created, started, step start-end, ended")
    for record in sorted(runs, key=lambda r: r.create_timestamp.timestamp()):
        windows = deployment.step_windows([record.dagster_run.run_id], _step_of(record))
        step = (
            f"{windows[0][0] - tick_at:6.1f}-{windows[0][1] - tick_at:6.1f}" if windows else "      -      "
        )
        print(
            f"  {record.dagster_run.tags.get('mca/trigger', '?'):12} {record.dagster_run.tags.get('mca/user', ''):9}"
            f" {record.create_timestamp.timestamp() - tick_at:6.1f} {(record.start_time or tick_at) - tick_at:6.1f}"
            f" {step} {(record.end_time or tick_at) - tick_at:6.1f}"
        )
    print(
        f"tick -> last play stored: {last_stored - tick_at:.1f} s "
        f"({last_well - tick_at:.1f} s for the {len(well)} users that did not misbehave)"
    )
    print(
        f"runs launched:       {len(batches)} batch, {len(retries)} retry (own run), "
        f"{len(downstream)} downstream so far; {sum(r.dagster_run.status != DagsterRunStatus.SUCCESS for r in runs)} failed"
    )
    print(
        f"per-run overhead:    outside the step median {statistics.median(overhead):.1f} s, max {max(overhead):.1f} s; "
        f"queue wait median {statistics.median(queued):.1f} s, max {max(queued):.1f} s"
    )
    print(
        f"plays:               expected {expected:,}, stored {total:,}, lost {lost:,}, duplicated {total - distinct:,}"
    )
    print(
        f"users:               {len(users) - len(failed)} synced, {len(failed)} failed and told "
        f"({len(revoked)} expected: refused key), {len(retries)} retried in their own run"
    )


def _refreshed(deployment: Deployment, users: list[str], since: float) -> bool:
    """Every one of `users` has an insights materialization after `since`."""
    return set(users) <= set(_insights_after(deployment, since))


def _insights_after(deployment: Deployment, since: float) -> dict[str, float]:
    """user -> when their insights were last materialized after `since`."""
    records = deployment.instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("insights"), after_timestamp=since), limit=10_000
    ).records
    done: dict[str, float] = {}
    for record in records:
        if record.partition_key:
            done[record.partition_key] = max(done.get(record.partition_key, 0.0), record.timestamp)
    return done


def _report_downstream(deployment: Deployment, users: list[str], tick_at: float) -> None:
    done = _insights_after(deployment, tick_at)
    runs = [
        r
        for r in deployment.instance.get_run_records()
        if r.dagster_run.tags.get("mca/trigger") == "automation"
    ]
    sizes = Counter(
        "range" if "dagster/asset_partition_range_start" in r.dagster_run.tags else "one user" for r in runs
    )
    busy = [r.end_time - r.start_time for r in runs if r.start_time and r.end_time]
    print(
        f"downstream:          every user's insights by {max(done[u] for u in users) - tick_at:.1f} s after the tick; "
        f"{len(runs)} runs ({', '.join(f'{n} {k}' for k, n in sorted(sizes.items()))}), "
        f"{sum(busy):.0f} s of run time in all"
    )


def _step_of(record: Any) -> str:
    return "lastfm_sync_users" if record.dagster_run.job_name == "lastfm_sync_batch" else "lastfm"


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
        stored, distinct = _stored_plays(con)
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


def _stored_plays(con: Any) -> tuple[dict[str, int], int]:
    """Last.fm plays stored per user, and distinct (user, play) pairs over all users."""
    stored = dict(
        con.execute(
            "SELECT user_id, count(*) FROM media_items WHERE platform = 'lastfm' GROUP BY user_id"
        ).fetchall()
    )
    distinct = con.execute(
        "SELECT count(DISTINCT (user_id, external_id)) FROM media_items WHERE platform = 'lastfm'"
    ).fetchall()[0][0]
    return stored, int(distinct)


def _origin(tags: dict[str, str]) -> str:
    if "dagster/backfill" in tags:
        return "from the backfill"
    for tag in ("dagster/schedule_name", "dagster/sensor_name"):
        if tag in tags:
            return f"from {tags[tag]}"
    return "launched by hand"


if __name__ == "__main__":
    main()
