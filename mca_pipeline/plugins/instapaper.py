"""Instapaper saved articles from the CSV export (Settings -> Export -> Download .CSV file).

Instapaper's API needs a per-developer consumer key that a person cannot get for
themselves, so this plugin imports the account export instead. Its header is
`URL,Title,Selection,Folder,Timestamp`; since Instapaper added tags (October 2024) the
export appends a `Tags` column holding a JSON array (`[]`, `"[""ml"",""go""]"`). Extra
columns are accepted and kept; the five above are required.

- Folder is `Unread`, `Archive`, `Starred` or the name of one of the person's folders.
- Timestamp is Unix seconds of when the article was *saved*. The export has no read
  time, so `consumed_at` is the save time, the closest fact the file holds.
- The older export (used for years, still in people's downloads) has no Timestamp
  column: `URL,Title,Selection,Folder`. Its save times are unknown, so `consumed_at`
  is a stand-in - the export file's modification time, "saved no later than" - flagged
  with `raw_metadata.consumed_at_unknown`; the store never lets such a row replace a
  known save time, and the analysis leaves these rows out of anything dated.
- Selection is the description or highlighted text Instapaper stored, often empty.
- Title can be empty; the item then gets `host/path?query` of its URL as title, so that
  untitled saves of different videos (`youtube.com/watch?v=...`) stay apart.
- URLs with commas or quotes come as quoted CSV fields; some exports start with a BOM.

A row that cannot be read (no URL, a bad Timestamp) is skipped and reported with its
line and field; only a file that is not an Instapaper export is a file_parse_error.
"""

from __future__ import annotations

import json
import re
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import ValidationError

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
    PYTHON_SPACES,
    UNSTORABLE,
    ExportFileError,
    FileCursor,
    columnar_file_read,
    file_parse_error,
    python_strip_sql,
    require_file,
    validation_problem,
)

PLATFORM = "instapaper"

REQUIRED_COLUMNS: tuple[str, ...] = ("URL", "Title", "Selection", "Folder")
TIMESTAMP_COLUMN = "Timestamp"
KNOWN_COLUMNS = (*REQUIRED_COLUMNS, TIMESTAMP_COLUMN)

# The folders Instapaper itself writes; any other Folder value is one the person made.
BUILT_IN_FOLDERS: dict[str, str] = {"Unread": "unread", "Archive": "archived", "Starred": "starred"}
USER_FOLDER_STATE = "folder"

SELECTION_MAX_CHARS = 1_000

