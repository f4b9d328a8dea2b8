"""Two hosts, one warehouse: runs handed to Celery workers on either host write one
DuckLake at once.

Each "host" is a folder of its own (its DAGSTER_HOME, dagster.yaml, working directory,
compute logs) with its own processes; they share only what a real deployment shares:
PostgreSQL (Dagster's storage and the lake's catalog), the data folder (the inbox, the
vault key, reports) with the lake's data path inside it, and the RabbitMQ broker the
Celery run launcher (README, "Several hosts") hands runs through. Host A runs the daemon
(sensors, schedules, the run queue) and a worker; host B a worker only.

Nobody clicks: exports dropped for alice and carol, and Last.fm connected by alice and
bob, become import, first-sync and downstream runs that the workers take as they come;
alice's export is dropped while her sync is under way, which the fake Last.fm holds at
its second page until her import has begun. Then: every run succeeded, each host ran
some, no play is lost or stored twice, and every sync_log row accounts for what it stored.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from pathlib import Path

import pytest
from dagster import DagsterEventType, DagsterRunStatus

from mca_pipeline.defs.automation import AUTOMATION_SENSOR
from mca_pipeline_tests.conftest import lake_catalog
from mca_pipeline_tests.deploy.deployment import Deployment, wait_until
from mca_pipeline_tests.fakes.lastfm_server import LastfmServer

pytestmark = pytest.mark.lake

SAMPLES = Path(__file__).resolve().parents[2] / "mca_pipeline" / "samples" / "spotify_export"
EXPORTS = sorted(SAMPLES.glob("Streaming_History_Audio_*.json"))
BROKER = os.environ.get("MCA_TEST_CELERY_BROKER", "pyamqp://guest:guest@127.0.0.1:5672//")
LASTFM_PLAYS = {"alice": 4_000, "bob": 600}  # pages of 200
#: How long the fake holds one of alice's pages: well under the client's 20 s timeout.
HOLD_S = 10
TIMEOUT_S = 420

#: The README's dagster.yaml block for several hosts.
CELERY_LAUNCHER = {
    "run_launcher": {
        "module": "dagster_celery.launcher",
        "class": "CeleryRunLauncher",
        "config": {"broker": {"env": "MCA_CELERY_BROKER"}, "default_queue": {"env": "MCA_CELERY_QUEUE"}},
    }
}


@pytest.fixture
def broker() -> str:
    """The Celery broker: RabbitMQ on 127.0.0.1 (MCA_TEST_CELERY_BROKER to change)."""
    from kombu import Connection

    try:
        with Connection(BROKER, connect_timeout=5) as connection:
            connection.ensure_connection(max_retries=1)
    except Exception as exc:  # kombu raises the transport's own errors
        pytest.skip(f"the two-host test needs a Celery broker (set MCA_TEST_CELERY_BROKER): {exc}")
    return BROKER


def test_two_hosts_import_and_sync_the_same_and_other_users_at_once(
    tmp_path: Path, postgres_url: str, lake_template: str, broker: str
) -> None:
    queue = f"mca-test-{uuid.uuid4().hex[:8]}"  # nothing left on the broker by another run reaches it
    shared = tmp_path / "shared"
    lake_data = f"{shared / 'lake'}/"
    lastfm = LastfmServer()
    for user, plays in LASTFM_PLAYS.items():
        lastfm.account(f"{user}_fm", plays)
    # alice's sync is slowed from its second page on, each page held up to HOLD_S, until
    # her import, dropped meanwhile, has started: the same user written by two runs at once.
    held = [lastfm.hold("alice_fm", page) for page in range(2, LASTFM_PLAYS["alice"] // 200 + 1)]
    with lake_catalog(lake_template, lake_data) as catalog, lastfm.serving() as lastfm_url:
        env = {
            "MCA_WAREHOUSE": catalog,
            "MCA_WAREHOUSE_DATA_PATH": lake_data,
            "MCA_LASTFM_API_URL": lastfm_url,
            "MCA_CELERY_BROKER": broker,
            "MCA_CELERY_QUEUE": queue,
        }
        hosts = [
            Deployment(tmp_path / name, postgres_url, env=env, config=CELERY_LAUNCHER, data=shared)
            for name in ("host-a", "host-b")
        ]
        with hosts[0] as a, hosts[1] as b:
            a.start_celery_worker("worker", broker, queue)
            b.start_celery_worker("worker", broker, queue)
            for export in EXPORTS:
                a.drop_export("carol", "spotify_export", export)
            for user in LASTFM_PLAYS:
                a.connect_lastfm(user, f"{user}_fm", first_sync=True)
            a.start_daemon()
            _hold_until_import_starts(a, held)

            users = ["alice", "bob", "carol"]
            wait_until(lambda: all(_reports(a, u) for u in users), TIMEOUT_S, "every user's report", a)
            wait_until(lambda: _quiet(a), TIMEOUT_S, "every run to end and nothing more to run", a)

            runs = a.runs()
            failed = [r.run_id for r in runs if r.status != DagsterRunStatus.SUCCESS]
            assert not failed, f"runs failed: {failed}\n{a.run_errors(failed)}"
            ran_on = {r.run_id: _host_of(r.run_id, a, b) for r in runs}
            assert set(ran_on.values()) == {"host-a", "host-b"}, ran_on
            triggers = {r.tags.get("mca/trigger") for r in runs}
            assert {"first_sync", "automation"} <= triggers, triggers
            [(import_from, _)] = a.step_windows(_step_runs(a, "alice", "spotify_export"), "spotify_export")
            [(sync_from, sync_to)] = a.step_windows(_step_runs(a, "alice", "lastfm"), "lastfm")
            assert sync_from < import_from < sync_to, _steps(a, "alice")

            with a.warehouse().connect() as con:
                stored = {
                    (user, platform): [count, distinct]
                    for user, platform, count, distinct in con.execute(
                        """
                        SELECT user_id, platform, count(*), count(DISTINCT external_id)
                        FROM media_items GROUP BY ALL
                        """
                    ).fetchall()
                }
                logged = {
                    (user, platform): [new, rows, ids]
                    for user, platform, new, rows, ids in con.execute(
                        """
                        SELECT user_id, platform, sum(new_count), count(*), count(DISTINCT id)
                        FROM sync_log GROUP BY ALL
                        """
                    ).fetchall()
                }
                unaccounted = con.execute(
                    """
                    SELECT count(*) FROM media_items m
                    LEFT JOIN sync_log l
                      ON l.id = m.sync_log_id AND l.user_id = m.user_id AND l.platform = m.platform
                    WHERE l.id IS NULL
                    """
                ).fetchall()
                unified = dict(
                    con.execute("SELECT user_id, count(*) FROM unified_plays GROUP BY ALL").fetchall()
                )

    spotify = stored[("alice", "spotify_export")][0]
    assert spotify > 1_000
    assert stored == {
        ("alice", "spotify_export"): [spotify, spotify],
        ("carol", "spotify_export"): [spotify, spotify],
        ("alice", "lastfm"): [4_000, 4_000],
        ("bob", "lastfm"): [600, 600],
    }
    # Each sync_log row stored what it says, and no row id is used twice.
    for key, (new, rows, ids) in logged.items():
        assert new == stored.get(key, [0])[0] and rows == ids, (key, logged[key])
    assert unaccounted == [(0,)]
    assert sorted(unified) == ["alice", "bob", "carol"] and min(unified.values()) > 0


def _host_of(run_id: str, *hosts: Deployment) -> str:
    """Which host's worker ran the run: the pid its events carry, among each worker's."""
    pids = {
        e.dagster_event.pid
        for e in hosts[0].instance.all_logs(run_id)
        if e.dagster_event and e.dagster_event.pid
    }
    where = {host.home.name for host in hosts if pids & host.process_tree("worker")}
    assert len(where) == 1, f"run {run_id}: pids {pids} on {where or 'no worker'}"
    return where.pop()


def _hold_until_import_starts(
    deployment: Deployment, held: list[tuple[threading.Event, threading.Event]]
) -> None:
    """Drop alice's exports once her sync has asked for its second page, then let her
    pages through one at a time, each after HOLD_S at most, until her import has started;
    the rest at once."""
    for number, (arrived, release) in enumerate(held):
        assert arrived.wait(TIMEOUT_S), f"alice's sync never asked for page {number + 2}"
        if number == 0:
            for export in EXPORTS:
                deployment.drop_export("alice", "spotify_export", export)
        deadline = time.monotonic() + HOLD_S
        while not (started := bool(_step_runs(deployment, "alice", "spotify_export"))):
            if time.monotonic() > deadline:
                break
            time.sleep(0.5)
        release.set()
        if started:
            for _, rest in held[number + 1 :]:
                rest.set()
            return
    raise AssertionError(
        f"alice's import had not started when her sync's last page went\n{deployment.logs()}"
    )


def _step_runs(deployment: Deployment, user: str, step: str) -> list[str]:
    """The runs of `user` in which the step has started."""
    return [
        r.run_id
        for r in deployment.runs(**{"dagster/partition": user})
        if any(
            e.step_key == step
            for e in deployment.instance.all_logs(r.run_id, of_type=DagsterEventType.STEP_START)
        )
    ]


def _steps(deployment: Deployment, user: str) -> str:
    """The user's runs and their steps' start and end events, for a failure message."""
    lines = []
    for run in deployment.runs(**{"dagster/partition": user}):
        lines.append(f"{run.run_id} {run.tags.get('mca/trigger')} {run.status}")
        lines.extend(
            f"  {e.timestamp:.2f} {e.step_key} {e.dagster_event_type}"
            for e in deployment.instance.all_logs(run.run_id)
            if e.dagster_event_type
            in (DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE)
        )
    return "\n".join(lines)


def _reports(deployment: Deployment, user: str) -> bool:
    folder = deployment.data / "reports" / user
    return folder.is_dir() and any(folder.glob("*.html"))


def _quiet(deployment: Deployment) -> bool:
    """Every run has ended, and the downstream automation has looked since the last one
    ended and asked for nothing: no run is left to come."""
    records = deployment.instance.get_run_records()
    if not records or not all(r.dagster_run.is_finished for r in records):
        return False
    ended = max(r.end_time or 0 for r in records)
    return any(
        t.timestamp > ended and not t.run_ids and t.status.value in ("SKIPPED", "SUCCESS")
        for t in deployment.ticks(AUTOMATION_SENSOR)
    )
