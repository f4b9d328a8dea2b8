"""Spotify "Download your data" exports: extended streaming history and basic history.

One file per sync call (core hands each JSON file of the unzipped export in turn). The
variant is decided per record from its keys, not from the file name, because people
rename files and old exports mixed music and podcasts in `StreamingHistory0.json`:

- `ts` present: extended streaming history (`Streaming_History_Audio_*`, `_Video_*`,
  old `endsong_*`), either schema generation;
- `endTime` with `artistName`/`trackName`: basic music history;
- `endTime` with `podcastName`/`episodeName`: basic podcast history.

Exports hold up to a million plays, so the file is streamed with `iter_json_array` and
paged by byte offset; the per-record code is kept to dictionary look-ups and one
`datetime.fromisoformat`, because it runs once per play.
"""

from __future__ import annotations

from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from mca_pipeline.core import (
    AuthType,
    Credentials,
    DedupPolicy,
    MediaItem,
    MediaType,
    SyncContext,
    SyncResult,
)
from mca_pipeline.enrich.lastfm_tags import LastfmTags
from mca_pipeline.plugins.export_files import (
    ExportFileError,
    FileCursor,
    file_parse_error,
    iter_json_array,
    line_at,
    require_file,
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
_SEPARATORS = b" \t\r\n,[\xef\xbb\xbf"


class _BadRecord(Exception):
    """A record that is valid JSON but not a play we can read; located by the caller,
    which knows the byte offsets, so the per-record code stays free of bookkeeping."""

    def __init__(self, field: str | None, problem: str) -> None:
        super().__init__(problem)
        self.field = field
        self.problem = problem


class SpotifyExportPlugin:
    """Imports plays from the JSON files of a Spotify data export.

    SKIP dedup: a play at a time never changes, and a later export repeats earlier plays
    with identical values, so the external_id (built from the values) finds them again.
    """

    name = PLATFORM
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

    def enrich(self, ctx: SyncContext, creds: Credentials, items: list[MediaItem]) -> list[MediaItem]:
        """Last.fm top tags for the plays (mca_pipeline.enrich.lastfm_tags); the tagger is
        built on first use unless one was given to the constructor."""
        if self._tags is None:
            self._tags = LastfmTags()
        return self._tags.enrich_items(ctx, items)


def _read_page(path: Path, start: FileCursor, page_size: int) -> SyncResult:
    """One page of items from `start.offset`; see SpotifyExportPlugin.sync."""
    items: list[MediaItem] = []
    append = items.append
    last = start.offset
    try:
        with closing(iter_json_array(path, start.offset)) as records:
            for record, after in records:
                try:
                    append(to_item(record))
                except _BadRecord as bad:
                    raise _record_error(path, last, after, record, bad.field, bad.problem) from None
                except ValidationError as exc:
                    field, problem = _validation_problem(exc)
                    raise _record_error(path, last, after, record, field, problem) from None
                last = after
                if len(items) >= page_size:
                    return _page(start, last, items, has_more=not _at_array_end(path, last))
    except ExportFileError as exc:
        return SyncResult(items=items, next_cursor=_cursor(start, last), err=exc.error)
    except OSError as exc:
        err = file_parse_error(path, f"cannot read: {exc.strerror}", offset=last)
        return SyncResult(items=items, next_cursor=_cursor(start, last), err=err)
    return _page(start, last, items, has_more=False)


def _page(start: FileCursor, offset: int, items: list[MediaItem], *, has_more: bool) -> SyncResult:
    return SyncResult(items=items, next_cursor=_cursor(start, offset), has_more=has_more)


def _cursor(start: FileCursor, offset: int) -> str:
    return FileCursor(start.file, offset).encode()


def _at_array_end(path: Path, offset: int) -> bool:
    """Whether only `]` and white space follow `offset`, so that a page which ends
    exactly at the last play says has_more=False instead of costing an empty call."""
    with path.open("rb") as f:
        f.seek(offset)
        tail = f.read(64)
    return tail.strip() == b"]"


# --- one record -> one MediaItem -------------------------------------------------------


def to_item(record: Any) -> MediaItem:
    """Map one export record to a MediaItem, choosing the variant from its keys."""
    if type(record) is not dict:
        raise _BadRecord(None, f"expected a JSON object for each play, got {type(record).__name__}")
    ts = record.get("ts")
    if ts is not None:
        return _extended_item(record, ts)
    if "endTime" in record:
        return _basic_item(record)
    if "ts" in record:
        raise _BadRecord("ts", "expected an ISO-8601 UTC time string, got null")
    if "msPlayed" in record or "artistName" in record or "podcastName" in record:
        raise _BadRecord("endTime", "required field is missing (basic streaming history record)")
    if "ms_played" in record or "spotify_track_uri" in record or "master_metadata_track_name" in record:
        raise _BadRecord("ts", "required field is missing (extended streaming history record)")
    raise _BadRecord("ts", "required field is missing: neither extended (ts) nor basic (endTime) history")


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
        kind, media_type, url = "track", MediaType.MUSIC, _open_url(uri, _TRACK_URI, _TRACK_URL)
        title, creator = get("master_metadata_track_name"), get("master_metadata_album_artist_name")
        album = get("master_metadata_album_album_name")
    elif uri := get("spotify_episode_uri"):
        kind, media_type, url = "episode", MediaType.PODCAST, _open_url(uri, _EPISODE_URI, _EPISODE_URL)
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
        "offline_timestamp": plausible_epoch_seconds(get("offline_timestamp")),
        "incognito_mode": get("incognito_mode"),
        "album": album,
        "uri": uri or None,
    }
    if extra:
        raw.update(extra)
    return _play(media_type, kind, title, creator, end, played, url, f"{ts}|{key}|{ms}", raw)


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
    else:
        raise _BadRecord(
            "trackName", "required field is missing (artistName/trackName or podcastName/episodeName)"
        )
    external_id = f"basic|{end_time}|{creator or ''}|{title or ''}|{ms}"
    raw = {"schema": "basic", "kind": kind, "endTime": end_time, "msPlayed": ms}
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
) -> MediaItem:
    """One play as a MediaItem; both history formats stamp the end, so the start is derived."""
    return MediaItem(
        platform=PLATFORM,
        type=media_type,
        title=title or _UNKNOWN_TITLE[kind],
        creator=creator or None,
        consumed_at=_start_of_play(end, played),
        time_spent=played,
        url=url,
        external_id=external_id,
        raw_metadata=raw,
    )


