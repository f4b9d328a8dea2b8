"""Spotify "Download your data" exports: extended streaming history and basic history.

One file per sync call (core hands each JSON file of the unzipped export in turn). The
variant is decided per record from its keys, not from the file name, because people
rename files and old exports mixed music and podcasts in `StreamingHistory0.json`:

- `ts` present: extended streaming history (`Streaming_History_Audio_*`, `_Video_*`,
  old `endsong_*`), either schema generation;
- `endTime` with `artistName`/`trackName`: basic music history;
- `endTime` with `podcastName`/`episodeName`: basic podcast history;
- `endTime` with `audiobookName`/`chapterName`/`authorName`: basic audiobook history
  (`StreamingHistory_audiobook_*.json`).

Offline plays (extended history, `offline: true`): `ts` is when the app synced them,
possibly days later, and `offline_timestamp` (seconds or milliseconds, by era) is when
the play started; consumed_at is taken from it, and the external_id gains
`|offline <seconds>` so that two offline plays of one track synced at one `ts` stay two.
Only offline plays carry the suffix, so every other id is unchanged; migration 8
rewrites offline plays stored before.

A record that cannot be read is skipped and reported with its byte offset and field;
only a file that is not a JSON array (or is truncated, or binary) is rejected.

Exports hold up to a million plays, so the file is streamed with `iter_json_array` and
paged by byte offset; the per-record code is kept to dictionary look-ups and one
`datetime.fromisoformat`, because it runs once per play.
"""

from __future__ import annotations

import json
import math
import re
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

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
from mca_pipeline.enrich.lastfm_tags import LastfmTags
from mca_pipeline.plugins.export_files import (
    UNSTORABLE,
    ExportFileError,
    FileCursor,
    columnar_file_read,
    file_parse_error,
    iter_json_array,
    require_file,
    validation_problem,
    with_lines,
)

PLATFORM = "spotify_export"

UNKNOWN_TRACK = "Unknown track"
UNKNOWN_EPISODE = "Unknown episode"
UNKNOWN_AUDIOBOOK = "Unknown audiobook"

_TRACK_URI = "spotify:track:"
_EPISODE_URI = "spotify:episode:"
_TRACK_URL = "https://open.spotify.com/track/"
_EPISODE_URL = "https://open.spotify.com/episode/"

# offline_timestamp is seconds or milliseconds depending on the export, and some values
# are nonsense (< 100): anything outside 2001..2100 after conversion is dropped.
_MIN_EPOCH_S = 10**9
_MS_THRESHOLD = 10**11
_MAX_EPOCH_S = 4_102_444_800

# Fields that identify the person rather than the play; never stored, never echoed in errors.
PERSONAL_FIELDS = frozenset({"ip_addr", "ip_addr_decrypted", "user_agent_decrypted", "username"})

_EXCERPT_CHARS = 300
_OFFLINE_SUFFIX = "|offline "
# No single play lasts a week; a larger ms_played is corrupt (and overflows a timedelta).
_MAX_MS_PLAYED = 7 * 24 * 3600 * 1000

# What the first record of a streaming history shows (for recognizes()).
_EXTENDED_KEYS = re.compile(r'"ts"\s*:.*"ms_played"\s*:|"ms_played"\s*:.*"ts"\s*:', re.DOTALL)
_BASIC_KEYS = re.compile(
    r'"endTime"\s*:.*"(?:trackName|episodeName|chapterName|audiobookName|msPlayed)"\s*:', re.DOTALL
)
_HISTORY_NAME = re.compile(r"(?i)^(?:StreamingHistory|Streaming_History_|endsong_|endvideo_).*\.json$")
_SEPARATORS = b" \t\r\n,[\xef\xbb\xbf"


class _BadRecord(Exception):
    """A record that is valid JSON but not a play we can read; located by the caller,
    which knows the byte offsets, so the per-record code stays free of bookkeeping."""

    def __init__(self, field: str | None, reason: str, detail: str | None = None) -> None:
        super().__init__(reason)
        self.field = field
        self.reason = reason
        self.detail = detail


