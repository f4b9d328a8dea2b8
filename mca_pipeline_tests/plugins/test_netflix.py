"""The Netflix plugin against realistic exports: what a person importing their history sees.

Expected values are worked out by hand from the fixtures in fixtures/netflix/, which follow
section 5 of PLATFORMS.md (both export formats, locale dates, trailers and hooks).
"""

from __future__ import annotations

import logging
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mca_pipeline.core import (
    AuthType,
    Credentials,
    DedupPolicy,
    EnrichmentSkipped,
    ErrorCode,
    MediaItem,
    MediaType,
    PluginError,
    PluginRegistry,
    SourcePlugin,
    SyncContext,
    SyncResult,
)
from mca_pipeline.plugins.netflix import NetflixPlugin, parse_title
from mca_pipeline_tests.conftest import all_pages

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "netflix"
US = FIXTURES / "NetflixViewingHistory_us.csv"
EU = FIXTURES / "NetflixViewingHistory_eu.csv"
AMBIGUOUS = FIXTURES / "NetflixViewingHistory_ambiguous.csv"
CONFLICT = FIXTURES / "NetflixViewingHistory_conflict.csv"
ACTIVITY = FIXTURES / "ViewingActivity.csv"
LOGGER = "mca_pipeline.plugin"


def sync(path: Path | None, *, page_size: int = 50_000, cursor: str = "") -> SyncResult:
    ctx = SyncContext(user_id="alice", page_size=page_size)
    return NetflixPlugin().sync(ctx, Credentials(file=path), cursor)


def items_of(path: Path) -> list[MediaItem]:
    result = sync(path)
    assert result.err is None, result.err
    assert result.has_more is False
    return result.items


def error_of(path: Path | None) -> PluginError:
    result = sync(path)
    assert result.items == []
    assert result.err is not None
    assert result.err.code == ErrorCode.FILE_PARSE_ERROR
    assert result.err.retry is False
    return result.err


def by_title(items: list[MediaItem]) -> dict[str, MediaItem]:
    return {item.title: item for item in items}


def day(year: int, month: int, dom: int) -> datetime:
    return datetime(year, month, dom, tzinfo=UTC)