def _parse_ts(ts: Any) -> datetime:
    """`ts` is ISO-8601 UTC with `Z`; a value without a zone is taken as UTC too."""
    if type(ts) is not str:
        raise _BadRecord("ts", f"expected an ISO-8601 UTC time string, got {ts!r}")
    try:
        end = datetime.fromisoformat(ts)
    except ValueError:
        raise _BadRecord("ts", f"not an ISO-8601 time: {ts!r}") from None
    return end if end.tzinfo is not None else end.replace(tzinfo=UTC)


def _parse_end_time(value: Any) -> datetime:
    """`endTime` is "YYYY-MM-DD HH:MM" without a zone; Spotify's exports are UTC."""
    if type(value) is not str:
        raise _BadRecord("endTime", f"expected a 'YYYY-MM-DD HH:MM' string, got {value!r}")
    try:
        end = datetime.fromisoformat(value)
    except ValueError:
        raise _BadRecord("endTime", f"not a 'YYYY-MM-DD HH:MM' time: {value!r}") from None
    return end if end.tzinfo is not None else end.replace(tzinfo=UTC)


def _ms(record: dict[str, Any], field: str) -> int:
    ms = record.get(field)
    if type(ms) is int and ms >= 0:
        return ms
    if field not in record:
        raise _BadRecord(field, "required field is missing")
    raise _BadRecord(field, f"expected a non-negative whole number of milliseconds, got {ms!r}")


def _start_of_play(end: datetime, played: timedelta) -> datetime:
    """The export stamps the END of a play; MediaItem wants the start, in whole seconds."""
    start = end - played
    return start.replace(microsecond=0) if start.microsecond else start


def _open_url(uri: str, prefix: str, base: str) -> str | None:
    return base + uri[len(prefix) :] if uri.startswith(prefix) and len(uri) > len(prefix) else None


def plausible_epoch_seconds(value: Any) -> int | None:
    """offline_timestamp as Unix seconds, or None when absent or implausible.

    The unit varies (seconds or milliseconds) and some exports hold tiny nonsense values.
    """
    if type(value) not in (int, float):
        return None
    seconds = value / 1000 if value > _MS_THRESHOLD else value
    if _MIN_EPOCH_S < seconds < _MAX_EPOCH_S:
        return int(seconds)
    return None


# --- errors ----------------------------------------------------------------------------


def _record_error(
    path: Path, prev_after: int, after: int, record: Any, field: str | None, problem: str
) -> ExportFileError:
    """Locate a bad record: the line of the offending field when it is present, else the
    line where the record starts. Only runs on the error path, so re-reading is fine."""
    with path.open("rb") as f:
        f.seek(prev_after)
        data = f.read(after - prev_after)
    skip = len(data) - len(data.lstrip(_SEPARATORS))
    offset = prev_after + skip
    if field and isinstance(record, dict) and field in record:
        found = data.find(b'"' + field.encode() + b'"', skip)
        if found >= 0:
            offset = prev_after + found
    error = file_parse_error(
        path, problem, line=line_at(path, offset), offset=offset, field=field, excerpt=_excerpt(record)
    )
    return ExportFileError(error)


def _excerpt(record: Any) -> str:
    """The bad record for the error's `raw`, without personal fields."""
    if isinstance(record, dict):
        record = {k: v for k, v in record.items() if k not in PERSONAL_FIELDS}
    text = repr(record)
    return text if len(text) <= _EXCERPT_CHARS else text[:_EXCERPT_CHARS] + "…"


def _validation_problem(exc: ValidationError) -> tuple[str | None, str]:
    """A value that passed our checks but not MediaItem's (e.g. a number as a name)."""
    first = exc.errors()[0]
    field = ".".join(str(p) for p in first["loc"]) or None
    return field, f"value {first.get('input')!r} cannot be stored as {field}: {first['msg']}"
