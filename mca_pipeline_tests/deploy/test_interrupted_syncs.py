"""Production mode: syncs cut short by the platform or by a person, and what follows.

One deployment (daemon, PostgreSQL, a fake Last.fm on 127.0.0.1, an every-minute
schedule) for two stories, run side by side to keep the suite short:

- alice: Last.fm answers her first sync (in a scheduled batch run) with error 29 and a
  Retry-After longer than this deployment lets a run wait (MCA_LONGEST_WAIT_IN_RUN_S).
  Her sync ends at once with a pause stored, instead of holding the run; the schedule
  leaves her out of its batches while the pause lasts (61 seconds always span a minute's
  tick) and syncs her at its first tick after it.
- bob: his first sync is terminated mid-way through the Dagster instance, as the UI's
  Terminate does. The plugin stops after the request in flight, the pages read are
  stored with their cursor, the run ends canceled, and the next run resumes from that
  cursor rather than from the start.

Nothing is timed: the fake holds bob's third request until the interrupt has reached the
plugin, and the assertions compare the schedule's tick times with the stored pause.
"""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from dagster import AssetKey, DagsterEventType, DagsterRunStatus

from mca_pipeline.warehouse.queries import item_count
from mca_pipeline_tests.deploy.deployment import Deployment, wait_until
from mca_pipeline_tests.fakes.lastfm_server import LastfmServer

ALICE_PLAYS = 30
BOB_PLAYS = 2_000  # ten pages of 200
RETRY_AFTER_S = 61


def _status(deployment: Deployment, run_id: str) -> DagsterRunStatus | None:
    run = deployment.instance.get_run_by_id(run_id)
    return run.status if run else None


def test_a_long_rate_limit_frees_the_slot_and_a_terminated_sync_resumes(
    tmp_path: Path, postgres_url: str
) -> None:
    lastfm = LastfmServer()
    alice_fm = lastfm.account("alice_fm", ALICE_PLAYS)
    alice_fm.fail.append(
        httpx.Response(
            429,
            json={"error": 29, "message": "Rate Limit Exceeded"},
            headers={"Retry-After": str(RETRY_AFTER_S)},
        )
    )
    bob_fm = lastfm.account("bob_fm", BOB_PLAYS)
    page3_arrived, page3_release = lastfm.hold("bob_fm", 3)
    env = {"MCA_LONGEST_WAIT_IN_RUN_S": "5", "MCA_TEST_LASTFM_CRON": "* * * * *"}
    with (
        lastfm.serving() as lastfm_url,
        Deployment(
            tmp_path / "home", postgres_url, env={"MCA_LASTFM_API_URL": lastfm_url, **env}
        ) as deployment,
    ):
        deployment.connect_lastfm("alice", "alice_fm")
        # bob is new: his first sync is the sensor's, never a schedule tick's (one sync of
        # an account at a time, so the tick after leaves him to that run).
        deployment.connect_lastfm("bob", "bob_fm", first_sync=True, new_user=True)
        deployment.start_daemon()

        # bob: terminate his first sync while its third page is in flight.
        assert page3_arrived.wait(240), "bob's first sync never reached its third page"
        [bob_first] = deployment.runs(**{"mca/trigger": "first_sync", "dagster/partition": "bob"})
        _terminate(deployment, bob_first.run_id)
        page3_release.set()
        wait_until(
            lambda: _status(deployment, bob_first.run_id) == DagsterRunStatus.CANCELED,
            120,
            "bob's run canceled",
            deployment,
        )
        # The pages read before the stop were stored by that run, with a cursor at the next
        # page (the schedule may already have synced bob further since).
        with deployment.warehouse().connect() as con:
            [(stored, cursor)] = con.execute(
                "SELECT sum(new_count), arg_max(cursor_out, id) FROM sync_log WHERE run_id = ?",
                [bob_first.run_id],
            ).fetchall()
        assert stored == 3 * 200
        assert '"page":4' in cursor

        # alice: the first scheduled sync meets the rate limit and ends without waiting.
        first = _scheduled_syncs_of(deployment, "alice", 1)[0]
        assert not deployment.instance.all_logs(first.run_id, of_type=DagsterEventType.STEP_UP_FOR_RETRY)
        with deployment.warehouse().connect() as con:
            [(not_before,)] = con.execute(
                "SELECT not_before FROM sync_pauses WHERE user_id = 'alice'"
            ).fetchall()
            assert item_count(con, "alice", "lastfm") == 0
        [seen] = [
            r.asset_observation
            for r in deployment.instance.fetch_observations(AssetKey("lastfm"), limit=100).records
            if r.run_id == first.run_id and r.partition_key == "alice"
        ]
        assert seen is not None and seen.metadata["waiting_until"].value == not_before.isoformat()  # type: ignore[attr-defined]

        # The schedule leaves alice out while the pause lasts, then syncs her; bob's
        # scheduled sync goes on from the page after the last one stored.
        second = _scheduled_syncs_of(deployment, "alice", 2)[1]
        ticks = deployment.ticks("lastfm_sync")
        started = next(t for t in ticks if first.run_id in t.run_ids).timestamp
        ran = next(t for t in ticks if second.run_id in t.run_ids).timestamp
        assert datetime.fromtimestamp(ran, UTC) >= not_before
        paused = [t for t in ticks if started < t.timestamp < not_before.timestamp()]
        assert paused, "a 61-second pause spans a tick of an every-minute schedule"
        for tick in paused:
            assert tick.run_ids, "bob is still synced while alice waits"
            assert all("alice" not in _users(deployment.instance.get_run_by_id(i)) for i in tick.run_ids)
        _scheduled_syncs_of(deployment, "bob", 1)
        with deployment.warehouse().connect() as con:
            assert item_count(con, "alice", "lastfm") == ALICE_PLAYS
            assert item_count(con, "bob", "lastfm") == BOB_PLAYS
            assert con.execute("SELECT count(*) FROM sync_pauses").fetchall() == [(0,)]
        resumed = bob_fm.requests[3]
        assert resumed.url.params["page"] == "4", "the next run resumed from the stored cursor"


