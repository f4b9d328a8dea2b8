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
`sync`: it comes back as a file_parse_error naming the file, the line and the field.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from mca_pipeline.core import (
    AuthType,
    Credentials,
    DedupPolicy,
    MediaItem,
    MediaType,
    OAuthConfig,
    SyncContext,
    SyncResult,
)
from mca_pipeline.plugins.csv_exports import check_csv_head, csv_rows, field_error, shown
from mca_pipeline.plugins.export_files import (
    ExportFileError,
    FileCursor,
    file_parse_error,
    require_file,
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
    "Season|Part|Volume|Chapter|Series|Book|Collection"
    "|Saison|Partie|Staffel|Teil|Temporada|Parte|Stagione|Seizoen|Deel|Sezon|Säsong|Sæson|Sesong|Kausi"
    "|Сезон|Часть|الموسم|الجزء|シーズン|시즌"
)
_UNNUMBERED_SEASONS = "Limited Series|Miniseries|Mini-Series|Minisérie|Miniserie|Série limitée"
_EPISODE_TITLE = re.compile(
    rf"(?P<series>.+?): (?P<season>(?:{_NUMBERED_SEASON_WORDS}) ?(?P<number>\d+)|{_UNNUMBERED_SEASONS})"
    r": (?P<episode>.+)",
    re.DOTALL,
)
# ViewingActivity.csv ends episode titles with their number: "The Harvest (Episode 4)".
_EPISODE_NUMBER = re.compile(
    r"(?P<title>.*\S)\s*\((?:Episode|Épisode|Folge|Episodio|Episódio|Aflevering|Odcinek|Avsnitt|Jakso"
    r"|Серия|Эпизод|الحلقة|エピソード|에피소드)\s*(?P<number>\d+)\)",
    re.DOTALL,
)


