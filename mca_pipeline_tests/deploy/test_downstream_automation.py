"""Production mode: nobody clicks. A file dropped into a user's inbox ends as tagged items
and a report, and a connected account is synced for the first time, all by the daemon
(inbox sensor, first-sync sensor, the downstream automation sensor) through the run
queue. Another user with data gets no new run from any of it."""

from pathlib import Path

import httpx
from dagster import DagsterEventType, DagsterRunStatus
from starlette.testclient import TestClient

from mca_pipeline.auth import VaultCredentialStore
from mca_pipeline.auth.sign_in import issue_token
from mca_pipeline.auth.web_app import create_app
from mca_pipeline.core import PluginRegistry
from mca_pipeline.plugins import LastfmPlugin
from mca_pipeline.warehouse.export_folders import ExportFolders
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


def _connect_in_web_app(deployment: Deployment, lastfm_url: str, user: str, account: str) -> None:
    """Sign in to the connect app with the user's token and submit the Last.fm key form."""
    warehouse = deployment.warehouse()
    token = issue_token(warehouse, user)
    registry = PluginRegistry()
    registry.register(LastfmPlugin(base_url=lastfm_url))
    app = create_app(
        registry,
        warehouse,
        VaultCredentialStore(warehouse),
        ExportFolders(deployment.data),
        http=httpx.Client(timeout=10),
    )
    with TestClient(app, follow_redirects=False) as client:
        login = client.get("/login").text
        csrf = login.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        assert client.post("/login", data={"token": token, "csrf_token": csrf}).status_code == 303
        home = client.get("/").text
        csrf = home.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        response = client.post(
            "/connect/lastfm/apikey",
            data={"api_key": "lastfm-key-123", "account": account, "csrf_token": csrf},
        )
        assert response.status_code == 303, response.text


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
        Deployment(tmp_path / "home", postgres_url, env={"MCA_LASTFM_API_URL": lastfm_url}) as deployment,
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

        # carol connects Last.fm in the web app (which only stores the key): the daemon
        # runs her first sync, then her downstream follows too.
        _connect_in_web_app(deployment, lastfm_url, "carol", "carol_fm")
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
