"""TikTok "Download your data" exports, JSON option (`user_data.json` / `user_data_tiktok.json`).

TikTok has no API for a person's watch history, so this plugin imports the export. The
file is one JSON object whose layout changed between export generations:

- watch history: `Activity > Video Browsing History > VideoList` (older) or
  `Your Activity > Watch History > VideoList` (newer), records `{Date, Link}`;
- likes: `Like List > ItemFavoriteList` (keys may be lower-case `date`/`link`);
- favourites: `Favorite Videos > FavoriteVideoList`.

Likes and favourites are looked for under `Activity`, `Your Activity` and a
`Likes and Favorites` root (where a 2025 export keeps them). Everything else (searches,
own posts, messages, ...) is ignored. A file holding any of the lists is imported, one
with none of them but TikTok's own top-level sections imports nothing; only a file
without TikTok's sections is rejected. The format is recognised by these keys, not by
the file name, because people rename files.

A record that cannot be read (no Date, a Date that is no time) is skipped and
reported with its JSON path; a link that names no video (a photo post) is left out.

Likes and favourites count as consumption signals: a person likes or saves a video
they are watching, so each becomes an item of its own at the time of the like. They
carry `raw_metadata["kind"]` ("watch", "like", "favorite") and an external_id prefix of
that kind, so they never collide with the watch of the same video and an analysis of
viewing counts keeps only `kind == "watch"`.

Reading: the whole object is loaded with one `json.loads` per sync call and the output
is paged by item index (a `FileCursor` whose offset is the position in the sequence
watch history, likes, favourites). The alternative, a streaming parser for a nested
object, would be a second JSON parser to maintain for a file of a few tens of MB that
the C decoder reads in well under a second; the cost of this choice is that every page
parses the file again (with the default page size a typical export is one page) and
that memory holds the decoded object for the duration of the call. Core tries the
columnar path first (`TiktokPlugin.columnar_read`), which decodes the file once for the
whole import and lets DuckDB map the records; this reader takes the files it leaves.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import mmap
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import MappingProxyType
from typing import Any

import pyarrow as pa
from pydantic import ValidationError

from mca_pipeline.core import (
    AuthType,
    ColumnarFileImportPlugin,
    Credentials,
    DedupPolicy,
    MediaItem,
    MediaType,
    OAuthConfig,
    PluginError,
    SkippedRecord,
    SyncContext,
    SyncResult,
)
from mca_pipeline.core.columnar import ColumnarRead
from mca_pipeline.plugins.export_files import (
    PYTHON_SPACES,
    UNSTORABLE,
    ExportFileError,
    FileCursor,
    check_text,
    columnar_file_read,
    file_parse_error,
    loads_keeping_big_ints,
    python_strip_sql,
    require_file,
    validation_problem,
)

PLATFORM = "tiktok"

KIND_WATCH = "watch"
KIND_LIKE = "like"
KIND_FAVORITE = "favorite"

# (root, section, list key) of the watch history, older export first.
WATCH_LOCATIONS: tuple[tuple[str, str, str], ...] = (
    ("Activity", "Video Browsing History", "VideoList"),
    ("Your Activity", "Watch History", "VideoList"),
)
# Roots that may hold the like and favourite sections; the last one is unconfirmed.
SIGNAL_ROOTS: tuple[str, ...] = ("Activity", "Your Activity", "Likes and Favorites")
# Top-level sections of TikTok exports of every generation seen: a file whose object
# starts with one of them is a TikTok export even when it holds none of our lists.
TIKTOK_ROOTS: frozenset[str] = frozenset(
    {
        "Activity",
        "Ads and data",
        "App Settings",
        "Comment",
        "Direct Message",
        "Direct Messages",
        "Income Plus Wallet Transactions",
        "Likes and Favorites",
        "Poi Review",
        "Profile",
        "Profile And Settings",
        "Tiktok Live",
        "TikTok Live",
        "Tiktok Shopping",
        "TikTok Shopping",
        "Video",
        "Your Activity",
    }
)
_FIRST_KEY = re.compile(r'\A\s*\{\s*"((?:[^"\\]|\\.)*)"\s*:')
LIKE_SECTION: tuple[str, str] = ("Like List", "ItemFavoriteList")
FAVORITE_SECTION: tuple[str, str] = ("Favorite Videos", "FavoriteVideoList")

# Key variants seen in exports and in public fixtures; the first non-null one wins.
DATE_KEYS: tuple[str, ...] = ("Date", "date")
LINK_KEYS: tuple[str, ...] = ("Link", "link", "VideoLink")

_VIDEO_ID = re.compile(r"/video/(\d+)")
NOT_A_VIDEO = "link names no video (photo post or other page)"
_BOM = "\ufeff"
_HEAD_BYTES = 4096
MAX_FILE_BYTES = 512 << 20
_SHOWN_KEYS = 8


class TiktokPlugin(ColumnarFileImportPlugin):
    """Imports watch history, likes and favourites from a TikTok JSON data export.

    SKIP dedup: a watch or like at a time is an immutable fact, and a later export
    repeats it with the same Date and link, so the external_id finds it again.
    """

    name = PLATFORM
    display_name = "TikTok — data download"
    # TikTok videos are short: most run well under a minute.
    typical_length_s = MappingProxyType({"video": 30.0})
    auth_type = AuthType.FILE_IMPORT
    auth_config: OAuthConfig | None = None
    dedup_policy = DedupPolicy.SKIP

    def sync(self, ctx: SyncContext, creds: Credentials, cursor: str) -> SyncResult:
        """Return at most `ctx.page_size` items from the position stored in `cursor`.

        A record whose Date cannot be read ends the page with a file_parse_error; the
        items before it come back with a cursor pointing at the bad record.
        """
        if ctx.is_cancelled():
            # Nothing read: the unchanged cursor resumes this page later.
            return SyncResult(next_cursor=cursor, has_more=True)
        try:
            path = require_file(self.name, creds)
            start = FileCursor.resume(cursor, path)
            export = _load(path)
            records = list(_records(path, export))
        except ExportFileError as exc:
            return SyncResult(err=exc.error)
        except OSError as exc:
            return SyncResult(err=_unreadable(creds, exc))
        if start.offset == 0:
            _log_sections(ctx, path, records)
        return _page(ctx, path, start, records, max(1, ctx.page_size))

    def enrich(self, ctx: SyncContext, creds: Credentials, items: list[MediaItem]) -> list[MediaItem]:
        """The export has no titles, creators or tags to add; items pass through unchanged."""
        return items

    def columnar_read(self, file: Path, cursor: str) -> ColumnarRead | None:
        """The columnar path: the export decoded once by the C decoder and its lists
        turned into Arrow columns by Arrow (no Python code per record, where the
        streaming reader builds a MediaItem per record and decodes the file again for
        every page); DuckDB maps them. A file with a record the streaming reader would
        skip or read otherwise goes to it, and so does one naming `timepertiktok`,
        whose value Arrow cannot keep as the record has it."""
        # (an empty file cannot be mapped: ValueError)
        with (
            file.open("rb") as f,
            contextlib.suppress(ValueError),
            mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as data,
        ):
            if data.find(b'"timepertiktok"') >= 0:
                return None
        counts: dict[str, int] = {}
        return columnar_file_read(
            _COLUMNAR_SQL,
            file,
            cursor,
            params={"spaces": PYTHON_SPACES},
            tables={
                "tiktok_records": lambda: pa.RecordBatchReader.from_batches(
                    _SCHEMA, _record_batches(file, counts)
                )
            },
            numbered=True,
            read_note=lambda: _found(file, counts),
        )

    def recognizes(self, name: str, head: bytes) -> bool:
        """A JSON object whose first key is one of TikTok's top-level sections (exports
        list them in alphabetical order, so the head of a large file shows only the first)."""
        match = _FIRST_KEY.match(head[:4096].decode("utf-8", errors="replace").removeprefix(_BOM))
        return match is not None and match.group(1) in TIKTOK_ROOTS


# --- loading the file ------------------------------------------------------------------


def _load(path: Path) -> dict[str, Any]:
    """Decode the whole export into its root object, with located errors. A file past
    `MAX_FILE_BYTES` is refused before it is read: decoded, it would take several times
    its size in memory (real exports with years of history are tens of MB)."""
    size = path.stat().st_size
    if size > MAX_FILE_BYTES:
        problem = f"{size:,} bytes is more than a TikTok export holds ({MAX_FILE_BYTES:,} at most)"
        raise ExportFileError(file_parse_error(path, problem, line=1, offset=0))
    data = path.read_bytes()
    check_text(path, data[:_HEAD_BYTES])
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        problem = "not valid UTF-8 text (was the file re-saved in another encoding?)"
        raise ExportFileError(file_parse_error(path, problem, line=line, offset=exc.start)) from None
    bom = len(_BOM.encode()) if text.startswith(_BOM) else 0
    body = text[1:] if bom else text
    try:
        root = loads_keeping_big_ints(body)
    except json.JSONDecodeError as exc:
        raise ExportFileError(_json_error(path, body, bom, exc)) from None
    except RecursionError:
        problem = "invalid JSON: nested too deeply for any export"
        raise ExportFileError(file_parse_error(path, problem, line=1, offset=bom)) from None
    if not isinstance(root, dict):
        problem = f"expected one JSON object (a TikTok user_data export), found a JSON {_json_type(root)} at the top"
        raise ExportFileError(file_parse_error(path, problem, line=1, offset=bom))
    return root


def _json_error(path: Path, body: str, bom: int, exc: json.JSONDecodeError) -> PluginError:
    """Name line, column and byte offset; say 'truncated' when the text just stops."""
    offset = bom + len(body[: exc.pos].encode())
    truncated = exc.pos >= len(body.rstrip()) or exc.msg.startswith("Unterminated string")
    if not body.strip():
        problem = "file holds only white space, expected a JSON object"
    else:
        kind = "file is truncated" if truncated else "invalid JSON"
        problem = f"{kind}: {exc.msg} (line {exc.lineno}, column {exc.colno})"
    error = file_parse_error(path, problem, line=exc.lineno, offset=offset)
    error.details["column"] = exc.colno
    return error


def _json_type(value: Any) -> str:
    if isinstance(value, dict):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    return "number"


def _unreadable(creds: Credentials, exc: OSError) -> PluginError:
    path = Path(creds.file or PLATFORM)
    return file_parse_error(path, f"cannot read: {exc.strerror or exc}")


# --- finding the sections --------------------------------------------------------------


@dataclass(frozen=True)
class _Record:
    """One entry of a known list, with the JSON path that names it in errors."""

    kind: str
    location: str
    index: int
    value: Any

    @property
    def json_path(self) -> str:
        return f"{self.location}[{self.index}]"


def _object(path: Path, value: Any, where: str) -> dict[str, Any]:
    """A level of the export as a dict: null and missing are empty, other types an error."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        problem = f"expected a JSON object at {where!r}, found a JSON {_json_type(value)}"
        raise ExportFileError(file_parse_error(path, problem, field=where))
    return value


