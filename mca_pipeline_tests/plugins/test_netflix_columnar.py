"""The columnar path of netflix (ViewingActivity.csv) against its streaming reader.

Every file is imported twice, into two warehouses: as core imports it (DuckDB reads the
file whole where it can) and by the streaming reader alone. Both must store the same rows
and count the same; a file whose rows DuckDB's CSV reader could read otherwise than
Python's csv module, or with a row the streaming reader skips, must not take the columnar
path at all.
"""

from __future__ import annotations

import contextlib
import json
import random
from pathlib import Path

import duckdb
import pytest

from mca_pipeline.plugins import netflix
from mca_pipeline.plugins.csv_exports import csv_rows
from mca_pipeline.plugins.export_files import PYTHON_SPACES, ExportFileError
from mca_pipeline.plugins.netflix import ACTIVITY_HEADER, NetflixPlugin, parse_title
from mca_pipeline_tests.plugins.columnar_paths import (
    assert_left_to_streaming,
    assert_paged_in_file_order,
    assert_same,
    assert_taken_and_stored_alike,
    import_both,
    took_columnar_path,
)

FIXTURES = Path(__file__).parent.parent / "fixtures" / "netflix"
HEADER = ",".join(ACTIVITY_HEADER)
EPISODE = "Alex,2024-06-02 19:41:07,00:43:58,,The Glass Orchard: Season 2: The Harvest (Episode 4),,Chrome PC (Cadmium),00:44:10,00:44:10,DE (Germany)"
FILM = "Sam,2024-06-01 20:00:00,01:52:10,,Glass Onion: A Knives Out Mystery,,Samsung TV,01:52:10,Not latest view,US (United States)"
TRAILER = "Alex,2024-06-02 19:39:55,00:00:06,Autoplayed: user action: None; ,The Glass Orchard: Season 2 (Trailer),TRAILER,Chrome PC (Cadmium),00:00:06,Not latest view,DE (Germany)"


def rows(*lines: str, newline: str = "\n", bom: bool = False) -> bytes:
    text = newline.join([HEADER, *lines]) + newline
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode()


#: Files the streaming reader reads whole, each with an oddity the SQL must read alike.
ODD_BUT_READABLE = {
    "plain": rows(EPISODE, FILM, TRAILER),
    "BOM and CRLF": rows(EPISODE, FILM, newline="\r\n", bom=True),
    "blank lines and a line of commas": rows(EPISODE, "", ",,,,,,,,,", FILM),
    "no newline at the end": rows(EPISODE, FILM)[:-1],
    "values padded with no-break and ideographic spaces": rows(
        "\xa0Alex\u3000,2024-06-02 19:41:07, 00:43:58 ,  ,\u2003Dark: Season 1: Secrets (Episode 1)\xa0,,TV, , ,"
    ),
    "a quoted title with a comma and a line break": rows(
        'Alex,2024-06-02 19:41:07,00:43:58,,"Love, Death & Robots: Volume 1:\nSonnie\'s Edge",,TV,,,'
    ),
    "French title with a no-break space before the colon": rows(
        "Léa,2023-01-05 21:00:00,00:40:00,,Lupin\xa0: Partie\xa01\xa0: Chapitre 1,,TV,,,FR (France)"
    ),
    "repeated session, the longest kept, ties to the first": rows(
        EPISODE,
        EPISODE.replace("00:43:58", "00:12:00"),
        FILM,
        FILM,
        EPISODE.replace("00:43:58", "00:50:00"),
    ),
    "a repeated row whose duration is no duration": rows(EPISODE, EPISODE.replace("00:43:58", "soon")),
    "a supplemental row with nothing else readable": rows(EPISODE, ",,,,,TRAILER,,,,"),
    "a trailer longer than the episode of the same session": rows(
        EPISODE, EPISODE.replace("00:43:58", "01:00:00").replace(",,Chrome", ",HOOK,Chrome"), FILM
    ),
    "series named twice and a roman season": rows(
        "Ana,2022-02-02 10:00:00,00:20:00,,Avatar: La leyenda de Aang: Avatar: la leyenda de Aang: Libro 3: Fuego,,TV,,,",
        "Ana,2022-02-03 10:00:00,00:20:00,,Stranger Things: Stranger Things 2: Chapter One,,TV,,,",
        "Ana,2022-02-04 10:00:00,00:20:00,,The Crown: Season II: Misadventure (Episode 3),,TV,,,",
    ),
    "three-digit hours watched": rows(EPISODE.replace("00:43:58", "100:00:00")),
}

