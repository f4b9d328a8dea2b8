"""Per-user analysis metrics: set-based SQL over media_items, in the user's own time zone.

`compute_metrics` reads the user's history ONCE: one statement builds its rows (one per
stored row, `is_play` marking the one row of each real play) and sums them into the
rollups of `metric_rollups` (per local hour, per name credited, per title, per
tag/genre/mood, per platform, and the episodes that share a session), each keyed by the
local year. Every metric of every year asked for is then one small statement over them
(never a query per item). The JSON fields read (series, skipped, time unknown, genres,
moods) come parsed from media_items' columns (warehouse/parsed_fields.py). What the rows
hold:

- `zone`: the user's time zone (users.timezone, 'UTC' when the user has no row).
- `local_at`: consumed_at (the start, UTC) as wall-clock time in the user's zone, through
  DuckDB's ICU `timezone()`, so days, hours and weekdays are DST-correct.
- Rows flagged `raw_metadata.consumed_at_unknown` (their time is a stand-in) are left
  out: every metric here is dated.
- A real play: music rows seen by several sources are mapped to one `play_key` by
  warehouse/unified_plays.py; a row without a unified_plays entry is a play of its own.
  The play keeps the preferred source's row (the one the key names).
- `kind`, what one view of the row is: `music` (a play), `podcast` (an episode),
  `episode` (an episode of a series: a video with `raw_metadata.series`), `video`, or
  `article`. Every view counts, whether or not its source knows how long it lasted.
- Time spent, in this order: the row's time_spent_s, another source's time_spent_s for
  the same play (both *measured*); else an *estimate*: the item's length (duration_s,
  from the platform or an enrichment such as YouTube's video details), then the
  source's typical length for that kind (`typical_lengths`, declared by plugins: a
  TikTok video is not a YouTube video), then `TYPICAL_LENGTH_S` for the kind. Hours
  are always reported with the estimated part beside them.
- `who`, the name a view is credited to in the top lists: the series for an episode,
  else the creator (artist, channel, podcast, author). The user's aliases
  (warehouse/aliases.py) replace an artist's or a title's other spellings first.
- With `year`, everything is restricted to that LOCAL calendar year; discovery and new
  favourites still look at the whole history to decide whether a name is new, and the
  previous year is summed for the comparison.

Rules chosen:

- Binge: episodes of one series (raw_metadata.series) whose start is less than
  `BINGE_GAP_S` (30 minutes) after the end (start + time spent) of the previous episode
  of that series belong to one session; a session of `BINGE_MIN_EPISODES` (3) or more is
  a binge. A gap of exactly 30 minutes starts a new session.
- Skip: a music row is skipped when raw_metadata.skipped is true or time_spent_s is below
  `SKIP_THRESHOLD_S` (30 s). Only rows whose source says something (a boolean `skipped`
  or a time spent) count; platforms saying nothing are left out.
- Completion: time_spent_s / duration_s, capped at 1, averaged over rows with both known.
- New favourite: a name (artist, series, channel...) first seen in the year that is in
  the year's top `TOP_N` by hours.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

from mca_pipeline.warehouse.parsed_fields import split_names
from mca_pipeline.warehouse.results import first_row
from mca_pipeline.warehouse.upsert import upsert

BINGE_GAP_S = 30 * 60
BINGE_MIN_EPISODES = 3
SKIP_THRESHOLD_S = 30.0
TOP_N = 10
GRAINS = ("all", "year", "month", "week", "day")

# Rows whose consumed_at is a stand-in (an old Instapaper export has no save times)
# are left out of every dated metric: counted in a year they may not belong to, they
# would be wrong, not approximate.
KNOWN_TIME = "m.time_unknown IS NOT TRUE"

#: How long one view of each kind lasts when neither the row nor its source says
#: (seconds): a song ~3.5 min, a podcast or series episode ~45 min, a video ~10 min
#: (YouTube's median length is about that), an article ~5 min of reading. Time counted
#: from these is always shown as estimated.
TYPICAL_LENGTH_S: dict[str, float] = {  # one per core.models.VIEW_KINDS
    "music": 210.0,
    "podcast": 2700.0,
    "episode": 2700.0,
    "video": 600.0,
    "article": 300.0,
}
#: What one view of each kind is called, in the order the report lists them.
VIEW_UNITS: dict[str, tuple[str, str]] = {
    "music": ("play", "plays"),
    "episode": ("episode", "episodes"),
    "video": ("video", "videos"),
    "podcast": ("podcast episode", "podcast episodes"),
    "article": ("article", "articles"),
}

_DEFAULT_LENGTH = (
    "CASE r.kind " + " ".join(f"WHEN '{k}' THEN {v!r}" for k, v in TYPICAL_LENGTH_S.items()) + " END"
)

_ALIASED = """
    LEFT JOIN aliases aa ON aa.user_id = m.user_id AND aa.field = 'artist' AND aa.spelling = lower(trim(m.creator))
    LEFT JOIN aliases ta ON ta.user_id = m.user_id AND ta.field = 'title' AND ta.spelling = lower(trim(m.title))
