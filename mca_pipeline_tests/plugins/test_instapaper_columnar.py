"""The columnar path of instapaper against its streaming reader.

Every file is imported twice, into two warehouses: as core imports it (DuckDB reads the
export whole where it can) and by the streaming reader alone. Both must store the same
rows and count the same; an export with a row the streaming reader skips, or reads
otherwise, must not take the columnar path at all.
"""

from __future__ import annotations

import csv
import io
import itertools
import random
from pathlib import Path

import pytest

from mca_pipeline.core import Credentials, SyncContext
from mca_pipeline.plugins.instapaper import InstapaperPlugin, _url_parts, repair_url
from mca_pipeline.warehouse.sync_loop import run_sync
from mca_pipeline_tests.plugins.columnar_paths import (
    LOG,
    assert_left_to_streaming,
    assert_paged_in_file_order,
    assert_same,
    assert_taken_and_stored_alike,
    import_both,
    streaming_only,
    took_columnar_path,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "instapaper"
HEADER = ["URL", "Title", "Selection", "Folder", "Timestamp"]


def export(*rows: list[str], header: list[str] = HEADER) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


ARTICLE = ["https://example.com/a?utm_source=x&id=3#top", "A title", "", "Unread", "1710252000"]
TAGGED = [*ARTICLE, '["ml", " go ", "ml", "", "Reading"]']


def random_urls(n: int) -> list[str]:
    """URLs the streaming reader reads, assembled from the pieces urlsplit and
    normalise_url treat specially."""
    rng = random.Random(7)
    schemes = [
        "https://",
        "http://",
        "HTTPS://",
        "https:/",
        "Http:/",
        "ftp://",
        "mailto:",
        "instapaper-private://",
    ]
    hosts = [
        "example.com", "Example.COM", "www.site.org", "WWW.Site.org", "site.com:443", "site.com:8080",
        "site.com:", "user@Host.com", "[::1]", "[::1", "a_b.com", "", "xn--bcher-kva.de", "bücher.de", "sub.www.x",
    ]  # fmt: skip
    paths = ["", "/", "/a/b/", "/a%20b", "/ä", "//double", "/a//", "/p;params", "/x:y"]
    queries = [
        "",
        "?",
        "?a=1",
        "?utm_source=x&a=1",
        "?UTM_x=1",
        "?a=1&&b",
        "?=x",
        "?utm_=1",
        "?a=1&utm_medium=2",
    ]
    fragments = ["", "#", "#x", "#!/a", "#!", "#!x?y"]
    urls = (
        rng.choice(schemes)
        + rng.choice(hosts)
        + rng.choice(paths)
        + rng.choice(queries)
        + rng.choice(fragments)
        for _ in itertools.count()
    )
    return list(itertools.islice((url for url in urls if _url_parts(repair_url(url))), n))


#: Exports the streaming reader reads whole, each with an oddity the SQL must read alike.
ODD_BUT_READABLE = {
    "plain": export(ARTICLE),
    "tags, repeated and padded": export(
        TAGGED, [*ARTICLE[:3], "Research", ARTICLE[4], '["Research", "b"]'], header=[*HEADER, "Tags"]
    ),
    "tags that are no list": export(
        [*ARTICLE, "ml, go"], [*ARTICLE[:4], "1710252001", ""], header=[*HEADER, "Tags"]
    ),
    "a user folder": export([*ARTICLE[:3], "Recipes", ARTICLE[4]]),
    "untitled saves of every kind of URL": export(
        *([url, "", "", "Archive", "1700000000"] for url in random_urls(400))
    ),
    "a long untitled URL": export(["https://example.com/" + "a" * 300, "", "", "Unread", "1"]),
    "a lost slash": export(["https:/example.com/x", "", "", "Unread", "1710252000"]),
    "padded values and a long selection": export(
        ["\xa0https://example.com/p\u3000", " T ", "s" * 1500 + " ", " Archive ", " 1710252000 "]
    ),
    "a quoted title with quotes": export(
        ["https://example.com/q", 'Mirror of "deb" repositories', "", "Unread", "2"]
    ),
    "the same article twice": export(ARTICLE, [*ARTICLE[:3], "Archive", ARTICLE[4]]),
}

NOT_FOR_DUCKDB = {
    "an empty URL": export(ARTICLE, ["", "t", "", "Unread", "1"]),
    "a mailto link": export(ARTICLE, ["mailto:a@b.c", "t", "", "Unread", "1"]),
    "no folder": export(ARTICLE, ["https://example.com/b", "t", "", "", "1"]),
    "a timestamp that is no number": export(ARTICLE, ["https://example.com/b", "t", "", "Unread", "soon"]),
    "a timestamp past 9999": export(ARTICLE, ["https://example.com/b", "t", "", "Unread", "999999999999"]),
    "a tag list with an escape": export(TAGGED, [*ARTICLE, '["caf\\u00e9"]'], header=[*HEADER, "Tags"]),
    "a row with too many values": export(ARTICLE, [*ARTICLE, "extra"]),
}


@pytest.mark.parametrize("name", sorted(ODD_BUT_READABLE))
def test_odd_but_readable_exports_take_the_columnar_path_and_store_alike(tmp_path: Path, name: str) -> None:
    assert_taken_and_stored_alike(
        tmp_path, InstapaperPlugin, tmp_path / "instapaper-export.csv", ODD_BUT_READABLE[name]
    )


@pytest.mark.parametrize("name", sorted(NOT_FOR_DUCKDB))
def test_exports_read_otherwise_go_to_the_streaming_reader(tmp_path: Path, name: str) -> None:
    assert_left_to_streaming(
        tmp_path, InstapaperPlugin, tmp_path / "instapaper-export.csv", NOT_FOR_DUCKDB[name]
    )


REAL = sorted(FIXTURES.rglob("*.csv"))


def test_a_large_export_with_blank_lines_is_paged_and_resumed_in_the_files_order(tmp_path: Path) -> None:
    """Many rows with blank ones between them (empty lines, lines of commas): pages
    come in the file's order and a cursor means the same record."""
    rows: list[list[str]] = []
    for n in range(60_000):
        rows.append([f"https://example.com/articles/{n}", f"Article {n}", "", "Unread", str(1710252000 + n)])
        if n % 997 == 0:
            rows.append([] if n % 2 else [""] * len(HEADER))
    file = tmp_path / "instapaper-export.csv"
    file.write_bytes(export(*rows))
    ids = [f"https://example.com/articles/{n}" for n in range(60_000)]
    assert_paged_in_file_order(InstapaperPlugin(), file, ids, page_size=7_000)


@pytest.mark.parametrize("file", REAL, ids=[str(p.relative_to(FIXTURES)) for p in REAL])
def test_every_fixture_is_stored_alike_on_both_paths(tmp_path: Path, file: Path) -> None:
    fast, slow, a, b = import_both(tmp_path, InstapaperPlugin, file)
    assert_same(fast, slow, a, b)
    with_times = (
        file.read_bytes().removeprefix(b"\xef\xbb\xbf").startswith(b"URL,Title,Selection,Folder,Timestamp")
    )
    if with_times and slow.error is None and not slow.tally.unreadable:
        assert took_columnar_path(fast), file.name


def test_the_streaming_reader_finds_nothing_changed_after_the_columnar_path(tmp_path: Path) -> None:
    """UPDATE_ON_CHANGE compares raw_metadata as text: the columnar path must write it as
    the streaming reader does, or every later import would rewrite every article."""
    file = tmp_path / "instapaper-export.csv"
    rows = ([url, "", "sel", folder, "1700000000", '["a"]'] for url, folder in
            zip(random_urls(300), itertools.cycle(["Unread", "Archive", "Mine"]), strict=False))  # fmt: skip
    file.write_bytes(export(*rows, header=[*HEADER, "Tags"]))
    fast, _, warehouse, _ = import_both(tmp_path, InstapaperPlugin, file)
    assert took_columnar_path(fast) and fast.new > 100
    again = run_sync(
        streaming_only(InstapaperPlugin),
        warehouse,
        "u",
        Credentials(file=file),
        log=LOG,
        source=file.name,
        ctx=SyncContext(user_id="u", page_size=50_000),
    )
    assert (again.new, again.updated) == (0, 0)
