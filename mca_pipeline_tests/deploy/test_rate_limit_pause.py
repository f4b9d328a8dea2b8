"""Production mode: a long rate limit frees the run slot, and the user is synced after it.

Last.fm answers alice's first sync with error 29 and a Retry-After longer than this
deployment lets a run wait (MCA_LONGEST_WAIT_IN_RUN_S). The run must end at once, as a
success that stored a pause, not sit in its slot; the every-minute schedule must leave
alice out while the pause lasts (a 61-second pause always spans a minute's tick) and
sync her at the first tick after it. Nothing is timed: the assertions compare the
schedule's tick times with the stored "not before" time.
"""

from datetime import UTC, datetime
from pathlib import Path

import httpx
from dagster import AssetKey, DagsterEventType

from mca_pipeline.warehouse.queries import item_count
from mca_pipeline_tests.deploy.deployment import Deployment
from mca_pipeline_tests.fakes.lastfm_server import LastfmServer

PLAYS = 30
RETRY_AFTER_S = 61


def test_a_long_rate_limit_ends_the_run_and_the_schedule_syncs_after_the_pause(
    tmp_path: Path, postgres_url: str
) -> None:
    lastfm = LastfmServer()
    fake = lastfm.account("alice_fm", PLAYS)
    fake.fail.append(
        httpx.Response(
            429,
            json={"error": 29, "message": "Rate Limit Exceeded"},
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    )
    env = {"MCA_LONGEST_WAIT_IN_RUN_S": "5", "MCA_TEST_LASTFM_CRON": "* * * * *"}
    with (
        lastfm.serving() as lastfm_url,
        Deployment(
            tmp_path / "home", postgres_url, env={"MCA_TEST_LASTFM_URL": lastfm_url, **env}
        ) as deployment,
    ):
        deployment.connect_lastfm("alice", "alice_fm")
        deployment.start_daemon()

        # The first scheduled sync meets the rate limit and ends, without waiting in its slot.
        alice = {"mca/trigger": "schedule", "dagster/partition": "alice"}
        [first] = deployment.finished_runs(1, 240, **alice)
        assert not deployment.instance.all_logs(first.run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY)
        with deployment.warehouse().connect() as con:
            [(not_before,)] = con.execute(
                "SELECT not_before FROM sync_pauses WHERE user_id = 'alice'"
            ).fetchall()
            assert item_count(con, "alice", "lastfm") == 0
        mat = deployment.instance.get_latest_materialization_event(AssetKey("lastfm"))
        assert mat is not None and mat.run_id == first.run_id
        assert mat.asset_materialization.metadata["waiting_until"].value == not_before.isoformat()  # type: ignore[union-attr]

        # The schedule leaves alice out while the pause lasts and syncs her at its first
        # tick after it.
        runs = deployment.finished_runs(2, 300, **alice)
        second = next(r for r in runs if r.run_id != first.run_id)
        ticks = deployment.ticks("lastfm_sync")
        started = next(t for t in ticks if first.run_id in t.run_ids).timestamp
        ran = next(t for t in ticks if second.run_id in t.run_ids).timestamp
        assert datetime.fromtimestamp(ran, UTC) >= not_before
        paused = [t for t in ticks if started < t.timestamp < not_before.timestamp()]
        assert paused, "a 61-second pause spans a tick of an every-minute schedule"
        assert all(t.status.value == "SKIPPED" and not t.run_ids for t in paused)
        with deployment.warehouse().connect() as con:
            assert item_count(con, "alice", "lastfm") == PLAYS
            assert con.execute("SELECT count(*) FROM sync_pauses").fetchall() == [(0,)]
