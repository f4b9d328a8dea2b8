"""Production mode: nobody clicks. A file dropped into a user's inbox ends as tagged items
and a report, and a connected account is synced for the first time, all by the daemon
(inbox sensor, first-sync sensor, the downstream automation sensor) through the run
queue. Another user with data gets no new run from any of it."""

from pathlib import Path

from dagster import DagsterEventType, DagsterRunStatus

from mca_pipeline.warehouse.accounts import CONNECTED, set_connection_state
from mca_pipeline_tests.deploy.deployment import Deployment, wait_until
from mca_pipeline_tests.fakes.lastfm_server import LastfmServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
SPOTIFY = FIXTURES / "spotify_export" / "Streaming_History_Audio_2023-2024_0.json"
NETFLIX = FIXTURES / "netflix" / "ViewingActivity.csv"
TIMEOUT_S = 300


def _tagged(deployment: Deployment, user: str, platform: str) -> tuple[int, int]:
    """(items, items with universal tags) of one user's platform."""
    with deployment.warehouse().connect() as con:
        row = con.execute(
            "SELECT count(*), count(universal_tags) FROM media_items WHERE user_id = ? AND platform = ?",
            [user, platform],
        ).fetchone()
    assert row is not None
    return int(row[0]), int(row[1])


def _all_tagged(deployment: Deployment, user: str, platform: str) -> bool:
    items, tagged = _tagged(deployment, user, platform)
    return items > 0 and tagged == items


def _reports(deployment: Deployment, user: str) -> dict[Path, int]:
    folder = deployment.data / "reports" / user
    return {p: p.stat().st_mtime_ns for p in folder.glob("*.html")} if folder.is_dir() else {}


def _quiet(deployment: Deployment, user: str) -> bool:
    """Every run of the user has ended (none queued or in flight)."""
    runs = deployment.runs(**{"dagster/partition": user})
    return bool(runs) and all(r.is_finished for r in runs)


def test_a_drop_and_a_connect_flow_downstream_by_themselves_for_that_user_only(
    tmp_path: Path, postgres_url: str
) -> None:
    lastfm = LastfmServer()
    lastfm.account("carol_fm", 40)
    with (
        lastfm.serving() as lastfm_url,
        Deployment(tmp_path / "home", postgres_url, env={"MCA_TEST_LASTFM_URL": lastfm_url}) as deployment,
    ):
        # bob already has data, imported and refreshed before alice shows up.
        deployment.drop_export("bob", "netflix", NETFLIX)
        deployment.start_daemon()
        wait_until(lambda: _all_tagged(deployment, "bob", "netflix"), TIMEOUT_S, "bob's tags", deployment)
        wait_until(lambda: _reports(deployment, "bob"), TIMEOUT_S, "bob's report", deployment)
        wait_until(lambda: _quiet(deployment, "bob"), TIMEOUT_S, "bob's runs to end", deployment)
        bob_runs = {r.run_id for r in deployment.runs(**{"dagster/partition": "bob"})}
        bob_reports = _reports(deployment, "bob")

        # alice drops an export: imported, then tagged and reported with nobody clicking.
        deployment.drop_export("alice", "spotify_export", SPOTIFY)
        wait_until(
            lambda: _all_tagged(deployment, "alice", "spotify_export"), TIMEOUT_S, "alice's tags", deployment
        )
        wait_until(lambda: _reports(deployment, "alice"), TIMEOUT_S, "alice's report", deployment)

        # carol connects Last.fm (what `mca apikey set` stores): the daemon syncs it, then
        # her downstream follows too.
        deployment.connect_lastfm("carol", "carol_fm")
        with deployment.warehouse().connect() as con:
            set_connection_state(con, "carol", "lastfm", CONNECTED, "API key set with mca apikey set")
        [first_sync] = deployment.finished_runs(1, TIMEOUT_S, **{"mca/trigger": "first_sync"})
        assert first_sync.tags["dagster/partition"] == "carol"
        assert deployment.instance.all_logs(first_sync.run_id, of_type=DagsterEventType.RUN_ENQUEUED)
        wait_until(lambda: _all_tagged(deployment, "carol", "lastfm"), TIMEOUT_S, "carol's tags", deployment)
        wait_until(lambda: _reports(deployment, "carol"), TIMEOUT_S, "carol's report", deployment)

        for user in ("alice", "carol"):
            wait_until(lambda u=user: _quiet(deployment, u), TIMEOUT_S, f"{user}'s runs to end", deployment)
            runs = deployment.runs(**{"dagster/partition": user})
            assert all(r.status == DagsterRunStatus.SUCCESS for r in runs), deployment.run_errors(
                [r.run_id for r in runs]
            )
            automated = [r for r in runs if r.tags.get("mca/trigger") == "automation"]
            # One downstream run per import or sync (an hourly tick may add a sync): the
            # downstream run's own updates start nothing more.
            assert len(automated) == len(runs) - len(automated) >= 1, [r.tags for r in runs]
            steps = {
                e.step_key
                for e in deployment.instance.all_logs(
                    automated[0].run_id, of_type=DagsterEventType.STEP_SUCCESS
                )
            }
            assert steps == {
                "media_history",
                "unified_plays",
                "plugin_enrichment",
                "universal_tags",
                "insights",
            }
            # Queued like every run, so the run queue's limits and pools apply.
            assert deployment.instance.all_logs(automated[0].run_id, of_type=DagsterEventType.RUN_ENQUEUED)

        # bob: no new run, his report untouched.
        assert {r.run_id for r in deployment.runs(**{"dagster/partition": "bob"})} == bob_runs
        assert _reports(deployment, "bob") == bob_reports
        assert len(deployment.runs(**{"mca/trigger": "first_sync"})) == 1, "the first sync ran once"