_TIMESTAMP = re.compile(r"\d{1,12}")
_WEB_SCHEMES = frozenset({"http", "https"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
# What Instapaper saves: web pages, and articles mailed to it (instapaper-private://email/...).
_SAVED_SCHEMES = frozenset({"http", "https", "instapaper-private"})
# `https:/host/path`: a slash lost on the way (seen in real exports).
_ONE_SLASH = re.compile(r"^(https?):/(?!/)", re.IGNORECASE)
_TITLE_FROM_URL_CHARS = 120


class InstapaperPlugin(ColumnarFileImportPlugin):
    """Imports the articles of an Instapaper CSV export, a page of rows per call.

    UPDATE_ON_CHANGE dedup: an article is the same item from one export to the next
    (its external_id is its normalised URL), but its folder is not fixed - it moves from
    Unread to Archive once read, or into a folder. Re-importing a later export must make
    the stored item follow (new folder, state and tags in raw_metadata), which SKIP
    would not do. Its consumed_at (the save time) does not change.
    """

    name = PLATFORM
    display_name = "Instapaper — export"
    auth_type = AuthType.FILE_IMPORT
    auth_config: OAuthConfig | None = None
    dedup_policy = DedupPolicy.UPDATE_ON_CHANGE

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

    def columnar_read(self, file: Path, cursor: str) -> ColumnarRead | None:
        """DuckDB reads an export with a Timestamp column, and a Tags column or not, whole
        (the columnar path); the older export without save times (its stand-in time is the
        file's) and headers with other columns go to the streaming reader."""
        for header, sql in _COLUMNAR_SQL.items():
            if has_exact_header(file, header):
                return columnar_file_read(
                    sql,
                    file,
                    cursor,
                    params={"spaces": PYTHON_SPACES},
                    functions={_URL_PARTS: _url_parts},
                    numbered=True,
                    in_file_order=True,
                )
        return None

    def enrich(self, ctx: SyncContext, creds: Credentials, items: list[MediaItem]) -> list[MediaItem]:
        """The export's folders and tags are already on the items; nothing more to add."""
        return items

    def recognizes(self, name: str, head: bytes) -> bool:
        """Either generation of the export by its header row, whatever the file is called."""
        header = header_of(head)
        return header is not None and all(column in header for column in REQUIRED_COLUMNS)


# --- URLs --------------------------------------------------------------------------------


def normalise_url(url: str) -> str:
    """The article's identity across exports: the URL without tracking noise.

    `utm_*` parameters and the fragment differ between saves of one article (a link from
    a newsletter vs. from a feed) and say nothing about which article it is, so they go.
    Every other parameter stays (`?id=123` can be the article), as does the path, and
    only the case-insensitive scheme and host are lower-cased. A `#!` fragment is kept:
    on hash-bang sites (old Twitter) it is the address, not a position on the page.
    A default port (`:443` on https) is dropped: it names the same address.
    Raises ValueError for text that cannot be split as a URL.
    """
    parts = urlsplit(repair_url(url))
    query = "&".join(
        pair
        for pair in parts.query.split("&")
        if pair and not pair.split("=", 1)[0].lower().startswith("utm_")
    )
    netloc = parts.netloc if "@" in parts.netloc else parts.netloc.lower()
    port = parts.port
    if port is not None and port == _DEFAULT_PORTS.get(parts.scheme.lower()):
        netloc = netloc.rsplit(":", 1)[0]
    fragment = parts.fragment if parts.fragment.startswith("!") else ""
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, query, fragment))


def repair_url(url: str) -> str:
    """`https:/host` (a slash lost) as the address it meant, `https://host`."""
    return _ONE_SLASH.sub(r"\1://", url.strip())


def site_of(url: str) -> str | None:
    """The web site an article is from, as people name it: host without `www.` or port.

    None for non-web addresses such as `instapaper-private://email/...` (articles
    mailed to Instapaper), whose "host" is not a publisher.
    """
    parts = urlsplit(repair_url(url))
    host = parts.hostname
    if parts.scheme.lower() not in _WEB_SCHEMES or not host:
        return None
    return host.removeprefix("www.")


def title_from_url(url: str) -> str:
    """A readable stand-in for an empty Title: `host/path?query` (the query tells apart
    `youtube.com/watch?v=a` and `?v=b`), or the URL when it has no host."""
    site = site_of(url)
    if site is None:
        return url.strip()
    parts = urlsplit(normalise_url(url))
    title = f"{site}{parts.path.rstrip('/')}" + (f"?{parts.query}" if parts.query else "")
    return title if len(title) <= _TITLE_FROM_URL_CHARS else title[: _TITLE_FROM_URL_CHARS - 1] + "…"


# --- reading the file ----------------------------------------------------------------------


# --- header and rows -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Columns:
    """Where each column sits in this file's header; extra columns keep their names."""

    width: int
    index: dict[str, int]
    extra: tuple[tuple[str, int], ...]


def _columns(path: Path, line: int, header: list[str]) -> _Columns:
    names = [value.strip() for value in header]
    index: dict[str, int] = {}
    for position, name in enumerate(names):
        index.setdefault(name, position)
    missing = [name for name in REQUIRED_COLUMNS if name not in index]
    if missing:
        problem = (
            f"not an Instapaper export: missing column(s) {', '.join(repr(name) for name in missing)}; "
            f"expected the header {shown(REQUIRED_COLUMNS)!r}, found {shown(header)!r}"
        )
        raise ExportFileError(file_parse_error(path, problem, line=line))
    extra = tuple(
        (name, position)
        for position, name in enumerate(names)
        if name and name not in KNOWN_COLUMNS and index[name] == position
    )
    return _Columns(width=len(header), index=index, extra=extra)


