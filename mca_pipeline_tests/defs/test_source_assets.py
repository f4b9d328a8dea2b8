"""The per-plugin assets, materialized through Dagster as the UI or a sensor would."""

from __future__ import annotations

import json
from pathlib import Path

from dagster import DefaultScheduleStatus

from mca_pipeline.core import AuthType
from mca_pipeline.plugins import build_registry
from mca_pipeline_tests.conftest import FIXTURES
from mca_pipeline_tests.defs.dagster_env import Pipeline, check_statuses, log_messages, metadata

SPOTIFY = FIXTURES / "spotify_export"
NETFLIX = FIXTURES / "netflix"


def test_every_registered_plugin_gets_a_user_partitioned_asset(pipeline: Pipeline) -> None:
    defs = pipeline.defs
    keys = {k.to_user_string() for k in defs.resolve_all_asset_keys()}
    assert keys == {
        *build_registry().names(),
        "media_history",
        "unified_plays",
        "plugin_enrichment",
        "universal_tags",
        "insights",
    }
    for name in keys:
        assert defs.resolve_assets_def(name).partitions_def.name == "users"  # type: ignore[union-attr]
    history = defs.resolve_assets_def("media_history")
    deps = {k.to_user_string() for k in history.asset_deps[history.key]}
    assert deps == set(build_registry().names())
    api = {p.name for p in build_registry() if p.auth_type != AuthType.FILE_IMPORT}
    schedules = {s.name: s for s in defs.schedules or []}
    assert set(schedules) == {f"{name}_sync" for name in api} | {"lake_upkeep_daily"}
    # The lake's upkeep runs by itself only for a lake; this warehouse is a DuckDB file.
    assert schedules["lake_upkeep_daily"].default_status == DefaultScheduleStatus.STOPPED
    assert api == {"spotify", "lastfm", "youtube", "listenbrainz"}


def test_import_from_the_inbox_stores_archives_and_reports_counts(pipeline: Pipeline) -> None:
    pipeline.drop(
        "alice",
        "spotify_export",
        SPOTIFY / "Streaming_History_Audio_2023-2024_0.json",
        SPOTIFY / "Streaming_History_Audio_2023-2024_1.json",
    )
    result = pipeline.materialize("alice", "spotify_export", "media_history")
    assert result.success
    meta = metadata(result, "spotify_export")
    stored = pipeline.count("SELECT count(*) FROM media_items WHERE user_id='alice'")[0][0]
    assert stored > 0
    assert (meta["new"], meta["skipped"], meta["files"], meta["dagster/row_count"]) == (stored, 0, 2, stored)
    assert meta["has_more"] is False
    # DuckDB read the (clean) files whole: the cursor counts records and bytes read.
    cursor = json.loads(str(meta["cursor"]))
    assert cursor["read"] == (SPOTIFY / "Streaming_History_Audio_2023-2024_1.json").stat().st_size
    assert cursor["record"] > 0
    assert not list(pipeline.folders.inbox("alice", "spotify_export").iterdir())
    archived = sorted(p.name for p in pipeline.folders.archive_dir("alice", "spotify_export").iterdir())
    assert archived == [
        "Streaming_History_Audio_2023-2024_0.json",
        "Streaming_History_Audio_2023-2024_1.json",
    ]
    assert any("items so far" in m for m in log_messages(pipeline.instance, result)), (
        "progress is logged per page"
    )
    history = metadata(result, "media_history")
    assert history["items"] == stored
    assert history["items/spotify_export"] == stored


def test_dropping_the_same_export_again_adds_nothing(pipeline: Pipeline) -> None:
    export = SPOTIFY / "Streaming_History_Audio_2023-2024_0.json"
    pipeline.drop("alice", "spotify_export", export)
    first = metadata(pipeline.materialize("alice", "spotify_export"), "spotify_export")
    pipeline.drop("alice", "spotify_export", export)
    second = metadata(pipeline.materialize("alice", "spotify_export"), "spotify_export")
    assert first["new"] > 0
    assert (second["new"], second["skipped"]) == (0, first["new"])
    assert pipeline.count("SELECT count(*) FROM media_items")[0][0] == first["new"]
    archived = list(pipeline.folders.archive_dir("alice", "spotify_export").iterdir())
    assert len(archived) == 2, "the second copy is archived beside the first, not over it"


def test_a_newer_overlapping_export_adds_only_the_new_plays(pipeline: Pipeline) -> None:
    pipeline.drop("alice", "spotify_export", SPOTIFY / "Streaming_History_Audio_2023-2024_1.json")
    older = metadata(pipeline.materialize("alice", "spotify_export"), "spotify_export")
    pipeline.drop("alice", "spotify_export", SPOTIFY / "Streaming_History_Audio_2024_0_overlap.json")
    newer = metadata(pipeline.materialize("alice", "spotify_export"), "spotify_export")
    assert newer["skipped"] > 0 and newer["new"] > 0
    total = pipeline.count("SELECT count(*) FROM media_items")[0][0]
    assert total == older["new"] + newer["new"]


def test_users_are_kept_apart(pipeline: Pipeline) -> None:
    pipeline.drop("alice", "netflix", NETFLIX / "ViewingActivity.csv")
    pipeline.drop("bob", "netflix", NETFLIX / "NetflixViewingHistory_us.csv")
    assert pipeline.materialize("alice", "netflix").success
    assert pipeline.materialize("bob", "netflix").success
    per_user = dict(pipeline.count("SELECT user_id, count(*) FROM media_items GROUP BY ALL"))
    assert set(per_user) == {"alice", "bob"}
    assert pipeline.count(
        "SELECT count(*) FROM media_items WHERE user_id='bob' AND external_id LIKE 'Alex|%'"
    ) == [(0,)]