class SpotifyExportPlugin(ColumnarFileImportPlugin):
    """Imports plays from the JSON files of a Spotify data export.

    SKIP dedup: a play at a time never changes, and a later export repeats earlier plays
    with identical values, so the external_id (built from the values) finds them again.
    """

    name = PLATFORM
    display_name = "Spotify — data download"
    auth_type = AuthType.FILE_IMPORT
    auth_config = None
    dedup_policy = DedupPolicy.SKIP
    #: Whose copy of a play seen by several sources counts (lower wins):
    #: export rows carry ms_played and every play of the account.
    unify_rank = 10

    def __init__(self, *, tags: LastfmTags | None = None) -> None:
        self._tags = tags

    def sync(self, ctx: SyncContext, creds: Credentials, cursor: str) -> SyncResult:
        """Read up to `ctx.page_size` plays from the file, starting after `cursor`.

        On a broken record the plays read before it are returned together with the
        error and a cursor just after the last good play, so core keeps the good part.
        """
        if ctx.is_cancelled():
            # Nothing read: the unchanged cursor resumes this page later.
            return SyncResult(items=[], next_cursor=cursor, has_more=True)
        try:
            path = require_file(self.name, creds)
        except ExportFileError as exc:
            return SyncResult(next_cursor=cursor, err=exc.error)
        try:
            start = FileCursor.resume(cursor, path)
        except OSError as exc:
            return SyncResult(next_cursor=cursor, err=file_parse_error(path, f"cannot read: {exc.strerror}"))
        return _read_page(path, start, max(1, ctx.page_size))

    def recognizes(self, name: str, head: bytes) -> bool:
        """A JSON array whose first record has the keys of a streaming history; an empty
        array by its file name. Spotify's other account files (Userdata.json,
        SearchQueries.json, Marquee.json, YourLibrary.json, ...) are not."""
        text = head.decode("utf-8", errors="replace").removeprefix("\ufeff").lstrip()
        if not text.startswith("["):
            return False
        first = text[1:].lstrip()
        if first.startswith("]"):
            return _HISTORY_NAME.match(name) is not None
        record = first[: first.find("}") + 1] if "}" in first else first[:4096]
        return bool(_EXTENDED_KEYS.search(record) or _BASIC_KEYS.search(record))

    def columnar_read(self, file: Path, cursor: str) -> ColumnarRead | None:
        """DuckDB reads an extended streaming history whole (the columnar path); a basic
        history, or a file with a record to_item would skip or read otherwise, goes to the
        streaming reader (core sees that from the `clean` column)."""
        return columnar_file_read(_COLUMNAR_SQL, file, cursor)

    def enrich(self, ctx: SyncContext, creds: Credentials, items: list[MediaItem]) -> list[MediaItem]:
        """Last.fm top tags for the plays (mca_pipeline.enrich.lastfm_tags); the tagger is
        built on first use unless one was given to the constructor."""
        if self._tags is None:
            self._tags = LastfmTags()
        return self._tags.enrich_items(ctx, items)


def _read_page(path: Path, start: FileCursor, page_size: int) -> SyncResult:
    """One page of items from `start.offset`; see SpotifyExportPlugin.sync. A page holds
    `page_size` records, readable or not, so a file of bad records still moves on."""
    items: list[MediaItem] = []
    skipped: list[SkippedRecord] = []
    append = items.append
    last = start.offset
    try:
        with closing(iter_json_array(path, start.offset)) as records:
            for record, after in records:
                try:
                    append(to_item(record))
                except _BadRecord as bad:
                    skipped.append(_skipped(path, last, after, record, bad.field, bad.reason, bad.detail))
                except ValidationError as exc:
                    field, detail = validation_problem(exc)
                    skipped.append(_skipped(path, last, after, record, field, UNSTORABLE, detail))
                last = after
                if len(items) + len(skipped) >= page_size:
                    return _page(path, start, last, items, skipped, has_more=not _at_array_end(path, last))
    except ExportFileError as exc:
        return SyncResult(items=items, next_cursor=_cursor(start, last), err=exc.error)
    except OSError as exc:
        err = file_parse_error(path, f"cannot read: {exc.strerror}", offset=last)
        return SyncResult(items=items, next_cursor=_cursor(start, last), err=err)
    return _page(path, start, last, items, skipped, has_more=False)


def _page(
    path: Path,
    start: FileCursor,
    offset: int,
    items: list[MediaItem],
    skipped: list[SkippedRecord],
    *,
    has_more: bool,
) -> SyncResult:
    return SyncResult(
        items=items,
        next_cursor=_cursor(start, offset),
        has_more=has_more,
        skipped=with_lines(path, skipped),
    )


