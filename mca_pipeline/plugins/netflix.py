"""Netflix viewing history from the two CSV files Netflix lets people download.

Netflix has no public API for viewing history, so this plugin imports exports instead:

- `NetflixViewingHistory.csv` (header `Title,Date`), one profile's "Download all" from
  the viewing-activity page. Dates carry no time and are written in the account
  locale's format, so the day/month order is detected once for the whole file: a
  per-row guess would read `3/4/24` and `14/3/24` from one file in two different ways.
- `ViewingActivity.csv` (full data request), one row per viewing session of every
  profile, with a UTC start time and the time watched. Trailers, hooks and recaps that
  played on their own are rows too; they are not viewing and are skipped.

The format is chosen by the header row rather than the file name, because people
rename downloads ("NetflixViewingHistory (1).csv"). Bad input never raises out of
`sync`: a row that cannot be read (a blank title, a date in no calendar) is skipped
and reported with its line and field, and only a file that is not one of these exports
comes back as a file_parse_error.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from mca_pipeline.core import (
    AuthType,
    ColumnarFileImportPlugin,
    Credentials,
    DedupPolicy,
    MediaItem,
    MediaType,
    OAuthConfig,
    SkippedRecord,
    SyncContext,
    SyncResult,
)
from mca_pipeline.core.columnar import ColumnarRead
from mca_pipeline.plugins.csv_exports import (
    UnreadableRow,
    check_csv_head,
    check_row_text,
    columnar_csv_clean,
    columnar_csv_rows,
    csv_rows,
    has_exact_header,
    header_of,
    shown,
)
from mca_pipeline.plugins.export_files import (
    PYTHON_SPACE_CLASS,
    PYTHON_SPACES,
    ExportFileError,
    FileCursor,
    columnar_file_read,
    file_parse_error,
    python_strip_sql,
    require_file,
    sql_text,
)

if TYPE_CHECKING:
    from mca_pipeline.enrich.tmdb import TmdbGenres

PLATFORM = "netflix"

HISTORY_HEADER: tuple[str, ...] = ("Title", "Date")
ACTIVITY_HEADER: tuple[str, ...] = (
    "Profile Name",
    "Start Time",
    "Duration",
    "Attributes",
    "Title",
    "Supplemental Video Type",
    "Device Type",
    "Bookmark",
    "Latest Bookmark",
    "Country",
)

_NOT_LATEST = "Not latest view"

_MONTH_FIRST = "M/D/Y"
_DAY_FIRST = "D/M/Y"
_YEAR_FIRST = "Y-M-D"
_ORDER_NAMES = {_MONTH_FIRST: "month-first (M/D/Y)", _DAY_FIRST: "day-first (D/M/Y)"}

# A date as the locale writes it: 3/14/19, 14.03.2019, 14-03-2019 or 2019-03-14.
_DATE = re.compile(r"(\d{1,4})([/.\-])(\d{1,2})\2(\d{1,4})")
_START_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
_DURATION = re.compile(r"(\d{1,3}):([0-5]\d):([0-5]\d)")

# Season words as Netflix writes them in episode titles, English first, then the
# localized forms seen in exports of non-English profiles. Loose on purpose: a miss
# only means an episode is stored without its series split, never a wrong item.
_NUMBERED_SEASON_WORDS = (
    "Season|Part|Volume|Vol\\.|Series|Book|Collection|Batch"
    "|Saison|Partie|Livre|Staffel|Teil|Temporada|Parte|Volumen|Libro"
    "|Stagione|Seizoen|Serie|Deel|Boek|Sezon|Säsong|Sæson|Sesong|Kausi|Évad|Sezóna"
    "|Série|Сезон|Часть|Книга|Σεζόν|עונה|الموسم|الجزء|シーズン|パート|시즌|파트|ซีซั่น|Mùa"
)
# Chapters number episodes, not seasons ("Stranger Things: Hoofdstuk 8: The Upside Down"):
# they split off the series but give no season number.
_CHAPTER_WORDS = "Chapter|Chapitre|Kapitel|Capítulo|Capitolo|Hoofdstuk|Rozdział|Глава"
# "Book Four: Balance", "Part One": English number words after a season word ("Chapter
# One" is left out: it names episodes, "Stranger Things: Stranger Things 2: Chapter One").
_NUMBER_WORDS = {
    word: n
    for n, word in enumerate(
        [
            "One",
            "Two",
            "Three",
            "Four",
            "Five",
            "Six",
            "Seven",
            "Eight",
            "Nine",
            "Ten",
            "Eleven",
            "Twelve",
            "Thirteen",
            "Fourteen",
            "Fifteen",
        ],
        1,
    )
}
# Numbers written before the word: "1. Sezon" (Turkish), "第2季" (Chinese), "2ª Temporada".
_NUMBER_FIRST_WORDS = "Sezon|Sezonul|Temporada|Staffel|Saison|Season|sezóna|évad|kausi"
_UNNUMBERED_SEASONS = (
    "Limited Series|Miniseries|Mini-Series|Minisérie|Minissérie|Minisserie|Miniserie|Mini-série"
    "|Série limitée|Serie limitada|Serie limitata|Miniserie limitada|Begrenzte Serie|Limitowana seria|Mini Dizi"
    "|Colección|Collection|Coleção|Sammlung|Collezione|Collectie"
    "|Мини-сериал|Ограниченный сериал|リミテッドシリーズ|리미티드 시리즈|限定劇集|迷你剧"
)
_SEASON = (
    rf"(?:(?:{_NUMBERED_SEASON_WORDS})\.? ?(?P<number>\d+)"
    rf"|(?:{_NUMBERED_SEASON_WORDS}) (?P<roman>[IVX]{{1,5}}|l{{1,3}})(?=$|:| -|\uff1a)"
    rf"|(?:Season|Part|Book|Volume) (?P<word>{'|'.join(_NUMBER_WORDS)})\b"
    r"|(?P=series) (?P<repeat>\d+)"
    rf"|(?P<before>\d+)(?:\.|ª|º|a|e|er|re|st|nd|rd|th)? ?(?:{_NUMBER_FIRST_WORDS})"
    rf"|第 ?(?P<cjk>\d+) ?[季部]"
    rf"|(?:{_CHAPTER_WORDS}) \d+"
    rf"|{_UNNUMBERED_SEASONS})"
)
# French writes a space before the colon ("Lupin : Partie 1 : Chapitre 1"), often a
# no-break one; titles are matched after every Unicode space became a plain space.
_EPISODE_TITLE = re.compile(
    rf"(?P<series>.+?) ?: (?P<season>{_SEASON})(?: ?:| -|\uff1a) ?(?P<episode>.+)",
    re.DOTALL | re.IGNORECASE,
)
_SPACES = re.compile(r"\s+")
# ViewingActivity.csv ends episode titles with their number: "The Harvest (Episode 4)".
_EPISODE_NUMBER = re.compile(
    r"(?P<title>.*\S)\s*\((?:Episode|Épisode|Folge|Episodio|Episódio|Aflevering|Odcinek|Avsnitt|Jakso"
    r"|Bölüm|Серия|Эпизод|Επεισόδιο|פרק|الحلقة|エピソード|에피소드|第)\s*(?P<number>\d+)\s*(?:集|話|화)?\)",
    re.DOTALL,
)


class NetflixPlugin(ColumnarFileImportPlugin):
    """Imports Netflix viewing history from a `NetflixViewingHistory.csv` or
    `ViewingActivity.csv` export, a page of rows per call.

    SKIP dedup: a viewing at a date or start time is an immutable fact, so a re-export
    that repeats it must not create or rewrite anything.
    """

    name = PLATFORM
    display_name = "Netflix — viewing activity"
    # A title without a series is mostly a film (about 100 minutes); episodes take the
    # metrics' 45-minute default.
    typical_length_s = MappingProxyType({"video": 6000.0})
    auth_type = AuthType.FILE_IMPORT
    auth_config: OAuthConfig | None = None
    dedup_policy = DedupPolicy.SKIP

    def sync(self, ctx: SyncContext, creds: Credentials, cursor: str) -> SyncResult:
        """Return the next page of at most `ctx.page_size` items after `cursor`."""
        if ctx.is_cancelled():
            return SyncResult(next_cursor=cursor, has_more=True)
        try:
            path = require_file(self.name, creds)
            check_csv_head(path)
            return _read_page(ctx, path, FileCursor.resume(cursor, path))
        except ExportFileError as exc:
            return SyncResult(err=exc.error)

    def __init__(self, *, tmdb: TmdbGenres | None = None) -> None:
        self._tmdb = tmdb

    def recognizes(self, name: str, head: bytes) -> bool:
        """Either viewing export by its header row, whatever the file is called; the
        other CSVs of Netflix's archive (Devices.csv, Ratings.csv, ...) are not."""
        return is_viewing_export(head)

    def columnar_read(self, file: Path, cursor: str) -> ColumnarRead | None:
        """DuckDB reads a ViewingActivity.csv whole (the columnar path) when it starts with
        the plain comma-separated header; NetflixViewingHistory.csv (a few hundred rows,
        dates in the locale's order) and semicolon re-saves go to the streaming reader."""
        if not has_exact_header(file, ACTIVITY_HEADER):
            return None
        return columnar_file_read(
            _ACTIVITY_SQL,
            file,
            cursor,
            params={"spaces": PYTHON_SPACES},
            functions={_TITLE_PARTS: _title_parts},
            numbered=True,
            in_file_order=True,
        )

    def enrich(self, ctx: SyncContext, creds: Credentials, items: list[MediaItem]) -> list[MediaItem]:
        """TMDB genres and id for each title (series for episodes); see `mca_pipeline.enrich.tmdb`.

        Raises EnrichmentSkipped when neither TMDB_API_KEY nor TMDB_READ_TOKEN is set.
        """
        if self._tmdb is None:
            from mca_pipeline.enrich.tmdb import TmdbGenres

            self._tmdb = TmdbGenres()
        return self._tmdb.enrich_items(ctx, items)