"""


_ZONES = """
CREATE OR REPLACE TEMP TABLE metric_zones AS
SELECT u.user_id, coalesce(max(s.timezone), 'UTC') AS tz
FROM (SELECT unnest(CAST($users AS VARCHAR[])) AS user_id) u LEFT JOIN users s USING (user_id)
GROUP BY u.user_id
"""


# The rows linked into a play with others, each with what its play takes from the group:
# whether it is the play (the row the key names, else the first), and the best times
# the group knows. The rows linked are exactly those with a `linked_to` (every music row
# has a key, most only their own: such a row is a play of its own, with nothing to
# correct; a test holds the two equal); with them, the row each key names
# ("<platform>:<external_id>"; platform names hold no colon). One scan of
# unified_plays, testing a mostly NULL column rather than building a key per row, and
# a join of these few rows with media_items for their times (rows whose time is a
# stand-in are left out, as from every metric).
_MEMBERS = f"""
CREATE OR REPLACE TEMP TABLE metric_members AS
WITH linked AS (
    SELECT user_id, platform, external_id, play_key FROM unified_plays
    WHERE user_id IN (SELECT user_id FROM metric_zones) AND linked_to IS NOT NULL
),
members AS (
    SELECT * FROM linked
    UNION ALL
    SELECT DISTINCT user_id, split_part(play_key, ':', 1), substr(play_key, strpos(play_key, ':') + 1), play_key
    FROM linked
),
timed AS (
    SELECT g.user_id, g.platform, g.external_id, g.play_key, g.platform || ':' || g.external_id AS row_key,
           m.time_spent_s, m.duration_s
    FROM media_items m JOIN members g USING (user_id, platform, external_id)
    WHERE {KNOWN_TIME}
),
plays AS (
    SELECT user_id, play_key, max(time_spent_s) AS measured_s, max(duration_s) AS length_s,
           CASE WHEN bool_or(row_key = play_key) THEN play_key ELSE min(row_key) END AS kept
    FROM timed GROUP BY user_id, play_key
)
SELECT t.user_id, t.platform, t.external_id, t.row_key = p.kept AS is_play, p.measured_s, p.length_s
FROM timed t JOIN plays p USING (user_id, play_key)
"""


def _rows_sql(with_aliases: bool) -> str:
    """The users' rows (see the module docstring): one per stored row with a known time,
    with its view kind, local time, whether it is a play and its time spent. A CTE
    materialised once and summed by every rollup in the same statement: writing a
    million rows to a temporary table cost more than all the sums. Without aliases among
    the users the two alias joins are left out: computing their keys for every row is a
    tenth of the whole."""
    title, creator, joins = (
        ("coalesce(ta.canonical, m.title)", "coalesce(aa.canonical, m.creator)", _ALIASED)
        if with_aliases
        else ("m.title", "m.creator", "")
    )
    return f"""
typical AS (
    SELECT unnest(CAST($typical_platforms AS VARCHAR[])) AS platform, unnest(CAST($typical_kinds AS VARCHAR[])) AS kind,
           unnest(CAST($typical_s AS DOUBLE[])) AS s
),
stored AS (
    SELECT m.user_id, m.platform,
           CASE WHEN m.media_type = 'video' AND m.series IS NOT NULL THEN 'episode' ELSE m.media_type END AS kind,
           {title} AS title, {creator} AS creator, m.series, m.tags, m.genres, m.moods, m.skipped,
           m.consumed_at, m.duration_s, m.time_spent_s, timezone(z.tz, m.consumed_at) AS local_at,
           coalesce(g.is_play, true) AS is_play, g.measured_s AS group_measured_s, g.length_s AS group_length_s
    FROM media_items m
    JOIN metric_zones z USING (user_id)
    LEFT JOIN metric_members g ON g.user_id = m.user_id AND g.platform = m.platform AND g.external_id = m.external_id
    {joins}
    WHERE list_contains(CAST($users AS VARCHAR[]), m.user_id) AND {KNOWN_TIME}
),
rows AS MATERIALIZED (
    SELECT r.user_id, r.platform, r.kind, r.title, r.creator, r.series, r.tags, r.genres, r.moods, r.skipped,
           r.consumed_at, r.duration_s, r.time_spent_s, r.local_at, year(r.local_at) AS local_year, r.is_play,
           coalesce(r.time_spent_s, r.group_measured_s) AS measured_s,
           coalesce(r.time_spent_s, r.group_measured_s, r.duration_s, r.group_length_s, t.s, {_DEFAULT_LENGTH})
               AS spent_s
    FROM stored r
    LEFT JOIN typical t ON t.platform = r.platform AND t.kind = r.kind
)"""


#: The media type of a view kind: an episode (of a series) is a video.
_MEDIA_TYPE = "CASE kind WHEN 'episode' THEN 'video' ELSE kind END"

# What the metrics read: the sums of the rows, made by `prepare` in ONE statement (each
# a branch of a UNION ALL over the materialised rows) for every year asked for. A
# metric then sums thousands of rows, not a million; several share one sum (the hours
# serve the time spent, the clock, the busiest day, the streaks and the year before);
# a report of eight years reads the history once, not forty times. `local_year` is in
# every key: a year's metrics keep its rows, all time sums them. The branches share the
# columns of `metric_rollups` (generic names), and a temporary view per rollup names
# them (`_VIEWS`).
_BRANCHES = f"""
, labelled AS (
    SELECT user_id, local_year, genres, moods, count(*) AS views, sum(spent_s) AS spent
    FROM rows WHERE is_play AND (genres IS NOT NULL OR moods IS NOT NULL) GROUP BY ALL
)
-- Real plays per local hour, kind and platform.
SELECT 'hours' AS rollup, user_id, local_year, date_trunc('hour', local_at) AS moment, kind, platform,
       NULL::VARCHAR AS name, NULL::VARCHAR AS creator, count(*) AS n1, NULL::BIGINT AS n2, NULL::BIGINT AS n3,
       NULL::BIGINT AS n4, NULL::BIGINT AS n5, sum(spent_s) AS x1,
       sum(CASE WHEN measured_s IS NULL THEN spent_s ELSE 0.0 END) AS x2, NULL::DOUBLE AS x3