def _cursor(start: FileCursor, offset: int) -> str:
    return FileCursor(start.file, offset).encode()


def _at_array_end(path: Path, offset: int) -> bool:
    """Whether only `]` and white space follow `offset`, so that a page which ends
    exactly at the last play says has_more=False instead of costing an empty call."""
    with path.open("rb") as f:
        f.seek(offset)
        tail = f.read(64)
    return tail.strip() == b"]"


# --- the columnar path: DuckDB reads an extended streaming history whole ----------------

# Every field to_item reads, as JSON so that a value of the wrong kind is seen as such.
_JSON_FIELDS = (
    "ts", "ms_played", "spotify_track_uri", "spotify_episode_uri", "audiobook_chapter_uri", "audiobook_uri",
    "audiobook_title", "audiobook_chapter_title", "master_metadata_track_name",
    "master_metadata_album_artist_name", "master_metadata_album_album_name", "episode_name",
    "episode_show_name", "platform", "conn_country", "reason_start", "reason_end", "shuffle", "skipped",
    "offline", "offline_timestamp", "incognito_mode",
)  # fmt: skip
_TEXT_FIELDS = _JSON_FIELDS[2:13]
_COPIED_FIELDS = (*_JSON_FIELDS[13:20], "incognito_mode")


def _text(field: str) -> str:
    """A field as text where it is a JSON string; '' (to_item's falsy) where null or missing."""
    return f"coalesce(json_extract_string({field}, '$'), '')"


def _is_text_or_null(field: str) -> str:
    return f"({field} IS NULL OR json_type({field}) IN ('VARCHAR', 'NULL'))"


def _is_plain_or_null(field: str) -> str:
    """Values to_item copies as they are: kinds whose JSON both paths write alike."""
    return f"({field} IS NULL OR json_type({field}) IN ('VARCHAR', 'BOOLEAN', 'UBIGINT', 'NULL'))"


def _object_text(pairs: list[tuple[str, str]]) -> str:
    """SQL building a JSON object's text from (key, SQL giving a value's JSON text, or
    NULL for null): text joined by one `concat`, since json_object costs a third of the
    read, and a chain of `||` copies the growing text at each step (a quarter of it)."""
    parts = [
        f"'{'{' if i == 0 else ','}{json.dumps(key)}:', coalesce(({value})::VARCHAR, 'null')"
        for i, (key, value) in enumerate(pairs)
    ]
    return f"concat({', '.join(parts)}, '}}')"


# raw_metadata as _extended_item writes it, key for key and in its order: JSON columns
# are JSON text already; the values computed here are numbers or known words.
_RAW = [
    ("schema", "'\"extended\"'"),
    ("kind", "'\"' || kind || '\"'"),
    ("ts", "ts"),
    ("ms_played", "ms"),
    ("client_platform", "platform"),
    *((f, f) for f in ("conn_country", "reason_start", "reason_end", "shuffle", "skipped", "offline")),
    ("offline_timestamp", "offline_at"),
    ("incognito_mode", "incognito_mode"),
    ("album", "CASE WHEN kind = 'track' THEN master_metadata_album_album_name END"),
    ("uri", "CASE WHEN uri <> '' THEN uri_json END"),
]
_AUDIOBOOK_RAW = [
    (f, f) for f in ("audiobook_title", "audiobook_chapter_title", "audiobook_uri", "audiobook_chapter_uri")
]