def parse_title(title: str) -> dict[str, Any]:
    """Split an episode title into series, season and episode; films give an empty dict.

    Only `<Show>: <season word + number | Limited Series>: <Episode>` counts as an
    episode, so a film such as "Spider-Man: Into the Spider-Verse" stays whole. Spaces
    of every kind (Netflix writes "Saison\xa03") are read as one plain space.
    """
    match = _EPISODE_TITLE.fullmatch(_SPACES.sub(" ", title).strip())
    if match is None:
        return {}
    parts: dict[str, Any] = {"series": _once(match["series"].strip()), "season": match["season"]}
    number = match["number"] or match["before"] or match["cjk"] or match["repeat"]
    if number is not None:
        parts["season_number"] = int(number)
    elif match["word"] is not None:
        parts["season_number"] = _NUMBER_WORDS[match["word"].capitalize()]
    elif match["roman"] is not None:
        parts["season_number"] = _roman(match["roman"].upper().replace("L", "I"))
    episode = _EPISODE_NUMBER.fullmatch(match["episode"])
    if episode is None:
        parts["episode_title"] = match["episode"]
    else:
        parts["episode_title"] = episode["title"]
        parts["episode_number"] = int(episode["number"])
    return parts


def _roman(numeral: str) -> int:
    """II -> 2, IV -> 4 ("Part ll", with small L for I, is a real Netflix title)."""
    values = {"I": 1, "V": 5, "X": 10}
    total = 0
    for here, after in zip(numeral, [*numeral[1:], ""], strict=True):
        total += -values[here] if after and values[after] > values[here] else values[here]
    return total