#: Files with a row the streaming reader skips or its csv module reads its own way: the
#: columnar path leaves the whole file to it.
NOT_FOR_DUCKDB = {
    "a blank title": rows(
        EPISODE, EPISODE.replace("The Glass Orchard: Season 2: The Harvest (Episode 4)", "")
    ),
    "a start time that is no time": rows(EPISODE, FILM.replace("2024-06-01 20:00:00", "2024-02-30 20:00:00")),
    "a leap second": rows(EPISODE, FILM.replace("20:00:00", "23:59:60")),
    "a duration that is no duration": rows(EPISODE, FILM.replace("01:52:10", "1:52")),
    "digits of another script": rows(EPISODE, FILM.replace("2024-06-01", "٢٠٢٤-٠٦-٠١")),
    "a quote inside a value": rows(EPISODE, FILM.replace("Glass Onion", 'Glass "Onion"')),
    "a control character": rows(EPISODE, FILM.replace("Glass Onion", "Glass\x0bOnion")),
    "a lone carriage return": rows(EPISODE, FILM.replace("Glass Onion", '"Glass\rOnion"')),
    "a row with too few values": rows(EPISODE, "Sam,2024-06-01 20:00:00,01:52:10"),
    "bytes that are not UTF-8": rows(EPISODE) + FILM.encode("latin-1").replace(b"Glass", b"Gl\xe4ss") + b"\n",
    "an unclosed quote": rows(EPISODE, FILM.replace("Glass Onion", '"Glass Onion')),
}


@pytest.mark.parametrize("name", sorted(ODD_BUT_READABLE))
def test_odd_but_readable_files_take_the_columnar_path_and_store_alike(tmp_path: Path, name: str) -> None:
    assert_taken_and_stored_alike(
        tmp_path, NetflixPlugin, tmp_path / "ViewingActivity.csv", ODD_BUT_READABLE[name]
    )


@pytest.mark.parametrize("name", sorted(NOT_FOR_DUCKDB))
def test_files_with_a_row_read_otherwise_go_to_the_streaming_reader(tmp_path: Path, name: str) -> None:
    assert_left_to_streaming(tmp_path, NetflixPlugin, tmp_path / "ViewingActivity.csv", NOT_FOR_DUCKDB[name])


def test_a_large_file_with_blank_lines_is_paged_and_resumed_in_the_files_order(tmp_path: Path) -> None:
    """Many rows with blank ones between them (empty lines, lines of commas): the record
    numbers are the rows' places in the file, blank rows not counted, so pages come in
    the file's order and a cursor means the same record."""
    lines, ids = [], []
    for n in range(60_000):
        start = f"2024-{n % 12 + 1:02d}-{n % 28 + 1:02d} {n % 24:02d}:{n // 24 % 60:02d}:{n % 60:02d}"
        title = f"Show {n}: Season {n % 9 + 1}: Episode {n} (Episode {n % 20 + 1})"
        lines.append(
            f"Alex,{start},00:21:0{n % 10},,{title},,Chrome PC (Cadmium),00:21:00,00:21:00,DE (Germany)"
        )
        ids.append(f"Alex|{start}|{title}")
        if n % 997 == 0:
            lines.append("" if n % 2 else ",,,,,,,,,")
    file = tmp_path / "ViewingActivity.csv"
    file.write_bytes(rows(*lines))
    assert_paged_in_file_order(NetflixPlugin(), file, ids, page_size=7_000)


REAL = sorted(p for p in FIXTURES.rglob("*.csv"))


@pytest.mark.parametrize("file", REAL, ids=[str(p.relative_to(FIXTURES)) for p in REAL])
def test_every_fixture_is_stored_alike_on_both_paths(tmp_path: Path, file: Path) -> None:
    fast, slow, a, b = import_both(tmp_path, NetflixPlugin, file)
    assert_same(fast, slow, a, b)
    is_activity = file.read_bytes().removeprefix(b"\xef\xbb\xbf").startswith(HEADER.encode())
    if is_activity and slow.error is None and not slow.tally.unreadable:
        assert took_columnar_path(fast), file.name
    if not is_activity:
        assert not took_columnar_path(fast), file.name