_COLUMNAR_SQL = f"""
WITH r AS (
    SELECT * FROM read_json($file, format = 'array', records = true,
        columns = {{{", ".join(f"{f}: 'JSON'" for f in _JSON_FIELDS)}}})
), t AS (
    SELECT r.*, json_extract_string(ts, '$') AS ts_s,
        try_strptime(json_extract_string(ts, '$'), '%Y-%m-%dT%H:%M:%SZ') AS ended,
        CASE WHEN json_type(ms_played) = 'UBIGINT' THEN ms_played::UBIGINT END AS ms,
        {", ".join(f"{_text(f)} AS t_{f}" for f in _TEXT_FIELDS)},
        -- offline_timestamp in seconds, from whole milliseconds or seconds (plausible_epoch_seconds)
        CASE WHEN json_type(offline_timestamp) IN ('UBIGINT', 'BIGINT') THEN
            CASE WHEN offline_timestamp::HUGEINT > {_MS_THRESHOLD} THEN offline_timestamp::HUGEINT // 1000
                 ELSE offline_timestamp::HUGEINT END END AS offline_whole,
        CASE WHEN json_type(offline_timestamp) = 'DOUBLE' AND isfinite(offline_timestamp::DOUBLE) THEN
            CASE WHEN offline_timestamp::DOUBLE > {_MS_THRESHOLD} THEN offline_timestamp::DOUBLE / 1000
                 ELSE offline_timestamp::DOUBLE END END AS offline_real
    FROM r
), k AS (
    SELECT t.*,
        CASE WHEN t_spotify_track_uri <> '' THEN 'track'
             WHEN t_spotify_episode_uri <> '' THEN 'episode'
             WHEN t_audiobook_chapter_uri <> '' OR t_audiobook_uri <> '' OR t_audiobook_title <> '' THEN 'audiobook'
             WHEN t_master_metadata_track_name <> '' OR t_master_metadata_album_artist_name <> '' THEN 'named track'
             WHEN t_episode_name <> '' OR t_episode_show_name <> '' THEN 'named episode'
             ELSE 'unknown' END AS branch,
        CASE WHEN offline_whole > {_MIN_EPOCH_S} AND offline_whole < {_MAX_EPOCH_S} THEN offline_whole::BIGINT
             WHEN offline_real > {_MIN_EPOCH_S} AND offline_real < {_MAX_EPOCH_S} THEN trunc(offline_real)::BIGINT
        END AS offline_at,
        epoch_ms(ended) AS ended_ms
    FROM t
), n AS (
    SELECT k.*,
        CASE branch WHEN 'named track' THEN 'track' WHEN 'named episode' THEN 'episode' ELSE branch END AS kind,
        CASE branch WHEN 'track' THEN t_spotify_track_uri WHEN 'episode' THEN t_spotify_episode_uri
             ELSE coalesce(nullif(t_audiobook_chapter_uri, ''), t_audiobook_uri) END AS uri,
        CASE branch WHEN 'track' THEN spotify_track_uri WHEN 'episode' THEN spotify_episode_uri
             ELSE CASE WHEN t_audiobook_chapter_uri <> '' THEN audiobook_chapter_uri ELSE audiobook_uri END
        END AS uri_json,
        CASE branch WHEN 'track' THEN t_master_metadata_track_name WHEN 'named track' THEN t_master_metadata_track_name
             WHEN 'episode' THEN t_episode_name WHEN 'named episode' THEN t_episode_name
             WHEN 'audiobook' THEN coalesce(nullif(t_audiobook_title, ''), t_audiobook_chapter_title) END AS name,
        CASE branch WHEN 'track' THEN t_master_metadata_album_artist_name
             WHEN 'named track' THEN t_master_metadata_album_artist_name
             WHEN 'episode' THEN t_episode_show_name WHEN 'named episode' THEN t_episode_show_name END AS who,
        offline IS NOT NULL AND offline::VARCHAR = 'true' AND offline_at IS NOT NULL
            AND offline_at * 1000 <= ended_ms AS offline_start
    FROM k
)
SELECT
    ts_s || '|' || coalesce(nullif(uri, ''), CASE WHEN who <> '' AND name <> '' THEN who || ' - ' || name
                                                  ELSE coalesce(nullif(who, ''), nullif(name, ''), '') END)
        || '|' || ms::VARCHAR || CASE WHEN offline_start THEN '{_OFFLINE_SUFFIX}' || offline_at::VARCHAR ELSE '' END
        AS external_id,
    CASE WHEN kind IN ('episode', 'audiobook') THEN 'podcast' ELSE 'music' END AS media_type,
    coalesce(nullif(name, ''), CASE kind WHEN 'episode' THEN '{UNKNOWN_EPISODE}'
        WHEN 'audiobook' THEN '{UNKNOWN_AUDIOBOOK}' ELSE '{UNKNOWN_TRACK}' END) AS title,
    nullif(who, '') AS creator,
    to_timestamp(CASE WHEN offline_start THEN offline_at ELSE (ended_ms - ms) // 1000 END) AS consumed_at,
    NULL::DOUBLE AS duration_s,
    ms / 1000.0 AS time_spent_s,
    []::VARCHAR[] AS tags,
    CASE WHEN branch = 'track' AND starts_with(uri, '{_TRACK_URI}') AND length(uri) > {len(_TRACK_URI)}
             THEN '{_TRACK_URL}' || substr(uri, {len(_TRACK_URI) + 1})
         WHEN branch = 'episode' AND starts_with(uri, '{_EPISODE_URI}') AND length(uri) > {len(_EPISODE_URI)}
             THEN '{_EPISODE_URL}' || substr(uri, {len(_EPISODE_URI) + 1}) END AS url,
    CASE WHEN kind = 'audiobook' THEN {_object_text(_RAW + _AUDIOBOOK_RAW)} ELSE {_object_text(_RAW)} END
        AS raw_metadata,
    -- what the streaming reader would skip or read otherwise sends the file to it
    json_type(ts) = 'VARCHAR' AND ended IS NOT NULL
        AND regexp_full_match(ts_s, '[0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}}T[0-9]{{2}}:[0-9]{{2}}:[0-9]{{2}}Z')
        AND ms IS NOT NULL AND ms <= {_MAX_MS_PLAYED} AND ended_ms >= ms
        AND {" AND ".join(_is_text_or_null(f) for f in _TEXT_FIELDS)}
        AND {" AND ".join(_is_plain_or_null(f) for f in _COPIED_FIELDS)}
        AS clean,
    NULL::VARCHAR AS left_out  -- a play is never left out
FROM n
"""