def _once(series: str) -> str:
    """Localized titles can name the series twice ("Avatar: La leyenda de Aang: Avatar: la
    leyenda de Aang: Libro 3: ..."); the series is then said once."""
    for cut in (i for i in range(len(series)) if series.startswith(": ", i)):
        if series[:cut].casefold() == series[cut + 2 :].casefold():
            return series[:cut]
    return series


# --- reading the file --------------------------------------------------------------------


def _check_row(line: int, row: list[str], header: tuple[str, ...]) -> None:
    check_row_text(line, row)
    if len(row) != len(header):
        detail = f"expected {len(header)} values ({shown(header)}) but found {len(row)}"
        raise UnreadableRow(line, None, "wrong number of values", detail, row)


def _required(line: int, values: dict[str, str], name: str, row: list[str]) -> str:
    value = values[name].strip()
    if not value:
        reason = "title is empty" if name == "Title" else f"{name} is empty"
        detail = (
            "Netflix writes a blank title for what it no longer offers"
            if name == "Title"
            else f"no {name} value"
        )
        raise UnreadableRow(line, name, reason, detail, row)
    return value


# --- paging ---------------------------------------------------------------------------


class _RowReader(Protocol):
    """Turns the data rows of one export format into items."""

    header: tuple[str, ...]

    def left_out(self, line: int, row: list[str]) -> str | None: ...

    def item(self, line: int, row: list[str]) -> MediaItem: ...


@dataclass
class _Page:
    items: list[MediaItem] = field(default_factory=list)
    position: int = 0
    has_more: bool = False
    skipped: list[SkippedRecord] = field(default_factory=list)
    left_out: dict[str, int] = field(default_factory=dict)