def _timestamp(line: int, value: str, row: list[str]) -> tuple[int, datetime]:
    raw = value.strip()
    if not raw:
        raise UnreadableRow(line, TIMESTAMP_COLUMN, "Timestamp is empty", "no save time", row)
    detail = f"{value!r} is not a Unix timestamp (whole seconds, e.g. 1710252000)"
    if _TIMESTAMP.fullmatch(raw):
        seconds = int(raw)
        try:
            return seconds, datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            pass
    raise UnreadableRow(line, TIMESTAMP_COLUMN, "not a Unix timestamp", detail, row)


def _column_key(name: str) -> str:
    return re.sub(r"\W+", "_", name.strip().lower()).strip("_") or "column"


def _tag_list(value: str) -> list[str] | None:
    """The Tags column: a JSON array of names; None when it is something else."""
    text = value.strip()
    if not text:
        return []
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    if not isinstance(parsed, list) or not all(isinstance(tag, str) for tag in parsed):
        return None
    return [tag.strip() for tag in parsed if tag.strip()]


def _extras(values: list[str], columns: _Columns, metadata: dict[str, Any]) -> list[str]:
    """Put extra columns into `metadata`; return the Instapaper tags found among them."""
    tags: list[str] = []
    for name, position in columns.extra:
        key = _column_key(name)
        if key in metadata:
            key = f"column_{key}"
        raw = values[position]
        if key == "tags":
            parsed = _tag_list(raw)
            if parsed is not None:
                tags = parsed
                metadata[key] = parsed
                continue
        metadata[key] = raw.strip() or None
    return tags


def _url(line: int, row: list[str], url: str) -> tuple[str, str | None]:
    """The external_id and site of a row's URL, or UnreadableRow when it is no address."""
    if not url:
        raise UnreadableRow(line, "URL", "URL is empty", "every saved article has a URL", row)
    try:
        external_id = normalise_url(url)
        parts = urlsplit(external_id)
        creator = site_of(url)
    except ValueError as exc:
        raise UnreadableRow(line, "URL", "not a URL", f"{url!r}: {exc}", row) from None
    if not parts.scheme or not (parts.netloc or parts.path):
        raise UnreadableRow(line, "URL", "not a URL", f"{url!r} has no scheme and address", row)
    if parts.scheme not in _SAVED_SCHEMES:
        detail = f"{url!r:.80} is a {parts.scheme}: link, not a saved page"
        raise UnreadableRow(line, "URL", "not a web address", detail, row)
    return external_id, creator


def _item(line: int, row: list[str], columns: _Columns, file_time: datetime) -> MediaItem:
    check_row_text(line, row)
    if len(row) != columns.width:
        detail = f"expected {columns.width} values but found {len(row)}"
        raise UnreadableRow(line, None, "wrong number of values", detail, row)

    def value(name: str) -> str:
        return row[columns.index[name]]

    url = repair_url(value("URL"))
    external_id, creator = _url(line, row, url)
    folder = value("Folder").strip()
    if not folder:
        detail = "expected Unread, Archive, Starred or a folder"
        raise UnreadableRow(line, "Folder", "Folder is empty", detail, row)
    title = value("Title").strip()
    selection = value("Selection").strip()
    state = BUILT_IN_FOLDERS.get(folder, USER_FOLDER_STATE)
    metadata: dict[str, Any] = {
        "folder": folder,
        "state": state,
        "selection": selection[:SELECTION_MAX_CHARS] or None,
        "title_from_url": not title,
    }
    if TIMESTAMP_COLUMN in columns.index:
        metadata["timestamp"], saved_at = _timestamp(line, value(TIMESTAMP_COLUMN), row)
    else:
        saved_at = file_time
        metadata["consumed_at_unknown"] = True
        metadata["consumed_at_stand_in"] = "export file time (saved no later than this)"
    instapaper_tags = _extras(row, columns, metadata)
    tags = [folder] if state == USER_FOLDER_STATE else []
    tags += [tag for tag in dict.fromkeys(instapaper_tags) if tag not in tags]
    try:
        return MediaItem(
            platform=PLATFORM,
            type=MediaType.ARTICLE,
            title=title or title_from_url(url),
            creator=creator,
            consumed_at=saved_at,
            tags=tuple(tags),
            url=url,
            external_id=external_id,
            raw_metadata=metadata,
        )
    except ValidationError as exc:
        field, detail = validation_problem(exc)
        raise UnreadableRow(line, field, UNSTORABLE, detail, row) from None


