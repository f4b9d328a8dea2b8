"""Any bytes end as imported + skipped records, or as a rejected file: never another
exception and never endless paging. Real fixtures of every file plugin are changed with a
fixed seed (bytes flipped and cut; JSON values and CSV cells swapped for hostile ones of
another kind: see hostile_inputs.py), so a failure here reproduces exactly; the longer
run is `benchmarks/fuzz.py`. Then the smallest inputs that once raised, each inside a
file of good records: that record alone is skipped."""

from __future__ import annotations

import json
import random
import tracemalloc
from pathlib import Path

import pytest

from mca_pipeline.core import Credentials, FileImportPlugin, SyncContext
from mca_pipeline.plugins import build_registry
from mca_pipeline_tests.hostile_inputs import SUFFIXES, hostile_file, read_whole, sources

CASES_PER_PLUGIN = 3000


@pytest.mark.parametrize("plugin_name", sorted(SUFFIXES))
def test_hostile_variants_of_real_exports_end_as_records_or_a_rejected_file(
    tmp_path: Path, plugin_name: str
) -> None:
    registry = build_registry()
    plugin = registry.get(plugin_name)
    assert isinstance(plugin, FileImportPlugin)
    others = [p for p in registry if isinstance(p, FileImportPlugin)]
    seeds = sources(plugin_name)
    rng = random.Random(plugin_name)
    endings: set[str] = set()
    for case in range(CASES_PER_PLUGIN):
        source = rng.choice(seeds)
        path = tmp_path / f"{case}{source.suffix}"
        path.write_bytes(hostile_file(rng, source))
        try:
            endings.add(read_whole(plugin, others, path, rng.choice([1, 7, 50_000])))
        except Exception as exc:
            raise AssertionError(f"case {case} from {source.name} raised: {exc!r}") from exc
        path.unlink()
    assert endings == {"imported", "file_parse_error"}, "both endings are reached, nothing else"


GOOD_PLAYS = [
    {
        "ts": f"2024-03-0{day}T10:00:00Z",
        "ms_played": 200_000,
        "master_metadata_track_name": "Night Lines",
        "master_metadata_album_artist_name": "Marla Venn",
        "spotify_track_uri": f"spotify:track:4uLU6hMCjMI75M1A2tKUQ{day}",
    }
    for day in range(1, 10)
]
GOOD_WATCHES = [
    {
        "header": "YouTube",
        "title": "Watched A talk",
        "titleUrl": f"https://www.youtube.com/watch?v=abcdefghij{day}",
        "time": f"2024-03-0{day}T10:00:00.000Z",
        "products": ["YouTube"],
    }
    for day in range(1, 10)
]


def tiktok_file(bad: dict[str, str]) -> dict[str, object]:
    videos = [
        {
            "Date": f"2024-03-0{day} 10:00:00",
            "Link": f"https://www.tiktokv.com/share/video/730000000000000000{day}/",
        }
        for day in range(1, 10)
    ]
    return {"Activity": {"Video Browsing History": {"VideoList": [*videos, bad]}}}