def write(tmp_path: Path, name: str, text: str, encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


# --- the contract ---------------------------------------------------------------------------


def test_plugin_meets_the_contract_and_registers() -> None:
    plugin = NetflixPlugin()
    assert isinstance(plugin, SourcePlugin)
    assert (plugin.name, plugin.auth_type, plugin.auth_config) == ("netflix", AuthType.FILE_IMPORT, None)
    assert plugin.dedup_policy == DedupPolicy.SKIP
    registry = PluginRegistry()
    registry.register(plugin)
    assert registry.names() == ["netflix"]


def test_enrich_without_a_tmdb_key_is_skipped_not_failed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TMDB_API_KEY", raising=False)
    monkeypatch.delenv("TMDB_READ_TOKEN", raising=False)
    items = items_of(US)
    ctx = SyncContext(user_id="alice")
    with pytest.raises(EnrichmentSkipped, match="TMDB"):
        NetflixPlugin().enrich(ctx, Credentials(file=US), items)


# --- NetflixViewingHistory.csv, US -------------------------------------------------------------


US_TITLES = [
    "The Glass Orchard: Season 2: The Harvest",
    "Night Lines: A Concert Film",
    "Spider-Man: Into the Spider-Verse",
    "The Glass Orchard: Season 2: Frost, Then Fire",
    "The Queen's Gambit: Limited Series: Openings",
    "千と千尋の神隠し",
    "深夜食堂: シーズン1: 赤いウインナー",
    'The "Quiet" Hour, Revisited',
    "Love, Death & Robots: Volume 3: Three Robots: Exit Strategies",
    "Harbor Lights: Part 1: The Arrival",
    "Kill Bill: Vol. 1",
    "Arcane: League of Legends: Season 1: Welcome to the Playground",
    "The Glass Orchard: Season 1: Seeds",
    "Black Mirror: Bandersnatch",
    "Dark: Season 3: Deja-vu",
]


def test_us_history_gives_one_video_per_row_in_file_order() -> None:
    items = items_of(US)
    assert [item.title for item in items] == US_TITLES
    for item in items:
        assert item.platform == "netflix"
        assert item.type == MediaType.VIDEO
        assert item.creator is None
        assert item.url is None
        assert item.time_spent is None


@pytest.mark.parametrize(
    ("title", "watched"),
    [
        ("The Glass Orchard: Season 2: The Harvest", day(2024, 11, 2)),
        ("Night Lines: A Concert Film", day(2024, 10, 28)),
        ("Harbor Lights: Part 1: The Arrival", day(2024, 6, 15)),
        ("The Glass Orchard: Season 1: Seeds", day(2024, 1, 7)),  # 1/7 read as the file's M/D, not 1 July
        ("Black Mirror: Bandersnatch", day(2023, 12, 28)),
        ("Dark: Season 3: Deja-vu", day(2019, 3, 14)),  # two-digit year 19 is 2019
    ],
)
def test_us_dates_are_month_first_at_midnight_utc(title: str, watched: datetime) -> None:
    assert by_title(items_of(US))[title].consumed_at == watched


def test_us_row_keeps_the_original_date_and_its_precision() -> None:
    item = by_title(items_of(US))["Dark: Season 3: Deja-vu"]
    assert item.external_id == "Dark: Season 3: Deja-vu|2019-03-14"
    assert item.raw_metadata == {
        "date": "3/14/19",
        "date_precision": "day",
        "date_format": "M/D/Y",
        "date_format_assumed": False,
        "series": "Dark",
        "season": "Season 3",
        "season_number": 3,
        "episode_title": "Deja-vu",
    }


def test_bom_crlf_quotes_and_non_latin_titles_come_through_intact() -> None:
    assert US.read_bytes().startswith(b'\xef\xbb\xbf"Title"')
    assert b"\r\n" in US.read_bytes()
    titles = [item.title for item in items_of(US)]
    assert titles[0] == "The Glass Orchard: Season 2: The Harvest"  # no BOM glued to the first value
    assert 'The "Quiet" Hour, Revisited' in titles
    assert "千と千尋の神隠し" in titles
    assert not any("\r" in title or "\ufeff" in title for title in titles)


@pytest.mark.parametrize(
    "film",
    [
        "Spider-Man: Into the Spider-Verse",
        "Night Lines: A Concert Film",
        "Kill Bill: Vol. 1",
        "Black Mirror: Bandersnatch",
        "千と千尋の神隠し",
        'The "Quiet" Hour, Revisited',
    ],
)
def test_films_with_a_colon_are_not_split_into_series(film: str) -> None:
    metadata = by_title(items_of(US))[film].raw_metadata
    assert not {"series", "season", "episode_title"} & metadata.keys()


@pytest.mark.parametrize(
    ("title", "parts"),
    [
        (
            "The Glass Orchard: Season 2: Frost, Then Fire",
            {
                "series": "The Glass Orchard",
                "season": "Season 2",
                "season_number": 2,
                "episode_title": "Frost, Then Fire",
            },
        ),
        (
            "The Queen's Gambit: Limited Series: Openings",
            {"series": "The Queen's Gambit", "season": "Limited Series", "episode_title": "Openings"},
        ),
        (
            "Love, Death & Robots: Volume 3: Three Robots: Exit Strategies",
            {
                "series": "Love, Death & Robots",
                "season": "Volume 3",
                "season_number": 3,
                "episode_title": "Three Robots: Exit Strategies",
            },
        ),
        (
            "Arcane: League of Legends: Season 1: Welcome to the Playground",
            {
                "series": "Arcane: League of Legends",
                "season": "Season 1",
                "season_number": 1,
                "episode_title": "Welcome to the Playground",
            },
        ),
        (
            "深夜食堂: シーズン1: 赤いウインナー",
            {
                "series": "深夜食堂",
                "season": "シーズン1",
                "season_number": 1,
                "episode_title": "赤いウインナー",
            },
        ),
        (
            "Friends: Saison 3: Celui qui révélait tout (Épisode 20)",
            {
                "series": "Friends",
                "season": "Saison 3",
                "season_number": 3,
                "episode_title": "Celui qui révélait tout",
                "episode_number": 20,
            },
        ),
        (
            "The Glass Orchard: Season 2: The Harvest (Episode 4)",
            {
                "series": "The Glass Orchard",
                "season": "Season 2",
                "season_number": 2,
                "episode_title": "The Harvest",
                "episode_number": 4,
            },
        ),
        (
            "Dark: Staffel 1: Geheimnisse",
            {"series": "Dark", "season": "Staffel 1", "season_number": 1, "episode_title": "Geheimnisse"},
        ),
        (
            "La casa de papel: Temporada 2: Episodio 3",
            {
                "series": "La casa de papel",
                "season": "Temporada 2",
                "season_number": 2,
                "episode_title": "Episodio 3",
            },
        ),
        (
            "The Crown: Series 4: Gold Stick",
            {"series": "The Crown", "season": "Series 4", "season_number": 4, "episode_title": "Gold Stick"},
        ),
        ("Spider-Man: Into the Spider-Verse", {}),
        ("Night Lines: A Concert Film", {}),
        ("John Wick: Chapter 4", {}),
        ("Roma", {}),
    ],
)
def test_parse_title_splits_episodes_and_leaves_films_whole(title: str, parts: dict[str, Any]) -> None:
    assert parse_title(title) == parts


# --- date format detection, per file --------------------------------------------------------


def test_eu_history_is_read_day_first() -> None:
    items = items_of(EU)
    assert [(item.title, item.consumed_at) for item in items] == [
        ("La casa de papel: Parte 1: Episodio 1", day(2021, 1, 5)),
        ("ما وراء الطبيعة: الموسم 1: أسطورة البيت الملعون", day(2020, 11, 10)),
        ("Roma", day(2020, 3, 2)),
        ("Брат", day(2020, 2, 9)),
        ("Dark: Staffel 1: Geheimnisse", day(2019, 12, 27)),
    ]
    assert {item.raw_metadata["date_format"] for item in items} == {"D/M/Y"}
    assert not any(item.raw_metadata["date_format_assumed"] for item in items)
    assert items[1].raw_metadata["series"] == "ما وراء الطبيعة"
    assert items[1].raw_metadata["season"] == "الموسم 1"


def test_date_format_comes_from_the_whole_file_even_on_the_first_page() -> None:
    # Only the last row (27/12/2019) proves the file is day-first; page 1 must already know.
    first = sync(EU, page_size=2)
    assert first.err is None
    assert first.has_more is True
    assert [item.consumed_at for item in first.items] == [day(2021, 1, 5), day(2020, 11, 10)]


def test_all_ambiguous_dates_assume_us_month_first_and_say_so(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    items = items_of(AMBIGUOUS)
    assert [item.consumed_at for item in items] == [day(2022, 12, 11), day(2022, 5, 6), day(2022, 1, 2)]
    assert all(item.raw_metadata["date_format_assumed"] is True for item in items)
    assert items[0].raw_metadata["date"] == "12/11/22"
    assert "assumed month-first" in caplog.text


def test_a_date_outvoted_by_the_file_s_day_month_order_is_skipped_not_the_file(tmp_path: Path) -> None:
    rows = ["1/2/21", "25/12/2020", "13/1/2021", "3/4/2021", "11/30/2019"]
    text = '"Title","Date"\n' + "".join(f'"Roma {n}","{value}"\n' for n, value in enumerate(rows))
    result = sync(write(tmp_path, "NetflixViewingHistory.csv", text))

    assert result.err is None
    assert [item.consumed_at for item in result.items] == [
        day(2021, 2, 1),
        day(2020, 12, 25),
        day(2021, 1, 13),
        day(2021, 4, 3),
    ]
    [skipped] = result.skipped
    assert (skipped.line, skipped.field) == (6, "Date")
    assert skipped.reason == "date does not fit the file's day/month order"
    assert "'11/30/2019'" in (skipped.detail or "")


def test_a_tie_between_day_first_and_month_first_assumes_month_first_and_says_so() -> None:
    result = sync(CONFLICT)
    assert result.err is None
    assert {item.title for item in result.items} == {
        "Roma",
        "The Glass Orchard: Season 1: Seeds",
        "Night Lines: A Concert Film",
    }
    assert all(
        item.raw_metadata["date_format"] == "M/D/Y" and item.raw_metadata["date_format_assumed"]
        for item in result.items
    )
    assert [(r.line, r.field) for r in result.skipped] == [(3, "Date")]


@pytest.mark.parametrize(
    ("dates", "expected", "date_format"),
    [
        (["2019-03-14", "2019-01-02"], [day(2019, 3, 14), day(2019, 1, 2)], "Y-M-D"),
        (["14.03.19", "02.01.19"], [day(2019, 3, 14), day(2019, 1, 2)], "D/M/Y"),
        (["14-03-2019", "02-01-2019"], [day(2019, 3, 14), day(2019, 1, 2)], "D/M/Y"),
        (["03/14/2019", "01/02/2019"], [day(2019, 3, 14), day(2019, 1, 2)], "M/D/Y"),
    ],
)
def test_other_locale_date_shapes(
    tmp_path: Path, dates: list[str], expected: list[datetime], date_format: str
) -> None:
    rows = "".join(f'"Roma","{value}"\n' for value in dates)
    items = items_of(write(tmp_path, "NetflixViewingHistory.csv", f'"Title","Date"\n{rows}'))
    assert [item.consumed_at for item in items] == expected
    assert {item.raw_metadata["date_format"] for item in items} == {date_format}
    assert not any(item.raw_metadata["date_format_assumed"] for item in items)


# --- ViewingActivity.csv -----------------------------------------------------------------------


def test_viewing_activity_gives_one_item_per_real_viewing_session() -> None:
    items = items_of(ACTIVITY)
    assert [(item.external_id, item.consumed_at, item.time_spent) for item in items] == [
        (
            "Alex|2024-06-02 19:41:07|The Glass Orchard: Season 2: The Harvest (Episode 4)",
            datetime(2024, 6, 2, 19, 41, 7, tzinfo=UTC),
            timedelta(minutes=43, seconds=58),
        ),
        (
            "Alex|2024-06-01 22:10:31|The Glass Orchard: Season 2: The Harvest (Episode 4)",
            datetime(2024, 6, 1, 22, 10, 31, tzinfo=UTC),
            timedelta(minutes=21, seconds=12),
        ),
        (
            "Alex|2024-06-01 21:15:02|The Glass Orchard: Season 2: Frost, Then Fire (Episode 3)",
            datetime(2024, 6, 1, 21, 15, 2, tzinfo=UTC),
            timedelta(minutes=52, seconds=40),
        ),
        (
            "Alex|2024-05-30 21:02:13|Night Lines: A Concert Film",
            datetime(2024, 5, 30, 21, 2, 13, tzinfo=UTC),
            timedelta(hours=1, minutes=38, seconds=20),
        ),
        (
            "Émilie|2021-03-14 20:05:33|Friends: Saison 3: Celui qui révélait tout (Épisode 20)",
            datetime(2021, 3, 14, 20, 5, 33, tzinfo=UTC),
            timedelta(minutes=22, seconds=9),
        ),
        (
            "Émilie|2021-03-12 21:30:00|Le Fabuleux Destin d'Amélie Poulain",
            datetime(2021, 3, 12, 21, 30, tzinfo=UTC),
            timedelta(hours=2, minutes=2, seconds=10),
        ),
        (
            "Émilie|2021-01-09 22:47:19|Lupin: Partie 1: Chapitre 1 (Épisode 1)",
            datetime(2021, 1, 9, 22, 47, 19, tzinfo=UTC),
            timedelta(minutes=47, seconds=12),
        ),
    ]
    assert all(item.type == MediaType.VIDEO and item.creator is None and item.url is None for item in items)


def test_trailers_and_hooks_are_left_out_and_counted() -> None:
    result = sync(ACTIVITY)
    titles = [item.title for item in result.items]
    assert "The Glass Orchard: Season 2 (Trailer)" not in titles
    assert not any("_hook_" in title for title in titles)
    assert result.left_out == {"trailer, hook or recap (not viewing)": 2}
    assert result.skipped == []


def test_a_session_written_twice_keeps_its_longest_duration(tmp_path: Path) -> None:
    rows = [
        ("2024-06-02 19:41:07", "00:12:03", "Roma"),
        ("2024-06-02 19:41:07", "01:58:40", "Roma"),
        ("2024-06-02 19:41:07", "00:40:00", "Roma"),
        ("2024-06-03 20:00:00", "00:05:00", "Roma"),
    ]
    text = ACTIVITY_HEAD + "".join(ACTIVITY_ROW.format(start=a, duration=b, title=c) for a, b, c in rows)
    path = write(tmp_path, "ViewingActivity.csv", text)

    result = sync(path)

    assert [(item.consumed_at.day, item.time_spent) for item in result.items] == [
        (2, timedelta(hours=1, minutes=58, seconds=40)),
        (3, timedelta(minutes=5)),
    ]
    assert result.left_out == {"repeated session row (the longest was kept)": 2}
    assert {item.external_id for item in result.items} == {
        "Alex|2024-06-02 19:41:07|Roma",
        "Alex|2024-06-03 20:00:00|Roma",
    }
    paged = [item for page in all_pages(NetflixPlugin(), path, page_size=1) for item in page.items]
    assert [item.time_spent for item in paged] == [item.time_spent for item in result.items]


def test_a_session_split_in_two_rows_gives_two_items() -> None:
    sessions = [item for item in items_of(ACTIVITY) if item.raw_metadata.get("episode_number") == 4]
    assert [item.raw_metadata["device"] for item in sessions] == [
        "Chrome PC (Cadmium)",
        "Samsung 2019 UHD TV (Tizen)",
    ]
    assert sum((item.time_spent for item in sessions if item.time_spent), timedelta()) == timedelta(
        hours=1, minutes=5, seconds=10
    )
    assert [item.raw_metadata["latest_view"] for item in sessions] == [True, False]


def test_autoplayed_row_keeps_its_attributes_and_episode_split() -> None:
    item = by_title(items_of(ACTIVITY))["The Glass Orchard: Season 2: Frost, Then Fire (Episode 3)"]
    assert item.raw_metadata == {
        "profile": "Alex",
        "start_time": "2024-06-01 21:15:02",
        "device": "Samsung 2019 UHD TV (Tizen)",
        "country": "DE (Germany)",
        "attributes": "Autoplayed: user action: None; ",
        "autoplayed": True,
        "bookmark": "00:52:41",
        "latest_bookmark": "00:52:41",
        "latest_view": True,
        "series": "The Glass Orchard",
        "season": "Season 2",
        "season_number": 2,
        "episode_title": "Frost, Then Fire",
        "episode_number": 3,
    }
    assert "Supplemental Video Type" not in item.raw_metadata


def test_not_latest_view_and_localized_french_rows() -> None:
    items = by_title(items_of(ACTIVITY))
    # by_title keeps the last row of a title: here the earlier, unfinished session of episode 4
    partial = items["The Glass Orchard: Season 2: The Harvest (Episode 4)"]
    assert partial.consumed_at == datetime(2024, 6, 1, 22, 10, 31, tzinfo=UTC)
    assert (partial.raw_metadata["latest_bookmark"], partial.raw_metadata["latest_view"]) == (
        "Not latest view",
        False,
    )
    french = items["Friends: Saison 3: Celui qui révélait tout (Épisode 20)"]
    assert french.raw_metadata["profile"] == "Émilie"
    assert french.raw_metadata["country"] == "FR (France)"
    assert french.raw_metadata["attributes"] is None
    assert french.raw_metadata["autoplayed"] is False
    assert (french.raw_metadata["series"], french.raw_metadata["episode_number"]) == ("Friends", 20)
    film = items["Le Fabuleux Destin d'Amélie Poulain"]
    assert not {"series", "season", "episode_title"} & film.raw_metadata.keys()


# --- stable external ids ---------------------------------------------------------------------


@pytest.mark.parametrize("path", [US, EU, ACTIVITY], ids=lambda path: path.name)
def test_external_ids_are_identical_when_the_same_file_is_read_twice(path: Path) -> None:
    first = [item.external_id for item in items_of(path)]
    assert first == [item.external_id for item in items_of(path)]
    assert len(set(first)) == len(first)


def test_us_external_ids_survive_a_re_export_with_newer_rows(tmp_path: Path) -> None:
    header, rest = US.read_bytes().split(b"\r\n", 1)
    newer = b'"Night Lines: Encore","11/20/24"\r\n"Roma","11/5/24"\r\n'
    reexport = tmp_path / "NetflixViewingHistory (1).csv"
    reexport.write_bytes(header + b"\r\n" + newer + rest)
    old = {item.external_id: item.title for item in items_of(US)}
    new = {item.external_id: item.title for item in items_of(reexport)}
    assert old.items() <= new.items()
    assert set(new) - set(old) == {"Night Lines: Encore|2024-11-20", "Roma|2024-11-05"}


def test_activity_external_ids_survive_a_re_export_with_newer_rows(tmp_path: Path) -> None:
    header, rest = ACTIVITY.read_bytes().decode("utf-8").split("\r\n", 1)
    newer = (
        "Alex,2024-06-03 20:00:00,00:41:02,,The Glass Orchard: Season 2: Nightfall (Episode 5),,"
        "Chrome PC (Cadmium),00:41:02,00:41:02,DE (Germany)\r\n"
    )
    reexport = write(tmp_path, "ViewingActivity.csv", f"{header}\r\n{newer}{rest}")
    old = {item.external_id for item in items_of(ACTIVITY)}
    new = {item.external_id for item in items_of(reexport)}
    assert new - old == {"Alex|2024-06-03 20:00:00|The Glass Orchard: Season 2: Nightfall (Episode 5)"}
    assert old <= new


# --- paging -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "page_lengths"),
    [(US, [4, 4, 4, 3]), (ACTIVITY, [4, 3]), (EU, [4, 1])],
    ids=lambda value: value.name if isinstance(value, Path) else None,
)
def test_pages_of_four_add_up_to_the_one_shot_result(path: Path, page_lengths: list[int]) -> None:
    pages = all_pages(NetflixPlugin(), path, page_size=4)
    assert [len(page.items) for page in pages] == page_lengths
    assert [page.has_more for page in pages] == [True] * (len(pages) - 1) + [False]
    assert [item for page in pages for item in page.items] == items_of(path)


def test_resuming_from_a_cursor_continues_where_the_page_ended() -> None:
    first = sync(US, page_size=4)
    second = sync(US, page_size=4, cursor=first.next_cursor)
    assert [item.title for item in second.items] == US_TITLES[4:8]
    assert sync(US, page_size=4, cursor=first.next_cursor) == second  # the same cursor gives the same page


def test_the_final_cursor_resumes_to_nothing_new() -> None:
    last = sync(US)
    assert last.has_more is False
    assert last.next_cursor
    again = sync(US, cursor=last.next_cursor)
    assert (again.err, again.items, again.has_more) == (None, [], False)


@pytest.mark.parametrize("cursor", ["not a cursor", '{"file":"0000","offset":3}', "[]"])
def test_a_cursor_from_another_file_or_garbage_starts_at_row_0(cursor: str) -> None:
    result = sync(US, page_size=4, cursor=cursor)
    assert result.err is None
    assert [item.title for item in result.items] == US_TITLES[:4]


def test_a_cursor_of_the_eu_file_is_ignored_for_the_us_file() -> None:
    eu_cursor = sync(EU, page_size=4).next_cursor
    result = sync(US, page_size=4, cursor=eu_cursor)
    assert [item.title for item in result.items] == US_TITLES[:4]


def test_cancelled_sync_returns_nothing_and_keeps_the_cursor() -> None:
    cursor = sync(US, page_size=4).next_cursor
    ctx = SyncContext(user_id="alice", page_size=4)
    ctx.cancelled.set()
    result = NetflixPlugin().sync(ctx, Credentials(file=US), cursor)
    assert (result.items, result.next_cursor, result.err) == ([], cursor, None)


def test_a_file_with_only_the_header_gives_no_items(tmp_path: Path) -> None:
    result = sync(write(tmp_path, "NetflixViewingHistory.csv", '"Title","Date"\r\n'))
    assert (result.err, result.items, result.has_more) == (None, [], False)


# --- bad files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "line", "field", "fragments"),
    [
        (
            "wrong_header.csv",
            1,
            None,
            ["'Title,Date'", "'Profile Name,Start Time,Duration,", "found 'Date,Name,Year,Letterboxd URI'"],
        ),
        ("truncated_quote.csv", 4, None, ["never closed"]),
        ("binary.csv", 3, None, ["NUL byte"]),
        ("empty.csv", 1, None, ["file is empty"]),
    ],
)
def test_bad_fixture_files_give_a_located_file_parse_error(
    name: str, line: int | None, field: str | None, fragments: list[str]
) -> None:
    err = error_of(FIXTURES / name)
    assert err.message.startswith(name)
    assert err.details["line"] == line
    assert err.details["field"] == field
    if line is not None:
        assert f"line {line}" in err.message
    for fragment in fragments:
        assert fragment in err.message