FROM rows WHERE is_play GROUP BY ALL
UNION ALL
-- Real plays per name credited (see `who`) and kind, with the first and the longest.
SELECT 'names', user_id, local_year, min(local_at), kind, NULL, who, NULL, count(*), NULL, NULL, NULL, NULL,
       sum(spent_s), max(spent_s), NULL
FROM (SELECT user_id, local_year, kind, coalesce(series, nullif(creator, '')) AS who, spent_s, local_at
      FROM rows WHERE is_play)
WHERE who IS NOT NULL GROUP BY user_id, local_year, kind, who
UNION ALL
-- Real plays per title (with its creator).
SELECT 'titles', user_id, local_year, NULL, NULL, NULL, title, creator, count(*), NULL, NULL, NULL, NULL,
       sum(spent_s), NULL, NULL
FROM rows WHERE is_play GROUP BY user_id, local_year, title, creator
UNION ALL
-- Real plays per tag (a name listed twice on an item counts once), genre and mood. The
-- genres and moods (texts, few distinct ones: they follow the artist) are split after
-- grouping, not once per play.
SELECT 'labels', user_id, local_year, NULL, 'tag', NULL, name, NULL, count(*), NULL, NULL, NULL, NULL,
       sum(spent_s), NULL, NULL
FROM (SELECT user_id, local_year, unnest(CASE WHEN len(tags) > 1 THEN list_distinct(tags) ELSE tags END) AS name,
             spent_s
      FROM rows WHERE is_play AND len(tags) > 0)
GROUP BY user_id, local_year, name
UNION ALL
SELECT 'labels', user_id, local_year, NULL, 'genre', NULL, name, NULL, sum(views), NULL, NULL, NULL, NULL,
       sum(spent), NULL, NULL
FROM (SELECT user_id, local_year, unnest({split_names("genres")}) AS name, views, spent FROM labelled)
GROUP BY user_id, local_year, name
UNION ALL
SELECT 'labels', user_id, local_year, NULL, 'mood', NULL, name, NULL, sum(views), NULL, NULL, NULL, NULL,
       sum(spent), NULL, NULL
FROM (SELECT user_id, local_year, unnest({split_names("moods")}) AS name, views, spent FROM labelled)
GROUP BY user_id, local_year, name
UNION ALL
-- Stored rows (not plays) per platform and media type: what skips, completion and the
-- unified counts count.
SELECT 'row_counts', user_id, local_year, NULL, media_type, platform, NULL, NULL, count(*),
       count(*) FILTER (WHERE is_play), count(*) FILTER (WHERE known),
       count(*) FILTER (WHERE known AND (coalesce(skipped, false) OR coalesce(time_spent_s < $threshold, false))),
       count(*) FILTER (WHERE time_spent_s IS NOT NULL AND duration_s > 0), NULL, NULL,
       sum(least(time_spent_s / duration_s, 1.0)) FILTER (WHERE time_spent_s IS NOT NULL AND duration_s > 0)
FROM (SELECT *, {_MEDIA_TYPE} AS media_type,
             skipped IS NOT NULL OR time_spent_s IS NOT NULL AS known
      FROM rows)
GROUP BY user_id, local_year, media_type, platform
UNION ALL
-- Episodes of a series that started within the binge gap of another's end, one row
-- each: binges are found over them. Most episodes are watched alone; leaving them out
-- changes no session.
SELECT 'episodes', user_id, local_year, NULL, NULL, NULL, series, NULL, NULL, NULL, NULL, NULL, NULL,
       start_s, end_s, NULL
