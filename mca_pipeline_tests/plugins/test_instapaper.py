"""The Instapaper plugin against realistic CSV exports: what a person importing their saved
articles sees.

Expected values are worked out by hand from the fixtures in fixtures/instapaper/, shaped
like the real export (`URL,Title,Selection,Folder,Timestamp`, plus `Tags` as a JSON array
since late 2024): consumed_at is the Timestamp in UTC, e.g. 1710252000 = 2024-03-12
00:00 UTC (1710201600) + 14 h.
"""

from __future__ import annotations

import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mca_pipeline.core import (
    AuthType,
    Credentials,
    DedupPolicy,
    ErrorCode,
    MediaItem,
    MediaType,
    PluginError,
    PluginRegistry,
    SourcePlugin,
    SyncContext,
    SyncResult,
)
from mca_pipeline.plugins.instapaper import InstapaperPlugin, normalise_url, site_of, title_from_url
from mca_pipeline_tests.conftest import all_pages

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "instapaper"
EXPORT = FIXTURES / "instapaper-export.csv"
LATER = FIXTURES / "instapaper-export-later.csv"
TAGGED = FIXTURES / "instapaper-export-tags.csv"

HEADER = "URL,Title,Selection,Folder,Timestamp\n"
ROW = "https://example.com/a,An Article,,Unread,1710252000\n"

ATLANTIC = "https://www.theatlantic.com/ideas/archive/2024/03/slow-reading-attention/677801/"
NYT = "https://www.nytimes.com/2024/02/20/science/octopus-dreams.html"
SCHOLAR = 'https://scholar.google.com/scholar?q="calm+technology",weiser&hl=en'
MAPS = "https://www.google.com/maps/place/Reykjav%C3%ADk/@64.1466,-21.9426,12z"


def sync(path: Path | None, *, page_size: int = 50_000, cursor: str = "") -> SyncResult:
    ctx = SyncContext(user_id="alice", page_size=page_size)
    return InstapaperPlugin().sync(ctx, Credentials(file=path), cursor)


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