def test_the_stripped_characters_are_those_python_strips() -> None:
    assert "".join(c for c in map(chr, range(0x110000)) if c.isspace()) == PYTHON_SPACES


def fixture_titles() -> list[str]:
    titles = []
    for file in REAL:
        with contextlib.suppress(ExportFileError):
            rows = [[value.strip() for value in row] for _, row in csv_rows(file)]
            if rows and "Title" in rows[0]:
                column = rows[0].index("Title")
                titles += [row[column] for row in rows[1:] if len(row) > column and row[column]]
    return titles


def random_titles(n: int) -> list[str]:
    """Titles assembled from the pieces the grammar reads, in every case and spacing,
    with the near misses a regular expression can get wrong."""
    rng = random.Random(19)
    series = ["Dark", "The Crown", "Narcos: Mexico", "Love, Death & Robots", "A", "Show 7", "Part", "x:y"]
    seasons = [
        "Season 2", "season 10", "SEASON 3", "Season  4", "Season2", "Part 1", "Part ll", "Part II", "Part IIII",
        "Volume 3", "Vol. 2", "Vol 2", "Book Four", "Part One", "Season Twelve", "Part Onely", "2nd Season",
        "3rd Season", "1. Sezon", "Chapter 3", "Chapter One", "Limited Series", "limited series", "Miniseries",
        "Collection", "Saison 3", "Staffel 2", "Temporada 1", "Series 9", "Batch 3", "Season", "Season X",
        "Season IIIIII", "Part V", "Part L", "Kausi 2", "Season 0", "Season 007",
    ]  # fmt: skip
    separators = [": ", " : ", ":", " - ", " -", "\uff1a", ": : ", " :: "]
    episodes = [
        "Pilot", "The Harvest (Episode 4)", "Episode 12", "(Episode 3)", "Ozymandias (Episode 14) ", "Part 2",
        "Chapter One: The Vanishing", "A (Folge 2)", "B (Episode  7)", "C(Episode 8)", "D (Episode 9", "E (episode 1)",
        "F (Episode 1) extra", "Season 2: G", "1", "",
    ]  # fmt: skip
    titles = []
    for _ in range(n):
        title = rng.choice(series) + rng.choice([": ", " : ", ":", ": : "]) + rng.choice(seasons)
        title += rng.choice(separators) + rng.choice(episodes)
        if rng.random() < 0.1:
            title = title.replace(" ", rng.choice(["  ", "\t", " \u00a0"]), 1)
        if rng.random() < 0.1:
            title = rng.choice(series) + ": " + title
        titles.append(title.strip())
    return [t for t in titles if t]


def test_the_sql_reading_of_titles_gives_parse_titles_parts() -> None:
    titles = sorted(set(fixture_titles() + random_titles(20_000)))
    con = duckdb.connect()
    con.create_function(netflix._TITLE_PARTS, netflix._title_parts, ["VARCHAR"], "VARCHAR")
    sql = netflix._TITLE
    query = f"""
        WITH k AS (SELECT unnest($titles) AS title, NULL AS left_out), titled AS (
            SELECT k.*, contains(title, ':') AS has_parts, has_parts AND ({sql.python}) AS python,
                CASE WHEN has_parts AND NOT python THEN {sql.match} END AS m
            FROM k), episodes AS (SELECT titled.*, {sql.episode} AS e FROM titled)
        SELECT title, python, CASE WHEN has_parts THEN {sql.parts} ELSE '{{}}' END FROM episodes"""
    read = con.execute(query, {"titles": titles}).fetchall()
    wrong = [(title, parts) for title, _, parts in read if json.loads(parts) != parse_title(title)]
    assert not wrong, wrong[:5]
    # most titles were read by SQL alone, and episodes were found among them
    assert sum(not python for _, python, _ in read) > len(read) / 2
    assert sum('"episode_number"' in parts for _, python, parts in read if not python) > 1000
