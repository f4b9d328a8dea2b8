"""A real Dagster setup for tests: definitions bound to a tmp data folder and warehouse."""

from __future__ import annotations

import gc
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import httpx
import pytest
from dagster import (
    AssetCheckKey,
    AssetKey,
    DagsterInstance,
    Definitions,
    ExecuteInProcessResult,
    RetryPolicy,
    RunRequest,
    SensorResult,
    build_schedule_context,
    build_sensor_context,
    materialize,
)
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from mca_pipeline.auth import MemoryCredentialStore
from mca_pipeline.core import (
    Credentials,
    EnrichmentFailed,
    ErrorCode,
    MediaItem,
    PluginError,
    PluginRegistry,
    SyncContext,
)
from mca_pipeline.core.models import utc_now
from mca_pipeline.defs import build_definitions
from mca_pipeline.defs.error_policy import SOURCE_RETRY_POLICY
from mca_pipeline.defs.first_sync_sensor import FIRST_SYNC_SENSOR
from mca_pipeline.defs.partitions import users_partitions
from mca_pipeline.defs.resources import ExportFoldersResource, WarehouseResource
from mca_pipeline.plugins import SpotifyExportPlugin, build_registry
from mca_pipeline.warehouse import Warehouse
from mca_pipeline.warehouse.export_folders import ExportFolders
from mca_pipeline.warehouse.lake import open_warehouse


@dataclass
class Pipeline:
    data_dir: Path
    instance: DagsterInstance
    registry: PluginRegistry = field(default_factory=build_registry)
    credentials: MemoryCredentialStore = field(default_factory=MemoryCredentialStore)
    oauth_http: httpx.Client | None = None
    retry_policy: RetryPolicy = SOURCE_RETRY_POLICY
    clock: Callable[[], datetime] = utc_now
    #: Another warehouse than data/warehouse.duckdb (a lake's catalog, say).
    warehouse_location: str = ""

    @property
    def defs(self) -> Definitions:
        return build_definitions(
            self.registry,
            WarehouseResource(path=self.warehouse_location or str(self.warehouse.path)),
            ExportFoldersResource(data_dir=str(self.data_dir)),
            credentials=self.credentials,
            oauth_http=self.oauth_http,
            retry_policy=self.retry_policy,
            clock=self.clock,
        )

    @property
    def warehouse(self) -> Warehouse:
        if self.warehouse_location:
            return open_warehouse(self.warehouse_location)
        return Warehouse(self.data_dir / "warehouse.duckdb")

    @property
    def folders(self) -> ExportFolders:
        return ExportFolders(self.data_dir)

    def drop(self, user: str, plugin: str, *files: Path) -> list[Path]:
        """Copy export files into the user's inbox, as a person would."""
        inbox = self.folders.inbox(user, plugin)
        inbox.mkdir(parents=True, exist_ok=True)
        return [Path(shutil.copy(f, inbox / f.name)) for f in files]

    def materialize(
        self,
        user: str,
        *asset_names: str,
        run_config: dict | None = None,  # type: ignore[type-arg]
        defs: Definitions | None = None,
    ) -> ExecuteInProcessResult:
        if not self.instance.has_dynamic_partition(users_partitions.name, user):
            self.instance.add_dynamic_partitions(users_partitions.name, [user])
        defs = defs or self.defs
        return materialize(
            list(defs.assets or []),  # type: ignore[arg-type]
            selection=list(asset_names),
            resources=defs.resources,
            instance=self.instance,
            partition_key=user,
            run_config=run_config,
            raise_on_error=False,
        )

    def materialize_users(self, users: list[str], *asset_names: str) -> ExecuteInProcessResult:
        """One run of `asset_names` over a range of users (added in this order), as a
        backfill of the downstream assets runs it."""
        for user in users:
            if not self.instance.has_dynamic_partition(users_partitions.name, user):
                self.instance.add_dynamic_partitions(users_partitions.name, [user])
        defs = self.defs
        return materialize(
            list(defs.assets or []),  # type: ignore[arg-type]
            selection=list(asset_names),
            resources=defs.resources,
            instance=self.instance,
            tags={ASSET_PARTITION_RANGE_START_TAG: users[0], ASSET_PARTITION_RANGE_END_TAG: users[-1]},
            raise_on_error=False,
        )

    def scheduled_batches(self, plugin: str, at: datetime) -> list[tuple[str | None, list[str]]]:
        """(run key, users) of each batch run the plugin's schedule asks for at `at`."""
        defs = self.defs
        schedule = defs.resolve_schedule_def(f"{plugin}_sync")
        with build_schedule_context(
            instance=self.instance,
            scheduled_execution_time=at,
            resources={"credentials": self.credentials, "warehouse": defs.resources["warehouse"]},
            repository_def=defs.get_repository_def(),
        ) as context:
            requests = schedule.evaluate_tick(context).run_requests or []
        # The tick's resource generators end now, while this test's instance is current;
        # left to a later collection they reset Dagster's current-instance state under
        # another test.
        gc.collect()
        return [(r.run_key, r.run_config["ops"][f"{plugin}_sync_users"]["config"]["users"]) for r in requests]

    def count(self, sql: str) -> list[tuple]:  # type: ignore[type-arg]
        with self.warehouse.connect() as con:
            return con.execute(sql).fetchall()


