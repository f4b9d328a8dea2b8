"""The watched folder, evaluated tick by tick as the Dagster daemon would."""

from __future__ import annotations

import os

import pytest
from dagster import AssetKey, SensorResult, build_sensor_context

from mca_pipeline.core import AuthType
from mca_pipeline.defs.resources import ExportFoldersResource, WarehouseResource
from mca_pipeline.plugins import build_registry
from mca_pipeline.warehouse.accounts import notifications
from mca_pipeline_tests.conftest import FIXTURES
from mca_pipeline_tests.defs.dagster_env import Pipeline, metadata

EXPORT = FIXTURES / "spotify_export" / "Streaming_History_Audio_2023-2024_0.json"


class Daemon:
    """Ticks the inbox sensor, carrying its cursor and applying partition requests."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline
        self.sensor = pipeline.defs.resolve_sensor_def("inbox_sensor")
        self.cursor: str | None = None

    def tick(self) -> SensorResult:
        context = build_sensor_context(
            instance=self.pipeline.instance,
            cursor=self.cursor,
            resources={
                "export_folders": ExportFoldersResource(data_dir=str(self.pipeline.data_dir)),
                "warehouse": WarehouseResource(path=str(self.pipeline.warehouse.path)),
            },
        )
        result = self.sensor(context)
        assert isinstance(result, SensorResult)
        self.cursor = result.cursor
        for request in result.dynamic_partitions_requests or []:
            self.pipeline.instance.add_dynamic_partitions(
                request.partitions_def_name, list(request.partition_keys)
            )
        return result


def test_a_settled_file_is_requested_once_then_archived(pipeline: Pipeline) -> None:
    daemon = Daemon(pipeline)
    [dropped] = pipeline.drop("alice", "spotify_export", EXPORT)

    first = daemon.tick()
    assert first.run_requests == [], "a file seen for the first time may still be being written"

    second = daemon.tick()
    [request] = second.run_requests
    assert request.partition_key == "alice"
    assert request.asset_selection == [AssetKey("spotify_export")], "downstream follows by automation"
    assert request.run_config == {"ops": {"spotify_export": {"config": {"files": [str(dropped)]}}}}
    assert request.run_key
    assert pipeline.instance.has_dynamic_partition("users", "alice"), "a new user gets a partition"

    assert daemon.tick().run_requests == [], "the same file is never requested twice"

    run = pipeline.materialize(
        "alice", *[k.to_user_string() for k in request.asset_selection], run_config=request.run_config
    )
    assert run.success
    assert not dropped.exists()
    assert (pipeline.folders.archive_dir("alice", "spotify_export") / EXPORT.name).exists()
    assert pipeline.count("SELECT count(*) > 0 FROM media_items WHERE user_id = 'alice'") == [(True,)]
    assert daemon.tick().run_requests == []


def test_a_file_still_growing_is_not_requested(pipeline: Pipeline) -> None:
    daemon = Daemon(pipeline)
    [dropped] = pipeline.drop("alice", "spotify_export", EXPORT)
    daemon.tick()
    with dropped.open("ab") as f:
        f.write(b"\n")
    assert daemon.tick().run_requests == []
    assert len(daemon.tick().run_requests) == 1


def test_files_dropped_together_go_in_one_run_per_user_and_plugin(pipeline: Pipeline) -> None:
    daemon = Daemon(pipeline)
    pipeline.drop("alice", "spotify_export", EXPORT, FIXTURES / "spotify_export" / "endsong_0.json")
    pipeline.drop("bob", "netflix", FIXTURES / "netflix" / "ViewingActivity.csv")
    daemon.tick()
    requests = daemon.tick().run_requests
    assert sorted(
        (r.partition_key, len(r.run_config["ops"][r.tags["mca/plugin"]]["config"]["files"])) for r in requests
    ) == [
        ("alice", 2),
        ("bob", 1),
    ]
    assert len({r.run_key for r in requests}) == 2


def test_the_same_file_dropped_again_later_is_a_new_request(pipeline: Pipeline) -> None:
    daemon = Daemon(pipeline)
    [dropped] = pipeline.drop("alice", "spotify_export", EXPORT)
    daemon.tick()
    [first] = daemon.tick().run_requests
    dropped.unlink()  # imported and archived
    daemon.tick()
    [again] = pipeline.drop("alice", "spotify_export", EXPORT)
    os.utime(again, ns=(again.stat().st_atime_ns, again.stat().st_mtime_ns + 5_000_000_000))
    daemon.tick()
    [second] = daemon.tick().run_requests
    assert second.run_key != first.run_key


def test_bad_user_ids_and_downloads_in_progress_are_left_alone(pipeline: Pipeline) -> None:
    """Issue 13 changed this test: a loose file or a non-plugin folder in inbox/<user>/ is
    no longer left alone but unpacked and routed (see test_arrivals.py)."""
    daemon = Daemon(pipeline)
    inbox = pipeline.folders.inbox_root
    (inbox / "Alice../netflix").mkdir(parents=True)
    (inbox / "Alice../netflix" / "x.csv").write_text("[]")
    (inbox / "Alice../loose.zip").write_text("[]")
    (inbox / "alice" / "netflix").mkdir(parents=True)
    (inbox / "alice" / "netflix" / "NetflixViewingHistory.csv.crdownload").write_text("Title,Da")
    (inbox / "alice" / "takeout.zip.crdownload").write_text("PK")
    for _ in range(3):
        assert daemon.tick().run_requests == []
    assert (inbox / "Alice../netflix/x.csv").exists()
    assert not pipeline.instance.has_dynamic_partition("users", "Alice..")


def test_misplaced_files_are_notified_once_to_whom_they_concern(pipeline: Pipeline) -> None:
    daemon = Daemon(pipeline)
    pipeline.instance.add_dynamic_partitions("users", ["alice", "bob"])
    inbox = pipeline.folders.inbox_root
    (inbox / "Alice" / "spotify_export").mkdir(parents=True)
    (inbox / "Alice" / "spotify_export" / EXPORT.name).write_bytes(EXPORT.read_bytes())
    inbox.joinpath("my_spotify_data.zip").write_bytes(b"PK")
    (inbox / "bob").mkdir()
    for _ in range(3):
        assert daemon.tick().run_requests == []

    def told(user: str) -> list[str]:
        with pipeline.warehouse.connect() as con:
            return [n.message for n in notifications(con, user) if n.kind == "misplaced_file"]

    alice, bob = told("alice"), told("bob")
    assert len(alice) == 2 and len(bob) == 1, "each entry once; Alice/ concerns alice only"
    assert any(f"{inbox / 'Alice'} is left alone" in m and "rename it to 'alice'" in m for m in alice)
    assert bob == [
        f"{inbox / 'my_spotify_data.zip'} is left alone: files go in a user's folder: "
        "data/inbox/<user>/, e.g. data/inbox/alice/"
    ]

    # moved where it belongs, it is imported; dropped wrongly again, it is said again
    (inbox / "my_spotify_data.zip").unlink()
    daemon.tick()
    inbox.joinpath("my_spotify_data.zip").write_bytes(b"PK")
    daemon.tick()
    assert len(told("bob")) == 2


#: One real-shaped export per file-import plugin: what a person drops into the inbox.
EXPORTS = {
    "netflix": FIXTURES / "netflix" / "ViewingActivity.csv",
    "spotify_export": FIXTURES / "spotify_export" / "Streaming_History_Audio_2023-2024_0.json",
    "tiktok": FIXTURES / "tiktok" / "user_data_tiktok.json",
    "instapaper": FIXTURES / "instapaper" / "instapaper-export.csv",
    "youtube_takeout": FIXTURES / "youtube_takeout" / "watch-history.html",
}


def test_every_file_import_plugin_has_an_end_to_end_export() -> None:
    file_plugins = {p.name for p in build_registry() if p.auth_type == AuthType.FILE_IMPORT}
    assert file_plugins == set(EXPORTS)


@pytest.mark.parametrize("plugin", sorted(EXPORTS))
def test_a_dropped_export_is_imported_end_to_end(pipeline: Pipeline, plugin: str) -> None:
    daemon = Daemon(pipeline)
    [dropped] = pipeline.drop("alice", plugin, EXPORTS[plugin])
    daemon.tick()
    [request] = daemon.tick().run_requests
    assert request.tags["mca/plugin"] == plugin
    run = pipeline.materialize(
        "alice", *[k.to_user_string() for k in request.asset_selection], run_config=request.run_config
    )
    assert run.success
    assert not dropped.exists()
    assert (pipeline.folders.archive_dir("alice", plugin) / dropped.name).exists()
    [(stored,)] = pipeline.count(f"SELECT count(*) FROM media_items WHERE platform = '{plugin}'")
    assert stored > 0
    assert metadata(run, plugin)["new"] == stored