# --- paging ----------------------------------------------------------------------------------


def _read_page(ctx: SyncContext, path: Path, start: FileCursor) -> SyncResult:
    """Read from the start of the file and keep the data rows from index `start.offset` on.

    The cursor counts data rows rather than bytes: the CSV reader cannot report byte
    offsets, and an export of even ten thousand articles is a few MB, so re-reading the
    skipped rows is cheap. A later export is a different file (its fingerprint differs),
    so its cursor starts again at row 0.
    """
    page_size = max(1, ctx.page_size)
    items: list[MediaItem] = []
    skipped: list[SkippedRecord] = []
    position = 0
    has_more = False
    file_time = datetime.fromtimestamp(int(path.stat().st_mtime), UTC)
    with closing(csv_rows(path)) as rows:
        first = next(rows, None)
        if first is None:
            raise ExportFileError(file_parse_error(path, "the file holds no header row, only blank lines"))
        columns = _columns(path, *first)
        for line, row in rows:
            if position >= start.offset:
                if len(items) + len(skipped) >= page_size:
                    has_more = True
                    break
                try:
                    items.append(_item(line, row, columns, file_time))
                except UnreadableRow as unreadable:
                    skipped.append(unreadable.record)
            position += 1
    ctx.log.debug("instapaper: %s: rows %d-%d gave %d items", path.name, start.offset, position, len(items))
    return SyncResult(
        items=items,
        next_cursor=FileCursor(file=start.file, offset=position).encode(),
        has_more=has_more,
        skipped=skipped,
    )


# --- the columnar path: DuckDB reads the export whole --------------------------------------

_URL_PARTS = "instapaper_url_parts"


def _url_parts(url: str) -> str:
    """External id, site and stand-in title of a (repaired) URL as JSON text, '' when
    _url would refuse it: for the URLs the columnar SQL does not split itself."""
    try:
        external_id, creator = _url(0, [], url)
        title = title_from_url(url)
    except (UnreadableRow, ValueError):
        return ""
    return json.dumps({"id": external_id, "site": creator, "title": title}, ensure_ascii=False)


# A URL urlsplit splits as this pattern does: http(s), a plain host (no user, port or
# IPv6 brackets), printable ASCII throughout. The SQL normalises these itself; the rest
# go through _url_parts.
_PLAIN_URL = r"(?i)^(https?)://([a-z0-9.-]+)(/[^?#]*)?(\?[^#]*)?(#.*)?$"
_PRINTABLE = r"[\x21-\x7e]+"
_UTM = "lambda pair: pair <> '' AND NOT starts_with(lower(split_part(pair, '=', 1)), 'utm_')"
# A JSON array of plain strings, as json.loads reads it; a Tags value starting with '['
# that is not one (escapes like \u, numbers) is left to the streaming reader.
_JSON_STRING = r'"([^"\\\x00-\x1f]|\\["\\/bfnrt])*"'
_TAG_LIST = rf"\[[ \t\n\r]*({_JSON_STRING}[ \t\n\r]*(,[ \t\n\r]*{_JSON_STRING}[ \t\n\r]*)*)?\]"