def write(tmp_path: Path, text: str, name: str = "instapaper-export.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def by_id(items: list[MediaItem]) -> dict[str, MediaItem]:
    return {item.external_id: item for item in items}


# --- the contract ---------------------------------------------------------------------------


def test_plugin_meets_the_contract_and_registers() -> None:
    plugin = InstapaperPlugin()
    assert isinstance(plugin, SourcePlugin)
    assert (plugin.name, plugin.auth_type, plugin.auth_config) == ("instapaper", AuthType.FILE_IMPORT, None)
    assert plugin.dedup_policy == DedupPolicy.UPDATE_ON_CHANGE
    registry = PluginRegistry()
    registry.register(plugin)
    assert registry.names() == ["instapaper"]


def test_enrich_returns_the_items_unchanged() -> None:
    items = items_of(EXPORT)
    assert InstapaperPlugin().enrich(SyncContext(user_id="alice"), Credentials(file=EXPORT), items) == items


# --- the export -----------------------------------------------------------------------------

# (title, creator, consumed_at, external_id, tags), in file order.
EXPORT_ITEMS = [
    ("The Case for Slow Reading", "theatlantic.com", at("2024-03-12 14:00:00"), ATLANTIC, ()),
    (
        "news.ycombinator.com/item?id=39654321",
        "news.ycombinator.com",
        at("2024-03-11 14:00:00"),
        "https://news.ycombinator.com/item?id=39654321",
        (),
    ),
    (
        'Do Octopuses Dream? Scientists Say, "Maybe"',
        "nytimes.com",
        at("2024-02-20 16:00:00"),
        NYT + "?smid=nytcore-ios-share",
        (),
    ),
    (
        "能登半島地震\u3000被災地の今、そして復興への道",
        "www3.nhk.or.jp",
        at("2024-01-15 08:00:00"),
        "https://www3.nhk.or.jp/news/html/20240115/k10014321000000.html",
        (),
    ),
    (
        "Notes on Tools That Last",
        "tidbits.substack.com",
        at("2024-01-01 00:00:00"),
        "https://tidbits.substack.com/p/notes-on-tools-that-last",
        (),
    ),
    ("Reykjavík \u2013 Google Maps", "google.com", at("2023-12-25 00:00:00"), MAPS, ("Travel",)),
    (
        'scholar.google.com/scholar?q="calm+technology",weiser&hl=en',
        "scholar.google.com",
        at("2023-12-18 00:00:00"),
        SCHOLAR,
        ("Research",),
    ),
    (
        "Rust in Production: One Year Later",
        "blog.example.org",
        at("2023-11-14 22:13:20"),
        "https://blog.example.org/2023/11/rust-in-production?ref=hn",
        (),
    ),
    (
        "The Long Afternoon",
        "lrb.co.uk",
        at("2023-10-16 23:46:40"),
        "https://www.lrb.co.uk/the-paper/v45/n20/the-long-afternoon",
        (),
    ),
    ("Mistral 7B", "arxiv.org", at("2023-10-11 04:53:20"), "https://arxiv.org/abs/2310.06825", ("Research",)),
    ("theoatmeal.com", "theoatmeal.com", at("2023-07-22 04:26:40"), "https://theoatmeal.com/", ()),
    (
        "How to Do Great Work",
        "paulgraham.com",
        at("2023-07-01 00:00:00"),
        "http://www.paulgraham.com/greatwork.html",
        (),
    ),
]


def test_export_gives_one_article_per_row_in_file_order() -> None:
    items = items_of(EXPORT)
    assert [
        (item.title, item.creator, item.consumed_at, item.external_id, item.tags) for item in items
    ] == EXPORT_ITEMS
    for item in items:
        assert item.platform == "instapaper"
        assert item.type == MediaType.ARTICLE
        assert item.duration is None
        assert item.time_spent is None


def test_states_follow_the_folder() -> None:
    items = items_of(EXPORT)
    assert [(item.raw_metadata["folder"], item.raw_metadata["state"]) for item in items] == [
        ("Unread", "unread"),
        ("Unread", "unread"),
        ("Archive", "archived"),
        ("Archive", "archived"),
        ("Starred", "starred"),
        ("Travel", "folder"),
        ("Research", "folder"),
        ("Archive", "archived"),
        ("Starred", "starred"),
        ("Research", "folder"),
        ("Archive", "archived"),
        ("Archive", "archived"),
    ]


def test_a_row_keeps_folder_state_selection_and_raw_timestamp() -> None:
    item = by_id(items_of(EXPORT))[NYT + "?smid=nytcore-ios-share"]
    assert item.url == NYT + "?smid=nytcore-ios-share#comments"  # the link as saved, fragment and all
    assert item.raw_metadata == {
        "folder": "Archive",
        "state": "archived",
        "selection": "Researchers filmed sleeping octopuses changing colour in patterns that match their "
        "waking displays.",
        "timestamp": 1708444800,
        "title_from_url": False,
    }


def test_empty_title_falls_back_to_host_and_path_and_says_so() -> None:
    item = by_id(items_of(EXPORT))["https://news.ycombinator.com/item?id=39654321"]
    assert item.title == "news.ycombinator.com/item?id=39654321"
    assert item.raw_metadata == {
        "folder": "Unread",
        "state": "unread",
        "selection": None,
        "timestamp": 1710165600,
        "title_from_url": True,
    }


def test_consumed_at_is_the_save_time_in_utc() -> None:
    item = items_of(EXPORT)[0]
    assert item.consumed_at == datetime(2024, 3, 12, 14, 0, tzinfo=UTC)
    assert item.consumed_at.timestamp() == item.raw_metadata["timestamp"] == 1710252000


def test_multi_line_selection_is_kept_whole() -> None:
    item = by_id(items_of(EXPORT))["https://tidbits.substack.com/p/notes-on-tools-that-last"]
    assert (
        item.raw_metadata["selection"] == "Good tools disappear into the work.\nThey are boring on purpose."
    )
    assert item.raw_metadata["state"] == "starred"
    assert item.tags == ()


def test_bom_crlf_quotes_commas_and_non_latin_text_come_through_intact() -> None:
    raw = EXPORT.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbfURL,Title,Selection,Folder,Timestamp\r\n")
    items = items_of(EXPORT)
    assert items[0].url is not None and items[0].url.startswith("https://www.theatlantic.com/")  # no BOM
    urls = [item.url for item in items]
    assert MAPS in urls  # commas inside a quoted URL
    assert SCHOLAR in urls  # doubled quotes and a comma inside a quoted URL
    titles = [item.title for item in items]
    assert 'Do Octopuses Dream? Scientists Say, "Maybe"' in titles
    assert "能登半島地震\u3000被災地の今、そして復興への道" in titles
    assert not any("\r" in title or "\ufeff" in title for title in titles)


def test_utm_parameters_are_dropped_from_the_id_but_kept_in_the_url() -> None:
    items = items_of(EXPORT)
    assert items[0].external_id == ATLANTIC
    assert items[0].url == (
        ATLANTIC + "?utm_source=newsletter&utm_medium=email&utm_campaign=atlantic-daily&utm_content=20240312"
    )
    rust = by_id(items)["https://blog.example.org/2023/11/rust-in-production?ref=hn"]
    assert (
        rust.url
        == "https://blog.example.org/2023/11/rust-in-production?ref=hn&utm_source=hackernews&utm_medium=social"
    )


def test_external_ids_are_unique_and_stable_across_reads() -> None:
    first = [item.external_id for item in items_of(EXPORT)]
    assert first == [item.external_id for item in items_of(EXPORT)]
    assert len(set(first)) == len(first)


# --- a later export: update on change --------------------------------------------------------


def test_a_later_export_matches_old_articles_and_adds_the_new_ones() -> None:
    old = by_id(items_of(EXPORT))
    new = by_id(items_of(LATER))
    assert old.keys() <= new.keys()
    assert new.keys() - old.keys() == {
        "https://www.quantamagazine.org/the-physics-of-forgetting-20240402/",
        "https://www.theguardian.com/books/2024/mar/30/why-libraries-still-matter",
    }
    guardian = new["https://www.theguardian.com/books/2024/mar/30/why-libraries-still-matter"]
    assert (guardian.tags, guardian.raw_metadata["state"]) == (("Reading List",), "folder")
    assert guardian.consumed_at == at("2024-03-30 12:00:00")


def test_an_article_moved_from_unread_to_archive_changes_only_its_folder() -> None:
    before = by_id(items_of(EXPORT))[ATLANTIC]
    after = by_id(items_of(LATER))[ATLANTIC]
    assert (before.raw_metadata["folder"], before.raw_metadata["state"]) == ("Unread", "unread")
    assert (after.raw_metadata["folder"], after.raw_metadata["state"]) == ("Archive", "archived")
    assert before.raw_metadata != after.raw_metadata  # what UPDATE_ON_CHANGE reacts to
    unchanged = ("external_id", "consumed_at", "title", "creator", "url", "tags")
    assert {key: getattr(after, key) for key in unchanged} == {key: getattr(before, key) for key in unchanged}


def test_every_other_article_is_identical_in_the_later_export() -> None:
    old = by_id(items_of(EXPORT))
    new = by_id(items_of(LATER))
    changed = [key for key in old if old[key] != new[key]]
    assert changed == [ATLANTIC]


# --- the Tags column and other extra columns ----------------------------------------------------


def test_tags_column_is_parsed_and_added_after_the_folder() -> None:
    items = items_of(TAGGED)
    assert [(item.title, item.tags, item.raw_metadata["tags"]) for item in items] == [
        ("Range Over Function Types", (), []),
        ("The Physics of Forgetting", ("physics", "longform"), ["physics", "longform"]),
        ("Shakshuka", ("Recipes", "cooking"), ["cooking", "Recipes"]),  # the folder is not repeated
        ("Go 1.23 is released", ("go",), ["go"]),
    ]
    assert items[2].external_id == "https://cooking.example.net/recipes/shakshuka"
    assert items[1].raw_metadata == {
        "folder": "Archive",
        "state": "archived",
        "selection": "Memory is not a recording.",
        "timestamp": 1731000000,
        "title_from_url": False,
        "tags": ["physics", "longform"],
    }


def test_the_same_article_in_a_tagged_export_keeps_its_id() -> None:
    later = by_id(items_of(LATER))
    tagged = by_id(items_of(TAGGED))
    quanta = "https://www.quantamagazine.org/the-physics-of-forgetting-20240402/"
    assert later[quanta].url != tagged[quanta].url  # one saved from RSS with utm_ parameters
    assert later[quanta].raw_metadata["state"] == "unread"
    assert tagged[quanta].raw_metadata["state"] == "archived"


def test_a_tags_value_that_is_not_a_json_list_is_kept_as_text(tmp_path: Path) -> None:
    path = write(
        tmp_path, "URL,Title,Selection,Folder,Timestamp,Tags\nhttps://example.com/a,A,,Unread,1,go; rust\n"
    )
    (item,) = items_of(path)
    assert item.tags == ()
    assert item.raw_metadata["tags"] == "go; rust"


def test_columns_in_another_order_with_unknown_extras_are_read_by_name(tmp_path: Path) -> None:
    text = (
        "Folder,Progress,Timestamp,URL,Title,Selection,State\n"
        'Essays,0.5,1688169600,http://www.paulgraham.com/greatwork.html,How to Do Great Work,,""\n'
    )
    (item,) = items_of(write(tmp_path, text))
    assert (item.title, item.creator, item.consumed_at, item.tags) == (
        "How to Do Great Work",
        "paulgraham.com",
        at("2023-07-01 00:00:00"),
        ("Essays",),
    )
    assert item.raw_metadata["progress"] == "0.5"
    assert item.raw_metadata["state"] == "folder"  # an extra column never overwrites a field of ours
    assert item.raw_metadata["column_state"] is None


def test_selection_is_trimmed_to_1000_characters(tmp_path: Path) -> None:
    selection = "  " + "a" * 1200 + "  "
    (item,) = items_of(write(tmp_path, f"{HEADER}https://example.com/a,A,{selection},Unread,1\n"))
    assert item.raw_metadata["selection"] == "a" * 1000


def test_a_private_emailed_article_has_no_site(tmp_path: Path) -> None:
    url = "instapaper-private://email/1a2b3c4d/Weekly%20Digest"
    (item,) = items_of(write(tmp_path, f"{HEADER}{url},,,Unread,1710252000\n"))
    assert (item.title, item.creator, item.external_id) == (url, None, url)


@pytest.mark.parametrize(
    ("url", "normalised"),
    [
        ("https://example.com/a?utm_source=x&id=7&UTM_Medium=y", "https://example.com/a?id=7"),
        ("https://example.com/a?utm_source=x", "https://example.com/a"),
        ("https://example.com/a#section-2", "https://example.com/a"),
        ("HTTPS://WWW.Example.COM/Path?Q=1", "https://www.example.com/Path?Q=1"),
        ("https://example.com/a?b=1&&c=2&utm_term=z", "https://example.com/a?b=1&c=2"),
        ("https://twitter.com/#!/jack/status/20", "https://twitter.com/#!/jack/status/20"),
        ("  https://example.com/a  ", "https://example.com/a"),
        ("https://theoatmeal.com:443/", "https://theoatmeal.com/"),
        ("http://example.com:80/a", "http://example.com/a"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https:/example.com/a", "https://example.com/a"),
    ],
)
def test_normalise_url(url: str, normalised: str) -> None:
    assert normalise_url(url) == normalised


@pytest.mark.parametrize(
    ("url", "site", "title"),
    [
        ("https://www.theatlantic.com/ideas/", "theatlantic.com", "theatlantic.com/ideas"),
        ("https://theoatmeal.com:443/", "theoatmeal.com", "theoatmeal.com"),
        ("http://WWW.Example.com", "example.com", "example.com"),
        ("https://www3.nhk.or.jp/news/a.html", "www3.nhk.or.jp", "www3.nhk.or.jp/news/a.html"),
        ("instapaper-private://email/abc", None, "instapaper-private://email/abc"),
    ],
)
def test_site_and_title_from_url(url: str, site: str | None, title: str) -> None:
    assert (site_of(url), title_from_url(url)) == (site, title)


# --- paging -------------------------------------------------------------------------------------


def test_pages_of_five_add_up_to_the_one_shot_result() -> None:
    pages = all_pages(InstapaperPlugin(), EXPORT, page_size=5)
    assert [len(page.items) for page in pages] == [5, 5, 2]
    assert [page.has_more for page in pages] == [True, True, False]
    assert [item for page in pages for item in page.items] == items_of(EXPORT)


def test_resuming_from_a_cursor_continues_where_the_page_ended() -> None:
    first = sync(EXPORT, page_size=4)
    assert '"offset":4' in first.next_cursor
    second = sync(EXPORT, page_size=4, cursor=first.next_cursor)
    assert [item.title for item in second.items] == [row[0] for row in EXPORT_ITEMS[4:8]]
    assert sync(EXPORT, page_size=4, cursor=first.next_cursor) == second  # same cursor, same page


def test_the_final_cursor_resumes_to_nothing_new() -> None:
    last = sync(EXPORT)
    assert '"offset":12' in last.next_cursor
    again = sync(EXPORT, cursor=last.next_cursor)
    assert (again.err, again.items, again.has_more) == (None, [], False)


@pytest.mark.parametrize("cursor", ["not a cursor", '{"file":"0000","offset":3}', "[]", '{"offset":-1}'])
def test_a_cursor_from_another_file_or_garbage_starts_at_row_0(cursor: str) -> None:
    result = sync(EXPORT, page_size=2, cursor=cursor)
    assert result.err is None
    assert [item.external_id for item in result.items] == [row[3] for row in EXPORT_ITEMS[:2]]


def test_a_later_export_starts_from_its_first_row_whatever_the_old_cursor() -> None:
    old_cursor = sync(EXPORT).next_cursor
    result = sync(LATER, cursor=old_cursor)
    assert len(result.items) == 14


def test_cancelled_sync_returns_nothing_and_keeps_the_cursor() -> None:
    cursor = sync(EXPORT, page_size=4).next_cursor
    ctx = SyncContext(user_id="alice", page_size=4)
    ctx.cancelled.set()
    result = InstapaperPlugin().sync(ctx, Credentials(file=EXPORT), cursor)
    assert (result.items, result.next_cursor, result.has_more, result.err) == ([], cursor, True, None)


def test_a_file_with_only_the_header_gives_no_items(tmp_path: Path) -> None:
    result = sync(write(tmp_path, "\ufeff" + HEADER.replace("\n", "\r\n")))
    assert (result.err, result.items, result.has_more) == (None, [], False)


def test_blank_lines_between_rows_are_skipped(tmp_path: Path) -> None:
    items = items_of(write(tmp_path, f"{HEADER}\n{ROW}\n\n"))
    assert [item.title for item in items] == ["An Article"]


# --- bad files ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "line", "fragments"),
    [
        ("unclosed_quote.csv", 4, ["never closed"]),
        ("binary.csv", 3, ["NUL byte"]),
        ("empty.csv", 1, ["file is empty"]),
    ],
)
def test_files_that_are_not_csv_give_a_located_file_parse_error(
    name: str, line: int, fragments: list[str]
) -> None:
    err = error_of(FIXTURES / name)
    assert err.message.startswith(f"{name}, line {line}")
    assert (err.details["file"], err.details["line"]) == (name, line)
    for fragment in fragments:
        assert fragment in err.message


@pytest.mark.parametrize(
    ("name", "line", "field", "reason"),
    [
        ("bad_timestamp.csv", 5, "Timestamp", "not a Unix timestamp"),
        ("empty_url.csv", 4, "URL", "URL is empty"),
    ],
)
def test_a_bad_row_of_a_fixture_is_skipped_with_its_line(
    name: str, line: int, field: str, reason: str
) -> None:
    result = sync(FIXTURES / name)
    assert result.err is None and result.items
    [skipped] = result.skipped
    assert (skipped.line, skipped.field, skipped.reason) == (line, field, reason)


def test_a_csv_without_the_instapaper_columns_lists_every_missing_one(tmp_path: Path) -> None:
    err = error_of(write(tmp_path, "Title,Date\nRoma,3/14/19\n"))
    assert "missing column(s) 'URL', 'Selection', 'Folder'" in err.message
    assert err.details["line"] == 1


@pytest.mark.parametrize(
    ("text", "line", "field", "reason"),
    [
        (HEADER + ROW + "https://example.com/b,B,,Unread,\n", 3, "Timestamp", "Timestamp is empty"),
        (
            HEADER + ROW + "https://example.com/b,B,,Unread,yesterday\n",
            3,
            "Timestamp",
            "not a Unix timestamp",
        ),
        (
            HEADER + ROW + "https://example.com/b,B,,Unread,1710252000.0\n",
            3,
            "Timestamp",
            "not a Unix timestamp",
        ),
        (HEADER + ROW + "https://example.com/b,B,,Unread,-5\n", 3, "Timestamp", "not a Unix timestamp"),
        (
            HEADER + ROW + "https://example.com/b,B,,Unread,999999999999\n",
            3,
            "Timestamp",
            "not a Unix timestamp",
        ),
        (HEADER + ROW + "   ,B,,Unread,1710252000\n", 3, "URL", "URL is empty"),
        (HEADER + ROW + "http://[::1,B,,Unread,1710252000\n", 3, "URL", "not a URL"),
        (HEADER + ROW + "#section-2,B,,Unread,1710252000\n", 3, "URL", "not a URL"),
        (HEADER + ROW + "javascript:alert(1),B,,Unread,1710252000\n", 3, "URL", "not a web address"),
        (HEADER + ROW + "mailto:someone@example.com,B,,Unread,1710252000\n", 3, "URL", "not a web address"),
        (HEADER + ROW + "https://example.com/b,B,,,1710252000\n", 3, "Folder", "Folder is empty"),
        (
            HEADER + ROW + "https://example.com/b,B,,Unread,1710252000,extra\n",
            3,
            None,
            "wrong number of values",
        ),
        (HEADER + ROW + "https://example.com/b,B,Unread,1710252000\n", 3, None, "wrong number of values"),
    ],
    ids=[
        "empty-timestamp",
        "word-timestamp",
        "float-timestamp",
        "negative-timestamp",
        "year-beyond-9999",
        "blank-url",
        "broken-url",
        "fragment-only",
        "javascript",
        "mailto",
        "empty-folder",
        "extra-value",
        "missing-value",
    ],
)
def test_an_unreadable_row_is_skipped_with_its_line_field_and_reason(
    tmp_path: Path, text: str, line: int, field: str | None, reason: str
) -> None:
    result = sync(write(tmp_path, text, name="export.csv"))
    assert result.err is None
    assert [item.title for item in result.items] == ["An Article"]
    [skipped] = result.skipped
    assert (skipped.line, skipped.field, skipped.reason) == (line, field, reason)


def test_an_unclosed_quote_mid_file_rejects_it_as_not_csv(tmp_path: Path) -> None:
    text = HEADER + ROW + 'https://example.com/b,"B,,Unread,1\nhttps://example.com/c,"C",,Unread,1\n'
    err = error_of(write(tmp_path, text, name="export.csv"))
    assert err.message.startswith("export.csv, line 3:") and "malformed CSV" in err.message


def test_a_line_break_inside_a_quoted_selection_counts_as_a_line(tmp_path: Path) -> None:
    text = (
        HEADER + 'https://example.com/a,A,"one\ntwo\nthree",Unread,1\nhttps://example.com/b,B,,Unread,soon\n'
    )
    assert [r.line for r in sync(write(tmp_path, text)).skipped] == [5]


def test_a_skipped_row_on_a_later_page_is_reported_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + ROW * 3 + "https://example.com/b,B,,Unread,soon\n")
    first = sync(path, page_size=3)
    assert (len(first.items), first.has_more) == (3, True)
    second = sync(path, page_size=3, cursor=first.next_cursor)
    assert second.items == [] and second.err is None
    assert [r.line for r in second.skipped] == [5]