FROM (
    SELECT *, coalesce(start_s - lag(end_s) OVER w < $gap, false) OR coalesce(lead(start_s) OVER w - end_s < $gap, false)
               AS shared
    FROM (SELECT user_id, local_year, series, epoch(consumed_at) AS start_s, epoch(consumed_at) + spent_s AS end_s
          FROM rows WHERE is_play AND series IS NOT NULL)
    WINDOW w AS (PARTITION BY user_id, series ORDER BY start_s, end_s)
)
WHERE shared
"""

#: Each rollup under its own name and columns.
_VIEWS = (
    """CREATE OR REPLACE TEMP VIEW metric_hours AS
    SELECT user_id, local_year, moment AS hour_at, kind, platform, n1 AS views, x1 AS spent, x2 AS estimated
    FROM metric_rollups WHERE rollup = 'hours'""",
    """CREATE OR REPLACE TEMP VIEW metric_names AS
    SELECT user_id, local_year, kind, name AS who, n1 AS views, x1 AS spent, x2 AS longest, moment AS first_at
    FROM metric_rollups WHERE rollup = 'names'""",
    """CREATE OR REPLACE TEMP VIEW metric_titles AS
    SELECT user_id, local_year, name AS title, creator, n1 AS views, x1 AS spent
    FROM metric_rollups WHERE rollup = 'titles'""",
    """CREATE OR REPLACE TEMP VIEW metric_labels AS
    SELECT user_id, local_year, kind AS label, name, n1 AS views, x1 AS spent
    FROM metric_rollups WHERE rollup = 'labels'""",
    """CREATE OR REPLACE TEMP VIEW metric_row_counts AS
    SELECT user_id, local_year, platform, kind AS media_type, n1 AS stored, n2 AS plays, n3 AS skip_known,
           n4 AS skipped, n5 AS timed, x3 AS completed
    FROM metric_rollups WHERE rollup = 'row_counts'""",
    """CREATE OR REPLACE TEMP VIEW metric_episodes AS
    SELECT user_id, local_year, name AS series, x1 AS start_s, x2 AS end_s
    FROM metric_rollups WHERE rollup = 'episodes'""",
)

#: A rollup's rows in the scope: all of them, or the local year's.
_IN_SCOPE = "(CAST($year AS INTEGER) IS NULL OR local_year = CAST($year AS INTEGER))"


# --- results ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Total:
    """Views (plays, episodes, videos, articles: see `kind`) and hours of one media type
    on one platform, over the whole scope; `estimated_hours` is the part of `hours` that
    was estimated (no time spent known)."""

    media_type: str
    platform: str
    plays: int
    hours: float
    kind: str = ""
    estimated_hours: float = 0.0


@dataclass(frozen=True)
class PeriodTotal:
    """Views and hours in one local period; `period` is its first day (ISO date)."""

    grain: str  # year | month | week (ISO, Monday) | day
    period: str
    media_type: str
    platform: str
    plays: int
    hours: float
    kind: str = ""
    estimated_hours: float = 0.0


@dataclass(frozen=True)
class TopEntry:
    """A ranked creator, title (with its creator), tag, genre or mood; `by` says what it
    is ranked by; `within` is the view kind of a per-kind list ('' = every kind).

    A creator is the name a view is credited to: the artist, the channel, the podcast,
    the author, or the series of an episode."""

    kind: str  # creator | title | tag | genre | mood
    by: str  # plays | hours
    rank: int
    name: str
    creator: str | None
    plays: int
    hours: float
    within: str = ""


@dataclass(frozen=True)
class ClockCell:
    """Views started in one local hour of one weekday (ISO: 1 = Monday, 7 = Sunday)."""

    weekday: int
    hour: int
    plays: int


@dataclass(frozen=True)
class BingeSession:
    series: str
    start: str  # local ISO timestamp of the first episode's start
    end: str  # local ISO timestamp of the last episode's end
    episodes: int
    hours: float


@dataclass(frozen=True)
class BingeSummary:
    count: int = 0
    longest_episodes: int = 0
    longest_series: str | None = None
    per_series: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Streaks:
    """Runs of consecutive local days with any view; dates are ISO strings."""

    longest_days: int = 0
    longest_start: str | None = None
    longest_end: str | None = None
    current_days: int = 0
    current_start: str | None = None
    current_end: str | None = None


@dataclass(frozen=True)
class Discovery:
    """Creators whose first view ever falls in this local month ('YYYY-MM')."""

    month: str
    new_creators: int
    creators: list[str]


@dataclass(frozen=True)
class SkipShare:
    platform: str
    music_plays: int  # rows of the platform
    known: int  # rows whose source says whether they were skipped
    skipped: int
    share: float  # skipped / known


@dataclass(frozen=True)
class Completion:
    platform: str
    media_type: str
    items: int  # rows with both time spent and duration
    average: float


@dataclass(frozen=True)
class UnifiedCounts:
    music_rows: int = 0
    real_plays: int = 0
    duplicates: int = 0


@dataclass(frozen=True)
class KindTotal:
    """Views and hours of one view kind in a year (for the year against the one before)."""

    kind: str
    views: int
    hours: float


@dataclass(frozen=True)
class BusiestDay:
    """The local day with the most hours (views break ties, then the earliest)."""

    day: str
    views: int
    hours: float


@dataclass(frozen=True)
class NewFavourite:
    """A name first seen in the year that made the year's top list by hours."""

    name: str
    kind: str
    first_seen: str  # local ISO date
    plays: int
    hours: float
    rank: int


@dataclass(frozen=True)
class Metrics:
    user_id: str
    year: int | None
    timezone: str
    totals: list[Total]
    time_spent: list[PeriodTotal]
    top: list[TopEntry]
    clock: list[ClockCell]
    binge_sessions: list[BingeSession]
    binges: BingeSummary
    streaks: Streaks
    discovery: list[Discovery]
    skips: list[SkipShare]
    completion: list[Completion]
    unified: UnifiedCounts
    previous_year: list[KindTotal] = field(default_factory=list)
    busiest_day: BusiestDay | None = None
    new_favourites: list[NewFavourite] = field(default_factory=list)


# --- time zone -------------------------------------------------------------------------


def set_user_timezone(con: duckdb.DuckDBPyConnection, user_id: str, tz: str) -> None:
    """Store the user's IANA time zone (creating the user if needed); unknown zones are refused."""
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r}") from exc
    upsert(con, "users", {"user_id": user_id, "timezone": tz}, key=("user_id",), update=("timezone",))


