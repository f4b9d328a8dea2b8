"""The JSON array reader every JSON export plugin shares: hostile values inside one
record must not escape as exceptions other than a located file_parse_error."""

from pathlib import Path

import pydantic_core
import pytest

from mca_pipeline.core import Credentials, ErrorCode, SyncContext
from mca_pipeline.plugins import build_registry
from mca_pipeline.plugins.export_files import ExportFileError, iter_json_array


def test_an_integer_too_long_for_python_leaves_the_other_records_readable(tmp_path: Path) -> None:
    path = tmp_path / "big.json"
    path.write_text('[{"ms": 1}, {"ms": ' + "9" * 5000 + '}, {"ms": 3}]')

    values = [element["ms"] for element, _ in iter_json_array(path)]

    assert values[0] == 1 and values[2] == 3
    assert values[1] == "9" * 5000  # kept as digits: the plugin skips it as not a number


def test_nesting_deeper_than_any_export_rejects_the_file_at_that_record(tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text('[{"ms": 1},\n' + "[" * 200_000 + "]" * 200_000 + "]")

    with pytest.raises(ExportFileError) as caught:
        list(iter_json_array(path))

    error = caught.value.error
    assert error.code == ErrorCode.FILE_PARSE_ERROR
    assert "line 2" in error.message and "nested too deeply" in error.message


def test_resuming_after_a_yielded_offset_continues_with_the_next_record(tmp_path: Path) -> None:
    path = tmp_path / "plays.json"
    path.write_text('[{"n": 1}, {"n": "é"}, {"n": 3}]', encoding="utf-8")

    first, second, third = list(iter_json_array(path))
    resumed = [element for element, _ in iter_json_array(path, start=first[1])]

    assert resumed == [second[0], third[0]]


SURROGATE_EXPORTS = {
    "spotify_export": '[{"ts": "2024-01-01T00:00:00Z", "ms_played": 5, "master_metadata_track_name": "a\\ud800",'
    ' "spotify_track_uri": "spotify:track:x"}, {"ts": "2024-01-01T00:00:00Z", "ms_played": 5,'
    ' "conn_country": "\\udc80", "spotify_track_uri": "spotify:track:y"},'
    ' {"ts": "2024-01-01T00:00:00Z", "ms_played": 5, "spotify_track_uri": "spotify:track:z"}]',
    "youtube_takeout": '[{"header": "YouTube", "title": "Watched \\ud800", "titleUrl":'
    ' "https://www.youtube.com/watch?v=abcdefghijk", "time": "2024-01-01T00:00:00Z"}, {"header": "YouTube",'
    ' "title": "Watched ok", "titleUrl": "https://www.youtube.com/watch?v=abcdefghijl",'
    ' "time": "2024-01-01T00:00:00Z"}]',
    "tiktok": '{"Activity": {"Video Browsing History": {"VideoList": [{"Date": "2024-01-01 00:00:00", "Link":'
    ' "https://www.tiktokv.com/share/video/123/\\ud800"}, {"Date": "2024-01-01 00:00:01", "Link":'
    ' "https://www.tiktokv.com/share/video/124/"}]}}}',
}


@pytest.mark.parametrize("plugin_name", sorted(SURROGATE_EXPORTS))
def test_a_lone_surrogate_in_a_json_export_skips_that_record_not_the_page(
    tmp_path: Path, plugin_name: str
) -> None:
    """An escaped lone surrogate is valid JSON but no text: stored, it failed the whole page."""
    path = tmp_path / "export.json"
    path.write_text(SURROGATE_EXPORTS[plugin_name])
    result = build_registry().get(plugin_name).sync(SyncContext(user_id="ada"), Credentials(file=path), "")
    assert result.err is None
    assert len(result.items) == 1
    assert result.skipped and all(r.reason == "value cannot be stored" for r in result.skipped)
    for item in result.items:
        pydantic_core.to_json(item.raw_metadata)  # storable
    for record in result.skipped:
        (record.excerpt or "").encode("utf-8")  # reportable


OUT_OF_CALENDAR = {
    "spotify_export": '[{"ts": "0001-01-01T00:00:00+01:00", "ms_played": 5, "spotify_track_uri": "spotify:track:x"},'
    ' {"ts": "0001-01-01T00:00:01Z", "ms_played": 5000, "spotify_track_uri": "spotify:track:y"},'
    ' {"ts": "2024-01-01T00:00:00Z", "ms_played": 5, "spotify_track_uri": "spotify:track:z"}]',
    "youtube_takeout": '[{"header": "YouTube", "title": "Watched a", "titleUrl":'
    ' "https://www.youtube.com/watch?v=abcdefghijk", "time": "9999-12-31T23:59:59-01:00"}, {"header": "YouTube",'
    ' "title": "Watched ok", "titleUrl": "https://www.youtube.com/watch?v=abcdefghijl",'
    ' "time": "2024-01-01T00:00:00Z"}]',
    "tiktok": '{"Activity": {"Video Browsing History": {"VideoList": [{"Date": "0001-01-01 00:00:00+01:00", "Link":'
    ' "https://www.tiktokv.com/share/video/123/"}, {"Date": "2024-01-01 00:00:01", "Link":'
    ' "https://www.tiktokv.com/share/video/124/"}]}}}',
}


@pytest.mark.parametrize("plugin_name", sorted(OUT_OF_CALENDAR))
def test_a_time_outside_the_calendar_in_utc_skips_that_record(tmp_path: Path, plugin_name: str) -> None:
    """Year 1 or 9999 with an offset overflows on the way to UTC: one record, not the file."""
    path = tmp_path / "export.json"
    path.write_text(OUT_OF_CALENDAR[plugin_name])
    result = build_registry().get(plugin_name).sync(SyncContext(user_id="ada"), Credentials(file=path), "")
    assert result.err is None
    assert len(result.items) == 1
    assert result.skipped