def _list(path: Path, value: Any, where: str) -> list[Any]:
    """A list of records; one of another JSON type becomes one unreadable record, so the
    other lists of the file still import."""
    if value is None:
        return []
    if not isinstance(value, list):
        return [_WrongList(where, _json_type(value))]
    return value


@dataclass(frozen=True)
class _WrongList:
    """Stands in, as a record, for a list that is not a JSON array."""

    where: str
    found: str


def _lists(path: Path, export: dict[str, Any]) -> list[tuple[str, str, Any]]:
    """(kind, JSON path, value) of every known list present, in a fixed order (watch,
    like, favourite) so that an item index means the same record on every call for the
    same file. Raises when the file holds none of them nor any of TikTok's sections."""
    found = False
    lists: list[tuple[str, str, Any]] = []
    for root_key, section_key, list_key in WATCH_LOCATIONS:
        root = _object(path, export.get(root_key), root_key)
        if section_key not in root:
            continue
        found = True  # section present: null, {} or [] are a valid empty history
        section = _object(path, root.get(section_key), f"{root_key} > {section_key}")
        lists.append((KIND_WATCH, f"{root_key} > {section_key} > {list_key}", section.get(list_key)))
    for kind, (section_key, list_key) in ((KIND_LIKE, LIKE_SECTION), (KIND_FAVORITE, FAVORITE_SECTION)):
        for root_key in SIGNAL_ROOTS:
            root = _object(path, export.get(root_key), root_key)
            if section_key not in root:
                continue
            found = True
            section = _object(path, root.get(section_key), f"{root_key} > {section_key}")
            lists.append((kind, f"{root_key} > {section_key} > {list_key}", section.get(list_key)))
    if not found and not TIKTOK_ROOTS.intersection(export):
        raise ExportFileError(_not_tiktok(path, export))
    return lists


