"""Google Takeout YouTube watch history: `watch-history.json` and `watch-history.html`.

Takeout writes the history as HTML unless the person picks JSON, so both are read; the
format is sniffed from the first byte (`<` is HTML), not from the file name, because
people rename downloads. Both hold the same entries, newest first:

- YouTube and YouTube Music watches (the header says which);
- entries that are not watches of a video we can name, which are skipped and counted:
  ads ("From Google Ads"), removed or private videos (no link), and links that are not
  `/watch?v=` pages (community posts, stories).

The export has no durations and no watch time, only when a watch started. The HTML
export writes that time in the account's language and a zone abbreviation of the
account's location; `takeout_dates` reads every language and zone Takeout writes, and
how the zone was read goes into raw_metadata["time_zone"].

Entries left out on purpose (ads, removed videos, posts) are counted in
`SyncResult.left_out`; an entry that cannot be read (no time, an impossible date) is
skipped and reported with its line and byte offset; only a file that is not a Takeout
history, or is cut off inside an entry, is rejected.

Histories reach hundreds of thousands of entries, so both formats are read in bounded
memory and paged by byte offset (`FileCursor`): JSON with `iter_json_array`, HTML with
the standard library's incremental `HTMLParser` fed in 64 KiB blocks (no DOM is built).
An HTML page ends at the start of an entry: the byte offset of each entry's
`<div class="outer-cell` tag is found in the raw bytes and handed to the parser, which
pairs it with that tag. Before either reader, core tries the columnar path: DuckDB reads
a JSON file whole, and the HTML page's entries as `takeout_html_columnar` splits them;
any file with an entry that path cannot read exactly comes to the streaming readers.

The external_id is `<video id>@<UTC watch time to the second>`. Seconds rather than the
JSON's milliseconds, because the HTML export only has seconds: a person who imports the
HTML export once and the JSON export later gets each watch once, not twice.
"""

from __future__ import annotations

import codecs
import html
import json
import re
from collections import Counter, deque
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache, lru_cache
from html.parser import HTMLParser
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

from pydantic import ValidationError

from mca_pipeline.core import (
    AuthType,
    ColumnarFileImportPlugin,
    Credentials,
    DedupPolicy,
    MediaItem,
    MediaType,
    SkippedRecord,
    SyncContext,
    SyncResult,
)
from mca_pipeline.core.columnar import ColumnarRead
from mca_pipeline.plugins.export_files import (
    UNSTORABLE,
    ExportFileError,
    FileCursor,
    check_text,
    columnar_file_read,
    file_parse_error,
    iter_json_array,
    line_at,
    require_file,
    sql_text,
    validation_problem,
    with_lines,
)
from mca_pipeline.plugins.takeout_dates import TakeoutTime, english_day, month_numbers, parse_takeout_time
from mca_pipeline.plugins.takeout_html_columnar import entry_stream, first_entry, html_sql

if TYPE_CHECKING:
    from mca_pipeline.enrich.youtube_videos import YoutubeVideoDetails

PLATFORM = "youtube_takeout"

MUSIC_HEADER = "YouTube Music"
ADS_DETAIL = "From Google Ads"
REMOVED_TITLE = "Watched a video that has been removed"

# Why an entry was left out; counted per file and logged once when the file is done.
SKIP_AD = "ad"
SKIP_REMOVED = "removed"
SKIP_NOT_VIDEO = "not_a_video"
SKIP_REASONS = (SKIP_AD, SKIP_REMOVED, SKIP_NOT_VIDEO)

# Why entries were left out, as the import report says it.
LEFT_OUT = {
    SKIP_AD: "ad (From Google Ads)",
    SKIP_REMOVED: "removed or private video",
    SKIP_NOT_VIDEO: "not a video (post, story, channel page)",
}

# The "Watched" wording of watch-history.json titles, localized to the account language
# (the HTML export does not need it: the video title is the link's text). Matching is
# loose: an unknown wording only means the title keeps its prefix; the original title
# is in raw_metadata either way.
WATCHED_PREFIXES = (
    "Watched ", "Vous avez regardé ", "Angesehen: ", "Has visto ", "Viste ", "Assistiu a ", "Assistiu ",
    "Hai guardato ", "Bekeken: ", "Je hebt ", "Obejrzano: ", "Obejrzano film ", "Просмотрено: ",
    "Вы посмотрели ", "Переглянуто: ", "Sledováno: ", "Megtekintve: ", "Ai vizionat ", "Tittade på ",
    "Så ", "Katsottu: ", "Menonton ", "Đã xem ", "已观看 ", "已觀看 ", "観た動画: ", "시청함: ",
)  # fmt: skip
WATCHED_SUFFIXES = (
    " hat angesehen", " angesehen", " izlendi", " adl\u0131 videoyu izlediniz", " bekeken", " を視聴しました",
    "을(를) 시청했습니다", " 시청함", " を視聴",
)  # fmt: skip

_VIDEO_HOSTS = frozenset({"www.youtube.com", "youtube.com", "m.youtube.com", "music.youtube.com"})
_VIDEO_ID = re.compile(r"[A-Za-z0-9_-]{6,20}")  # real ids are 11 characters