def user_timezone(con: duckdb.DuckDBPyConnection, user_id: str) -> str:
    row = first_row(con.execute("SELECT timezone FROM users WHERE user_id = ?", [user_id]))
    return str(row[0]) if row else "UTC"


def active_years(con: duckdb.DuckDBPyConnection, user_id: str) -> list[int]:
    """The years (in the user's own time zone) in which the user consumed anything."""
    rows = con.execute(
        f"""
        SELECT DISTINCT year(timezone(coalesce(u.timezone, 'UTC'), m.consumed_at)) AS y
        FROM media_items m LEFT JOIN users u USING (user_id)
        WHERE m.user_id = ? AND {KNOWN_TIME} ORDER BY y
        """,
        [user_id],
    ).fetchall()
    return [int(r[0]) for r in rows]


# --- queries ---------------------------------------------------------------------------
#
# Each function below reads the table `prepare` made, so it must run on the same
# connection after it, and answers for every prepared user at once: one statement,
# grouped by user, whose rows are then dealt out per user.

Rows = dict[str, list[tuple[Any, ...]]]


def prepare(
    con: duckdb.DuckDBPyConnection,
    user_ids: Sequence[str],
    typical_lengths: Mapping[tuple[str, str], float] | None = None,
) -> None:
    """Sum the users' rows (see the module docstring) into the rollups every metric reads,
    temporary tables and views of this connection: one scan of media_items for every
    metric of every year after it."""
    typical = dict(typical_lengths or {})
    with_aliases = first_row(
        con.execute(
            "SELECT EXISTS (SELECT 1 FROM aliases WHERE user_id IN (SELECT unnest(CAST($users AS VARCHAR[]))))",
            {"users": list(user_ids)},
        )
    )[0]
    con.execute(_ZONES, {"users": list(user_ids)})
    con.execute(_MEMBERS)
    # Every join of the rows statement has the few rows (zones, linked rows, aliases,
    # typical lengths) on its right, to be hashed. DuckDB's planner, misjudging how many
    # history rows the user filter leaves when other users share the table, would hash
    # the history instead: five times the cost (measured with benchmarks/analysis.py).
    con.execute("SET disabled_optimizers = 'build_side_probe_side'")
    try:
        con.execute(
            "CREATE OR REPLACE TEMP TABLE metric_rollups AS WITH "
            + _rows_sql(bool(with_aliases))
            + _BRANCHES,
            {
                "users": list(user_ids),
                "typical_platforms": [platform for platform, _ in typical],
                "typical_kinds": [kind for _, kind in typical],
                "typical_s": [float(seconds) for seconds in typical.values()],
                "threshold": SKIP_THRESHOLD_S,
                "gap": BINGE_GAP_S,
            },
        )
    finally:
        con.execute("RESET disabled_optimizers")
    for view in _VIEWS:
        con.execute(view)


def _run(con: duckdb.DuckDBPyConnection, sql: str, year: int | None, **extra: object) -> Rows:
    """Run one statement over the scope; its first column is the user, dealt out here."""
    per_user: Rows = defaultdict(list)
    for row in con.execute(sql, {"year": year, **extra}).fetchall():
        per_user[str(row[0])].append(row[1:])
    return per_user


def time_spent(
    con: duckdb.DuckDBPyConnection, year: int | None
) -> dict[str, tuple[list[Total], list[PeriodTotal]]]:
    """Views and hours (with the estimated part) by media type, kind and platform:
    overall, and per local year, month, ISO week and day."""
    found = _run(
        con,
        f"""
        WITH days AS (
            SELECT user_id, {_MEDIA_TYPE} AS media_type, platform, kind,
                   CAST(hour_at AS DATE) AS day, sum(views) AS n, sum(spent) AS spent, sum(estimated) AS estimated
            FROM metric_hours WHERE {_IN_SCOPE} GROUP BY ALL
        ),
        grains AS (
            SELECT *, date_trunc('year', day) AS y, date_trunc('month', day) AS m, date_trunc('week', day) AS w
            FROM days
        )
        SELECT user_id,
               CASE WHEN GROUPING(day) = 0 THEN 'day' WHEN GROUPING(w) = 0 THEN 'week'
                    WHEN GROUPING(m) = 0 THEN 'month' WHEN GROUPING(y) = 0 THEN 'year' ELSE 'all' END AS grain,
               strftime(coalesce(day, w, m, y), '%Y-%m-%d') AS period,
               media_type, platform, kind, sum(n), sum(spent) / 3600.0, sum(estimated) / 3600.0
        FROM grains
        GROUP BY GROUPING SETS ((user_id, media_type, platform, kind), (user_id, media_type, platform, kind, y),
                                (user_id, media_type, platform, kind, m), (user_id, media_type, platform, kind, w),
                                (user_id, media_type, platform, kind, day))
        ORDER BY user_id, list_position(['all', 'year', 'month', 'week', 'day'], grain), period,
                 media_type, platform, kind
        """,
        year,
    )
    result: dict[str, tuple[list[Total], list[PeriodTotal]]] = {}
    for user, rows in found.items():
        totals = [
            Total(str(t), str(p), int(n), float(h), str(k), float(e))
            for g, _, t, p, k, n, h, e in rows
            if g == "all"
        ]
        periods = [
            PeriodTotal(str(g), str(d), str(t), str(p), int(n), float(h), str(k), float(e))
            for g, d, t, p, k, n, h, e in rows
            if g != "all"
        ]
        result[user] = (totals, periods)
    return result