def _records(path: Path, export: dict[str, Any]) -> Iterator[_Record]:
    """Every record of the known lists, in `_lists`' order."""
    for kind, location, value in _lists(path, export):
        for index, record in enumerate(_list(path, value, location)):
            yield _Record(kind, location, index, record)


def _not_tiktok(path: Path, export: dict[str, Any]) -> PluginError:
    keys = [str(key) for key in export][:_SHOWN_KEYS]
    more = ", ..." if len(export) > _SHOWN_KEYS else ""
    problem = (
        "none of TikTok's sections (watch history, likes, favourites, profile, ...) found; is this a TikTok "
        "'Download your data' JSON export (user_data.json / user_data_tiktok.json)? "
        f"Top-level keys: [{', '.join(map(repr, keys))}{more}]"
    )
    return file_parse_error(path, problem, line=1)


def _log_sections(ctx: SyncContext, path: Path, records: list[_Record]) -> None:
    """Say once per import which lists were read and how many records each had."""
    counts: dict[str, int] = {}
    for record in records:
        counts[record.location] = counts.get(record.location, 0) + 1
    ctx.log.info(_found(path, counts))


def _found(path: Path, counts: dict[str, int]) -> str:
    """The log line saying how many records each list had (the lists with any)."""
    found = ", ".join(f"{location!r}: {count}" for location, count in counts.items()) or "all lists empty"
    return f"tiktok: {path.name}: records found ({found})"