def _read_page(ctx: SyncContext, path: Path, start: FileCursor) -> SyncResult:
    """Read from the start of the file and keep the rows from `start.offset` on.

    The cursor counts data rows rather than bytes: the CSV reader cannot report byte
    offsets, and these files are a few MB, so re-reading the skipped rows is cheap.
    """
    with closing(csv_rows(path)) as rows:
        reader = _reader_for(path, rows)
        page = _collect(reader, rows, start.offset, max(1, ctx.page_size))
    ctx.log.debug(
        "netflix: %s: rows %d-%d gave %d items", path.name, start.offset, page.position, len(page.items)
    )
    _log_summary(ctx, path, reader, start)
    return SyncResult(
        items=page.items,
        next_cursor=FileCursor(file=start.file, offset=page.position).encode(),
        has_more=page.has_more,
        skipped=page.skipped,
        left_out=page.left_out,
    )


def _collect(reader: _RowReader, rows: Iterator[tuple[int, list[str]]], offset: int, page_size: int) -> _Page:
    """Take up to `page_size` items from the rows at and after index `offset`."""
    page = _Page()
    for line, row in rows:
        if page.position >= offset:
            if len(page.items) + len(page.skipped) >= page_size:
                page.has_more = True
                return page
            try:
                _check_row(line, row, reader.header)
                reason = reader.left_out(line, row)
                if reason is None:
                    page.items.append(reader.item(line, row))
                else:
                    page.left_out[reason] = page.left_out.get(reason, 0) + 1
            except UnreadableRow as unreadable:
                page.skipped.append(unreadable.record)
        page.position += 1
    return page


def _log_summary(ctx: SyncContext, path: Path, reader: _RowReader, start: FileCursor) -> None:
    """Tell the person once per file what was assumed, so dates can be checked."""
    if not isinstance(reader, _HistoryReader) or start.offset != 0:
        return
    date_format = reader.date_format
    if date_format.assumed:
        ctx.log.info(
            "netflix: %s: every date fits both day and month first; assumed month-first (M/D/Y)", path.name
        )
    if date_format.outvoted:
        ctx.log.warning(
            "netflix: %s: %d rows' dates fit only the other day/month order than the file's %s; "
            "they are skipped",
            path.name,
            date_format.outvoted,
            _ORDER_NAMES[date_format.order],
        )


def _reader_for(path: Path, rows: Iterator[tuple[int, list[str]]]) -> _RowReader:
    """Pick the format from the header row, which `rows` is advanced past."""
    first = next(rows, None)
    if first is None:
        raise ExportFileError(file_parse_error(path, "the file holds no header row, only blank lines"))
    line, header = first
    names = tuple(value.strip() for value in header)
    if names == HISTORY_HEADER:
        return _HistoryReader(_detect_date_format(path))
    if names == ACTIVITY_HEADER:
        return _ActivityReader(path)
    problem = (
        "not a Netflix viewing history export: expected the header "
        f"{shown(HISTORY_HEADER)!r} (NetflixViewingHistory.csv) or {shown(ACTIVITY_HEADER)!r} "
        f"(ViewingActivity.csv), found {shown(header)!r}"
    )
    raise ExportFileError(file_parse_error(path, problem, line=line))


def is_viewing_export(head: bytes) -> bool:
    """Whether a file starts with the header row of either Netflix viewing export."""
    return header_of(head) in (HISTORY_HEADER, ACTIVITY_HEADER)


# --- NetflixViewingHistory.csv ----------------------------------------------------------


@dataclass(frozen=True)
class _DateFormat:
    """The day/month order of a whole file, whether it was a guess, and how many rows
    could only be read in the other order (outvoted, and skipped)."""

    order: str
    assumed: bool
    outvoted: int = 0


@dataclass(frozen=True)
class _DateParts:
    raw: str
    first: int
    second: int
    third: int
    year_first: bool


def _date_parts(line: int, value: str, row: list[str]) -> _DateParts:
    """Split a locale-formatted date into its numbers, checking only the shape."""
    raw = value.strip()
    match = _DATE.fullmatch(raw)
    first, _, second, third = match.groups() if match else ("", "", "", "")
    year_first = len(first) == 4 and len(third) <= 2
    if not match or not (year_first or (len(first) <= 2 and len(third) in (2, 4))):
        detail = f"{value!r} is not a date (expected e.g. 3/14/19, 14/03/2019 or 2019-03-14)"
        raise UnreadableRow(line, "Date", "not a date", detail, row)
    return _DateParts(raw, int(first), int(second), int(third), year_first)