HISTORY_HEAD = '"Title","Date"\n"Night Lines: A Concert Film","10/28/24"\n'
ACTIVITY_HEAD = (
    "Profile Name,Start Time,Duration,Attributes,Title,Supplemental Video Type,Device Type,Bookmark,"
    "Latest Bookmark,Country\n"
)
ACTIVITY_ROW = "Alex,{start},{duration},,{title},,Chrome PC (Cadmium),00:44:10,00:44:10,DE (Germany)\n"


def test_bad_rows_of_a_fixture_are_skipped_with_their_line_and_the_rest_imported() -> None:
    result = sync(FIXTURES / "bad_date.csv")
    assert result.err is None
    assert [item.title for item in result.items] == [
        "Night Lines: A Concert Film",
        "A Title Split\nOver Two Lines",
        "Marriage Story",
    ]
    [skipped] = result.skipped
    assert (skipped.line, skipped.field, skipped.reason) == (5, "Date", "not a valid calendar date")
    assert "'31/31/2024'" in (skipped.detail or "") and "Roma" in (skipped.excerpt or "")


@pytest.mark.parametrize(
    ("text", "line", "field", "reason"),
    [
        (HISTORY_HEAD + '"Roma","yesterday"\n', 3, "Date", "not a date"),
        (HISTORY_HEAD + '"Roma",""\n', 3, "Date", "Date is empty"),
        (HISTORY_HEAD + '"","10/20/24"\n', 3, "Title", "title is empty"),
        (HISTORY_HEAD + '" ","11/03/2018"\n', 3, "Title", "title is empty"),
        (HISTORY_HEAD + '"Roma","2/30/24"\n', 3, "Date", "not a valid calendar date"),
        (HISTORY_HEAD + '"Roma","10/20/24","extra"\n', 3, None, "wrong number of values"),
        (
            ACTIVITY_HEAD + ACTIVITY_ROW.format(start="2024-06-02 19:41:07", duration="43 min", title="Roma"),
            2,
            "Duration",
            "not a duration",
        ),
        (
            ACTIVITY_HEAD + ACTIVITY_ROW.format(start="02/06/2024 19:41", duration="00:43:58", title="Roma"),
            2,
            "Start Time",
            "not a start time",
        ),
        (
            ACTIVITY_HEAD
            + ACTIVITY_ROW.format(start="2024-13-02 19:41:07", duration="00:43:58", title="Roma"),
            2,
            "Start Time",
            "not a start time",
        ),
        (
            ACTIVITY_HEAD + ACTIVITY_ROW.format(start="2024-06-02 19:41:07", duration="00:43:58", title=""),
            2,
            "Title",
            "title is empty",
        ),
    ],
    ids=[
        "yesterday",
        "empty-date",
        "empty-title",
        "blank-title-netflix-no-longer-has",
        "february-30",
        "extra-value",
        "bad-duration",
        "bad-start-time",
        "month-13",
        "activity-empty-title",
    ],
)
def test_an_unreadable_row_is_skipped_with_its_line_field_and_reason(
    tmp_path: Path, text: str, line: int, field: str | None, reason: str
) -> None:
    result = sync(write(tmp_path, "export.csv", text))
    assert result.err is None
    [skipped] = result.skipped
    assert (skipped.line, skipped.field, skipped.reason) == (line, field, reason)
    assert len(result.items) == (1 if text.startswith(HISTORY_HEAD) else 0)


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        (HISTORY_HEAD + '"Roma,10/20/24\n"Marriage Story","1/2/24"\n', 3, "malformed CSV"),
        ('[\n  {\n    "endTime" : "2024-01-01 10:00",\n    "trackName" : "Roma"\n  }\n]\n', 1, "found '['"),
    ],
    ids=["unclosed-quote-mid-file", "spotify-json"],
)
def test_a_file_that_is_not_csv_of_this_shape_is_rejected_with_its_line(
    tmp_path: Path, text: str, line: int, fragment: str
) -> None:
    err = error_of(write(tmp_path, "export.csv", text))
    assert err.message.startswith(f"export.csv, line {line}:"), err.message
    assert fragment in err.message