_HEAD_BYTES = 4096
# A watch link as Takeout writes it in JSON (`=` escaped as \u003d) or HTML.
_WATCH_LINK = re.compile(
    r'"titleUrl"\s*:\s*"https://(?:www\.|music\.|m\.)?youtube\.com/watch\?v(?:=|\\u003d)'
    r'|<a href="https://(?:www\.|music\.|m\.)?youtube\.com/watch\?v='
)
_TAKEOUT_HTML = re.compile(
    r"outer-cell|material-design-lite|mdl-typography|<title>My Activity", re.IGNORECASE
)
_HTML_CHUNK = 1 << 16
#: Text the HTML parser may hold unparsed (an unclosed tag, comment or `</`): a Takeout
#: tag is a few hundred bytes. More is not a Takeout page from there on, and the standard
#: library's parser would take time growing as the square of it (a crafted 0.4 MB file
#: took 15 s), so the file is rejected at that point instead.
_HTML_PENDING_LIMIT = 1 << 15
_MARKER = b'<div class="outer-cell'
_MARKER_TEXT = _MARKER.decode()
_EXCERPT_CHARS = 300
_SEPARATORS = b" \t\r\n,[\xef\xbb\xbf"
_LEADING = b" \t\r\n\xef\xbb\xbf"  # white space and a UTF-8 BOM before the first real byte