# --- the columnar path -------------------------------------------------------------------

_RECORD = pa.struct([(key, pa.string()) for key in (*DATE_KEYS, *LINK_KEYS)])
# DuckDB's names are case-insensitive ("Date" is "date"): the columns are numbered.
_DATE_COLUMNS = tuple(f"date_{n}" for n in range(len(DATE_KEYS)))
_LINK_COLUMNS = tuple(f"link_{n}" for n in range(len(LINK_KEYS)))
_SCHEMA = pa.schema(
    [
        ("record", pa.int64()),
        ("kind", pa.string()),
        *((c, pa.string()) for c in (*_DATE_COLUMNS, *_LINK_COLUMNS)),
    ]
)
_BATCH = 1 << 16


def _record_batches(path: Path, counts: dict[str, int]) -> Iterator[pa.RecordBatch]:
    """The records of `_lists` as Arrow columns, numbered in `_records`' order; `counts`
    gets each list's records (for `_found`). Raises (and the streaming reader takes the
    file) on a list that is not a list and a record that is not an object of strings,
    which Arrow refuses to convert."""
    converted: list[tuple[int, str, pa.StructArray]] = []
    done = 0
    for kind, location, value in _lists(path, _load(path)):
        if value is None:
            continue
        if not isinstance(value, list):
            raise ValueError("a list of records is not a list")
        records = pa.array(value, type=_RECORD)
        if records.null_count:
            raise ValueError("a record is null")
        converted.append((done, kind, records))
        done += len(records)
        if len(records):
            counts[location] = len(records)
    # the decoded export is dropped here: only the Arrow columns are left
    for first, kind, records in converted:
        for start in range(0, len(records), _BATCH):
            chunk = records.slice(start, _BATCH)
            numbers = pa.array(range(first + start, first + start + len(chunk)), pa.int64())
            yield pa.RecordBatch.from_arrays(
                [numbers, pa.repeat(kind, len(chunk)), *chunk.flatten()], schema=_SCHEMA
            )


