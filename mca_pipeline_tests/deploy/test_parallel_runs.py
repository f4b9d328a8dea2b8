"""Production mode: many users' syncs at once, queued and held to the platform's pool.

The webserver and the daemon are separate processes on one PostgreSQL instance; a
backfill over several users is asked of the webserver, the daemon's queued run
coordinator launches the runs, and the `platform_lastfm` pool (limit 2 in dagster.yaml)
keeps at most two Last.fm syncs going at a time, whatever the number of runs: every
Last.fm run on the instance counts, not only the backfill's.

Nothing here is timed: the fake Last.fm holds its first two requests until both are in
flight, so two syncs run together on any machine if (and only if) the pool lets them.
"""

import socket
from pathlib import Path

from dagster import DagsterEventType, DagsterRunStatus

from mca_pipeline.warehouse.queries import item_count
from mca_pipeline_tests.deploy.deployment import Deployment, max_overlap, wait_until
from mca_pipeline_tests.fakes.lastfm_server import LastfmServer

USERS = [f"user{n}" for n in range(1, 6)]
PLAYS = 1_000
POOL_LIMIT = 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _all_ended(deployment: Deployment) -> bool:
    return all(r.status in _ENDED for r in deployment.runs())


_ENDED = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}


def test_a_backfill_over_users_runs_in_parallel_within_the_platform_pool(
    tmp_path: Path, postgres_url: str
) -> None:
    lastfm = LastfmServer(rendezvous=POOL_LIMIT)
    for user in USERS:
        lastfm.account(f"{user}_fm", PLAYS)
    with (
        lastfm.serving() as lastfm_url,
        Deployment(tmp_path / "home", postgres_url, env={"MCA_LASTFM_API_URL": lastfm_url}) as deployment,
    ):
        for user in USERS:
            deployment.connect_lastfm(user, f"{user}_fm")
        deployment.start_daemon()
        deployment.start_webserver(_free_port())

        backfill = deployment.launch_backfill("lastfm", USERS)
        runs = deployment.finished_runs(len(USERS), 300, **{"dagster/backfill": backfill})
        run_ids = [r.run_id for r in runs]

        assert sorted(r.tags["dagster/partition"] for r in runs) == USERS
        # Every run went through the queue rather than straight to the launcher.
        for run_id in run_ids:
            assert deployment.instance.all_logs(run_id, of_type=DagsterEventType.RUN_ENQUEUED)
        # Syncs overlapped, but never more than the pool allows, counting every Last.fm run.
        wait_until(lambda: _all_ended(deployment), 300, "every run ended", deployment)
        windows = deployment.step_windows([r.run_id for r in deployment.runs()], "lastfm")
        assert len(windows) >= len(USERS)
        assert lastfm.met, "the first two Last.fm requests were never in flight together"
        assert max_overlap(windows) == POOL_LIMIT
        # Every play stored, once, for every user.
        with deployment.warehouse().connect() as con:
            assert {u: item_count(con, u, "lastfm") for u in USERS} == dict.fromkeys(USERS, PLAYS)
            failed = con.execute("SELECT count(*) FROM sync_log WHERE error_code IS NOT NULL").fetchall()
        assert failed == [(0,)]
        assert lastfm.requests >= len(USERS) * PLAYS // 200
