"""Production mode: what the daemon was doing survives a crash and a restart of it.

The daemon is killed outright (SIGKILL, no chance to save anything) while a scheduled
tick falls due; everything it knew must come back from PostgreSQL.
"""

import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mca_pipeline.defs.inbox_sensor import InboxCursor
from mca_pipeline.defs.partitions import users_partitions
from mca_pipeline.warehouse.queries import item_count
from mca_pipeline_tests.deploy.deployment import Deployment
from mca_pipeline_tests.fakes.lastfm_server import LastfmServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
EXPORT = FIXTURES / "spotify_export" / "Streaming_History_Audio_2023-2024_0.json"


def _inbox_cursor(deployment: Deployment) -> InboxCursor:
    return InboxCursor.load(deployment.instigator("inbox_sensor").instigator_data.cursor)


def test_runs_schedules_sensor_cursors_and_partitions_survive_a_daemon_restart(
    tmp_path: Path, postgres_url: str
) -> None:
    lastfm = LastfmServer()
    lastfm.account("carol_fm", 30)
    with (
        lastfm.serving() as lastfm_url,
        Deployment(
            tmp_path / "home",
            postgres_url,
            env={"MCA_LASTFM_API_URL": lastfm_url, "MCA_TEST_LASTFM_CRON": "* * * * *"},
        ) as deployment,
    ):
        deployment.connect_lastfm("carol", "carol_fm")
        deployment.drop_export("alice", "spotify_export", EXPORT)
        # A file in the wrong place: the sensor warns once and remembers it in its cursor.
        stray = deployment.data / "inbox" / "notes.txt"
        stray.write_text("not an export")
        deployment.start_daemon()

        alice = deployment.finished_runs(1, 180, **{"dagster/partition": "alice", "mca/trigger": "inbox"})
        scheduled = deployment.finished_runs(1, 180, **{"mca/trigger": "schedule"})
        deployment.stop("daemon", signal.SIGKILL)
        down_at = datetime.now(UTC)

        # Runs that had ended (one started just before the kill may be cut off with it).
        before_runs = {r.run_id: r.status for r in deployment.runs() if r.is_finished}
        before_cursor = _inbox_cursor(deployment)
        before_ticks = {t.tick_id for t in deployment.ticks("lastfm_sync")}
        assert before_cursor.reported == {str(stray)}

        # Stay down across a minute on which lastfm_sync was due.
        missed = (down_at + timedelta(minutes=1)).replace(second=0, microsecond=0)
        time.sleep(max(0.0, (missed - datetime.now(UTC)).total_seconds()) + 2)
        deployment.drop_export("bob", "spotify_export", EXPORT)
        deployment.start_daemon()

        deployment.finished_runs(1, 180, **{"dagster/partition": "bob", "mca/trigger": "inbox"})
        missed_key = f"lastfm:{missed:%Y-%m-%dT%H:%M}:carol"  # the batch that starts with carol
        caught_up = deployment.finished_runs(1, 180, **{"dagster/run_key": missed_key})

        # Runs: every finished run from before is still there, as it was.
        after_runs = {r.run_id: r.status for r in deployment.runs()}
        assert before_runs.items() <= after_runs.items()
        # Sensor cursor: the restarted daemon went on from the stored cursor, so the stray
        # file was not complained about again, and alice's file was not imported again.
        assert _inbox_cursor(deployment).reported == before_cursor.reported
        daemon_log = (deployment.home / "daemon.log").read_text()
        assert daemon_log.count(f"inbox sensor: {stray} is left alone") == 1
        assert (
            len(deployment.runs(**{"dagster/partition": "alice", "mca/trigger": "inbox"})) == len(alice) == 1
        )
        # Schedule: the tick missed while the daemon was down ran once, after the restart,
        # and no tick ran twice.
        assert before_ticks < {t.tick_id for t in deployment.ticks("lastfm_sync")}
        assert caught_up[0].run_id not in before_runs
        keys = [r.tags["dagster/run_key"] for r in deployment.runs(**{"mca/trigger": "schedule"})]
        assert len(keys) == len(set(keys)) >= len(scheduled) + 1
        # Dynamic partitions: users from before plus the one the sensor added.
        partitions = set(deployment.instance.get_dynamic_partitions(users_partitions.name))
        assert partitions >= {"alice", "bob", "carol"}

        with deployment.warehouse().connect() as con:
            assert item_count(con, "carol", "lastfm") == 30
            assert item_count(con, "alice", "spotify_export") == item_count(con, "bob", "spotify_export") > 0