# --- one record -> one MediaItem -------------------------------------------------------


def to_item(record: Any) -> MediaItem:
    """Map one export record to a MediaItem, choosing the variant from its keys."""
    if type(record) is not dict:
        raise _BadRecord(
            None, "record is not an object", f"expected a JSON object, got {type(record).__name__}"
        )
    ts = record.get("ts")
    if ts is not None:
        return _extended_item(record, ts)
    if "endTime" in record:
        return _basic_item(record)
    if "ts" in record:
        raise _BadRecord("ts", "ts is missing", "ts is null")
    if "msPlayed" in record or "artistName" in record or "podcastName" in record:
        raise _BadRecord("endTime", "endTime is missing", "a basic streaming history record without endTime")
    if "ms_played" in record or "spotify_track_uri" in record or "master_metadata_track_name" in record:
        raise _BadRecord("ts", "ts is missing", "an extended streaming history record without ts")
    raise _BadRecord("ts", "not a play", "neither extended (ts) nor basic (endTime) streaming history")


def _extended_item(record: dict[str, Any], ts: Any) -> MediaItem:
    """Extended streaming history, both schema generations (they differ only in fields
    we either ignore or read with .get)."""
    end = _parse_ts(ts)
    ms = _ms(record, "ms_played")
    played = timedelta(milliseconds=ms)
    get = record.get
    album = None
    extra: dict[str, Any] | None = None
    uri = get("spotify_track_uri")
    if uri:
        kind, media_type, url = (
            "track",
            MediaType.MUSIC,
            _open_url(uri, "spotify_track_uri", _TRACK_URI, _TRACK_URL),
        )
        title, creator = get("master_metadata_track_name"), get("master_metadata_album_artist_name")
        album = get("master_metadata_album_album_name")
    elif uri := get("spotify_episode_uri"):
        kind, media_type, url = (
            "episode",
            MediaType.PODCAST,
            _open_url(uri, "spotify_episode_uri", _EPISODE_URI, _EPISODE_URL),
        )
        title, creator = get("episode_name"), get("episode_show_name")
    elif (uri := get("audiobook_chapter_uri") or get("audiobook_uri")) or get("audiobook_title"):
        kind, media_type, url, creator = "audiobook", MediaType.PODCAST, None, None
        title, extra = get("audiobook_title") or get("audiobook_chapter_title"), _audiobook_fields(record)
    elif get("master_metadata_track_name") or get("master_metadata_album_artist_name"):
        kind, media_type, url = "track", MediaType.MUSIC, None  # e.g. a local file: names, no URI
        title, creator = get("master_metadata_track_name"), get("master_metadata_album_artist_name")
        album = get("master_metadata_album_album_name")
    elif get("episode_name") or get("episode_show_name"):
        kind, media_type, url = "episode", MediaType.PODCAST, None
        title, creator = get("episode_name"), get("episode_show_name")
    else:
        kind, media_type, url, title, creator = "unknown", MediaType.MUSIC, None, None, None
    # no URI (local files, removed content): the names stand in for it in the external_id
    key = uri or (f"{creator} - {title}" if creator and title else creator or title or "")
    external_id = f"{ts}|{key}|{ms}"
    offline_at = plausible_epoch_seconds(get("offline_timestamp"))
    start = None
    # An offline play happened before the sync that reported it; a later "offline" time
    # is not one (seen in hand-edited files), and the play keeps ts for its time.
    if get("offline") is True and offline_at is not None and offline_at <= end.timestamp():
        start = datetime.fromtimestamp(offline_at, UTC)
        external_id += f"{_OFFLINE_SUFFIX}{offline_at}"
    raw = {
        "schema": "extended",
        "kind": kind,
        "ts": ts,
        "ms_played": ms,
        "client_platform": get("platform"),
        "conn_country": get("conn_country"),
        "reason_start": get("reason_start"),
        "reason_end": get("reason_end"),
        "shuffle": get("shuffle"),
        "skipped": get("skipped"),
        "offline": get("offline"),
        "offline_timestamp": offline_at,
        "incognito_mode": get("incognito_mode"),
        "album": album,
        "uri": uri or None,
    }
    if extra:
        raw.update(extra)
    return _play(media_type, kind, title, creator, end, played, url, external_id, raw, start)