def _as_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _date_readings(line: int, parts: _DateParts, row: list[str]) -> dict[str, date]:
    """Every order in which the date is a real calendar date; at least one, or unreadable."""
    if parts.year_first:
        candidates = {_YEAR_FIRST: _as_date(parts.first, parts.second, parts.third)}
    else:
        year = parts.third + 2000 if parts.third < 100 else parts.third
        candidates = {
            _MONTH_FIRST: _as_date(year, parts.first, parts.second),
            _DAY_FIRST: _as_date(year, parts.second, parts.first),
        }
    readings = {order: day for order, day in candidates.items() if day is not None}
    if not readings:
        orders = _YEAR_FIRST if parts.year_first else f"{_MONTH_FIRST} or {_DAY_FIRST}"
        detail = f"{parts.raw!r} is not a valid date in {orders} order"
        raise UnreadableRow(line, "Date", "not a valid calendar date", detail, row)
    return readings


def _history_values(line: int, row: list[str]) -> tuple[str, _DateParts]:
    values = dict(zip(HISTORY_HEADER, row, strict=True))
    title = _required(line, values, "Title", row)
    date_value = _required(line, values, "Date", row)
    return title, _date_parts(line, date_value, row)


def _detect_date_format(path: Path) -> _DateFormat:
    """Decide day-first or month-first from the whole Date column, before any item is made.

    A row that fits only one order is a vote; the majority decides, so a few odd rows
    (a hand edit, a merged file) cannot flip a file or cost it the rest: the outvoted
    rows are skipped. With no votes at all, US month-first is assumed and flagged on
    every item; a tie keeps month-first, also flagged.
    """
    votes = {_MONTH_FIRST: 0, _DAY_FIRST: 0}
    year_last = False
    with closing(csv_rows(path)) as rows:
        next(rows, None)
        for line, row in rows:
            try:
                _check_row(line, row, HISTORY_HEADER)
                _, parts = _history_values(line, row)
                readings = _date_readings(line, parts, row)
            except UnreadableRow:
                continue
            year_last = year_last or not parts.year_first
            if not parts.year_first and len(readings) == 1:
                votes[next(iter(readings))] += 1
    month, day_ = votes[_MONTH_FIRST], votes[_DAY_FIRST]
    if day_ > month:
        return _DateFormat(_DAY_FIRST, assumed=False, outvoted=month)
    return _DateFormat(_MONTH_FIRST, assumed=year_last and month <= day_, outvoted=day_)


class _HistoryReader:
    """Rows of `NetflixViewingHistory.csv`: a title and the day it was watched."""

    header = HISTORY_HEADER

    def __init__(self, date_format: _DateFormat) -> None:
        self.date_format = date_format

    def left_out(self, line: int, row: list[str]) -> str | None:
        return None

    def item(self, line: int, row: list[str]) -> MediaItem:
        title, parts = _history_values(line, row)
        readings = _date_readings(line, parts, row)
        order = _YEAR_FIRST if parts.year_first else self.date_format.order
        if order not in readings:
            detail = f"{parts.raw!r} is not a date in the file's {_ORDER_NAMES[order]} order"
            raise UnreadableRow(line, "Date", "date does not fit the file's day/month order", detail, row)
        day = readings[order]
        metadata: dict[str, Any] = {
            "date": parts.raw,
            "date_precision": "day",
            "date_format": order,
            "date_format_assumed": self.date_format.assumed and order != _YEAR_FIRST,
            **parse_title(title),
        }
        return MediaItem(
            platform=PLATFORM,
            type=MediaType.VIDEO,
            title=title,
            consumed_at=datetime(day.year, day.month, day.day, tzinfo=UTC),
            external_id=f"{title}|{day.isoformat()}",
            raw_metadata=metadata,
        )


# --- ViewingActivity.csv ------------------------------------------------------------------

_SUPPLEMENTAL = "trailer, hook or recap (not viewing)"
_REPEATED = "repeated session row (the longest was kept)"


def _start_time(line: int, value: str, row: list[str]) -> datetime:
    """Start Time is `YYYY-MM-DD HH:MM:SS` in UTC."""
    detail = f"{value!r} is not a start time (expected YYYY-MM-DD HH:MM:SS)"
    if _START_TIME.fullmatch(value):
        try:
            return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
        except ValueError:
            pass
    raise UnreadableRow(line, "Start Time", "not a start time", detail, row)