def test_a_line_break_inside_a_quoted_title_counts_as_a_line(tmp_path: Path) -> None:
    text = '"Title","Date"\n"Two\nLines","10/20/24"\n"Three\nLines\nHere","10/21/24"\n"Roma","yesterday"\n'
    assert [r.line for r in sync(write(tmp_path, "export.csv", text)).skipped] == [7]


def test_a_row_that_is_not_utf8_is_skipped_and_named(tmp_path: Path) -> None:
    path = write(
        tmp_path, "NetflixViewingHistory.csv", HISTORY_HEAD + '"Café Society","10/20/24"\n', "latin-1"
    )
    result = sync(path)
    assert [item.title for item in result.items] == ["Night Lines: A Concert Film"]
    [skipped] = result.skipped
    assert skipped.line == 3 and "UTF-8" in skipped.reason


def test_a_zip_is_rejected_with_a_hint_to_unzip(tmp_path: Path) -> None:
    path = tmp_path / "netflix-report.csv"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("CONTENT_INTERACTION/ViewingActivity.csv", ACTIVITY.read_text(encoding="utf-8"))
    err = error_of(path)
    assert err.message.startswith("netflix-report.csv")
    assert "zip" in err.message


def test_a_utf16_spreadsheet_resave_is_named_as_such(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "NetflixViewingHistory.csv", "\ufeff" + HISTORY_HEAD, "utf-16-le"))
    assert "UTF-16" in err.message


