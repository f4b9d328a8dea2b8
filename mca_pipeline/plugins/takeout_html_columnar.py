"""The columnar path of Takeout's watch-history.html: entries split in Python, read in SQL.

DuckDB has no HTML reader, and a Takeout page is one line of hundreds of megabytes, so
Python splits the file at each entry's `<div class="outer-cell` (a byte search, no
parsing) and hands DuckDB an Arrow stream of (record number, entry text) without a
Python object per entry. The SQL checks each entry against the markup Takeout writes,
exactly (one regular expression without groups), cuts it at that markup and reads the
content's parts with a second one; an entry written any other way, a file that is not
UTF-8 or an entry past `ENTRY_LIMIT` leaves the whole file to the streaming reader
(`youtube_takeout._HtmlPage`), which reads any HTML and reports each bad entry.

What the SQL reads as the streaming reader does:
- entities: text and links without `&` (after `&nbsp;`) as they are, the rest through
  `html.unescape` (a function the SQL calls, the one HTMLParser calls);
- white space: `\\s+` to one space and stripped, with Python's white space;
- the watch time: the two English forms Takeout writes most ("Jan 13, 2024, 4:16:16 PM
  TRT", "29 Nov 2021, 18:06:16 AEDT") in SQL, the time zone by `zone_day` once per zone,
  day and AM/PM word; any other time line by `parse_takeout_time` itself, per entry;
- the caption (ads, products, activity controls) by the streaming reader's own code,
  once per distinct caption.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa

from mca_pipeline.plugins.export_files import PYTHON_SPACE_CLASS, sql_text

#: What splits the page into entries (the streaming reader pages at the same bytes).
MARKER = b'<div class="outer-cell'
#: An entry longer than this is no Takeout entry (they are a few KiB): the file goes to
#: the streaming reader, and the split holds no more than this in memory.
ENTRY_LIMIT = 1 << 20
#: Where the first entry must start: Takeout's head is a stylesheet of some 140 KiB.
HEAD_LIMIT = 4 << 20
_BLOCK = 8 << 20
_MARKER_AT = re.compile(re.escape(MARKER))
SCHEMA = pa.schema([("record", pa.int64()), ("entry", pa.string())])


def first_entry(path: Path) -> tuple[int, bytes] | None:
    """The byte offset of the first entry and the bytes before it (the page's head), or
    None when no entry starts in the first HEAD_LIMIT bytes."""
    with path.open("rb") as f:
        head = f.read(HEAD_LIMIT + len(MARKER))
    found = head.find(MARKER)
    return None if found < 0 else (found, head[:found])


def entry_batches(path: Path, start: int) -> Iterator[pa.RecordBatch]:
    """(number from 0, text) of every entry from `start` (the first entry), from one
    marker to the next; the last runs to the end of the file. Raises ValueError on bytes
    that are not UTF-8 and on an entry past ENTRY_LIMIT (DuckDB then fails the read,
    and the streaming reader takes the file)."""
    with path.open("rb") as f:
        f.seek(start)
        pending, done = b"", 0
        while True:
            block = f.read(_BLOCK)
            data = pending + block
            starts = [m.start() for m in _MARKER_AT.finditer(data)]
            end = len(data) if not block else starts[-1] if starts else 0
            if block and len(data) - end > ENTRY_LIMIT:
                raise ValueError("an entry is longer than any Takeout writes")
            complete = [s for s in starts if s < end]
            if complete:
                text = data[complete[0] : end]
                text.decode("utf-8")  # DuckDB takes the Arrow strings unchecked
                offsets = pa.array([s - complete[0] for s in complete] + [end - complete[0]], pa.int32())
                entries = pa.StringArray.from_buffers(len(complete), offsets.buffers()[1], pa.py_buffer(text))
                numbers = pa.array(range(done, done + len(complete)), pa.int64())
                done += len(complete)
                yield pa.record_batch([numbers, entries], schema=SCHEMA)
            if not block:
                return
            pending = data[end:]


def entry_stream(path: Path, start: int) -> pa.RecordBatchReader:
    return pa.RecordBatchReader.from_batches(SCHEMA, entry_batches(path, start))


_T = r"[^<\x00]*"  # text between tags
_A = r'[^"<>\x00]*'  # a link's address
_CAPTION = r'(?:[^<\x00]|<b>|</b>|<br>|<a href="[^"<>\x00]*">|</a>)*'
#: One entry exactly as Takeout writes it: fixed markup around the header, the content
#: and the caption. The content is a video link with text around it, then a channel
#: link, a line of plain text or nothing, then the time; or, for a removed video, a line
#: without a link. Its parts are groups (named in _GROUPS).
_OPEN = (
    '<div class="outer-cell mdl-cell mdl-cell--12-col mdl-shadow--2dp"><div class="mdl-grid">'
    '<div class="header-cell mdl-cell mdl-cell--12-col"><p class="mdl-typography--title">'
)
_HEADER_END = '<br></p></div><div class="content-cell mdl-cell mdl-cell--6-col mdl-typography--body-1">'
_CONTENT_END = (
    '</div><div class="content-cell mdl-cell mdl-cell--6-col mdl-typography--body-1 mdl-typography--text-right">'
    '</div><div class="content-cell mdl-cell mdl-cell--12-col mdl-typography--caption">'
)
_CAPTION_END = "</div></div></div>"
assert not set(_OPEN + _HEADER_END + _CONTENT_END + _CAPTION_END) & set("()[]{}?*+|^$\\."), "literal markup"
_CONTENT = (
    f'(?:({_T})(<a href=")({_A})">({_T})</a>({_T})<br>'
    f'(?:(<a href=")({_A})">({_T})</a><br>|({_T})(<br>))?|({_T})<br>)'
    r"([^<\x00]+)(?:<br>)?"
)
_ENTRY = (
    f"^{_OPEN}{_T}{_HEADER_END}{_CONTENT}{_CONTENT_END}{_CAPTION}{_CAPTION_END}"
    r"(?:[^<\x00]|</div>|</body>|</html>)*$"
)
_GROUPS = (
    "prefix", "link", "url", "title", "suffix", "channel_link", "channel_url", "channel", "plain",
    "plain_line", "no_link", "time",
)  # fmt: skip

#: The two English time lines SQL reads: "Jan 13, 2024, 4:16:16 PM TRT" and
#: "29 Nov 2021, 18:06:16 AEDT" (after white space is squashed).
_TIME = (
    r"^(?:([A-Za-z]+) ([0-9]{1,2}), ([0-9]{4}), ([0-9]{1,2}):([0-9]{2}):([0-9]{2}) ([A-Za-z]+) ([A-Za-z]{1,6})"
    r"|([0-9]{1,2}) ([A-Za-z]+) ([0-9]{4}), ([0-9]{1,2}):([0-9]{2}):([0-9]{2}) ([A-Za-z]{1,6}))$"
)
_TIME_GROUPS = (
    "us_month", "us_day", "us_year", "us_h", "us_m", "us_s", "us_period", "us_zone",
    "gb_day", "gb_month", "gb_year", "gb_h", "gb_m", "gb_s", "gb_zone",
)  # fmt: skip
#: Month names the SQL looks up (English; parse_takeout_time's own numbers for them).
_ENGLISH_MONTHS = (
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
    "january", "february", "march", "april", "june", "july", "august", "september", "october",
    "november", "december",
)  # fmt: skip


def _unescaped(value: str) -> str:
    """`value` as HTMLParser hands it over: `&nbsp;` in SQL, any other entity by
    html.unescape."""
    nbsp = f"replace({value}, '&nbsp;', '\xa0')"
    return f"CASE WHEN contains({nbsp}, '&') THEN unescaped_html({value}) ELSE {nbsp} END"


def _squashed(value: str) -> str:
    """youtube_takeout._squash: white space runs to one space, stripped."""
    return f"trim(regexp_replace({value}, '{PYTHON_SPACE_CLASS}+', ' ', 'g'))"


def html_sql(
    months: dict[str, int],
    *,
    music: str,
    removed: str,
    video_url: str,
    other_page_url: str,
    left_out: dict[str, str],
) -> str:
    """The SELECT of the columnar path over `takeout_entries` (ColumnarRead's columns,
    numbered).

    It calls the plugin's functions unescaped_html, caption_facts, zone_day and
    takeout_time. `months` are parse_takeout_time's month numbers; `music` and
    `removed` the header and title youtube_takeout looks for; `video_url` and
    `other_page_url` its patterns of links to a video and to another YouTube page;
    `left_out` its reasons by kind (ad, removed, not_a_video)."""
    month_case = " ".join(
        f"WHEN {sql_text(name)} THEN {months[name]}" for name in _ENGLISH_MONTHS if name in months
    )
    groups = ", ".join(sql_text(g) for g in _GROUPS)
    time_groups = ", ".join(sql_text(g) for g in _TIME_GROUPS)
    return f"""
WITH g AS (
    -- the whole entry checked by RE2's automaton (no groups: fast), its parts then cut
    -- out at the fixed markup, which no part can hold, and only the content's groups read
    SELECT record, entry, regexp_full_match(entry, {sql_text(_ENTRY)}) AS matched FROM takeout_entries
), after_header AS (
    SELECT record, matched,
        CASE WHEN matched THEN substr(entry, {len(_OPEN) + 1},
            position({sql_text(_HEADER_END)} IN entry) - {len(_OPEN) + 1}) END AS raw_header,
        CASE WHEN matched THEN substr(entry,
            position({sql_text(_HEADER_END)} IN entry) + {len(_HEADER_END)}) END AS after_header
    FROM g
), after_content AS (
    SELECT record, matched, raw_header,
        left(after_header, position({sql_text(_CONTENT_END)} IN after_header) - 1) AS content,
        substr(after_header, position({sql_text(_CONTENT_END)} IN after_header) + {len(_CONTENT_END)}) AS after_content
    FROM after_header
), parts AS (
    SELECT record, matched, raw_header,
        regexp_extract(content, {sql_text("^" + _CONTENT + "$")}, [{groups}]) AS e,
        left(after_content, position({sql_text(_CAPTION_END)} IN after_content) - 1) AS caption
    FROM after_content
), u AS (
    SELECT record, matched,
        e.link <> '' AS has_link, e.channel_link <> '' AS has_channel_link,
        {_unescaped("raw_header")} AS header, {_unescaped("e.prefix")} AS prefix, {_unescaped("e.url")} AS url,
        {_unescaped("e.title")} AS title, {_unescaped("e.suffix")} AS suffix,
        {_unescaped("e.channel_url")} AS channel_url, {_unescaped("e.channel")} AS channel,
        {_unescaped("e.plain")} AS plain, {_unescaped("e.no_link")} AS no_link, {_unescaped("e.time")} AS time,
        caption_facts(caption) AS facts
    FROM parts
), s AS (
    SELECT u.*,
        nullif({_squashed("header")}, '') AS header_s,
        CASE WHEN has_link THEN {_squashed("prefix || title || suffix")} ELSE {_squashed("no_link")} END AS original,
        {_squashed("title")} AS name,
        {_squashed("channel")} AS channel_s,
        {_squashed("plain")} AS plain_s,
        {_squashed("time")} AS time_s,
        regexp_extract(url, {sql_text(video_url)}, 2) AS video_id,
        url = '' OR regexp_full_match(url, {sql_text(other_page_url)}) AS is_other_page
    FROM u
), t AS (
    SELECT s.*, regexp_extract(time_s, {sql_text(_TIME)}, [{time_groups}]) AS p FROM s
), l AS (
    -- one form matched at most: its groups, the other's are ''
    SELECT t.*, p.us_month <> '' AS twelve_hour,
        CASE lower(p.us_month || p.gb_month) {month_case} END AS month,
        p.us_year || p.gb_year AS year, p.us_day || p.gb_day AS day,
        nullif(p.us_h || p.gb_h, '')::INTEGER AS hour, nullif(p.us_m || p.gb_m, '')::INTEGER AS minute,
        nullif(p.us_s || p.gb_s, '')::INTEGER AS second,
        p.us_period || '|' || p.us_zone || p.gb_zone AS zone_words
    FROM t
), d AS (
    SELECT l.*, try_strptime(year || '-' || month || '-' || day, '%Y-%m-%d') AS local_day FROM l
), r AS (
    SELECT d.*,
        CASE WHEN local_day IS NOT NULL AND year >= '0001' AND minute < 60 AND second < 60
                  AND CASE WHEN twelve_hour THEN hour BETWEEN 1 AND 12 ELSE hour < 24 END
             THEN zone_day(zone_words || '|' || year || '|' || month || '|' || day) END AS reading
    FROM d
), w AS (
    SELECT r.*,
        CASE WHEN reading IS NOT NULL
             THEN epoch(local_day)::BIGINT + 60 * minute + second - (reading ->> '$.offset')::BIGINT + 3600 *
                  CASE WHEN twelve_hour THEN hour % 12 + CASE WHEN reading ->> '$.pm' = 'true' THEN 12 ELSE 0 END
                       ELSE hour END END AS sql_epoch,
        CASE WHEN reading IS NULL AND matched AND time_s <> '' THEN takeout_time(time) END AS parsed
    FROM r
), v AS (
    SELECT w.*,
        coalesce(sql_epoch, (parsed ->> '$.at')::BIGINT) AS utc_epoch,
        CASE WHEN reading IS NOT NULL THEN (reading -> '$.time_zone')::VARCHAR
             ELSE (parsed -> '$.time_zone')::VARCHAR END AS time_zone,
        CASE WHEN reading IS NOT NULL THEN '"month name"' ELSE (parsed -> '$.date_order')::VARCHAR END AS date_order,
        (facts ->> '$.ad')::BOOLEAN AS is_ad,
        NOT has_link OR original = {sql_text(removed)} AS is_removed,
        CASE WHEN has_channel_link THEN nullif(channel_s, '') ELSE nullif(plain_s, '') END AS creator,
        CASE WHEN has_channel_link THEN nullif(channel_url, '') END AS creator_url
    FROM w
)
SELECT
    video_id || '@' || strftime(make_timestamp(utc_epoch * 1000000), '%Y-%m-%dT%H:%M:%SZ') AS external_id,
    CASE WHEN header_s = {sql_text(music)} THEN 'music' ELSE 'video' END AS media_type,
    CASE WHEN name = '' OR starts_with(name, 'http://') OR starts_with(name, 'https://')
         THEN 'YouTube video ' || video_id ELSE name END AS title,
    creator,
    to_timestamp(utc_epoch) AS consumed_at,
    NULL::DOUBLE AS duration_s,
    NULL::DOUBLE AS time_spent_s,
    []::VARCHAR[] AS tags,
    url,
    '{{"format":"html","header":' || coalesce(to_json(header_s)::VARCHAR, 'null')
        || ',"title":' || to_json(original)::VARCHAR
        || ',"video_id":' || to_json(video_id)::VARCHAR
        || ',"channel_url":' || coalesce(to_json(creator_url)::VARCHAR, 'null')
        || ',"products":' || (facts -> '$.products')::VARCHAR
        || ',"activity_controls":' || (facts -> '$.activity_controls')::VARCHAR
        || ',"time_zone":' || time_zone || ',"date_order":' || date_order || '}}' AS raw_metadata,
    -- what html_entry would skip, or read otherwise, sends the file to the streaming reader
    matched AND utc_epoch IS NOT NULL AND time_s <> '' AND facts IS NOT NULL
        AND (NOT has_link OR original <> '') AND (NOT has_channel_link OR channel_s <> '')
        AND (is_ad OR is_removed OR video_id <> '' OR is_other_page) AS clean,
    CASE WHEN is_ad THEN {sql_text(left_out["ad"])}
         WHEN is_removed THEN {sql_text(left_out["removed"])}
         WHEN video_id = '' THEN {sql_text(left_out["not_a_video"])} END AS left_out,
    record AS mca_record
FROM v
"""