def top_items(
    con: duckdb.DuckDBPyConnection, year: int | None, limit: int = TOP_N
) -> dict[str, list[TopEntry]]:
    """The top `limit` creators (overall and per view kind), titles (per creator), tags,
    genres and moods, by views and by hours."""
    found = _run(
        con,
        f"""
        WITH per_kind AS (
            SELECT user_id, kind, who, sum(views) AS plays, sum(spent) / 3600.0 AS hours
            FROM metric_names WHERE {_IN_SCOPE} GROUP BY user_id, kind, who
        ),
        summed AS (
            SELECT user_id, 'creator' AS kind, '' AS within, who AS name, NULL::VARCHAR AS creator,
                   sum(plays) AS plays, sum(hours) AS hours
            FROM per_kind GROUP BY user_id, who
            UNION ALL
            SELECT user_id, 'creator', kind, who, NULL, plays, hours FROM per_kind
            UNION ALL
            SELECT user_id, 'title', '', title, creator, sum(views), sum(spent) / 3600.0
            FROM metric_titles WHERE {_IN_SCOPE} GROUP BY user_id, title, creator
            UNION ALL
            SELECT user_id, label, '', name, NULL, sum(views), sum(spent) / 3600.0
            FROM metric_labels WHERE {_IN_SCOPE} GROUP BY user_id, label, name
        ),
        ranked AS (
            SELECT user_id, kind, within, 'plays' AS ranked_by, name, creator, plays, hours,
                   row_number() OVER (PARTITION BY user_id, kind, within
                                      ORDER BY plays DESC, hours DESC, name, creator NULLS FIRST) AS rank
            FROM summed
            UNION ALL
            SELECT user_id, kind, within, 'hours', name, creator, plays, hours,
                   row_number() OVER (PARTITION BY user_id, kind, within
                                      ORDER BY hours DESC, plays DESC, name, creator NULLS FIRST)
            FROM summed
        )
        SELECT user_id, kind, ranked_by, rank, name, creator, plays, hours, within FROM ranked
        WHERE rank <= $limit ORDER BY user_id, kind, within, ranked_by, rank
        """,
        year,
        limit=limit,
    )
    return {
        user: [
            TopEntry(str(k), str(b), int(r), str(n), None if c is None else str(c), int(p), float(h), str(w))
            for k, b, r, n, c, p, h, w in rows
        ]
        for user, rows in found.items()
    }


def listening_clock(con: duckdb.DuckDBPyConnection, year: int | None) -> dict[str, list[ClockCell]]:
    """Views per (ISO weekday, hour) of their local start; empty cells are left out."""
    found = _run(
        con,
        f"SELECT user_id, isodow(hour_at), hour(hour_at), sum(views) FROM metric_hours WHERE {_IN_SCOPE} "
        "GROUP BY ALL ORDER BY ALL",
        year,
    )
    return {user: [ClockCell(int(d), int(h), int(n)) for d, h, n in rows] for user, rows in found.items()}


def binge_sessions(con: duckdb.DuckDBPyConnection, year: int | None) -> dict[str, list[BingeSession]]:
    """Binges (see the module docstring), in the order they started."""
    found = _run(
        con,
        f"""
        WITH episodes AS (SELECT user_id, series, start_s, end_s FROM metric_episodes WHERE {_IN_SCOPE}),
        -- Of episodes starting together, the shorter comes first: any order of equal
        -- (start, end) pairs gives the same sessions, so this order is total enough, and
        -- the window sorts and carries four columns, not the whole row.
        marked AS (
            SELECT *, coalesce(start_s - lag(end_s) OVER w < $gap, false) AS joins_previous,
                   coalesce(lead(start_s) OVER w - end_s < $gap, false) AS joined_by_next
            FROM episodes
            WINDOW w AS (PARTITION BY user_id, series ORDER BY start_s, end_s)
        ),
        -- Sessions are numbered only over the episodes that share one with another: most
        -- episodes are watched alone, and leaving them out between sessions changes none.
        numbered AS (
            SELECT *, sum(CASE WHEN joins_previous THEN 0 ELSE 1 END)
                          OVER (PARTITION BY user_id, series ORDER BY start_s, end_s ROWS UNBOUNDED PRECEDING) AS session
            FROM marked WHERE joins_previous OR joined_by_next
        ),
        binges AS (
            SELECT user_id, series, min(start_s) AS first_s, max(end_s) AS last_s, count(*) AS n,
                   sum(end_s - start_s) AS spent
            FROM numbered
            GROUP BY user_id, series, session
            HAVING count(*) >= $min_episodes
        )
        SELECT user_id, series, timezone(z.tz, to_timestamp(first_s)), timezone(z.tz, to_timestamp(last_s)),
               n, spent / 3600.0
        FROM binges JOIN metric_zones z USING (user_id)
        ORDER BY user_id, first_s, series
        """,
        year,
        gap=BINGE_GAP_S,
        min_episodes=BINGE_MIN_EPISODES,
    )
    return {
        user: [BingeSession(str(s), a.isoformat(), b.isoformat(), int(n), float(h)) for s, a, b, n, h in rows]
        for user, rows in found.items()
    }


