"""Production mode for real: a PostgreSQL database of its own, `dagster-daemon` and
`dagster-webserver` as separate processes, runs launched by Dagster's run launcher.

Used by the production-mode tests and by benchmarks/concurrency.py. Each deployment
lives in one folder (DAGSTER_HOME, working directory and data/ at once) with a copy of
the repo's dagster.yaml, so what is tested is the file users run.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import httpx
import psutil
import yaml
from dagster import DagsterEventType, DagsterInstance, DagsterRunStatus, RunsFilter
from pydantic import SecretStr

from mca_pipeline.auth import VaultCredentialStore
from mca_pipeline.core import Credentials
from mca_pipeline.defs.partitions import users_partitions
from mca_pipeline.warehouse import Warehouse
from mca_pipeline.warehouse.accounts import CONNECTED, set_connection_state
from mca_pipeline.warehouse.lake import open_warehouse

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent

T = TypeVar("T")


class Deployment:
    """One production-mode installation in `home`, with its processes and its data."""

    def __init__(
        self,
        home: Path,
        postgres_url: str,
        env: dict[str, str] | None = None,
        config: dict[str, Any] | None = None,
        data: Path | None = None,
    ) -> None:
        self.home = home
        #: MCA_DATA_DIR: in `home` unless given (a folder several hosts share).
        self.data = data or home / "data"
        self.env = {
            "DAGSTER_HOME": str(home),
            "MCA_DAGSTER_PG_URL": postgres_url,
            "MCA_DATA_DIR": str(self.data),
            "MCA_WAREHOUSE": str(self.data / "warehouse.duckdb"),
            "PYTHONPATH": str(ROOT),
            **(env or {}),
        }
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.webserver_port: int | None = None
        home.mkdir(parents=True, exist_ok=True)
        instance_config = yaml.safe_load((ROOT / "dagster.yaml").read_text())
        _merge(instance_config, config or {})
        (home / "dagster.yaml").write_text(yaml.safe_dump(instance_config))
        workspace = {
            "load_from": [
                {
                    "python_module": {
                        "module_name": "mca_pipeline_tests.deploy.code_location",
                        "attribute": "defs",
                        "working_directory": str(ROOT),
                        "location_name": "mca_pipeline",
                    }
                }
            ]
        }
        (home / "workspace.yaml").write_text(yaml.safe_dump(workspace))
        self._saved_env: dict[str, str | None] = {}
        self._instance: DagsterInstance | None = None

    # --- lifetime ------------------------------------------------------------------

    def __enter__(self) -> Deployment:
        """This process sees the deployment's environment too (instance, warehouse, vault)."""
        self._saved_env = {key: os.environ.get(key) for key in self.env}
        os.environ.update(self.env)
        return self

    def __exit__(self, *exc: object) -> None:
        for name in list(self.processes):
            self.stop(name, signal.SIGKILL)
        if self._instance is not None:
            self._instance.dispose()
        for key, value in self._saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    @property
    def instance(self) -> DagsterInstance:
        if self._instance is None:
            self._instance = DagsterInstance.from_config(str(self.home))
        return self._instance

    def warehouse(self) -> Warehouse:
        """The deployment's warehouse: the file, or the lake its environment names."""
        return open_warehouse(self.env["MCA_WAREHOUSE"], self.env.get("MCA_WAREHOUSE_DATA_PATH", ""))

    # --- processes -----------------------------------------------------------------

    def start(self, name: str, *command: str) -> subprocess.Popen[bytes]:
        """Start a Dagster process, in its own process group so that stopping it stops
        the code server it spawns too. Output goes to `<home>/<name>.log`."""
        log = (self.home / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [str(BIN / command[0]), *command[1:]],
            cwd=self.home,
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.processes[name] = process
        return process

    def start_daemon(self) -> subprocess.Popen[bytes]:
        return self.start("daemon", "dagster-daemon", "run", "-w", "workspace.yaml")

    def start_celery_worker(self, name: str, broker: str, queue: str) -> None:
        """A Celery worker that runs what the Celery run launcher hands to `queue`, two
        runs at a time, as the README starts one on each host; waits until it listens."""
        self.start(
            name,
            "celery",
            "-A",
            "dagster_celery.app",
            "-b",
            broker,
            "worker",
            "-Q",
            queue,
            "--prefetch-multiplier=1",
            "--concurrency=2",
            "-n",  # a node name no other worker on the broker has
            f"{self.home.name}-{name}-{uuid.uuid4().hex[:6]}@%h",
            "--loglevel=INFO",
        )
        log = self.home / f"{name}.log"
        wait_until(lambda: " ready." in log.read_text(errors="replace"), 180, f"{name} to listen", self)

    def process_tree(self, name: str) -> set[int]:
        """The pids of a started process and of everything it started."""
        root = psutil.Process(self.processes[name].pid)
        return {root.pid} | {child.pid for child in root.children(recursive=True)}

    def start_webserver(self, port: int) -> None:
        self.start(
            "webserver", "dagster-webserver", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)
        )
        self.webserver_port = port
        wait_until(
            lambda: _answers(f"http://127.0.0.1:{port}/server_info"), 120, "the webserver to answer", self
        )

    def stop(self, name: str, sig: int = signal.SIGTERM, timeout_s: float = 60) -> None:
        process = self.processes.pop(name)
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(10)

    def logs(self) -> str:
        """The last lines of every process log, for a failure message."""
        tails = []
        for log in sorted(self.home.glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()[-40:]
            tails.append(f"--- {log.name}\n" + "\n".join(lines))
        return "\n".join(tails)

    # --- what a user does ----------------------------------------------------------

    def add_user(self, user: str) -> None:
        if not self.instance.has_dynamic_partition(users_partitions.name, user):
            self.instance.add_dynamic_partitions(users_partitions.name, [user])

    def connect_lastfm(
        self,
        user: str,
        account: str,
        api_key: str = "lastfm-key-123",
        *,
        first_sync: bool = False,
        new_user: bool = False,
    ) -> None:
        """What `mca apikey set` stores: the key sealed in the vault, the account beside it.
        With `first_sync`, also the connection state `mca apikey set` writes, on which
        first_sync_sensor starts a sync at once (without it the schedule does). With
        `new_user`, someone the deployment does not know yet: no user partition until
        first_sync_sensor adds it with the run, so no schedule tick syncs them before."""
        if not new_user:
            self.add_user(user)
        store = VaultCredentialStore(self.warehouse())
        store.save(user, "lastfm", Credentials(api_key=SecretStr(api_key), account=account))
        if first_sync:
            with self.warehouse().connect() as con:
                set_connection_state(con, user, "lastfm", CONNECTED, "API key set with mca apikey set")

    def drop_export(self, user: str, plugin: str, source: Path) -> Path:
        """Copy an export file into the watched inbox, as a person would."""
        folder = self.data / "inbox" / user / plugin
        folder.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy(source, folder / source.name))

    def launch_backfill(self, asset: str, partitions: list[str]) -> str:
        """A backfill of `asset` over `partitions`, asked of the webserver as the UI does."""
        mutation = """
        mutation($params: LaunchBackfillParams!) {
          launchPartitionBackfill(backfillParams: $params) {
            __typename
            ... on LaunchBackfillSuccess { backfillId }
            ... on PythonError { message }
          }
        }"""
        params = {"assetSelection": [{"path": [asset]}], "partitionNames": partitions}
        response = httpx.post(
            f"http://127.0.0.1:{self.webserver_port}/graphql",
            json={"query": mutation, "variables": {"params": params}},
            timeout=60,
        )
        response.raise_for_status()
        result = response.json()["data"]["launchPartitionBackfill"]
        assert result["__typename"] == "LaunchBackfillSuccess", result
        return result["backfillId"]

    # --- what the instance says ----------------------------------------------------

    def runs(self, **tags: str) -> list[Any]:
        return list(self.instance.get_runs(filters=RunsFilter(tags=tags) if tags else None))

    def finished_runs(self, count: int, timeout_s: float, **tags: str) -> list[Any]:
        """Wait for `count` runs with these tags to end; all of them must have succeeded."""
        done = {DagsterRunStatus.SUCCESS, DagsterRunStatus.FAILURE, DagsterRunStatus.CANCELED}

        def ended() -> list[Any] | None:
            runs = [r for r in self.runs(**tags) if r.status in done]
            return runs if len(runs) >= count else None

        runs = wait_until(ended, timeout_s, f"{count} finished runs tagged {tags}", self)
        failed = [r.run_id for r in runs if r.status != DagsterRunStatus.SUCCESS]
        assert not failed, f"runs failed: {failed}\n{self.run_errors(failed)}"
        return runs

    def run_errors(self, run_ids: list[str]) -> str:
        """Each run's failure events; for a run without any, its status, tags and last events."""
        lines = []
        for run_id in run_ids:
            entries = self.instance.all_logs(run_id)
            failures = [e for e in entries if e.dagster_event and e.dagster_event.is_failure]
            for entry in failures:
                lines.append(f"{run_id}: {entry.dagster_event.message}")  # type: ignore[union-attr]
            if not failures:
                run = self.instance.get_run_by_id(run_id)
                lines.append(f"{run_id}: {run.status if run else None} {dict(run.tags) if run else {}}")
                lines.extend(f"  {e.dagster_event_type}: {e.message[:300]}" for e in entries[-12:])
        return "\n".join(lines)

    def step_windows(self, run_ids: list[str], step: str) -> list[tuple[float, float]]:
        """(start, end) times of one step in each run, from the event log."""
        windows = []
        kinds = {DagsterEventType.STEP_START, DagsterEventType.STEP_SUCCESS, DagsterEventType.STEP_FAILURE}
        for run_id in run_ids:
            starts = ends = None
            for entry in self.instance.all_logs(run_id, of_type=kinds):
                if entry.step_key != step:
                    continue
                if entry.dagster_event_type == DagsterEventType.STEP_START:
                    starts = starts or entry.timestamp
                else:
                    ends = entry.timestamp
            if starts is not None and ends is not None:
                windows.append((starts, ends))
        return windows

    def instigator(self, name: str) -> Any:
        """The stored state of a schedule or sensor, by name."""
        states = [s for s in self.instance.all_instigator_state() if s.instigator_name == name]
        assert len(states) == 1, f"{name}: {len(states)} stored states"
        return states[0]

    def ticks(self, name: str) -> list[Any]:
        state = self.instigator(name)
        return list(self.instance.get_ticks(state.instigator_origin_id, state.selector_id))


def max_overlap(windows: list[tuple[float, float]]) -> int:
    """The most windows open at one moment."""
    edges = sorted([(start, 1) for start, _ in windows] + [(end, -1) for _, end in windows])
    open_now = peak = 0
    for _, change in edges:
        open_now += change
        peak = max(peak, open_now)
    return peak


def wait_until(check: Callable[[], T | None], timeout_s: float, what: str, deployment: Deployment) -> T:
    """Poll until `check` returns something truthy; fail with the process logs if it never does."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        for name, process in deployment.processes.items():
            if process.poll() is not None:
                raise AssertionError(
                    f"{name} exited ({process.returncode}) waiting for {what}\n{deployment.logs()}"
                )
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:.0f}s waiting for {what}\n{deployment.logs()}")
        time.sleep(0.5)


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _merge(base: dict[str, Any], override: dict[str, Any]) -> None:
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