def _duration(line: int, value: str, row: list[str]) -> timedelta:
    """Duration is the time watched in the session, `HH:MM:SS`."""
    match = _DURATION.fullmatch(value)
    if match is None:
        detail = f"{value!r} is not a duration (expected HH:MM:SS)"
        raise UnreadableRow(line, "Duration", "not a duration", detail, row)
    hours, minutes, seconds = (int(group) for group in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _optional(value: str) -> str | None:
    return value.strip() or None


def _session_key(row: list[str]) -> tuple[str, str, str]:
    values = dict(zip(ACTIVITY_HEADER, row, strict=True))
    return values["Profile Name"].strip(), values["Start Time"].strip(), values["Title"].strip()


class _ActivityReader:
    """Rows of `ViewingActivity.csv`: one viewing session of one profile each.

    Netflix sometimes writes one session several times (same profile, start and title)
    with different durations, as it updated the row; the longest is the time watched,
    so a first pass over the file picks, per session, the line of its longest row.
    """

    header = ACTIVITY_HEADER

    def __init__(self, path: Path) -> None:
        self.supplemental_column = ACTIVITY_HEADER.index("Supplemental Video Type")
        self.duration_column = ACTIVITY_HEADER.index("Duration")
        self.longest = self._longest_rows(path)

    def _longest_rows(self, path: Path) -> dict[tuple[str, str, str], int]:
        best: dict[tuple[str, str, str], tuple[timedelta, int]] = {}
        with closing(csv_rows(path)) as rows:
            next(rows, None)
            for line, row in rows:
                if len(row) != len(ACTIVITY_HEADER):
                    continue
                match = _DURATION.fullmatch(row[self.duration_column].strip())
                if match is None:
                    continue
                h, m, sec = (int(group) for group in match.groups())
                spent = timedelta(hours=h, minutes=m, seconds=sec)
                key = _session_key(row)
                if key not in best or spent > best[key][0]:
                    best[key] = (spent, line)
        return {key: line for key, (_, line) in best.items()}

    def left_out(self, line: int, row: list[str]) -> str | None:
        """Trailers, hooks, recaps and previews that played by themselves are not
        viewing; a repeated row of a session is not another viewing."""
        if row[self.supplemental_column].strip():
            return _SUPPLEMENTAL
        keeper = self.longest.get(_session_key(row))
        return _REPEATED if keeper is not None and keeper != line else None

    def item(self, line: int, row: list[str]) -> MediaItem:
        values = dict(zip(ACTIVITY_HEADER, row, strict=True))
        profile = _required(line, values, "Profile Name", row)
        start_raw = _required(line, values, "Start Time", row)
        started = _start_time(line, start_raw, row)
        time_spent = _duration(line, _required(line, values, "Duration", row), row)
        title = _required(line, values, "Title", row)
        return MediaItem(
            platform=PLATFORM,
            type=MediaType.VIDEO,
            title=title,
            consumed_at=started,
            time_spent=time_spent,
            external_id=f"{profile}|{start_raw}|{title}",
            raw_metadata=_activity_metadata(values, profile, start_raw, title),
        )


def _activity_metadata(values: dict[str, str], profile: str, start_raw: str, title: str) -> dict[str, Any]:
    attributes = values["Attributes"] if values["Attributes"].strip() else None  # keeps the trailing "; "
    latest = _optional(values["Latest Bookmark"])
    return {
        "profile": profile,
        "start_time": start_raw,
        "device": _optional(values["Device Type"]),
        "country": _optional(values["Country"]),
        "attributes": attributes,
        "autoplayed": bool(attributes and attributes.startswith("Autoplayed")),
        "bookmark": _optional(values["Bookmark"]),
        "latest_bookmark": latest,
        "latest_view": latest != _NOT_LATEST,
        **parse_title(title),
    }


# --- the columnar path: DuckDB reads a ViewingActivity.csv whole --------------------------

_TITLE_PARTS = "netflix_title_parts"


def _title_parts(title: str) -> str:
    """parse_title as JSON text, for the columnar SQL (called once per distinct title)."""
    return json.dumps(parse_title(title), ensure_ascii=False)


def _re2_episode_title() -> str:
    """_EPISODE_TITLE for DuckDB's RE2, exact on ASCII titles that do not name their
    series twice (`_title_parts_sql` sends the others to parse_title): each season form
    carries its own group and separator, the roman form's separator standing in for its
    look-ahead, and the back-reference form is left out."""
    separator = r"(?: ?:| -|\x{ff1a})"
    forms = [
        (rf"(?:{_NUMBERED_SEASON_WORDS})\.? ?(?P<number>\d+)", separator),
        (rf"(?:{_NUMBERED_SEASON_WORDS}) (?P<roman>[IVX]{{1,5}}|l{{1,3}})", r"(?::| -|\x{ff1a})"),
        (rf"(?:Season|Part|Book|Volume) (?P<word>{'|'.join(_NUMBER_WORDS)})\b", separator),
        (rf"(?P<before>\d+)(?:\.|ª|º|a|e|er|re|st|nd|rd|th)? ?(?:{_NUMBER_FIRST_WORDS})", separator),
        (r"第 ?(?P<cjk>\d+) ?[季部]", separator),
        (rf"(?:{_CHAPTER_WORDS}) \d+", separator),
        (_UNNUMBERED_SEASONS, separator),
    ]
    seasons = "|".join(f"(?P<season{i}>{form}){after}" for i, (form, after) in enumerate(forms))
    return rf"(?is)^(?P<series>.+?) ?: (?:{seasons}) ?(?P<episode>.+)$"


_SEASON_GROUPS = [f"season{i}" for i in range(7)]
_RE2_EPISODE_NUMBER = (
    rf"(?s)^(?P<title>.*[^{PYTHON_SPACE_CLASS[1:-1]}]){PYTHON_SPACE_CLASS}*\((?:"
    + _EPISODE_NUMBER.pattern.split(r"\((?:", 1)[1].split(r")\s*(?P<number>", 1)[0]
    + rf"){PYTHON_SPACE_CLASS}*(?P<number>\d+){PYTHON_SPACE_CLASS}*(?:集|話|화)?\)$"
)
_ROMAN = {
    "".join(letters): _roman("".join(letters))
    for n in range(1, 6)
    for letters in itertools.product("IVX", repeat=n)
}


@dataclass(frozen=True)
class _TitleSql:
    """SQL for parse_title(title) as JSON text, in steps that are columns the next reads:
    `python`, whether RE2 cannot read the title exactly; `match` (column m), the season
    match; `episode` (column e), the episode number's; `parts`, the JSON.

    parse_title itself (the netflix_title_parts function) reads the titles RE2 cannot:
    those with a character outside printable ASCII (Python's \\d, \\s, \\b and case
    folding reach further than RE2's) or a double space (parse_title reads the title with
    its spaces collapsed), whose part before the first colon comes again (a series named
    twice, or the `<series> 2` form, which needs a back-reference), or with a number of
    ten digits or more. The rest, ASCII titles in the grammar's other forms, RE2 reads.
    """

    python: str
    match: str
    episode: str
    parts: str


def _title_sql() -> _TitleSql:
    first = "rtrim(split_part(title, ':', 1))"
    python = f"""regexp_matches(title, '[^\\x20-\\x7e]|  |[0-9]{{{{10,}}}}')
        OR strpos(lower(substr(title, length({first}) + 2)), lower({first})) > 0"""
    pattern = _re2_episode_title()
    # regexp_extract names the groups in the order they open, whatever their own names
    names = re.findall(r"\(\?P<(\w+)>", pattern)
    # "Show: Season 2: Episode", most titles, in a pattern RE2 runs several times faster:
    # the first form of the first split, which _EPISODE_TITLE tries before any other
    # (empty groups stand for the other forms', so that both give one struct)
    common = (
        r"(?is)^(?P<series>[^:]+?) ?: (?P<season0>Season\.? ?(?P<number>\d+))"
        + "()" * (len(names) - 4)
        + r"(?: ?:| -|\x{ff1a}) ?(?P<episode>.+)$"
    )
    match = f"""CASE WHEN regexp_full_match(title, {sql_text(common)})
                THEN regexp_extract(title, {sql_text(common)}, {names})
                ELSE regexp_extract(title, {sql_text(pattern)}, {names}) END"""
    season = ", ".join(f"nullif(m.{g}, '')" for g in _SEASON_GROUPS)
    words = "MAP {" + ", ".join(f"'{w.upper()}': {n}" for w, n in _NUMBER_WORDS.items()) + "}"
    romans = "MAP {" + ", ".join(f"'{r}': {n}" for r, n in _ROMAN.items()) + "}"
    season_number = (
        "coalesce(TRY_CAST(coalesce(nullif(m.number, ''), nullif(m.before, ''), nullif(m.cjk, '')) AS BIGINT),"
        f" {words}[upper(nullif(m.word, ''))], {romans}[replace(upper(nullif(m.roman, '')), 'L', 'I')])"
    )
    episode = f"regexp_extract(m.episode, {sql_text(_RE2_EPISODE_NUMBER)}, ['title', 'number'])"
    parts = f"""CASE WHEN python THEN {_TITLE_PARTS}(title) WHEN m.episode = '' THEN '{{}}' ELSE
            '{{"series":' || to_json(trim(m.series)) || ',"season":' || to_json(coalesce({season}))
            || coalesce(',"season_number":' || ({season_number})::VARCHAR, '')
            || CASE WHEN e.number = '' THEN ',"episode_title":' || to_json(m.episode)
                    ELSE ',"episode_title":' || to_json(e.title) || ',"episode_number":' || TRY_CAST(e.number AS BIGINT) END
            || '}}' END"""
    return _TitleSql(python, match, episode, parts)


_TITLE = _title_sql()


#: The stripped values the reader uses (the raw Attributes value is kept as well).
_STRIPPED = {
    "profile": "c0", "start": "c1", "duration": "c2", "attributes_s": "c3", "title": "c4",
    "supplemental": "c5", "device": "c6", "bookmark": "c7", "latest": "c8", "country": "c9",
}  # fmt: skip

_ACTIVITY_SQL = f"""
WITH v AS {columnar_csv_rows(len(ACTIVITY_HEADER))},
stripped AS (
    SELECT v.*, {", ".join(f"{python_strip_sql(column)} AS {name}" for name, column in _STRIPPED.items())}
    FROM v
), s AS (
    SELECT stripped.*,
        CASE WHEN regexp_full_match(duration, '[0-9]{{1,3}}:[0-5][0-9]:[0-5][0-9]') THEN
            TRY_CAST(string_split(duration, ':')[1] AS INTEGER) * 3600 + TRY_CAST(string_split(duration, ':')[2] AS INTEGER) * 60
            + TRY_CAST(string_split(duration, ':')[3] AS INTEGER) END AS seconds
    FROM stripped
), keeper AS (
    -- the longest row of each session repeated in the file, the first of equals
    -- (_ActivityReader._longest_rows); few sessions are, so the join below is small
    SELECT profile, start, title, arg_max(rn, seconds * 4294967296 - rn) FILTER (WHERE seconds IS NOT NULL) AS keeper
    FROM s GROUP BY profile, start, title HAVING count(*) > 1
), k AS (
    SELECT s.*, keeper.keeper,
        try_strptime(start, '%Y-%m-%d %H:%M:%S') AS started,
        CASE WHEN supplemental <> '' THEN '{_SUPPLEMENTAL}'
             WHEN keeper.keeper IS NOT NULL AND keeper.keeper <> rn THEN '{_REPEATED}' END AS left_out
    FROM s LEFT JOIN keeper USING (profile, start, title)
), titled AS (
    SELECT k.*, left_out IS NULL AND contains(title, ':') AS has_parts,
        has_parts AND ({_TITLE.python}) AS python,
        CASE WHEN has_parts AND NOT python THEN {_TITLE.match} END AS m
    FROM k
), episodes AS (
    SELECT titled.*, {_TITLE.episode} AS e FROM titled
), r AS (
    SELECT episodes.*,
        CASE WHEN has_parts THEN {_TITLE.parts} ELSE '{{}}' END AS parts,
        json_object(
            'profile', profile, 'start_time', start, 'device', nullif(device, ''),
            'country', nullif(country, ''), 'attributes', CASE WHEN attributes_s <> '' THEN c3 END,
            'autoplayed', attributes_s <> '' AND starts_with(c3, 'Autoplayed'),
            'bookmark', nullif(bookmark, ''), 'latest_bookmark', nullif(latest, ''),
            'latest_view', latest <> '{_NOT_LATEST}'
        )::VARCHAR AS base
    FROM episodes
)
SELECT
    profile || '|' || start || '|' || title AS external_id,
    'video' AS media_type,
    title,
    NULL::VARCHAR AS creator,
    to_timestamp(epoch_ms(started) // 1000) AS consumed_at,
    NULL::DOUBLE AS duration_s,
    seconds::DOUBLE AS time_spent_s,
    []::VARCHAR[] AS tags,
    NULL::VARCHAR AS url,
    CASE WHEN parts = '{{}}' THEN base
         ELSE substr(base, 1, length(base) - 1) || ',' || substr(parts, 2) END AS raw_metadata,
    -- what csv_rows or _ActivityReader would read otherwise or skip
    {columnar_csv_clean(len(ACTIVITY_HEADER), quotes=False)}
        AND (left_out IS NOT NULL OR (
            profile <> '' AND title <> '' AND seconds IS NOT NULL AND started IS NOT NULL
            AND regexp_full_match(start, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}} ([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]')))
        AS clean,
    left_out,
    mca_record
FROM r
"""