def test_missing_file_and_no_file_are_errors_not_exceptions(tmp_path: Path) -> None:
    assert "no export file" in error_of(None).message
    assert error_of(tmp_path / "gone.csv").message.startswith("gone.csv")


# --- real exports (fixtures/netflix/real/, see SOURCES.md) ------------------------------------

REAL = FIXTURES / "real"


def series_split(item: MediaItem) -> tuple[str, int | None] | None:
    meta = item.raw_metadata
    return (meta["series"], meta.get("season_number")) if "series" in meta else None


def test_a_brazilian_export_is_read_day_first_with_its_seasons_split() -> None:
    items = by_title(items_of(REAL / "NetflixViewingHistory_pt-BR.csv"))
    assert len(items) == 14
    assert items["Bárbaros: Temporada 1: O lobo e a águia"].consumed_at == day(2021, 5, 29)
    assert {item.raw_metadata["date_format"] for item in items.values()} == {"D/M/Y"}
    assert series_split(items["O Inocente: Minissérie: Episódio 1"]) == ("O Inocente", None)
    assert series_split(items["Peaky Blinders: Sangue, Apostas e Navalhas: Temporada 5: Sr. Jones"]) == (
        "Peaky Blinders: Sangue, Apostas e Navalhas",
        5,
    )
    assert series_split(items["SAINT SEIYA: Os Cavaleiros do Zodíaco: Parte 1: Seiya de Pégaso"]) == (
        "SAINT SEIYA: Os Cavaleiros do Zodíaco",
        1,
    )
    assert series_split(items["300: A Ascensão do Império"]) is None