class _BadEntry(Exception):
    """An entry that parses but cannot be read as a watch; the caller adds the location."""

    def __init__(self, field: str | None, reason: str, detail: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason
        self.detail = detail
        self.line = line


class YoutubeTakeoutPlugin(ColumnarFileImportPlugin):
    """Imports watches from a Google Takeout YouTube watch history (JSON or HTML).

    SKIP dedup: a watch at a time never changes, and every later export repeats it with
    the same video id and time, so the external_id finds it again.
    """

    name = PLATFORM
    display_name = "YouTube — Google Takeout"
    auth_type = AuthType.FILE_IMPORT
    auth_config = None
    dedup_policy = DedupPolicy.SKIP

    def sync(self, ctx: SyncContext, creds: Credentials, cursor: str) -> SyncResult:
        """Read up to `ctx.page_size` watches from the file, starting at `cursor`.

        On a broken entry the watches read before it come back with the error and a
        cursor at the broken entry, so core keeps the good part and a retry stops there.
        """
        if ctx.is_cancelled():
            return SyncResult(items=[], next_cursor=cursor, has_more=True)
        try:
            path = require_file(self.name, creds)
            with path.open("rb") as f:
                head = f.read(_HEAD_BYTES)
            check_text(path, head)
            start = _Start.resume(cursor, path)
        except ExportFileError as exc:
            return SyncResult(next_cursor=cursor, err=exc.error)
        except OSError as exc:
            err = file_parse_error(Path(str(creds.file)), f"cannot read: {exc.strerror}")
            return SyncResult(next_cursor=cursor, err=err)
        page_size = max(1, ctx.page_size)
        if head.lstrip(_LEADING).startswith(b"<"):
            return _HtmlPage(ctx, path, start, page_size).read()
        return _read_json_page(ctx, path, start, page_size)

    def __init__(self, *, video_details: YoutubeVideoDetails | None = None) -> None:
        self._video_details = video_details

    def columnar_read(self, file: Path, cursor: str) -> ColumnarRead | None:
        """DuckDB reads a watch-history.json whole, and the entries of a watch-history.html
        as `takeout_html_columnar` splits them (the columnar path). A file with an entry
        the streaming reader would skip or read otherwise goes to the streaming reader
        (core sees that from the `clean` column), and so does an HTML page whose head
        (before the first entry) could change how its entries are parsed."""
        with file.open("rb") as f:
            head = f.read(_HEAD_BYTES).lstrip(_LEADING)
        if head.startswith(b"["):
            return columnar_file_read(_COLUMNAR_SQL, file, cursor)
        first = first_entry(file) if head.startswith(b"<") else None
        if first is None or not _plain_head(first[1]):
            return None
        at = first[0]
        return columnar_file_read(
            _html_columnar_sql(),
            file,
            cursor,
            functions=_HTML_FUNCTIONS,
            tables={"takeout_entries": lambda: entry_stream(file, at)},
            numbered=True,
        )

    def recognizes(self, name: str, head: bytes) -> bool:
        """A Takeout history holding YouTube watch links (JSON records or HTML entries),
        in any language; an HTML page whose first 64 KiB are only Takeout's stylesheet
        is known by its name, which Takeout does not translate (watch-history.html).
        Search history and other products' activity pages hold no watch links."""
        text = head.decode("utf-8", errors="replace")
        stripped = text.lstrip("\ufeff \t\r\n")
        if stripped.startswith("["):
            return _WATCH_LINK.search(text) is not None
        if not stripped.startswith("<") or _TAKEOUT_HTML.search(text) is None:
            return False
        if "outer-cell" in text:
            return _WATCH_LINK.search(text) is not None
        return "watch-history" in name.lower() and name.lower().endswith((".html", ".htm"))

    def enrich(self, ctx: SyncContext, creds: Credentials, items: list[MediaItem]) -> list[MediaItem]:
        """Category, topics, duration and channel from videos.list (public data, read with
        YOUTUBE_API_KEY); see `mca_pipeline.enrich.youtube_videos`.

        Raises EnrichmentSkipped when YOUTUBE_API_KEY is not set.
        """
        if self._video_details is None:
            from mca_pipeline.enrich.youtube_videos import YoutubeVideoDetails

            self._video_details = YoutubeVideoDetails()
        return self._video_details.enrich_items(ctx, items)


# --- cursor ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Start:
    """Where a page starts, plus the entries skipped before it, so the per-file summary
    logged at the end counts the whole file even when it took several calls."""

    cursor: FileCursor
    skipped: Counter[str]

    @classmethod
    def resume(cls, cursor: str, path: Path) -> _Start:
        at = FileCursor.resume(cursor, path)
        skipped: Counter[str] = Counter()
        if at.offset > 0:
            try:
                stored = json.loads(cursor).get("skipped") or {}
                skipped.update(
                    {k: v for k, v in stored.items() if k in SKIP_REASONS and type(v) is int and v > 0}
                )
            except (ValueError, AttributeError):
                pass
        return cls(at, skipped)

    def restart(self) -> _Start:
        return _Start(FileCursor(self.cursor.file, 0), Counter())

    def encode(self, offset: int, skipped: Counter[str]) -> str:
        """`{"file": <fingerprint>, "offset": <byte>, "skipped": {<reason>: <count>}}`."""
        data: dict[str, Any] = {"file": self.cursor.file, "offset": offset}
        counts = {k: skipped[k] for k in SKIP_REASONS if skipped[k]}
        if counts:
            data["skipped"] = counts
        return json.dumps(data, separators=(",", ":"))


def _log_skipped(ctx: SyncContext, path: Path, skipped: Counter[str]) -> None:
    """Once per file, so the person can see why fewer watches came in than entries."""
    ctx.log.info(
        "youtube_takeout: %s: skipped %d entries: %d ads, %d removed or private videos, "
        "%d not videos (posts, stories)",
        path.name,
        sum(skipped.values()),
        skipped[SKIP_AD],
        skipped[SKIP_REMOVED],
        skipped[SKIP_NOT_VIDEO],
    )


# --- shared entry rules ----------------------------------------------------------------


def video_id_from_url(url: str) -> str | None:
    """The video id of a `watch?v=` URL on YouTube or YouTube Music, else None."""
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").lower()
    except ValueError:
        return None
    if host == "youtu.be":
        candidate = parts.path.lstrip("/")
    elif host in _VIDEO_HOSTS and parts.path == "/watch":
        candidate = parse_qs(parts.query).get("v", [""])[0]
    else:
        return None
    return candidate if _VIDEO_ID.fullmatch(candidate) else None


def strip_watched(title: str) -> str:
    """The video title without the localized "Watched" wording around it."""
    for prefix in WATCHED_PREFIXES:
        for variant in (prefix, prefix.replace(" ", "\xa0")):
            if title.startswith(variant):
                return title[len(variant) :].strip()
    for suffix in WATCHED_SUFFIXES:
        if title.endswith(suffix):
            return title[: -len(suffix)].strip()
    return title.strip()


def display_title(name: str, video_id: str) -> str:
    """Takeout writes the URL as the title when it did not know the title; a URL is no
    title, so such watches get a placeholder naming the video."""
    if not name or name.startswith(("http://", "https://")):
        return f"YouTube video {video_id}"
    return name


def external_id(video_id: str, at: datetime) -> str:
    return f"{video_id}@{at.astimezone(UTC):%Y-%m-%dT%H:%M:%SZ}"


def _watch(
    *,
    source: str,
    header: str | None,
    original_title: str | None,
    name: str,
    url: str,
    video_id: str,
    channel: str | None,
    channel_url: str | None,
    at: datetime,
    products: list[str] | None,
    activity_controls: list[str] | None,
    when: TakeoutTime | None = None,
) -> MediaItem:
    raw: dict[str, Any] = {
        "format": source,
        "header": header,
        "title": original_title,
        "video_id": video_id,
        "channel_url": channel_url,
        "products": products,
        "activity_controls": activity_controls,
    }
    if when is not None:
        raw["time_zone"] = when.zone.as_metadata()
        raw["date_order"] = when.date_order
    return MediaItem(
        platform=PLATFORM,
        type=MediaType.MUSIC if header == MUSIC_HEADER else MediaType.VIDEO,
        title=display_title(name, video_id),
        creator=channel or None,
        consumed_at=at,
        url=url,
        external_id=external_id(video_id, at),
        raw_metadata=raw,
    )


# --- JSON ------------------------------------------------------------------------------


def json_entry(record: Any) -> MediaItem | str:
    """One watch-history.json entry as a MediaItem, or the reason it is skipped."""
    if type(record) is not dict:
        raise _BadEntry(
            None, "entry is not an object", f"expected a JSON object, got {type(record).__name__}"
        )
    if record.get("time") is None:
        raise _BadEntry("time", "time is missing", "an entry without a time")
    at = _json_time(record["time"])
    get = record.get
    details = get("details")
    if type(details) is list and any(type(d) is dict and d.get("name") == ADS_DETAIL for d in details):
        return SKIP_AD
    title, url = get("title"), get("titleUrl")
    if title is not None and type(title) is not str:
        raise _BadEntry("title", "title is not text", f"expected a string, got {title!r:.80}")
    if url is not None and type(url) is not str:
        raise _BadEntry("titleUrl", "titleUrl is not text", f"expected a URL string, got {url!r:.80}")
    if not url or title == REMOVED_TITLE:
        return SKIP_REMOVED
    video_id = video_id_from_url(url)
    if video_id is None:
        return SKIP_NOT_VIDEO
    channel, channel_url = _subtitle(get("subtitles"))
    header = get("header")
    return _watch(
        source="json",
        header=header if type(header) is str else None,
        original_title=title,
        name=strip_watched(title or ""),
        url=url,
        video_id=video_id,
        channel=channel,
        channel_url=channel_url,
        at=at,
        products=_strings(get("products")),
        activity_controls=_strings(get("activityControls")),
    )


# --- the columnar path: DuckDB reads watch-history.json whole ---------------------------

# What str.strip() strips: every character Python calls white space.
_WHITE_SPACE = "".join(c for c in map(chr, range(0x110000)) if c.isspace())


def _stripped_watched(title: str) -> str:
    """strip_watched as SQL over the VARCHAR `title`."""
    cases = []
    for prefix in WATCHED_PREFIXES:
        for variant in dict.fromkeys((prefix, prefix.replace(" ", "\xa0"))):
            cases.append(
                f"WHEN starts_with({title}, {sql_text(variant)}) THEN substr({title}, {len(variant) + 1})"
            )
    for suffix in WATCHED_SUFFIXES:
        cases.append(
            f"WHEN ends_with({title}, {sql_text(suffix)}) THEN left({title}, length({title}) - {len(suffix)})"
        )
    return f"trim(CASE {' '.join(cases)} ELSE {title} END, {sql_text(_WHITE_SPACE)})"


_VIDEO_URL = r"^https://(www\.|music\.|m\.)?youtube\.com/watch\?v=([A-Za-z0-9_-]{6,20})$"
# A YouTube page that is no watch page (a post, a channel): video_id_from_url says None.
_OTHER_PAGE_URL = r"^https://(www\.|music\.|m\.)?youtube\.com(/[A-Za-z0-9_./-]*)?$"

_COLUMNAR_SQL = f"""
WITH r AS (
    SELECT * FROM read_json($file, format = 'array', records = true,
        columns = {{header: 'JSON', title: 'JSON', titleUrl: 'JSON', subtitles: 'JSON', time: 'JSON',
                   products: 'JSON', activityControls: 'JSON', details: 'JSON'}})
), t AS (
    SELECT r.*,
        json_extract_string(time, '$') AS time_s,
        json_extract_string(title, '$') AS title_s,
        json_extract_string(titleUrl, '$') AS url,
        -- subtitles[0]'s name and url, NULL unless subtitles is a list starting with an object
        json_extract(subtitles, ['$[0].name', '$[0].url']) AS subtitle
    FROM r
), w AS (
    SELECT t.*,
        json_type(time) = 'VARCHAR'
            AND regexp_full_match(time_s, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}T[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}([.][0-9]{{3}})?Z')
            AND time_s >= '0001' AND try_strptime(left(time_s, 19), '%Y-%m-%dT%H:%M:%S') IS NOT NULL AS time_ok,
        try_strptime(left(time_s, 19), '%Y-%m-%dT%H:%M:%S')
            + to_milliseconds(CASE WHEN length(time_s) = 24 THEN substr(time_s, 21, 3)::INTEGER ELSE 0 END) AS watched_at,
        json_type(details) = 'ARRAY' AND list_contains(json_extract_string(details, '$[*].name'), {sql_text(ADS_DETAIL)})
            AS is_ad,
        (title IS NULL OR json_type(title) IN ('VARCHAR', 'NULL')) AND (titleUrl IS NULL OR json_type(titleUrl) IN ('VARCHAR', 'NULL'))
            AS texts_ok,
        coalesce(url, '') = '' OR title_s IS NOT DISTINCT FROM {sql_text(REMOVED_TITLE)} AS is_removed,
        regexp_extract(url, '{_VIDEO_URL}', 2) AS video_id,
        regexp_full_match(url, '{_OTHER_PAGE_URL}') AS is_other_page
    FROM t
), v AS (
    SELECT w.*, {_stripped_watched("coalesce(title_s, '')")} AS name,
        CASE WHEN json_type(subtitle[1]) = 'VARCHAR' THEN subtitle[1] ->> '$' END AS channel,
        CASE WHEN json_type(subtitle[2]) = 'VARCHAR' THEN subtitle[2] END AS channel_url,
        CASE WHEN json_type(header) = 'VARCHAR' THEN header END AS header_json,
        CASE WHEN json_type(products) = 'ARRAY' THEN products END AS products_json,
        CASE WHEN json_type(activityControls) = 'ARRAY' THEN activityControls END AS controls_json
    FROM w
)
SELECT
    video_id || '@' || strftime(watched_at, '%Y-%m-%dT%H:%M:%SZ') AS external_id,
    CASE WHEN json_extract_string(header_json, '$') = {sql_text(MUSIC_HEADER)} THEN 'music' ELSE 'video' END AS media_type,
    CASE WHEN name = '' OR starts_with(name, 'http://') OR starts_with(name, 'https://')
         THEN 'YouTube video ' || video_id ELSE name END AS title,
    nullif(channel, '') AS creator,
    to_timestamp(epoch_ms(watched_at) / 1000) AS consumed_at,  -- milliseconds exactly: / rounds to the microsecond
    NULL::DOUBLE AS duration_s,
    NULL::DOUBLE AS time_spent_s,
    []::VARCHAR[] AS tags,
    url,
    '{{"format":"json","header":' || coalesce(header_json::VARCHAR, 'null')
        || ',"title":' || coalesce(title::VARCHAR, 'null')
        || ',"video_id":' || to_json(video_id)::VARCHAR
        || ',"channel_url":' || coalesce(channel_url::VARCHAR, 'null')
        || ',"products":' || coalesce(products_json::VARCHAR, 'null')
        || ',"activity_controls":' || coalesce(controls_json::VARCHAR, 'null') || '}}' AS raw_metadata,
    -- what json_entry would skip, or read otherwise, sends the file to the streaming reader
    time_ok AND (is_ad OR (texts_ok AND (is_removed OR video_id <> '' OR is_other_page)))
        AND (products_json IS NULL OR json_array_length(products_json)
             = len(list_filter(json_extract(products_json, '$[*]'), lambda x: json_type(x) = 'VARCHAR')))
        AND (controls_json IS NULL OR json_array_length(controls_json)
             = len(list_filter(json_extract(controls_json, '$[*]'), lambda x: json_type(x) = 'VARCHAR')))
        AS clean,
    CASE WHEN is_ad THEN {sql_text(LEFT_OUT[SKIP_AD])}
         WHEN is_removed THEN {sql_text(LEFT_OUT[SKIP_REMOVED])}
         WHEN coalesce(video_id, '') = '' THEN {sql_text(LEFT_OUT[SKIP_NOT_VIDEO])} END AS left_out
FROM v
"""


def _json_time(value: Any) -> datetime:
    """ISO-8601 UTC with `Z`, with or without milliseconds; a zoneless value is UTC."""
    if type(value) is not str:
        raise _BadEntry(
            "time", "time is not a time", f"expected an ISO-8601 UTC time string, got {value!r:.80}"
        )
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise _BadEntry("time", "time is not a time", f"not an ISO-8601 time: {value!r:.80}") from None
    try:
        return at.astimezone(UTC) if at.tzinfo is not None else at.replace(tzinfo=UTC)
    except OverflowError:
        raise _BadEntry(
            "time", "time is not a time", f"{value!r:.80} is outside the calendar in UTC"
        ) from None


def _subtitle(subtitles: Any) -> tuple[str | None, str | None]:
    """Channel name and URL from `subtitles[0]`; either can be missing."""
    if type(subtitles) is not list or not subtitles or type(subtitles[0]) is not dict:
        return None, None
    name, url = subtitles[0].get("name"), subtitles[0].get("url")
    return (name if type(name) is str else None), (url if type(url) is str else None)


def _strings(value: Any) -> list[str] | None:
    return [v for v in value if type(v) is str] if type(value) is list else None


def _read_json_page(ctx: SyncContext, path: Path, start: _Start, page_size: int) -> SyncResult:
    """Up to `page_size` watches from `start`; the page ends before the first watch that
    does not fit, so entries left out right after a full page are counted in it."""
    items: list[MediaItem] = []
    skipped: list[SkippedRecord] = []
    left_out = Counter(start.skipped)
    last = start.cursor.offset
    try:
        with closing(iter_json_array(path, last)) as records:
            for record, after in records:
                try:
                    outcome = json_entry(record)
                except _BadEntry as bad:
                    outcome = _json_skipped(path, last, after, record, bad.field, bad.reason, bad.detail)
                except ValidationError as exc:
                    field_name, detail = validation_problem(exc)
                    outcome = _json_skipped(path, last, after, record, field_name, UNSTORABLE, detail)
                if isinstance(outcome, str):
                    left_out[outcome] += 1
                elif len(items) + len(skipped) >= page_size:
                    return _result(start, last, items, skipped, left_out, has_more=True, path=path)
                elif isinstance(outcome, SkippedRecord):
                    skipped.append(outcome)
                else:
                    items.append(outcome)
                last = after
    except ExportFileError as exc:
        result = _result(start, last, items, skipped, left_out, has_more=False, path=path)
        return result.model_copy(update={"err": exc.error})
    except OSError as exc:
        err = file_parse_error(path, f"cannot read: {exc.strerror}", offset=last)
        result = _result(start, last, items, skipped, left_out, has_more=False, path=path)
        return result.model_copy(update={"err": err})
    if last > start.cursor.offset or start.cursor.offset == 0:
        _log_skipped(ctx, path, left_out)
    return _result(start, last, items, skipped, left_out, has_more=False, path=path)


def _result(
    start: _Start,
    offset: int,
    items: list[MediaItem],
    skipped: list[SkippedRecord],
    left_out: Counter[str],
    *,
    has_more: bool,
    path: Path,
) -> SyncResult:
    """A page: the cursor keeps the file's running left-out counts (for the one log line
    per file), `left_out` reports this page's own."""
    page = left_out - start.skipped
    return SyncResult(
        items=items,
        next_cursor=start.encode(offset, left_out),
        has_more=has_more,
        skipped=with_lines(path, skipped),
        left_out={LEFT_OUT[reason]: count for reason, count in page.items() if count},
    )


def _json_skipped(
    path: Path, prev_after: int, after: int, record: Any, field_name: str | None, reason: str, detail: str
) -> SkippedRecord:
    """Locate a bad entry by byte offset: the offending field when it is present, else
    where the entry starts."""
    with path.open("rb") as f:
        f.seek(prev_after)
        data = f.read(min(after - prev_after, 1 << 20))
    skip = len(data) - len(data.lstrip(_SEPARATORS))
    offset = prev_after + skip
    if field_name and isinstance(record, dict) and field_name in record:
        found = data.find(b'"' + field_name.encode() + b'"', skip)
        if found >= 0:
            offset = prev_after + found
    text = repr(record)
    excerpt = text if len(text) <= _EXCERPT_CHARS else text[:_EXCERPT_CHARS] + "…"
    return SkippedRecord(reason=reason, byte_offset=offset, field=field_name, detail=detail, excerpt=excerpt)


# --- HTML dates ------------------------------------------------------------------------


def parse_html_date(text: str) -> datetime:
    """A watch time of the HTML export in UTC, in any language and zone Takeout writes;
    see `takeout_dates`. Raises ValueError saying what is wrong."""
    return parse_takeout_time(text).at


# --- HTML ------------------------------------------------------------------------------


@dataclass
class _Part:
    href: str | None
    text: str = ""


@dataclass
class _HtmlEntry:
    """What one `outer-cell` holds, split into <br>-separated lines of text and links."""

    offset: int | None
    line: int
    header: list[str] = field(default_factory=list)
    content: list[tuple[int, list[_Part]]] = field(default_factory=list)
    caption: list[tuple[bool, str]] = field(default_factory=list)


def _div_kind(classes: set[str]) -> str:
    if "outer-cell" in classes:
        return "outer"
    if "header-cell" in classes:
        return "header"
    if "content-cell" in classes:
        if "mdl-typography--caption" in classes:
            return "caption"
        if "mdl-typography--body-1" in classes and "mdl-typography--text-right" not in classes:
            return "content"
    return "other"


class _TakeoutHtmlParser(HTMLParser):
    """Collects the entries of a Takeout activity page as they close; keeps only the open
    entry and the finished ones not yet taken, so memory does not grow with the file."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.offsets: deque[int] = deque()
        self.stack: list[str] = []
        self.entry: _HtmlEntry | None = None
        self.finished: list[_HtmlEntry] = []
        self.link: _Part | None = None
        self.bold = False
        self.saw_grid = False

    def region(self) -> str | None:
        for kind in reversed(self.stack):
            if kind in ("header", "content", "caption"):
                return kind
            if kind == "outer":
                return None
        return None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "div":
            classes = set((dict(attrs).get("class") or "").split())
            self.saw_grid = self.saw_grid or "mdl-grid" in classes
            kind = _div_kind(classes)
            if kind == "outer":
                # The offsets queue holds the byte offset of every `<div class="outer-cell`
                # seen in the raw bytes, in order; a tag written differently has none.
                raw = self.get_starttag_text() or ""
                offset = self.offsets.popleft() if raw.startswith(_MARKER_TEXT) and self.offsets else None
                self.entry = _HtmlEntry(offset=offset, line=self.getpos()[0])
            self.stack.append(kind)
            return
        entry, region = self.entry, self.region()
        if entry is None or region is None:
            return
        if tag == "br":
            if region == "content":
                entry.content.append((self.getpos()[0], []))
            elif region == "caption":
                entry.caption.append((False, ""))
        elif tag == "a" and region == "content":
            self.link = _Part(dict(attrs).get("href") or "")
            self._content_line().append(self.link)
        elif tag == "b" and region == "caption":
            self.bold = True
            entry.caption.append((True, ""))

    def handle_endtag(self, tag: str) -> None:
        if tag == "div":
            if self.stack and self.stack.pop() == "outer" and self.entry is not None:
                self.finished.append(self.entry)
                self.entry, self.link, self.bold = None, None, False
        elif tag == "a":
            self.link = None
        elif tag == "b" and self.bold and self.entry is not None:
            self.bold = False
            self.entry.caption.append((False, ""))

    def handle_data(self, data: str) -> None:
        entry, region = self.entry, self.region()
        if entry is None or region is None:
            return
        if region == "header":
            entry.header.append(data)
        elif region == "content":
            if self.link is not None:
                self.link.text += data
            else:
                line = self._content_line()
                if line and line[-1].href is None:
                    line[-1].text += data
                else:
                    line.append(_Part(None, data))
        elif region == "caption":
            bold, text = entry.caption[-1] if entry.caption else (False, "")
            if entry.caption:
                entry.caption[-1] = (bold, text + data)
            else:
                entry.caption.append((bold, data))

    def _content_line(self) -> list[_Part]:
        assert self.entry is not None
        if not self.entry.content:
            self.entry.content.append((self.getpos()[0], []))
        return self.entry.content[-1][1]

    def take(self) -> list[_HtmlEntry]:
        done, self.finished = self.finished, []
        return done


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def html_entry(entry: _HtmlEntry) -> MediaItem | str:
    """One HTML `outer-cell` as a MediaItem, or the reason it is skipped.

    Content lines: "Watched <a video>title</a>", "<a channel>name</a>", then the time as
    the last line of plain text (ads have "Watched at 6:20 PM" before it).
    """
    lines = [(n, parts) for n, parts in entry.content if any(p.text.strip() for p in parts)]
    plain = [i for i, (_, parts) in enumerate(lines) if all(p.href is None for p in parts)]
    if not plain:
        raise _BadEntry("date", "entry has no watch time", "no line of plain text", line=entry.line)
    date_index = plain[-1]
    date_line, date_parts = lines[date_index]
    try:
        when = parse_takeout_time("".join(p.text for p in date_parts))
    except ValueError as exc:
        raise _BadEntry("date", "watch time unreadable", str(exc), line=date_line) from None
    sections = _caption_sections(entry.caption)
    if any(value == ADS_DETAIL for values in sections.values() for value in values):
        return SKIP_AD
    original = _squash("".join(p.text for p in lines[0][1])) if lines else ""
    links = [p for _, parts in lines for p in parts if p.href is not None]
    if not links or original == REMOVED_TITLE:
        return SKIP_REMOVED
    video = links[0]
    video_id = video_id_from_url(video.href or "")
    if video_id is None:
        return SKIP_NOT_VIDEO
    channel_name, channel_url = _html_channel(lines, links, date_index)
    return _watch(
        source="html",
        header=_squash("".join(entry.header)) or None,
        original_title=original,
        name=_squash(video.text),
        url=video.href or "",
        video_id=video_id,
        channel=channel_name,
        channel_url=channel_url,
        at=when.at,
        when=when,
        products=sections.get("Products"),
        activity_controls=_activity_controls(sections.get("Why is this here?", [])),
    )


def _html_channel(
    lines: list[tuple[int, list[_Part]]], links: list[_Part], date_index: int
) -> tuple[str | None, str | None]:
    """The channel is the second link; a channel without a page is plain text on the
    line between the title and the time."""
    if len(links) > 1:
        return _squash(links[1].text) or None, links[1].href or None
    if len(lines) >= 3 and date_index != 1 and all(p.href is None for p in lines[1][1]):
        return _squash("".join(p.text for p in lines[1][1])) or None, None
    return None, None


def _caption_sections(caption: list[tuple[bool, str]]) -> dict[str, list[str]]:
    """`<b>Products:</b><br>&emsp;YouTube<br><b>Details:</b>…` as {"Products": ["YouTube"], …}."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for bold, text in caption:
        clean = _squash(text)
        if bold:
            current = sections.setdefault(clean.rstrip(":"), [])
        elif clean and current is not None:
            current.append(clean)
    return sections


def _activity_controls(why: list[str]) -> list[str] | None:
    """The settings named in "…the following settings were on: YouTube watch history."
    (English only; other languages give None rather than a guess)."""
    for text in why:
        _, found, rest = text.partition("settings were on:")
        if found:
            names = rest.split(".")[0].replace(" and ", ", ")
            return [n.strip() for n in names.split(",") if n.strip()]
    return None


# --- the columnar path of the HTML page: see takeout_html_columnar ----------------------


def _plain_head(head: bytes) -> bool:
    """Whether the page's head leaves its entries to be parsed as entries: UTF-8, no tag,
    comment, script or style left open, and no entry written some other way."""
    try:
        text = head.removeprefix(codecs.BOM_UTF8).decode("utf-8")
    except UnicodeDecodeError:
        return False
    parser = _TakeoutHtmlParser()
    parser.feed(text)
    return (
        parser.cdata_elem is None
        and "<" not in parser.rawdata
        and parser.entry is None
        and not parser.finished
    )


def _caption_facts(caption: str) -> str | None:
    """An entry's caption as html_entry reads it: whether it marks an ad, the products and
    the activity controls (JSON), by the streaming reader's own parser."""
    parser = _TakeoutHtmlParser()
    parser.feed(
        f'<div class="outer-cell"><div class="content-cell mdl-typography--caption">{caption}</div></div>'
    )
    parser.close()
    entries = parser.take()
    if len(entries) != 1:
        return None
    sections = _caption_sections(entries[0].caption)
    return json.dumps(
        {
            "ad": any(value == ADS_DETAIL for values in sections.values() for value in values),
            "products": sections.get("Products"),
            "activity_controls": _activity_controls(sections.get("Why is this here?", [])),
        }
    )


@lru_cache(maxsize=4096)
def _zone_day(key: str) -> str | None:
    """`english_day` of "<AM/PM word>|<zone>|<year>|<month>|<day>", as JSON."""
    word, zone, year, month, day = key.split("|")
    found = english_day(word, zone, int(year), int(month), int(day))
    if found is None:
        return None
    pm, reading = found
    return json.dumps(
        {"pm": pm, "offset": int(reading.offset.total_seconds()), "time_zone": reading.as_metadata()}
    )


def _takeout_time(text: str) -> str | None:
    """parse_takeout_time as JSON (seconds since the epoch), None where it fails."""
    try:
        when = parse_takeout_time(text)
    except ValueError:
        return None
    return json.dumps(
        {"at": int(when.at.timestamp()), "time_zone": when.zone.as_metadata(), "date_order": when.date_order}
    )


_HTML_FUNCTIONS = {
    "unescaped_html": html.unescape,
    "caption_facts": _caption_facts,
    "zone_day": _zone_day,
    "takeout_time": _takeout_time,
}


@cache
def _html_columnar_sql() -> str:
    return html_sql(
        month_numbers(),
        music=MUSIC_HEADER,
        removed=REMOVED_TITLE,
        video_url=_VIDEO_URL,
        other_page_url=_OTHER_PAGE_URL,
        left_out=LEFT_OUT,
    )


class _HtmlPage:
    """One page of watches from watch-history.html; see the module docstring for paging."""

    def __init__(self, ctx: SyncContext, path: Path, start: _Start, page_size: int) -> None:
        self.ctx, self.path, self.page_size = ctx, path, page_size
        self.start = start
        self.items: list[MediaItem] = []
        self.skipped: list[SkippedRecord] = []
        self.left_out = Counter(start.skipped)
        self.base_line: int | None = None

    def read(self) -> SyncResult:
        try:
            if not self._resumable(self.start.cursor.offset):
                self.start = self.start.restart()
                self.left_out = Counter()
            return self._read()
        except ExportFileError as exc:
            # Cut off inside an entry, not UTF-8, not Takeout: what came before is kept.
            return self._result(self.start.cursor.offset, has_more=False).model_copy(
                update={"err": exc.error}
            )
        except OSError as exc:
            err = file_parse_error(self.path, f"cannot read: {exc.strerror}")
            return SyncResult(
                items=self.items,
                next_cursor=self.start.encode(self.start.cursor.offset, self.start.skipped),
                err=err,
            )

    def _result(self, offset: int, *, has_more: bool) -> SyncResult:
        return _result(
            self.start, offset, self.items, self.skipped, self.left_out, has_more=has_more, path=self.path
        )

    def _resumable(self, offset: int) -> bool:
        """A stored offset must be the start of an entry or the end of the file."""
        if offset == 0 or offset == self.path.stat().st_size:
            return True
        with self.path.open("rb") as f:
            f.seek(offset)
            return f.read(len(_MARKER)) == _MARKER

    def _read(self) -> SyncResult:
        parser = _TakeoutHtmlParser()
        decoder = codecs.getincrementaldecoder("utf-8")()
        offset = self.start.cursor.offset
        tail = b""
        with self.path.open("rb") as f:
            f.seek(offset)
            while block := f.read(_HTML_CHUNK):
                window = tail + block
                base = offset - len(tail)
                found = window.find(_MARKER)
                while found >= 0:
                    parser.offsets.append(base + found)
                    found = window.find(_MARKER, found + 1)
                bom = len(codecs.BOM_UTF8) if offset == 0 and block.startswith(codecs.BOM_UTF8) else 0
                parser.feed(self._decode(decoder, block[bom:], offset + bom))
                offset += len(block)
                tail = window[-(len(_MARKER) - 1) :]
                stop = self._take(parser)
                if stop is not None:
                    return stop
                self._bounded(parser)
            self._decode(decoder, b"", offset, final=True)
            parser.close()
        stop = self._take(parser)
        if stop is not None:
            return stop
        if parser.entry is not None:
            raise ExportFileError(
                file_parse_error(
                    self.path,
                    "file is truncated inside an entry",
                    line=self._line(parser.entry.line),
                    offset=parser.entry.offset,
                )
            )
        if self.start.cursor.offset == 0 and not parser.saw_grid:
            raise ExportFileError(
                file_parse_error(
                    self.path,
                    "not a Takeout activity page: no 'mdl-grid' / 'outer-cell' entries found",
                    line=1,
                )
            )
        if offset > self.start.cursor.offset or self.start.cursor.offset == 0:
            _log_skipped(self.ctx, self.path, self.left_out)
        return self._result(offset, has_more=False)

    def _decode(
        self, decoder: codecs.IncrementalDecoder, block: bytes, offset: int, final: bool = False
    ) -> str:
        try:
            return decoder.decode(block, final)
        except UnicodeDecodeError as exc:
            at = offset + exc.start
            raise ExportFileError(
                file_parse_error(self.path, "not valid UTF-8 text", line=line_at(self.path, at), offset=at)
            ) from None

    def _take(self, parser: _TakeoutHtmlParser) -> SyncResult | None:
        """Turn finished entries into items; a result once the page is full."""
        for entry in parser.take():
            try:
                outcome: MediaItem | str | SkippedRecord = html_entry(entry)
            except _BadEntry as bad:
                outcome = self._skipped(entry, bad.field, bad.reason, bad.detail, bad.line)
            except ValidationError as exc:
                field_name, detail = validation_problem(exc)
                outcome = self._skipped(entry, field_name, UNSTORABLE, detail, entry.line)
            if isinstance(outcome, str):
                self.left_out[outcome] += 1
            elif len(self.items) + len(self.skipped) >= self.page_size and entry.offset is not None:
                # An entry whose tag was written differently has no offset to resume at,
                # so the page grows past page_size until one that has.
                return self._result(entry.offset, has_more=True)
            elif isinstance(outcome, SkippedRecord):
                self.skipped.append(outcome)
            else:
                self.items.append(outcome)
        return None

    def _bounded(self, parser: _TakeoutHtmlParser) -> None:
        """Stop at a tag, comment or `</` left open for more than _HTML_PENDING_LIMIT
        characters: see there."""
        if len(parser.rawdata) > _HTML_PENDING_LIMIT:
            line = self._line(parser.getpos()[0])
            raise ExportFileError(
                file_parse_error(
                    self.path,
                    f"a tag or comment is left open for more than {_HTML_PENDING_LIMIT // 1024} KiB of "
                    "text: not a Takeout activity page from there on",
                    line=line,
                )
            )

    def _line(self, line: int) -> int:
        """Parser lines count from where this call started reading; make them absolute."""
        if self.base_line is None:
            self.base_line = line_at(self.path, self.start.cursor.offset)
        return self.base_line + line - 1

    def _skipped(
        self, entry: _HtmlEntry, field_name: str | None, reason: str, detail: str, line: int | None
    ) -> SkippedRecord:
        return SkippedRecord(
            reason=reason,
            line=self._line(line or entry.line),
            byte_offset=entry.offset,
            field=field_name,
            detail=detail,
        )