class NetflixPlugin:
    """Imports Netflix viewing history from a `NetflixViewingHistory.csv` or
    `ViewingActivity.csv` export, a page of rows per call.

    SKIP dedup: a viewing at a date or start time is an immutable fact, so a re-export
    that repeats it must not create or rewrite anything.
    """

    name = PLATFORM
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
    episode, so a film such as "Spider-Man: Into the Spider-Verse" stays whole.
    """
    match = _EPISODE_TITLE.fullmatch(title)
    if match is None:
        return {}
    parts: dict[str, Any] = {"series": match["series"], "season": match["season"]}
    if match["number"] is not None:
        parts["season_number"] = int(match["number"])
    episode = _EPISODE_NUMBER.fullmatch(match["episode"])
    if episode is None:
        parts["episode_title"] = match["episode"]
    else:
        parts["episode_title"] = episode["title"]
        parts["episode_number"] = int(episode["number"])
    return parts


# --- reading the file --------------------------------------------------------------------


def _check_width(path: Path, line: int, row: list[str], header: tuple[str, ...]) -> None:
    if len(row) != len(header):
        problem = f"expected {len(header)} values ({shown(header)}) but found {len(row)}: {shown(row)!r}"
        raise ExportFileError(file_parse_error(path, problem, line=line))


def _required(path: Path, line: int, values: dict[str, str], name: str) -> str:
    value = values[name].strip()
    if not value:
        raise field_error(path, line, name, "value is empty")
    return value


# --- paging ---------------------------------------------------------------------------


class _RowReader(Protocol):
    """Turns the data rows of one export format into items."""

    header: tuple[str, ...]

    def is_supplemental(self, row: list[str]) -> bool: ...

    def item(self, line: int, row: list[str]) -> MediaItem: ...


@dataclass
class _Page:
    items: list[MediaItem] = field(default_factory=list)
    position: int = 0
    has_more: bool = False
    skipped: int = 0


def _read_page(ctx: SyncContext, path: Path, start: FileCursor) -> SyncResult:
    """Read from the start of the file and keep the rows from `start.offset` on.

    The cursor counts data rows rather than bytes: the CSV reader cannot report byte
    offsets, and these files are a few MB, so re-reading the skipped rows is cheap.
    """
    with closing(csv_rows(path)) as rows:
        reader = _reader_for(path, rows)
        page = _collect(path, reader, rows, start.offset, max(1, ctx.page_size))
    ctx.log.debug(
        "netflix: %s: rows %d-%d gave %d items", path.name, start.offset, page.position, len(page.items)
    )
    _log_summary(ctx, path, reader, start, page)
    return SyncResult(
        items=page.items,
        next_cursor=FileCursor(file=start.file, offset=page.position).encode(),
        has_more=page.has_more,
    )


def _collect(
    path: Path, reader: _RowReader, rows: Iterator[tuple[int, list[str]]], offset: int, page_size: int
) -> _Page:
    """Take up to `page_size` items from the rows at and after index `offset`."""
    page = _Page()
    for line, row in rows:
        _check_width(path, line, row, reader.header)
        supplemental = reader.is_supplemental(row)
        if page.position >= offset:
            if len(page.items) >= page_size:
                page.has_more = True
                return page
            if not supplemental:
                page.items.append(reader.item(line, row))
        page.skipped += int(supplemental)
        page.position += 1
    return page


def _log_summary(ctx: SyncContext, path: Path, reader: _RowReader, start: FileCursor, page: _Page) -> None:
    """Tell the person once per file what was assumed or left out, so counts add up."""
    if isinstance(reader, _HistoryReader) and reader.date_format.assumed and start.offset == 0:
        ctx.log.info(
            "netflix: %s: every date fits both day and month first; assumed month-first (M/D/Y)", path.name
        )
    if isinstance(reader, _ActivityReader) and not page.has_more:
        ctx.log.info("netflix: %s: skipped %d trailer/hook rows (not viewing)", path.name, page.skipped)


def _reader_for(path: Path, rows: Iterator[tuple[int, list[str]]]) -> _RowReader:
    """Pick the format from the header row, which `rows` is advanced past."""
    first = next(rows, None)
    if first is None:
        raise ExportFileError(file_parse_error(path, "the file holds no header row, only blank lines"))
    line, header = first
    names = tuple(value.strip() for value in header)
    if names == HISTORY_HEADER:
        return _HistoryReader(path, _detect_date_format(path))
    if names == ACTIVITY_HEADER:
        return _ActivityReader(path)
    problem = (
        "not a Netflix viewing history export: expected the header "
        f"{shown(HISTORY_HEADER)!r} (NetflixViewingHistory.csv) or {shown(ACTIVITY_HEADER)!r} "
        f"(ViewingActivity.csv), found {shown(header)!r}"
    )
    raise ExportFileError(file_parse_error(path, problem, line=line))


# --- NetflixViewingHistory.csv ----------------------------------------------------------


@dataclass(frozen=True)
class _DateFormat:
    """The day/month order of a whole file, and whether it was a guess."""

    order: str
    assumed: bool


@dataclass(frozen=True)
class _DateParts:
    raw: str
    first: int
    second: int
    third: int
    year_first: bool


def _date_parts(path: Path, line: int, value: str) -> _DateParts:
    """Split a locale-formatted date into its numbers, checking only the shape."""
    raw = value.strip()
    match = _DATE.fullmatch(raw)
    first, _, second, third = match.groups() if match else ("", "", "", "")
    year_first = len(first) == 4 and len(third) <= 2
    if not match or not (year_first or (len(first) <= 2 and len(third) in (2, 4))):
        problem = f"{value!r} is not a date (expected e.g. 3/14/19, 14/03/2019 or 2019-03-14)"
        raise field_error(path, line, "Date", problem)
    return _DateParts(raw, int(first), int(second), int(third), year_first)


def _as_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _date_readings(path: Path, line: int, parts: _DateParts) -> dict[str, date]:
    """Every order in which the date is a real calendar date; at least one, or an error."""
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
        raise field_error(path, line, "Date", f"{parts.raw!r} is not a valid date in {orders} order")
    return readings


def _history_values(path: Path, line: int, row: list[str]) -> tuple[str, _DateParts]:
    values = dict(zip(HISTORY_HEADER, row, strict=True))
    title = _required(path, line, values, "Title")
    date_value = _required(path, line, values, "Date")
    return title, _date_parts(path, line, date_value)


def _detect_date_format(path: Path) -> _DateFormat:
    """Decide day-first or month-first from the whole Date column, before any item is made.

    A row that fits only one order is evidence; rows of both kinds in one file mean the
    dates cannot be trusted, so that is an error naming the first contradicting row.
    With no evidence at all, US month-first is assumed and flagged on every item.
    """
    evidence: dict[str, tuple[int, str]] = {}
    year_last = False
    with closing(csv_rows(path)) as rows:
        next(rows, None)
        for line, row in rows:
            _check_width(path, line, row, HISTORY_HEADER)
            _, parts = _history_values(path, line, row)
            readings = _date_readings(path, line, parts)
            year_last = year_last or not parts.year_first
            if parts.year_first or len(readings) != 1:
                continue
            order = next(iter(readings))
            evidence.setdefault(order, (line, parts.raw))
            if len(evidence) == 2:
                raise _conflict(path, line, parts.raw, order, evidence)
    if _DAY_FIRST in evidence:
        return _DateFormat(_DAY_FIRST, assumed=False)
    return _DateFormat(_MONTH_FIRST, assumed=year_last and _MONTH_FIRST not in evidence)


def _conflict(
    path: Path, line: int, raw: str, order: str, evidence: dict[str, tuple[int, str]]
) -> ExportFileError:
    other = _DAY_FIRST if order == _MONTH_FIRST else _MONTH_FIRST
    other_line, other_raw = evidence[other]
    problem = (
        f"{raw!r} can only be {_ORDER_NAMES[order]} but {other_raw!r} on line {other_line} can only be "
        f"{_ORDER_NAMES[other]}; one export uses one date format, so the dates cannot be read safely"
    )
    return field_error(path, line, "Date", problem)


class _HistoryReader:
    """Rows of `NetflixViewingHistory.csv`: a title and the day it was watched."""

    header = HISTORY_HEADER

    def __init__(self, path: Path, date_format: _DateFormat) -> None:
        self.path = path
        self.date_format = date_format

    def is_supplemental(self, row: list[str]) -> bool:
        return False

    def item(self, line: int, row: list[str]) -> MediaItem:
        title, parts = _history_values(self.path, line, row)
        readings = _date_readings(self.path, line, parts)
        order = _YEAR_FIRST if parts.year_first else self.date_format.order
        if order not in readings:  # only if the file changed between the two passes
            raise field_error(self.path, line, "Date", f"{parts.raw!r} does not fit the file's date format")
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


def _start_time(path: Path, line: int, value: str) -> datetime:
    """Start Time is `YYYY-MM-DD HH:MM:SS` in UTC."""
    problem = f"{value!r} is not a start time (expected YYYY-MM-DD HH:MM:SS)"
    if not _START_TIME.fullmatch(value):
        raise field_error(path, line, "Start Time", problem)
    try:
        return datetime.strptime(value, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
    except ValueError:
        raise field_error(path, line, "Start Time", problem) from None


def _duration(path: Path, line: int, value: str) -> timedelta:
    """Duration is the time watched in the session, `HH:MM:SS`."""
    match = _DURATION.fullmatch(value)
    if match is None:
        raise field_error(path, line, "Duration", f"{value!r} is not a duration (expected HH:MM:SS)")
    hours, minutes, seconds = (int(group) for group in match.groups())
    return timedelta(hours=hours, minutes=minutes, seconds=seconds)


def _optional(value: str) -> str | None:
    return value.strip() or None


class _ActivityReader:
    """Rows of `ViewingActivity.csv`: one viewing session of one profile each."""

    header = ACTIVITY_HEADER

    def __init__(self, path: Path) -> None:
        self.path = path
        self.supplemental_column = ACTIVITY_HEADER.index("Supplemental Video Type")

    def is_supplemental(self, row: list[str]) -> bool:
        """Trailers, hooks, recaps and previews that played by themselves: not viewing."""
        return bool(row[self.supplemental_column].strip())

    def item(self, line: int, row: list[str]) -> MediaItem:
        values = dict(zip(ACTIVITY_HEADER, row, strict=True))
        profile = _required(self.path, line, values, "Profile Name")
        start_raw = _required(self.path, line, values, "Start Time")
        started = _start_time(self.path, line, start_raw)
        time_spent = _duration(self.path, line, _required(self.path, line, values, "Duration"))
        title = _required(self.path, line, values, "Title")
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