def test_a_turkish_export_with_semicolons_is_read_month_first_with_its_seasons_split() -> None:
    items = by_title(items_of(REAL / "NetflixViewingHistory_tr.csv"))
    assert len(items) == 13
    assert items["The Platform 2"].consumed_at == day(2025, 1, 15)
    assert series_split(items["BoJack Horseman: 1. Sezon: Hızlı Yaşa Diane Nguyen"]) == ("BoJack Horseman", 1)
    assert series_split(items["Keeping Up with the Kardashians: 11. Sezon: 1. Bölüm"]) == (
        "Keeping Up with the Kardashians",
        11,
    )
    assert series_split(items["Gözlerinin Ardında: Mini Dizi: İkinci Kapı"]) == ("Gözlerinin Ardında", None)


def test_a_french_viewing_activity_keeps_the_longest_of_a_repeated_session() -> None:
    result = sync(REAL / "ViewingActivity_fr.csv")
    assert result.err is None and result.skipped == []
    assert result.left_out == {
        "repeated session row (the longest was kept)": 1,
        "trailer, hook or recap (not viewing)": 1,
    }
    first_episode = [item for item in result.items if "Passer pour une garce" in item.title]
    assert [item.time_spent for item in first_episode] == [timedelta(minutes=3, seconds=55)]
    stranger = next(item for item in result.items if item.title.startswith("Stranger Things"))
    assert series_split(stranger) == ("Stranger Things", 4)
    assert stranger.raw_metadata["episode_number"] == 9