def _columnar_sql(header: tuple[str, ...]) -> str:
    tags = len(header) > len(KNOWN_COLUMNS)
    strip = python_strip_sql
    tag_columns = (
        f""", {strip("c5")} AS tags_text,
        CASE WHEN {strip("c5")} = '' THEN []::VARCHAR[]
             WHEN regexp_full_match({strip("c5")}, '{_TAG_LIST}')
             THEN list_filter(list_transform(json_extract_string({strip("c5")}, '$[*]'), lambda tag: {strip("tag")}),
                              lambda tag: tag <> '') END AS tag_list"""
        if tags
        else ", NULL AS tags_text, []::VARCHAR[] AS tag_list"
    )
    tag_metadata = (
        ", 'tags', CASE WHEN tag_list IS NOT NULL THEN to_json(tag_list) ELSE to_json(nullif(tags_text, '')) END"
        if tags
        else ""
    )
    return f"""
WITH v AS {columnar_csv_rows(len(header))},
s AS (
    SELECT v.*, {strip("c1")} AS title, {strip("c2")} AS selection, {strip("c3")} AS folder,
        {strip("c4")} AS stamp,
        CASE WHEN regexp_matches({strip("c0")}, '(?i)^https?:/([^/]|$)')
             THEN regexp_replace({strip("c0")}, '(?i)^(https?):/', '\\1://') ELSE {strip("c0")} END AS url
        {tag_columns}
    FROM v
), p AS (
    SELECT s.*, regexp_full_match(url, '{_PRINTABLE}') AND regexp_full_match(url, '{_PLAIN_URL}') AS plain,
        CASE WHEN plain THEN regexp_extract(url, '{_PLAIN_URL}', ['scheme', 'host', 'path', 'query', 'fragment']) END AS u,
        CASE WHEN url <> '' AND NOT plain THEN {_URL_PARTS}(url) END AS python,
        CASE folder {" ".join(f"WHEN '{f}' THEN '{state}'" for f, state in BUILT_IN_FOLDERS.items())}
             ELSE '{USER_FOLDER_STATE}' END AS state,
        coalesce(list_filter(tag_list, lambda tag, i: list_position(tag_list, tag) = i), []::VARCHAR[]) AS unique_tags
    FROM s
), n AS (
    SELECT p.*,
        array_to_string(list_filter(string_split(substr(u.query, 2), '&'), {_UTM}), '&') AS query,
        lower(u.host) AS host
    FROM p
), k AS (
    SELECT n.*,
        CASE WHEN plain THEN lower(u.scheme) || '://' || host || u.path || CASE WHEN query <> '' THEN '?' || query ELSE '' END
                 || CASE WHEN starts_with(u.fragment, '#!') THEN u.fragment ELSE '' END
             ELSE json_extract_string(nullif(python, ''), '$.id') END AS external_id,
        CASE WHEN plain THEN CASE WHEN starts_with(host, 'www.') THEN substr(host, 5) ELSE host END
             ELSE json_extract_string(nullif(python, ''), '$.site') END AS site,
        CASE WHEN plain THEN (CASE WHEN starts_with(host, 'www.') THEN substr(host, 5) ELSE host END)
                 || rtrim(u.path, '/') || CASE WHEN query <> '' THEN '?' || query ELSE '' END
             ELSE json_extract_string(nullif(python, ''), '$.title') END AS url_title
    FROM n
)
SELECT
    external_id,
    'article' AS media_type,
    CASE WHEN title <> '' THEN title
         WHEN length(url_title) <= {_TITLE_FROM_URL_CHARS} THEN url_title
         ELSE left(url_title, {_TITLE_FROM_URL_CHARS - 1}) || '…' END AS title,
    site AS creator,
    to_timestamp(TRY_CAST(stamp AS BIGINT)) AS consumed_at,
    NULL::DOUBLE AS duration_s,
    NULL::DOUBLE AS time_spent_s,
    CASE WHEN state = '{USER_FOLDER_STATE}' THEN [folder] || list_filter(unique_tags, lambda tag: tag <> folder)
         ELSE unique_tags END AS tags,
    url,
    json_object('folder', folder, 'state', state, 'selection', nullif(left(selection, {SELECTION_MAX_CHARS}), ''),
                'title_from_url', title = '', 'timestamp', TRY_CAST(stamp AS BIGINT){tag_metadata})::VARCHAR
        AS raw_metadata,
    -- what csv_rows or _item would read otherwise or skip
    {columnar_csv_clean(len(header), quotes=True)}
        AND url <> '' AND (plain OR python <> '') AND folder <> ''
        AND regexp_full_match(stamp, '[0-9]{{1,12}}') AND TRY_CAST(stamp AS BIGINT) < 253402300800
        AND ({"true" if not tags else "tag_list IS NOT NULL OR NOT starts_with(tags_text, '[')"}) AS clean,
    NULL::VARCHAR AS left_out,
    mca_record
FROM k
"""


_COLUMNAR_SQL = {header: _columnar_sql(header) for header in (KNOWN_COLUMNS, (*KNOWN_COLUMNS, "Tags"))}