def _terminate(deployment: Deployment, run_id: str) -> None:
    """Terminate the run as the UI does, and wait until the interrupt reached the sync."""
    deployment.instance.run_coordinator.cancel_run(run_id)
    try:
        wait_until(
            lambda: any(
                "run terminated; stopping" in (e.user_message or "")
                for e in deployment.instance.all_logs(run_id)
            ),
            180,
            "the interrupt to reach bob's sync",
            deployment,
        )
    except AssertionError:
        events = [
            f"{e.dagster_event_type.value if e.dagster_event_type else 'log'}: {e.message[:200]}"
            for e in deployment.instance.all_logs(run_id)
        ]
        raise AssertionError(
            f"the run ({_status(deployment, run_id)}) never stopped its sync; its last events:\n"
            + "\n".join(events[-25:])
        ) from None


def _users(run: Any) -> list[str]:
    """The users a scheduled batch run syncs."""
    return run.run_config["ops"]["lastfm_sync_users"]["config"]["users"]


def _scheduled_syncs_of(deployment: Deployment, user: str, count: int) -> list[Any]:
    """The first `count` scheduled batch runs that synced `user`, oldest first, once they
    have ended; all of them must have succeeded."""
    ended = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}

    def done() -> list[Any] | None:
        runs = [
            r
            for r in deployment.runs(**{"mca/trigger": "schedule"})
            if r.status in ended and user in _users(r)
        ]
        return runs if len(runs) >= count else None

    runs = wait_until(done, 300, f"{count} scheduled sync(s) of {user}", deployment)
    first = sorted(runs, key=lambda r: deployment.instance.get_run_record_by_id(r.run_id).create_timestamp)[
        :count
    ]
    failed = [r.run_id for r in first if r.status != DagsterRunStatus.SUCCESS]
    assert not failed, f"runs failed: {failed}\n{deployment.run_errors(failed)}"
    return first