_DATE_SHAPE = "[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}"
_COLUMNAR_SQL = f"""
WITH r AS (
    SELECT record, kind, coalesce({", ".join(_DATE_COLUMNS)}) AS date, coalesce({", ".join(_LINK_COLUMNS)}) AS link
    FROM tiktok_records
), v AS (
    SELECT r.*, regexp_extract(link, '/video/([0-9]+)', 1) AS video_id,
        CASE WHEN regexp_full_match(date, '{_DATE_SHAPE}') AND date >= '0001'
             THEN try_strptime(date, '%Y-%m-%d %H:%M:%S') END AS watched
    FROM r
)
SELECT
    kind || '|' || video_id || '|' || date AS external_id,
    'video' AS media_type,
    'TikTok video ' || video_id AS title,
    NULL::VARCHAR AS creator,
    to_timestamp(epoch(watched)) AS consumed_at,  -- the export's zone-less time, as UTC
    NULL::DOUBLE AS duration_s,
    NULL::DOUBLE AS time_spent_s,
    []::VARCHAR[] AS tags,
    {python_strip_sql("link")} AS url,
    '{{"kind":' || to_json(kind)::VARCHAR || ',"video_id":' || to_json(video_id)::VARCHAR
        || ',"link":' || to_json(link)::VARCHAR || ',"date":' || coalesce(to_json(date)::VARCHAR, 'null') || '}}'
        AS raw_metadata,
    -- to_item reads a link with digits beyond ASCII (Python's \\d), and other times, otherwise
    link IS NOT NULL AND (video_id = '' OR watched IS NOT NULL)
        AND NOT (regexp_matches(link, '[^\\x00-\\x7f]') AND regexp_matches(regexp_replace(link, '[0-9]', '', 'g'), '\\pN'))
        AS clean,
    CASE WHEN video_id = '' THEN '{NOT_A_VIDEO}' END AS left_out,
    record AS mca_record
FROM v
"""


# --- paging ------------------------------------------------------------------------------


class _BadRecord(Exception):
    """A record that is present but cannot be read; located by the caller."""

    def __init__(self, field: str | None, reason: str, detail: str) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason
        self.detail = detail


def _page(
    ctx: SyncContext, path: Path, start: FileCursor, records: list[_Record], page_size: int
) -> SyncResult:
    """Items for records [start, start + page_size); unreadable records are skipped and
    reported, links that name no video are left out and counted."""
    first = min(start.offset, len(records))
    end = min(first + page_size, len(records))
    items: list[MediaItem] = []
    skipped: list[SkippedRecord] = []
    left_out = 0
    for position in range(first, end):
        record = records[position]
        try:
            item = to_item(record.kind, record.value)
        except ValidationError as exc:
            field, detail = validation_problem(exc)
            skipped.append(
                SkippedRecord(
                    reason=UNSTORABLE,
                    field=field,
                    detail=f"at {record.json_path}: {detail}",
                    excerpt=json.dumps(record.value, ensure_ascii=True, default=str)[:160],
                )
            )
            continue
        except _BadRecord as bad:
            line, offset = _locate(path, record.value, bad.field)
            skipped.append(
                SkippedRecord(
                    reason=bad.reason,
                    line=line,
                    byte_offset=offset,
                    field=bad.field,
                    detail=f"at {record.json_path}: {bad.detail}",
                    excerpt=None
                    if isinstance(record.value, _WrongList)
                    else json.dumps(record.value, ensure_ascii=False, default=str)[:160],
                )
            )
            continue
        if item is None:
            left_out += 1
        else:
            items.append(item)
    return SyncResult(
        items=items,
        next_cursor=FileCursor(start.file, end).encode(),
        has_more=end < len(records),
        skipped=skipped,
        left_out={NOT_A_VIDEO: left_out} if left_out else {},
    )