HOSTILE_RECORDS = {
    "spotify uri that is a number": (
        "spotify_export",
        "Streaming_History_Audio_2024_0.json",
        [*GOOD_PLAYS, {**GOOD_PLAYS[0], "ts": "2024-04-01T10:00:00Z", "spotify_track_uri": 1}],
    ),
    "ms_played past a float": (
        "spotify_export",
        "Streaming_History_Audio_2024_0.json",
        [*GOOD_PLAYS, {**GOOD_PLAYS[0], "ts": "2024-04-01T10:00:00Z", "ms_played": 10**20}],
    ),
    "ms_played 1e20": (
        "spotify_export",
        "Streaming_History_Audio_2024_0.json",
        [*GOOD_PLAYS, {**GOOD_PLAYS[0], "ts": "2024-04-01T10:00:00Z", "ms_played": 1e20}],
    ),
    "basic msPlayed past a timedelta": (
        "spotify_export",
        "StreamingHistory_music_0.json",
        [
            {"endTime": f"2024-03-0{d} 10:00", "artistName": "A", "trackName": "T", "msPlayed": 1000}
            for d in range(1, 10)
        ]
        + [
            {
                "endTime": "2024-04-01 10:00",
                "artistName": "A",
                "trackName": "T",
                "msPlayed": 1_000_000_000_000_000,
            }
        ],
    ),
    "a play in the year 1": (
        "spotify_export",
        "Streaming_History_Audio_2024_0.json",
        [*GOOD_PLAYS, {**GOOD_PLAYS[0], "ts": "0001-01-01T00:00:00Z"}],
    ),
    "offline_timestamp of 400 digits": (
        "spotify_export",
        "Streaming_History_Audio_2024_0.json",
        [
            *GOOD_PLAYS,
            {**GOOD_PLAYS[0], "ts": "2024-04-01T10:00:00Z", "offline": True, "offline_timestamp": 10**400},
        ],
    ),
    "spotify time past the calendar in UTC": (
        "spotify_export",
        "Streaming_History_Audio_2024_0.json",
        [*GOOD_PLAYS, {**GOOD_PLAYS[0], "ts": "9999-12-31T23:59:59-01:00"}],
    ),
    "tiktok time past the calendar in UTC": (
        "tiktok",
        "user_data_tiktok.json",
        tiktok_file(
            {
                "Date": "9999-12-31T23:59:59-01:00",
                "Link": "https://www.tiktokv.com/share/video/7300000000000000099/",
            }
        ),
    ),
    "takeout time past the calendar in UTC": (
        "youtube_takeout",
        "watch-history.json",
        [*GOOD_WATCHES, {**GOOD_WATCHES[0], "time": "9999-12-31T23:59:59-01:00"}],
    ),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_RECORDS))
def test_one_hostile_record_is_skipped_and_the_rest_imported(tmp_path: Path, case: str) -> None:
    plugin_name, file_name, content = HOSTILE_RECORDS[case]
    path = tmp_path / file_name
    path.write_text(json.dumps(content))
    result = build_registry().get(plugin_name).sync(SyncContext(user_id="ada"), Credentials(file=path), "")
    assert result.err is None
    if case == "offline_timestamp of 400 digits":  # an implausible offline time is ignored:
        assert len(result.items) == 10 and not result.skipped  # the play keeps ts
        return
    assert len(result.items) == 9
    assert len(result.skipped) == 1


@pytest.mark.parametrize("plugin_name", ["spotify_export", "tiktok", "youtube_takeout"])
@pytest.mark.parametrize("content", ["[" * 100_000, '[{"a": ' + "9" * 5000 + "}]"], ids=["deep", "huge-int"])
def test_deep_nesting_and_huge_integers_never_raise(tmp_path: Path, plugin_name: str, content: str) -> None:
    path = tmp_path / {
        "spotify_export": "Streaming_History_Audio_2024_0.json",
        "tiktok": "user_data_tiktok.json",
    }.get(plugin_name, "watch-history.json")
    path.write_text(content)
    plugin = build_registry().get(plugin_name)
    assert isinstance(plugin, FileImportPlugin)
    assert read_whole(plugin, [plugin], path, 50_000) in {"imported", "file_parse_error"}


def test_an_instapaper_url_without_a_location_is_skipped(tmp_path: Path) -> None:
    path = tmp_path / "instapaper-export.csv"
    rows = "".join(f"https://example.org/{n},Title {n},,Unread,1710252000\n" for n in range(9))
    path.write_text("URL,Title,Selection,Folder,Timestamp\n" + rows + "#x,Broken,,Unread,1710252000\n")
    result = build_registry().get("instapaper").sync(SyncContext(user_id="ada"), Credentials(file=path), "")
    assert result.err is None and len(result.items) == 9 and len(result.skipped) == 1


@pytest.mark.parametrize("plugin_name", ["netflix", "instapaper"])
def test_a_csv_line_of_a_million_commas_is_refused_without_holding_its_fields(
    tmp_path: Path, plugin_name: str
) -> None:
    """The reader held a list of every field of a line: 20 MB of commas took 180 MB."""
    path = tmp_path / ("NetflixViewingHistory.csv" if plugin_name == "netflix" else "instapaper-export.csv")
    header = "Title,Date\n" if plugin_name == "netflix" else "URL,Title,Selection,Folder,Timestamp\n"
    path.write_text(header + "," * (2 << 20) + "\n")
    tracemalloc.start()
    try:
        result = (
            build_registry().get(plugin_name).sync(SyncContext(user_id="ada"), Credentials(file=path), "")
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result.err is not None and "longer than 1,048,576 characters" in result.err.message
    assert peak < 8 << 20, f"peak {peak / 2**20:.0f} MiB"