def test_a_row_that_is_not_utf8_is_skipped_and_named(tmp_path: Path) -> None:
    result = sync(
        write(tmp_path, HEADER + ROW + "https://example.com/b,Café,,Unread,1\n", encoding="latin-1")
    )
    assert [item.title for item in result.items] == ["An Article"]
    [skipped] = result.skipped
    assert skipped.line == 3 and "UTF-8" in skipped.reason


def test_blank_lines_only_is_an_error(tmp_path: Path) -> None:
    assert "no header row" in error_of(write(tmp_path, "\r\n\r\n")).message


def test_a_zip_is_rejected_with_a_hint_to_unzip(tmp_path: Path) -> None:
    path = tmp_path / "instapaper-export.csv"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("instapaper-export.csv", EXPORT.read_text(encoding="utf-8-sig"))
    assert "zip" in error_of(path).message


def test_a_utf16_spreadsheet_resave_is_named_as_such(tmp_path: Path) -> None:
    assert "UTF-16" in error_of(write(tmp_path, "\ufeff" + HEADER + ROW, encoding="utf-16-le")).message


def test_missing_file_and_no_file_are_errors_not_exceptions(tmp_path: Path) -> None:
    assert "no export file" in error_of(None).message
    assert error_of(tmp_path / "gone.csv").message.startswith("gone.csv")