@pytest.mark.parametrize(
    ("title", "series", "season_number"),
    [
        ("The Crown: Saison\xa03: Olding", "The Crown", 3),
        ("Lupin : Partie\xa01 : Chapitre 1", "Lupin", 1),
        ("Avatar: The Last Airbender: Book Four: Balance", "Avatar: The Last Airbender", 4),
        ("Stranger Things: Stranger Things 2: Chapter One: MADMAX", "Stranger Things", 2),
        ("Squid Game: 시즌 1: 무궁화 꽃이 피었습니다", "Squid Game", 1),
        ("Maid: Limited Series: Dollar Store", "Maid", None),
    ],
)
def test_season_words_of_every_locale_and_spacing_split_the_series(
    title: str, series: str, season_number: int | None
) -> None:
    parts = parse_title(title)
    assert (parts["series"], parts.get("season_number")) == (series, season_number)


def test_recognizes_both_viewing_exports_by_content_and_nothing_else() -> None:
    plugin = NetflixPlugin()
    ours = [US, EU, ACTIVITY, *sorted(REAL.iterdir())]
    assert all(plugin.recognizes("renamed.csv", path.read_bytes()[:65536]) for path in ours)
    others = [
        FIXTURES / "wrong_header.csv",
        FIXTURES / "binary.csv",
        FIXTURES.parent / "instapaper" / "instapaper-export.csv",
        FIXTURES.parent / "spotify_export" / "StreamingHistory0.json",
        FIXTURES.parent / "tiktok" / "user_data.json",
    ]
    assert not any(plugin.recognizes(path.name, path.read_bytes()[:65536]) for path in others)
    assert not plugin.recognizes("Devices.csv", b"Profile Name,Device Type,Last Used Time\n")
    assert not plugin.recognizes("x.csv", b"\xff\xfe\x00garbage")