def summarise_binges(sessions: list[BingeSession]) -> BingeSummary:
    if not sessions:
        return BingeSummary()
    longest = max(sessions, key=lambda s: s.episodes)  # the first of equals: the earliest
    per_series: dict[str, int] = {}
    for session in sessions:
        per_series[session.series] = per_series.get(session.series, 0) + 1
    return BingeSummary(len(sessions), longest.episodes, longest.series, dict(sorted(per_series.items())))


def streaks(con: duckdb.DuckDBPyConnection, year: int | None) -> dict[str, Streaks]:
    """The longest run of consecutive local days with a view (the earliest of equals), and
    the current one: the run that reaches today or yesterday in the user's time zone (none
    for a year that is over, or when the last view is older)."""
    found = _run(
        con,
        f"""
        WITH days AS (
            SELECT DISTINCT user_id, tz, CAST(hour_at AS DATE) AS day
            FROM metric_hours JOIN metric_zones USING (user_id) WHERE {_IN_SCOPE}
        ),
        islands AS (
            SELECT user_id, tz, day,
                   day - CAST(row_number() OVER (PARTITION BY user_id ORDER BY day) AS INTEGER) AS grp
            FROM days
        ),
        runs AS (
            SELECT user_id, count(*) AS n, min(day) AS first_day, max(day) AS last_day,
                   max(day) >= CAST(timezone(any_value(tz), now()) AS DATE) - 1 AS reaches_today
            FROM islands GROUP BY user_id, grp
        ),
        longest AS (
            SELECT * FROM runs QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY n DESC, first_day) = 1
        ),
        current AS (
            SELECT * FROM runs WHERE reaches_today
            QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY last_day DESC) = 1
        )
        SELECT l.user_id, l.n, l.first_day, l.last_day, c.n, c.first_day, c.last_day
        FROM longest l LEFT JOIN current c USING (user_id)
        """,
        year,
    )
    result: dict[str, Streaks] = {}
    for user, rows in found.items():
        n, first, last, current_n, current_first, current_last = rows[0]
        current = (
            (int(current_n), current_first.isoformat(), current_last.isoformat())
            if current_n is not None
            else (0, None, None)
        )
        result[user] = Streaks(int(n), first.isoformat(), last.isoformat(), *current)
    return result


def discovery(con: duckdb.DuckDBPyConnection, year: int | None) -> dict[str, list[Discovery]]:
    """Per local month, the names viewed there for the first time in the whole history."""
    found = _run(
        con,
        """
        WITH firsts AS (SELECT user_id, who, min(first_at) AS first_at FROM metric_names GROUP BY user_id, who)
        SELECT user_id, strftime(first_at, '%Y-%m') AS month, count(*), list(who ORDER BY who)
        FROM firsts
        WHERE CAST($year AS INTEGER) IS NULL OR year(first_at) = CAST($year AS INTEGER)
        GROUP BY user_id, month ORDER BY user_id, month
        """,
        year,
    )
    return {
        user: [Discovery(str(m), int(n), [str(c) for c in names]) for m, n, names in rows]
        for user, rows in found.items()
    }


def new_favourites(
    con: duckdb.DuckDBPyConnection, year: int | None, limit: int = TOP_N
) -> dict[str, list[NewFavourite]]:
    """Names first seen in the year that are in its top `limit` by hours (none for all time)."""
    if year is None:
        return {}
    found = _run(
        con,
        f"""
        WITH firsts AS (SELECT user_id, who, min(first_at) AS first_at FROM metric_names GROUP BY user_id, who),
        year_top AS (
            SELECT user_id, who, arg_max(kind, longest) AS kind, sum(views) AS views, sum(spent) / 3600.0 AS hours,
                   row_number() OVER (PARTITION BY user_id ORDER BY sum(spent) DESC, sum(views) DESC, who) AS rank
            FROM metric_names WHERE {_IN_SCOPE} GROUP BY user_id, who
        )
        SELECT t.user_id, t.who, t.kind, CAST(f.first_at AS DATE), t.views, t.hours, t.rank
        FROM year_top t JOIN firsts f USING (user_id, who)
        WHERE t.rank <= $limit AND year(f.first_at) = CAST($year AS INTEGER)
        ORDER BY t.user_id, t.rank
        """,
        year,
        limit=limit,
    )
    return {
        user: [
            NewFavourite(str(n), str(k), d.isoformat(), int(v), float(h), int(r)) for n, k, d, v, h, r in rows
        ]
        for user, rows in found.items()
    }


def busiest_day(con: duckdb.DuckDBPyConnection, year: int | None) -> dict[str, BusiestDay]:
    """The local day with the most hours in the scope."""
    found = _run(
        con,
        f"""
        SELECT user_id, CAST(hour_at AS DATE) AS day, sum(views) AS day_views, sum(spent) / 3600.0 AS hours
        FROM metric_hours WHERE {_IN_SCOPE} GROUP BY user_id, day
        QUALIFY row_number() OVER (PARTITION BY user_id ORDER BY hours DESC, day_views DESC, day) = 1
        """,
        year,
    )
    return {
        user: BusiestDay(rows[0][0].isoformat(), int(rows[0][1]), float(rows[0][2]))
        for user, rows in found.items()
    }