# --- real exports of both generations (fixtures/instapaper/real/, see SOURCES.md) -------------

REAL = FIXTURES / "real"


def test_the_older_export_without_timestamps_imports_with_its_unknown_save_time_flagged() -> None:
    path = REAL / "instapaper-export-2010.csv"
    result = sync(path)
    assert result.err is None and result.skipped == []
    assert len(result.items) == 12
    file_time = datetime.fromtimestamp(int(path.stat().st_mtime), UTC)
    assert {item.consumed_at for item in result.items} == {file_time}
    assert all(item.raw_metadata["consumed_at_unknown"] is True for item in result.items)
    assert all("timestamp" not in item.raw_metadata for item in result.items)
    items = by_id(result.items)
    selection = items[
        "http://zunguzungu.wordpress.com/2010/11/29/julian-assange-and-the-computer-conspiracy-"
        "%E2%80%9Cto-destroy-this-invisible-government%E2%80%9D/"
    ].raw_metadata["selection"]
    assert selection.startswith("Read original essay first") and "\n\nJa-conspiraces.pdf" in selection
    assert items["http://www.xs4all.nl/~suelette/underground/underground.txt"].title == (
        "xs4all.nl/~suelette/underground/underground.txt"
    )
    assert items["http://twitter.com/#!/wikileaks/status/6564225640042499"].tags == ()
    spiegel = items["http://www.spiegel.de/international/germany/0,1518,719619,00.html"]
    assert spiegel.tags == ("Wikileaks reading list",)