@pytest.mark.parametrize(
    ("name", "items", "blank_lines", "order"),
    [
        ("history_en_us.csv", 23, [19, 21], "M/D/Y"),
        ("history_en_dayfirst.csv", 18, [16, 20], "D/M/Y"),
        ("history_es_mx.csv", 29, [23, 29], "D/M/Y"),
        ("history_fr_nbsp.csv", 18, [12, 14], "D/M/Y"),
        ("history_nl_dashes.csv", 38, [16, 27], "D/M/Y"),
    ],
)
def test_real_histories_skip_only_the_titles_netflix_blanked(
    name: str, items: int, blank_lines: list[int], order: str
) -> None:
    result = sync(REAL / name)
    assert result.err is None
    assert len(result.items) == items
    assert [(r.line, r.field, r.reason) for r in result.skipped] == [
        (n, "Title", "title is empty") for n in blank_lines
    ]
    assert {i.raw_metadata["date_format"] for i in result.items} == {order}


@pytest.mark.parametrize(
    ("title", "series", "season_number"),
    [
        ("KENGAN ASHURA: Part ll: Father", "KENGAN ASHURA", 2),
        ("The OA: Parte II: Capítulo\xa03: Espejo mágico", "The OA", 2),
        (
            "Avatar: La leyenda de Aang: Avatar: la leyenda de Aang: Libro 3: The Boiling Rock: Parte 1",
            "Avatar: La leyenda de Aang",
            3,
        ),
        ("Luther: Serie 5: Aflevering 4", "Luther", 5),
        ("Stranger Things: Hoofdstuk 8: The Upside Down", "Stranger Things", None),
        (
            "Clásicos navideños de DreamWorks: Colección: Merry Madagascar",
            "Clásicos navideños de DreamWorks",
            None,
        ),
    ],
)
def test_real_titles_of_many_locales_split_into_their_series(
    title: str, series: str, season_number: int | None
) -> None:
    names = [i.title for f in sorted(REAL.iterdir()) for i in sync(f).items]
    assert title in names  # each title is quoted from a real export in fixtures/netflix/real
    parts = parse_title(title)
    assert (parts["series"], parts.get("season_number")) == (series, season_number)


def test_films_with_colons_and_numerals_stay_whole() -> None:
    for film in ("The Hangover: Part II", "Creed II: Defendiendo el legado", "Mission: Impossible II"):
        assert parse_title(film) == {}


def test_a_real_estonian_activity_file_leaves_out_hooks_and_repeated_sessions() -> None:
    result = sync(REAL / "activity_en_ee.csv")
    assert result.err is None and result.skipped == []
    assert len(result.items) == 12
    assert result.left_out == {
        "trailer, hook or recap (not viewing)": 9,
        "repeated session row (the longest was kept)": 2,
    }


@pytest.mark.parametrize(
    ("title", "number"),
    [("Show: part ii: Pilot", 2), ("Show: PART L: Pilot", 1), ("Show: serie x: Pilot", 10)],
)
def test_roman_seasons_in_any_case_never_break_the_split(title: str, number: int) -> None:
    """Found by fuzzing: a lower-case or L numeral raised KeyError, rejecting the file."""
    assert parse_title(title)["season_number"] == number
