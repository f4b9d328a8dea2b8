"""Instapaper saved articles from the CSV export (Settings -> Export -> Download .CSV file).

Instapaper's API needs a per-developer consumer key that a person cannot get for
themselves, so this plugin imports the account export instead. Its header is
`URL,Title,Selection,Folder,Timestamp`; since Instapaper added tags (October 2024) the
export appends a `Tags` column holding a JSON array (`[]`, `"[""ml"",""go""]"`). Extra
columns are accepted and kept; the five above are required.

- Folder is `Unread`, `Archive`, `Starred` or the name of one of the person's folders.
- Timestamp is Unix seconds of when the article was *saved*. The export has no read
  time, so `consumed_at` is the save time, the closest fact the file holds.
- Selection is the description or highlighted text Instapaper stored, often empty.
- Title can be empty; the item then gets `host/path` of its URL as title.
- URLs with commas or quotes come as quoted CSV fields; some exports start with a BOM.

Bad input never raises out of `sync`: it comes back as a file_parse_error naming the
file, the line and the field.
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

PLATFORM = "instapaper"

REQUIRED_COLUMNS: tuple[str, ...] = ("URL", "Title", "Selection", "Folder", "Timestamp")

# The folders Instapaper itself writes; any other Folder value is one the person made.
BUILT_IN_FOLDERS: dict[str, str] = {"Unread": "unread", "Archive": "archived", "Starred": "starred"}
USER_FOLDER_STATE = "folder"

SELECTION_MAX_CHARS = 1_000

_TIMESTAMP = re.compile(r"\d{1,12}")
_WEB_SCHEMES = frozenset({"http", "https"})


class InstapaperPlugin:
    """Imports the articles of an Instapaper CSV export, a page of rows per call.

    UPDATE_ON_CHANGE dedup: an article is the same item from one export to the next
    (its external_id is its normalised URL), but its folder is not fixed - it moves from
    Unread to Archive once read, or into a folder. Re-importing a later export must make
    the stored item follow (new folder, state and tags in raw_metadata), which SKIP
    would not do. Its consumed_at (the save time) does not change.
    """

    name = PLATFORM
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

    def enrich(self, ctx: SyncContext, creds: Credentials, items: list[MediaItem]) -> list[MediaItem]:
        """The export's folders and tags are already on the items; nothing more to add."""
        return items


# --- URLs --------------------------------------------------------------------------------


def normalise_url(url: str) -> str:
    """The article's identity across exports: the URL without tracking noise.

    `utm_*` parameters and the fragment differ between saves of one article (a link from
    a newsletter vs. from a feed) and say nothing about which article it is, so they go.
    Every other parameter stays (`?id=123` can be the article), as does the path, and
    only the case-insensitive scheme and host are lower-cased. A `#!` fragment is kept:
    on hash-bang sites (old Twitter) it is the address, not a position on the page.
    Raises ValueError for text that cannot be split as a URL.
    """
    parts = urlsplit(url.strip())
    query = "&".join(
        pair
        for pair in parts.query.split("&")
        if pair and not pair.split("=", 1)[0].lower().startswith("utm_")
    )
    netloc = parts.netloc if "@" in parts.netloc else parts.netloc.lower()
    fragment = parts.fragment if parts.fragment.startswith("!") else ""
    return urlunsplit((parts.scheme.lower(), netloc, parts.path, query, fragment))


def site_of(url: str) -> str | None:
    """The web site an article is from, as people name it: host without `www.` or port.

    None for non-web addresses such as `instapaper-private://email/...` (articles
    mailed to Instapaper), whose "host" is not a publisher.
    """
    parts = urlsplit(url.strip())
    host = parts.hostname
    if parts.scheme.lower() not in _WEB_SCHEMES or not host:
        return None
    return host.removeprefix("www.")


def title_from_url(url: str) -> str:
    """A readable stand-in for an empty Title: `host/path`, or the URL when it has no host."""
    site = site_of(url)
    if site is None:
        return url.strip()
    path = urlsplit(url.strip()).path.rstrip("/")
    return f"{site}{path}"


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
        if name and name not in REQUIRED_COLUMNS and index[name] == position
    )
    return _Columns(width=len(header), index=index, extra=extra)


def _timestamp(path: Path, line: int, value: str) -> tuple[int, datetime]:
    raw = value.strip()
    if not raw:
        raise field_error(path, line, "Timestamp", "value is empty")
    problem = f"{value!r} is not a Unix timestamp (whole seconds, e.g. 1710252000)"
    if not _TIMESTAMP.fullmatch(raw):
        raise field_error(path, line, "Timestamp", problem)
    seconds = int(raw)
    try:
        return seconds, datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        raise field_error(path, line, "Timestamp", problem) from None


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


def _item(path: Path, line: int, row: list[str], columns: _Columns) -> MediaItem:
    if len(row) != columns.width:
        problem = f"expected {columns.width} values but found {len(row)}: {shown(row)!r}"
        raise ExportFileError(file_parse_error(path, problem, line=line))

    def value(name: str) -> str:
        return row[columns.index[name]]

    url = value("URL").strip()
    if not url:
        raise field_error(path, line, "URL", "value is empty; every saved article has a URL")
    try:
        external_id = normalise_url(url)
        creator = site_of(url)
    except ValueError as exc:
        raise field_error(path, line, "URL", f"{url!r} is not a URL ({exc})") from None
    folder = value("Folder").strip()
    if not folder:
        raise field_error(
            path, line, "Folder", "value is empty (expected Unread, Archive, Starred or a folder)"
        )
    seconds, saved_at = _timestamp(path, line, value("Timestamp"))
    title = value("Title").strip()
    selection = value("Selection").strip()
    state = BUILT_IN_FOLDERS.get(folder, USER_FOLDER_STATE)
    metadata: dict[str, Any] = {
        "folder": folder,
        "state": state,
        "selection": selection[:SELECTION_MAX_CHARS] or None,
        "timestamp": seconds,
        "title_from_url": not title,
    }
    instapaper_tags = _extras(row, columns, metadata)
    tags = [folder] if state == USER_FOLDER_STATE else []
    tags += [tag for tag in dict.fromkeys(instapaper_tags) if tag not in tags]
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
    position = 0
    has_more = False
    with closing(csv_rows(path)) as rows:
        first = next(rows, None)
        if first is None:
            raise ExportFileError(file_parse_error(path, "the file holds no header row, only blank lines"))
        columns = _columns(path, *first)
        for line, row in rows:
            if position >= start.offset:
                if len(items) >= page_size:
                    has_more = True
                    break
                items.append(_item(path, line, row, columns))
            position += 1
    ctx.log.debug("instapaper: %s: rows %d-%d gave %d items", path.name, start.offset, position, len(items))
    return SyncResult(
        items=items,
        next_cursor=FileCursor(file=start.file, offset=position).encode(),
        has_more=has_more,
    )