def test_a_broken_file_is_rejected_with_a_report_and_loses_nothing(pipeline: Pipeline) -> None:
    pipeline.drop("alice", "spotify_export", SPOTIFY / "Streaming_History_Audio_2023-2024_0.json")
    assert pipeline.materialize("alice", "spotify_export").success
    before = pipeline.count("SELECT count(*) FROM media_items")[0][0]

    pipeline.drop(
        "alice",
        "spotify_export",
        SPOTIFY / "truncated.json",
        SPOTIFY / "Streaming_History_Audio_2023-2024_1.json",
    )
    result = pipeline.materialize("alice", "spotify_export")
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "truncated.json" in failure.step_failure_data.error.message  # type: ignore[union-attr]
    rejected = pipeline.folders.rejected_dir("alice", "spotify_export")
    report = (rejected / "truncated.json.report.txt").read_text()
    assert (rejected / "truncated.json").exists()
    assert "Line:     62" in report and "file_parse_error" in report
    # the good file of the same drop went in, and nothing stored earlier went away
    after = pipeline.count("SELECT count(*) FROM media_items")[0][0]
    assert after > before
    assert (
        pipeline.folders.archive_dir("alice", "spotify_export") / "Streaming_History_Audio_2023-2024_1.json"
    ).exists()
    assert pipeline.count("SELECT outcome, error_code FROM sync_log WHERE source='truncated.json'") == [
        ("partial", "file_parse_error")
    ]
    # the checks ran on what is stored, rather than showing in the UI as failed
    assert check_results(result) == {"unique_keys": True, "no_future_items": True}
    assert check_statuses(pipeline.instance, "spotify_export", "unique_keys", "no_future_items") == {
        "unique_keys": "SUCCEEDED",
        "no_future_items": "SUCCEEDED",
    }


def test_what_the_import_writes_is_owner_only(pipeline: Pipeline) -> None:
    """Dropped exports are often world-readable (0644); the archive, the rejected files,
    their reports and the warehouse hold a person's history and are not."""
    dropped = pipeline.drop(
        "alice",
        "spotify_export",
        SPOTIFY / "Streaming_History_Audio_2023-2024_0.json",
        SPOTIFY / "truncated.json",
    )
    for path in dropped:
        path.chmod(0o644)
    pipeline.materialize("alice", "spotify_export")
    written = [p for p in pipeline.data_dir.rglob("*") if p.is_file() and "inbox" not in p.parts]
    names = {p.name for p in written}
    assert {"warehouse.duckdb", "Streaming_History_Audio_2023-2024_0.json", "truncated.json"} <= names
    assert "truncated.json.report.txt" in names
    assert {p.name: oct(p.stat().st_mode & 0o777) for p in written if p.stat().st_mode & 0o077} == {}


def test_nothing_waiting_is_a_quiet_success(pipeline: Pipeline) -> None:
    result = pipeline.materialize("carol", "netflix")
    assert result.success
    assert metadata(result, "netflix")["files"] == 0


def test_config_may_not_point_outside_the_users_inbox(pipeline: Pipeline) -> None:
    [bob_file] = pipeline.drop("bob", "netflix", NETFLIX / "ViewingActivity.csv")
    config = {"ops": {"netflix": {"config": {"files": [str(bob_file)]}}}}
    result = pipeline.materialize("alice", "netflix", run_config=config)
    assert not result.success
    assert bob_file.exists(), "another user's file is left where it was"
    assert pipeline.count("SELECT count(*) FROM media_items") == [(0,)]


def check_results(result: object) -> dict[str, bool]:
    return {
        e.asset_check_evaluation_data.check_name: e.asset_check_evaluation_data.passed  # type: ignore[attr-defined]
        for e in result.all_events  # type: ignore[attr-defined]
        if e.event_type_value == "ASSET_CHECK_EVALUATION"
    }


def test_every_source_asset_checks_its_data(pipeline: Pipeline) -> None:
    pipeline.drop("alice", "spotify_export", SPOTIFY / "Streaming_History_Audio_2023-2024_0.json")
    assert check_results(pipeline.materialize("alice", "spotify_export")) == {
        "unique_keys": True,
        "no_future_items": True,
    }


def test_a_play_dated_in_the_future_is_flagged(pipeline: Pipeline, tmp_path: Path) -> None:
    future = tmp_path / "Streaming_History_Audio_2099_0.json"
    play = json.loads((SPOTIFY / "Streaming_History_Audio_2023-2024_0.json").read_text())[0]
    future.write_text(json.dumps([play | {"ts": "2099-01-01T10:00:00Z"}]))
    pipeline.drop("alice", "spotify_export", future)
    result = pipeline.materialize("alice", "spotify_export")
    assert result.success, "a warning, not a failure: the data is stored for a person to look at"
    assert check_results(result)["no_future_items"] is False


def test_a_partition_that_is_not_a_user_slug_is_refused(pipeline: Pipeline) -> None:
    result = pipeline.materialize("Bob.Smith", "netflix")
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure)
    assert "invalid user id 'Bob.Smith'" in failure.step_failure_data.error.message  # type: ignore[union-attr]
    assert not pipeline.folders.inbox_root.exists()


def test_unified_plays_runs_after_imports_and_reports_counts(pipeline: Pipeline) -> None:
    pipeline.drop("alice", "spotify_export", SPOTIFY / "Streaming_History_Audio_2023-2024_0.json")
    result = pipeline.materialize("alice", "spotify_export", "unified_plays")
    meta = metadata(result, "unified_plays")
    music = pipeline.count("SELECT count(*) FROM media_items WHERE media_type = 'music'")[0][0]
    assert (meta["plays"], meta["real_plays"], meta["duplicates"]) == (music, music, 0), (
        "one source: no duplicates"
    )