def test_the_2023_export_keeps_odd_titles_and_urls_of_a_real_account() -> None:
    items = by_id(items_of(REAL / "instapaper-export-2023.csv"))
    assert len(items) == 10
    assert items["https://tdingsun.github.io/lara/"].title == "and I still welcome you home,,,,"
    assert items["https://github.com/a16z-infra/ai-town"].title == "AI Town 🏠💻💌"
    assert (
        "https://www.reddit.com/r/SteamDeck/comments/15lsais/visual_novel_recommendations_for_deck/" in items
    )
    untitled = items["https://github.com/linuxdotexe/nordic-wallpapers/blob/master/wallpaper-preview.md"]
    assert untitled.title == "github.com/linuxdotexe/nordic-wallpapers/blob/master/wallpaper-preview.md"
    assert items["https://landings.dev/"].consumed_at == datetime.fromtimestamp(1692762914, UTC)


def test_untitled_saves_of_different_videos_get_different_titles(tmp_path: Path) -> None:
    rows = "".join(f"https://www.youtube.com/watch?v={v},,,Unread,1710252000\n" for v in ("abc", "xyz"))
    titles = [item.title for item in items_of(write(tmp_path, HEADER + rows))]
    assert titles == ["youtube.com/watch?v=abc", "youtube.com/watch?v=xyz"]