_UNKNOWN_TITLE = {
    "track": UNKNOWN_TRACK,
    "unknown": UNKNOWN_TRACK,
    "episode": UNKNOWN_EPISODE,
    "audiobook": UNKNOWN_AUDIOBOOK,
}


def _audiobook_fields(record: dict[str, Any]) -> dict[str, Any]:
    get = record.get
    return {
        "audiobook_title": get("audiobook_title"),
        "audiobook_chapter_title": get("audiobook_chapter_title"),
        "audiobook_uri": get("audiobook_uri"),
        "audiobook_chapter_uri": get("audiobook_chapter_uri"),
    }


def _basic_item(record: dict[str, Any]) -> MediaItem:
    """Basic (account data) history: minute-precision end time, names only, no IDs."""
    end_time = record["endTime"]
    end = _parse_end_time(end_time)
    ms = _ms(record, "msPlayed")
    played = timedelta(milliseconds=ms)
    get = record.get
    if "artistName" in record or "trackName" in record:
        kind, media_type = "track", MediaType.MUSIC
        creator, title = get("artistName"), get("trackName")
    elif "podcastName" in record or "episodeName" in record:
        kind, media_type = "episode", MediaType.PODCAST
        creator, title = get("podcastName"), get("episodeName")
    elif "audiobookName" in record or "chapterName" in record:
        kind, media_type = "audiobook", MediaType.PODCAST
        creator, title = get("authorName"), get("audiobookName") or get("chapterName")
    else:
        detail = "no artistName/trackName, podcastName/episodeName or audiobookName/chapterName"
        raise _BadRecord("trackName", "not a play", detail)
    external_id = f"basic|{end_time}|{creator or ''}|{title or ''}|{ms}"
    raw: dict[str, Any] = {"schema": "basic", "kind": kind, "endTime": end_time, "msPlayed": ms}
    if kind == "audiobook":
        raw["audiobook_title"], raw["audiobook_chapter_title"] = get("audiobookName"), get("chapterName")
    return _play(media_type, kind, title, creator, end, played, None, external_id, raw)


def _play(
    media_type: MediaType,
    kind: str,
    title: str | None,
    creator: str | None,
    end: datetime,
    played: timedelta,
    url: str | None,
    external_id: str,
    raw: dict[str, Any],
    start: datetime | None = None,
) -> MediaItem:
    """One play as a MediaItem; both history formats stamp the end, so the start is
    derived, unless the play says when it started (`start`, offline plays)."""
    return MediaItem(
        platform=PLATFORM,
        type=media_type,
        title=title or _UNKNOWN_TITLE[kind],
        creator=creator or None,
        consumed_at=start or _start_of_play(end, played),
        time_spent=played,
        url=url,
        external_id=external_id,
        raw_metadata=raw,
    )