def kind_totals(con: duckdb.DuckDBPyConnection, year: int) -> dict[str, list[KindTotal]]:
    """Views and hours per view kind in one local year (any year, not only the scope's)."""
    found = _run(
        con,
        f"""
        SELECT user_id, kind, sum(views), sum(spent) / 3600.0 FROM metric_hours
        WHERE {_IN_SCOPE} GROUP BY user_id, kind ORDER BY user_id, kind
        """,
        year,
    )
    return {user: [KindTotal(str(k), int(n), float(h)) for k, n, h in rows] for user, rows in found.items()}


def skip_shares(con: duckdb.DuckDBPyConnection, year: int | None) -> dict[str, list[SkipShare]]:
    """Per platform, the share of music rows skipped, among rows whose source says."""
    found = _run(
        con,
        f"""
        SELECT user_id, platform, sum(stored), sum(skip_known), sum(skipped) FROM metric_row_counts
        WHERE media_type = 'music' AND {_IN_SCOPE}
        GROUP BY user_id, platform HAVING sum(skip_known) > 0 ORDER BY user_id, platform
        """,
        year,
    )
    return {
        user: [SkipShare(str(p), int(n), int(k), int(s), int(s) / int(k)) for p, n, k, s in rows]
        for user, rows in found.items()
    }


def completion(con: duckdb.DuckDBPyConnection, year: int | None) -> dict[str, list[Completion]]:
    """Average of time spent / duration (capped at 1) where both are known."""
    found = _run(
        con,
        f"""
        SELECT user_id, platform, media_type, sum(timed), sum(completed) / sum(timed) FROM metric_row_counts
        WHERE {_IN_SCOPE} GROUP BY user_id, platform, media_type HAVING sum(timed) > 0
        ORDER BY user_id, platform, media_type
        """,
        year,
    )
    return {
        user: [Completion(str(p), str(t), int(n), float(a)) for p, t, n, a in rows]
        for user, rows in found.items()
    }


def unified_counts(con: duckdb.DuckDBPyConnection, year: int | None) -> dict[str, UnifiedCounts]:
    """Stored music rows against the real plays they stand for (each play counted in the
    year of the row that stands for it, as in the totals)."""
    found = _run(
        con,
        f"""
        SELECT user_id, sum(stored), sum(plays) FROM metric_row_counts
        WHERE media_type = 'music' AND {_IN_SCOPE} GROUP BY user_id
        """,
        year,
    )
    return {
        user: UnifiedCounts(int(rows[0][0]), int(rows[0][1]), int(rows[0][0]) - int(rows[0][1]))
        for user, rows in found.items()
    }


def user_timezones(con: duckdb.DuckDBPyConnection, user_ids: Sequence[str]) -> dict[str, str]:
    rows = con.execute(
        "SELECT user_id, timezone FROM users WHERE user_id IN (SELECT unnest(CAST($users AS VARCHAR[])))",
        {"users": list(user_ids)},
    ).fetchall()
    return {str(u): str(tz) for u, tz in rows}


def compute_metrics_for_users(
    con: duckdb.DuckDBPyConnection,
    user_ids: Sequence[str],
    years: Sequence[int | None] = (None,),
    typical_lengths: Mapping[tuple[str, str], float] | None = None,
) -> dict[tuple[str, int | None], Metrics]:
    """Every metric of many users, for each of `years` (None: all time), keyed by
    (user, year): one scan of their history, then one statement per metric and year
    for all of them together (a user's figures never depend on another's).

    `typical_lengths` maps (platform, view kind) to the seconds one view of that kind on
    that platform usually lasts (the plugins' `typical_length_s`); see the module doc."""
    prepare(con, user_ids, typical_lengths)
    zones = user_timezones(con, user_ids)
    result: dict[tuple[str, int | None], Metrics] = {}
    for year in years:
        spent = time_spent(con, year)
        tops = top_items(con, year)
        clocks = listening_clock(con, year)
        sessions = binge_sessions(con, year)
        runs = streaks(con, year)
        found = discovery(con, year)
        skips = skip_shares(con, year)
        completed = completion(con, year)
        unified = unified_counts(con, year)
        before = kind_totals(con, year - 1) if year is not None else {}
        busiest = busiest_day(con, year)
        favourites = new_favourites(con, year)
        for user in user_ids:
            totals, periods = spent.get(user, ([], []))
            user_sessions = sessions.get(user, [])
            result[user, year] = Metrics(
                user_id=user,
                year=year,
                timezone=zones.get(user, "UTC"),
                totals=totals,
                time_spent=periods,
                top=tops.get(user, []),
                clock=clocks.get(user, []),
                binge_sessions=user_sessions,
                binges=summarise_binges(user_sessions),
                streaks=runs.get(user, Streaks()),
                discovery=found.get(user, []),
                skips=skips.get(user, []),
                completion=completed.get(user, []),
                unified=unified.get(user, UnifiedCounts()),
                previous_year=before.get(user, []),
                busiest_day=busiest.get(user),
                new_favourites=favourites.get(user, []),
            )
    return result


def compute_metrics(
    con: duckdb.DuckDBPyConnection,
    user_id: str,
    year: int | None = None,
    typical_lengths: Mapping[tuple[str, str], float] | None = None,
) -> Metrics:
    """Every metric of one user (and local calendar year, when given)."""
    return compute_metrics_for_users(con, [user_id], [year], typical_lengths)[user_id, year]