def test_a_url_missing_a_slash_is_repaired(tmp_path: Path) -> None:
    (item,) = items_of(write(tmp_path, HEADER + "https:/example.com/a,,,Unread,1710252000\n"))
    assert (item.external_id, item.url, item.creator, item.title) == (
        "https://example.com/a",
        "https://example.com/a",
        "example.com",
        "example.com/a",
    )


def test_recognizes_both_generations_by_header_and_nothing_else() -> None:
    plugin = InstapaperPlugin()
    ours = [EXPORT, LATER, TAGGED, *sorted(REAL.iterdir())]
    assert all(plugin.recognizes("export.csv", path.read_bytes()[:65536]) for path in ours)
    others = [
        FIXTURES.parent / "netflix" / "NetflixViewingHistory_us.csv",
        FIXTURES.parent / "netflix" / "ViewingActivity.csv",
        FIXTURES.parent / "spotify_export" / "StreamingHistory0.json",
        FIXTURES / "binary.csv",
    ]
    assert not any(plugin.recognizes(path.name, path.read_bytes()[:65536]) for path in others)


def test_a_real_2018_export_keeps_mailed_articles_and_skips_text_that_is_no_url() -> None:
    result = sync(REAL / "instapaper-export-2018-no-timestamp-folders.csv")
    assert result.err is None
    assert len(result.items) == 9
    assert [(r.reason, r.field) for r in result.skipped] == [("not a URL", "URL"), ("not a URL", "URL")]
    assert any(i.url and i.url.startswith("instapaper-private://") for i in result.items)
    assert all(i.raw_metadata["consumed_at_unknown"] for i in result.items)


def test_a_tag_holding_a_lone_surrogate_skips_its_row_not_the_file(tmp_path: Path) -> None:
    text = "URL,Title,Selection,Folder,Timestamp,Tags\n" + ROW.rstrip("\n") + ",[]\n"
    text += 'https://example.com/b,B,,Unread,1710252000,"[""long\\ud800""]"\n'
    result = sync(write(tmp_path, text))
    assert [item.title for item in result.items] == ["An Article"]
    assert [(r.line, r.reason) for r in result.skipped] == [(3, "value cannot be stored")]