def _parse_ts(ts: Any) -> datetime:
    """`ts` is ISO-8601 UTC with `Z`; a value without a zone is taken as UTC too."""
    if type(ts) is not str:
        raise _BadRecord("ts", "ts is not a time", f"expected an ISO-8601 UTC time string, got {ts!r:.80}")
    try:
        end = datetime.fromisoformat(ts)
    except ValueError:
        raise _BadRecord("ts", "ts is not a time", f"not an ISO-8601 time: {ts!r:.80}") from None
    return end if end.tzinfo is not None else end.replace(tzinfo=UTC)


def _parse_end_time(value: Any) -> datetime:
    """`endTime` is "YYYY-MM-DD HH:MM" without a zone; Spotify's exports are UTC."""
    if type(value) is not str:
        raise _BadRecord(
            "endTime", "endTime is not a time", f"expected 'YYYY-MM-DD HH:MM', got {value!r:.80}"
        )
    try:
        end = datetime.fromisoformat(value)
    except ValueError:
        raise _BadRecord(
            "endTime", "endTime is not a time", f"not a 'YYYY-MM-DD HH:MM' time: {value!r:.80}"
        ) from None
    return end if end.tzinfo is not None else end.replace(tzinfo=UTC)


def _ms(record: dict[str, Any], field: str) -> int:
    ms = record.get(field)
    if type(ms) is int and 0 <= ms <= _MAX_MS_PLAYED:
        return ms
    if field not in record:
        raise _BadRecord(field, f"{field} is missing")
    raise _BadRecord(
        field,
        f"{field} is not a duration",
        f"expected a whole number of milliseconds from 0 to a week, got {ms!r:.80}",
    )


def _start_of_play(end: datetime, played: timedelta) -> datetime:
    """The export stamps the END of a play; MediaItem wants the start, in whole seconds."""
    try:
        start = end - played
    except OverflowError:
        raise _BadRecord(
            "ts", "ts is not a time", f"{end.isoformat()} minus the time played is before year 1"
        ) from None
    return start.replace(microsecond=0) if start.microsecond else start


def _open_url(uri: Any, field: str, prefix: str, base: str) -> str | None:
    """The open.spotify.com link of a `spotify:<kind>:<id>` URI; a URI that is not text
    makes the record unreadable (it is the play's identity)."""
    if not isinstance(uri, str):
        raise _BadRecord(field, "not text", f"{field} is {type(uri).__name__}, not a Spotify URI")
    return base + uri[len(prefix) :] if uri.startswith(prefix) and len(uri) > len(prefix) else None


def plausible_epoch_seconds(value: Any) -> int | None:
    """offline_timestamp as Unix seconds, or None when absent or implausible.

    The unit varies (seconds or milliseconds) and some exports hold tiny nonsense values.
    """
    if type(value) is int:  # whole-number arithmetic: a 400-digit value must not overflow a float
        seconds: float = value // 1000 if value > _MS_THRESHOLD else value
    elif type(value) is float and math.isfinite(value):
        seconds = value / 1000 if value > _MS_THRESHOLD else value
    else:
        return None
    if _MIN_EPOCH_S < seconds < _MAX_EPOCH_S:
        return int(seconds)
    return None


# --- errors ----------------------------------------------------------------------------


def _skipped(
    path: Path, prev_after: int, after: int, record: Any, field: str | None, reason: str, detail: str | None
) -> SkippedRecord:
    """Locate a bad record by byte offset: the offending field when it is present, else
    where the record starts (its line is filled in for the whole page at once)."""
    with path.open("rb") as f:
        f.seek(prev_after)
        data = f.read(min(after - prev_after, 1 << 20))
    skip = len(data) - len(data.lstrip(_SEPARATORS))
    offset = prev_after + skip
    if field and isinstance(record, dict) and field in record:
        found = data.find(b'"' + field.encode() + b'"', skip)
        if found >= 0:
            offset = prev_after + found
    return SkippedRecord(
        reason=reason, byte_offset=offset, field=field, detail=detail, excerpt=_excerpt(record)
    )


def _excerpt(record: Any) -> str:
    """The bad record for the error's `raw`, without personal fields."""
    if isinstance(record, dict):
        record = {k: v for k, v in record.items() if k not in PERSONAL_FIELDS}
    text = repr(record)
    return text if len(text) <= _EXCERPT_CHARS else text[:_EXCERPT_CHARS] + "…"