def metadata(result: ExecuteInProcessResult, asset: str) -> dict[str, object]:
    """The materialization metadata of one asset in a run, as plain values."""
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        if mat.asset_key.to_user_string() == asset:
            return {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
    raise AssertionError(f"{asset} was not materialized")


def check_statuses(instance: DagsterInstance, asset: str, *checks: str) -> dict[str, str]:
    """The latest execution status of each check of an asset, as the UI's checks tab reads
    it: PLANNED in a finished run is shown as failed ("execution failed")."""
    keys = [AssetCheckKey(AssetKey(asset), name) for name in checks]
    latest = instance.event_log_storage.get_latest_asset_check_execution_by_key(keys)
    return {key.name: latest[key].status.value if key in latest else "never" for key in keys}


def log_messages(instance: DagsterInstance, result: ExecuteInProcessResult) -> list[str]:
    """What a person reads in the run's log in the UI."""
    return [entry.user_message for entry in instance.all_logs(result.run_id)]


class FirstSyncDaemon:
    """Ticks first_sync_sensor, carrying its cursor and applying partition requests."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.sensor = pipeline.defs.resolve_sensor_def(FIRST_SYNC_SENSOR)
        self.cursor: str | None = None

    def tick(self) -> list[RunRequest]:
        context = build_sensor_context(
            instance=self.pipeline.instance,
            cursor=self.cursor,
            resources={"warehouse": WarehouseResource(path=str(self.pipeline.warehouse.path))},
        )
        result = self.sensor(context)
        assert isinstance(result, SensorResult)
        self.cursor = result.cursor
        for request in result.dynamic_partitions_requests or []:
            self.pipeline.instance.add_dynamic_partitions(
                request.partitions_def_name, list(request.partition_keys)
            )
        return list(result.run_requests or [])


#: The assets the downstream automation refreshes, in their order.
DOWNSTREAM = ["media_history", "unified_plays", "plugin_enrichment", "universal_tags", "insights"]
#: What enrichment reads from the environment: without them it skips its lookups and tags
#: come from the offline tagger, as in a fresh install.
ENRICHMENT_SETTINGS = (
    "LASTFM_API_KEY",
    "TMDB_API_KEY",
    "TMDB_READ_TOKEN",
    "MCA_LLM_BASE_URL",
    "MCA_LLM_MODEL",
)


def enrich_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """No enrichment keys and no LLM: enrichment skips its lookups, tags come offline."""
    for name in ENRICHMENT_SETTINGS:
        monkeypatch.delenv(name, raising=False)


#: The message of FailingSpotifyEnrich's error.
ENRICH_FAILURE = "the tag service sent nonsense"


class FailingSpotifyEnrich(SpotifyExportPlugin):
    """A Spotify export whose enrichment fails as a whole, with no retry."""

    def enrich(self, ctx: SyncContext, creds: Credentials, items: list[MediaItem]) -> list[MediaItem]:
        raise EnrichmentFailed(PluginError(code=ErrorCode.INVALID_DATA, message=ENRICH_FAILURE))


def fail_spotify_enrichment(pipeline: Pipeline) -> None:
    """From now on, the pipeline's Spotify export plugin fails its Enrich."""
    registry = PluginRegistry()
    for plugin in pipeline.registry:
        registry.register(FailingSpotifyEnrich() if plugin.name == "spotify_export" else plugin)
    pipeline.registry = registry