def _locate(path: Path, record: Any, field: str | None) -> tuple[int | None, int | None]:
    """Line and byte offset of a bad field, when its `"key": value` text occurs exactly
    once in the file. The decoded object has no positions and the JSON path names the
    record precisely, so this is a convenience for people who open the file in an editor;
    it only runs on the error path."""
    if not isinstance(record, dict) or field not in record:
        return None, None
    value = json.dumps(record[field], ensure_ascii=False)
    try:
        pattern = re.compile(rb'"' + re.escape(field.encode()) + rb'"\s*:\s*' + re.escape(value.encode()))
    except UnicodeEncodeError:  # a lone surrogate: written as an escape, so not found as is
        return None, None
    data = path.read_bytes()
    matches = list(itertools.islice(pattern.finditer(data), 2))
    if len(matches) != 1:
        return None, None
    offset = matches[0].start()
    return data.count(b"\n", 0, offset) + 1, offset


# --- one record -> one MediaItem -----------------------------------------------------------


def to_item(kind: str, record: Any) -> MediaItem | None:
    """Map one export record to a MediaItem, or None when its link names no video."""
    if isinstance(record, _WrongList):
        detail = f"expected a JSON array at {record.where!r}, found a JSON {record.found}"
        raise _BadRecord(None, "list is not a list", detail)
    if not isinstance(record, dict):
        detail = f"expected a JSON object with Date and Link, found a JSON {_json_type(record)}"
        raise _BadRecord(None, "record is not an object", detail)
    link_key, link = _first(record, LINK_KEYS)
    if link is None:
        raise _BadRecord(link_key, "Link is missing", "a record without a link to the video")
    if not isinstance(link, str):
        raise _BadRecord(link_key, "Link is not text", f"expected a URL string, found {link!r:.80}")
    match = _VIDEO_ID.search(link)
    if match is None:
        return None
    video_id = match.group(1)
    date_key, date = _first(record, DATE_KEYS)
    consumed_at = _parse_date(date_key, date)
    raw: dict[str, Any] = {"kind": kind, "video_id": video_id, "link": link, "date": date}
    if "timepertiktok" in record:
        raw["timepertiktok"] = record["timepertiktok"]
    return MediaItem(
        platform=PLATFORM,
        type=MediaType.VIDEO,
        # The export names no title or author; the id is all there is to show.
        title=f"TikTok video {video_id}",
        creator=None,
        consumed_at=consumed_at,
        url=link.strip(),
        external_id=f"{kind}|{video_id}|{date}",
        raw_metadata=raw,
    )


def _first(record: dict[str, Any], keys: tuple[str, ...]) -> tuple[str, Any]:
    for key in keys:
        value = record.get(key)
        if value is not None:
            return key, value
    return keys[0], None


def _parse_date(key: str, value: Any) -> datetime:
    """`Date` is "YYYY-MM-DD HH:MM:SS" without a zone. The zone is unconfirmed; like the
    public parsers we take it as UTC, and keep the raw string in raw_metadata."""
    if value is None:
        raise _BadRecord(key, "Date is missing", "expected 'YYYY-MM-DD HH:MM:SS'")
    if not isinstance(value, str):
        raise _BadRecord(
            key, "Date is not a time", f"expected a 'YYYY-MM-DD HH:MM:SS' string, found {value!r:.80}"
        )
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise _BadRecord(
            key, "Date is not a time", f"{value!r:.80} is not a 'YYYY-MM-DD HH:MM:SS' time"
        ) from None
    try:
        return parsed.astimezone(UTC) if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
    except OverflowError:
        raise _BadRecord(key, "Date is not a time", f"{value!r:.80} is outside the calendar in UTC") from None
