"""Per-user analysis metrics: set-based SQL over media_items, in the user's own time zone.

Every query below is ONE statement over all of a user's items (no query per item) and
starts from the same scope (`_SCOPE`):

- `zone`: the user's time zone (users.timezone, 'UTC' when the user has no row).
- `plays`: one row per REAL play. Music rows seen by several sources are mapped to one
  `play_key` by warehouse/unified_plays.py; a row without a unified_plays entry is a play
  of its own. The play keeps the preferred source's row (the one the key names) and its
  time spent: that row's time_spent_s, else another source's time_spent_s, else the
  duration (preferred row first), else 0.
- `local_at`: consumed_at (the start, UTC) as wall-clock time in the user's zone, through
  DuckDB's ICU `timezone()`, so days, hours and weekdays are DST-correct.
- Rows flagged `raw_metadata.consumed_at_unknown` (their time is a stand-in) are left
  out: every metric here is dated.
- With `year`, everything is restricted to that LOCAL calendar year; discovery still
  looks at the whole history to decide whether a creator is new.

Rules chosen:

- Binge: episodes of one series (raw_metadata.series) whose start is less than
  `BINGE_GAP_S` (30 minutes) after the end (start + time spent) of the previous episode
  of that series belong to one session; a session of `BINGE_MIN_EPISODES` (3) or more is
  a binge. A gap of exactly 30 minutes starts a new session.
- Skip: a music row is skipped when raw_metadata.skipped is true or time_spent_s is below
  `SKIP_THRESHOLD_S` (30 s). Only rows whose source says something (a boolean `skipped`
  or a time spent) count; platforms saying nothing are left out.
- Completion: time_spent_s / duration_s, capped at 1, averaged over rows with both known.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import duckdb

from mca_pipeline.warehouse.results import first_row

BINGE_GAP_S = 30 * 60
BINGE_MIN_EPISODES = 3
SKIP_THRESHOLD_S = 30.0
TOP_N = 10
GRAINS = ("all", "year", "month", "week", "day")

# Rows whose consumed_at is a stand-in (an old Instapaper export has no save times)
# are left out of every dated metric: counted in a year they may not belong to, they
# would be wrong, not approximate.
KNOWN_TIME = "coalesce(m.raw_metadata ->> 'consumed_at_unknown', 'false') <> 'true'"

_SCOPE = f"""
WITH zone AS (
    SELECT coalesce(max(timezone), 'UTC') AS tz FROM users WHERE user_id = $user
),
user_rows AS (
    SELECT m.platform, m.external_id, m.media_type, m.title, m.creator, m.tags, m.raw_metadata,
           m.consumed_at, m.duration_s, m.time_spent_s,
           m.platform || ':' || m.external_id AS row_key,
           coalesce(u.play_key, m.platform || ':' || m.external_id) AS play_id,
           timezone(z.tz, m.consumed_at) AS local_at,
           z.tz
    FROM media_items m
    CROSS JOIN zone z
    LEFT JOIN unified_plays u
      ON u.user_id = m.user_id AND u.platform = m.platform AND u.external_id = m.external_id
    WHERE m.user_id = $user AND {KNOWN_TIME}
),
scoped_rows AS (
    SELECT * FROM user_rows
    WHERE CAST($year AS INTEGER) IS NULL OR year(local_at) = CAST($year AS INTEGER)
),
all_plays AS (
    SELECT play_id, platform, media_type, title, creator, tags, raw_metadata, consumed_at, local_at, tz,
           coalesce(time_spent_s, max(time_spent_s) OVER w, duration_s, max(duration_s) OVER w, 0.0) AS spent_s
    FROM user_rows
    WINDOW w AS (PARTITION BY play_id)
    QUALIFY row_number() OVER (PARTITION BY play_id ORDER BY row_key = play_id DESC, row_key) = 1
),
plays AS (
    SELECT * FROM all_plays
    WHERE CAST($year AS INTEGER) IS NULL OR year(local_at) = CAST($year AS INTEGER)
)
"""


# --- results ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Total:
    """Real plays and hours of one media type on one platform, over the whole scope."""

    media_type: str
    platform: str
    plays: int
    hours: float


@dataclass(frozen=True)
class PeriodTotal:
    """Real plays and hours in one local period; `period` is its first day (ISO date)."""

    grain: str  # year | month | week (ISO, Monday) | day
    period: str
    media_type: str
    platform: str
    plays: int
    hours: float


@dataclass(frozen=True)
class TopEntry:
    """A ranked creator, title (with its creator) or tag; `by` says what it is ranked by."""

    kind: str  # creator | title | tag
    by: str  # plays | hours
    rank: int
    name: str
    creator: str | None
    plays: int
    hours: float


@dataclass(frozen=True)
class ClockCell:
    """Real plays started in one local hour of one weekday (ISO: 1 = Monday, 7 = Sunday)."""

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
    """Runs of consecutive local days with any play; dates are ISO strings."""

    longest_days: int = 0
    longest_start: str | None = None
    longest_end: str | None = None
    current_days: int = 0
    current_start: str | None = None
    current_end: str | None = None


@dataclass(frozen=True)
class Discovery:
    """Creators whose first play ever falls in this local month ('YYYY-MM')."""

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


# --- time zone -------------------------------------------------------------------------


def set_user_timezone(con: duckdb.DuckDBPyConnection, user_id: str, tz: str) -> None:
    """Store the user's IANA time zone (creating the user if needed); unknown zones are refused."""
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {tz!r}") from exc
    con.execute(
        """
        INSERT INTO users (user_id, timezone) VALUES (?, ?)
        ON CONFLICT (user_id) DO UPDATE SET timezone = excluded.timezone
        """,
        [user_id, tz],
    )


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


def _run(
    con: duckdb.DuckDBPyConnection, sql: str, user_id: str, year: int | None, **extra: object
) -> list[tuple[Any, ...]]:
    return con.execute(_SCOPE + sql, {"user": user_id, "year": year, **extra}).fetchall()


def time_spent(
    con: duckdb.DuckDBPyConnection, user_id: str, year: int | None = None
) -> tuple[list[Total], list[PeriodTotal]]:
    """Real plays and hours by media type and platform: overall, and per local year,
    month, ISO week and day."""
    rows = _run(
        con,
        """
        SELECT g.grain,
               CASE WHEN g.grain = 'all' THEN ''
                    ELSE strftime(date_trunc(CASE WHEN g.grain = 'all' THEN 'year' ELSE g.grain END, p.local_at),
                                  '%Y-%m-%d') END AS period,
               p.media_type, p.platform, count(*), sum(p.spent_s) / 3600.0
        FROM plays p
        CROSS JOIN (VALUES (0, 'all'), (1, 'year'), (2, 'month'), (3, 'week'), (4, 'day')) AS g(o, grain)
        GROUP BY g.o, g.grain, period, p.media_type, p.platform
        ORDER BY g.o, period, p.media_type, p.platform
        """,
        user_id,
        year,
    )
    totals = [Total(str(t), str(p), int(n), float(h)) for g, _, t, p, n, h in rows if g == "all"]
    periods = [
        PeriodTotal(str(g), str(d), str(t), str(p), int(n), float(h))
        for g, d, t, p, n, h in rows
        if g != "all"
    ]
    return totals, periods


def top_items(
    con: duckdb.DuckDBPyConnection, user_id: str, year: int | None = None, limit: int = TOP_N
) -> list[TopEntry]:
    """The top `limit` creators, titles (per creator) and tags, by real plays and by hours."""
    rows = _run(
        con,
        """
        , named AS (
            SELECT 'creator' AS kind, creator AS name, NULL::VARCHAR AS creator, spent_s
            FROM plays WHERE coalesce(creator, '') <> ''
            UNION ALL
            SELECT 'title', title, creator, spent_s FROM plays
            UNION ALL
            SELECT 'tag', unnest(list_distinct(tags)), NULL::VARCHAR, spent_s FROM plays
        ),
        summed AS (
            SELECT kind, name, creator, count(*) AS plays, sum(spent_s) / 3600.0 AS hours
            FROM named GROUP BY kind, name, creator
        ),
        ranked AS (
            SELECT kind, 'plays' AS ranked_by, name, creator, plays, hours,
                   row_number() OVER (PARTITION BY kind ORDER BY plays DESC, hours DESC, name, creator NULLS FIRST)
                       AS rank
            FROM summed
            UNION ALL
            SELECT kind, 'hours', name, creator, plays, hours,
                   row_number() OVER (PARTITION BY kind ORDER BY hours DESC, plays DESC, name, creator NULLS FIRST)
            FROM summed
        )
        SELECT kind, ranked_by, rank, name, creator, plays, hours FROM ranked
        WHERE rank <= $limit ORDER BY kind, ranked_by, rank
        """,
        user_id,
        year,
        limit=limit,
    )
    return [
        TopEntry(str(k), str(b), int(r), str(n), None if c is None else str(c), int(p), float(h))
        for k, b, r, n, c, p, h in rows
    ]


def listening_clock(con: duckdb.DuckDBPyConnection, user_id: str, year: int | None = None) -> list[ClockCell]:
    """Real plays per (ISO weekday, hour) of their local start; empty cells are left out."""
    rows = _run(
        con,
        "SELECT isodow(local_at), hour(local_at), count(*) FROM plays GROUP BY ALL ORDER BY ALL",
        user_id,
        year,
    )
    return [ClockCell(int(d), int(h), int(n)) for d, h, n in rows]


def binge_sessions(
    con: duckdb.DuckDBPyConnection, user_id: str, year: int | None = None
) -> list[BingeSession]:
    """Binges (see the module docstring), in the order they started."""
    rows = _run(
        con,
        """
        , episodes AS (
            SELECT raw_metadata ->> 'series' AS series, consumed_at, local_at, spent_s, tz, play_id,
                   epoch(consumed_at) AS start_s, epoch(consumed_at) + spent_s AS end_s
            FROM plays WHERE coalesce(raw_metadata ->> 'series', '') <> ''
        ),
        marked AS (
            SELECT *,
                   CASE WHEN start_s - lag(end_s) OVER w < $gap THEN 0 ELSE 1 END AS opens
            FROM episodes
            WINDOW w AS (PARTITION BY series ORDER BY consumed_at, play_id)
        ),
        numbered AS (
            SELECT *, sum(opens) OVER (PARTITION BY series ORDER BY consumed_at, play_id
                                       ROWS UNBOUNDED PRECEDING) AS session
            FROM marked
        )
        SELECT series, min(local_at),
               max(timezone(tz, consumed_at + to_seconds(spent_s))),
               count(*), sum(spent_s) / 3600.0
        FROM numbered
        GROUP BY series, session
        HAVING count(*) >= $min_episodes
        ORDER BY min(consumed_at), series
        """,
        user_id,
        year,
        gap=BINGE_GAP_S,
        min_episodes=BINGE_MIN_EPISODES,
    )
    return [BingeSession(str(s), a.isoformat(), b.isoformat(), int(n), float(h)) for s, a, b, n, h in rows]


def summarise_binges(sessions: list[BingeSession]) -> BingeSummary:
    if not sessions:
        return BingeSummary()
    longest = max(sessions, key=lambda s: s.episodes)  # the first of equals: the earliest
    per_series: dict[str, int] = {}
    for session in sessions:
        per_series[session.series] = per_series.get(session.series, 0) + 1
    return BingeSummary(len(sessions), longest.episodes, longest.series, dict(sorted(per_series.items())))


def streaks(con: duckdb.DuckDBPyConnection, user_id: str, year: int | None = None) -> Streaks:
    """The longest run of consecutive local days with a play (the earliest of equals), and
    the current one: the run that reaches today or yesterday in the user's time zone (none
    for a year that is over, or when the last play is older)."""
    row = first_row(
        con.execute(
            _SCOPE
            + """
            , days AS (SELECT DISTINCT CAST(local_at AS DATE) AS day FROM plays),
            islands AS (
                SELECT day, day - CAST(row_number() OVER (ORDER BY day) AS INTEGER) AS grp FROM days
            ),
            runs AS (SELECT count(*) AS n, min(day) AS first_day, max(day) AS last_day FROM islands GROUP BY grp)
            SELECT l.n, l.first_day, l.last_day, c.n, c.first_day, c.last_day
            FROM (SELECT * FROM runs ORDER BY n DESC, first_day LIMIT 1) AS l
            LEFT JOIN (
                SELECT * FROM runs
                WHERE last_day >= CAST(timezone((SELECT tz FROM zone), now()) AS DATE) - 1
                ORDER BY last_day DESC LIMIT 1
            ) AS c ON true
            """,
            {"user": user_id, "year": year},
        )
    )
    if row is None:
        return Streaks()
    current = (int(row[3]), row[4].isoformat(), row[5].isoformat()) if row[3] is not None else (0, None, None)
    return Streaks(int(row[0]), row[1].isoformat(), row[2].isoformat(), *current)


def discovery(con: duckdb.DuckDBPyConnection, user_id: str, year: int | None = None) -> list[Discovery]:
    """Per local month, the creators played there for the first time in the whole history."""
    rows = _run(
        con,
        """
        , firsts AS (
            SELECT creator, min(local_at) AS first_at FROM all_plays
            WHERE coalesce(creator, '') <> '' GROUP BY creator
        )
        SELECT strftime(first_at, '%Y-%m') AS month, count(*), list(creator ORDER BY creator)
        FROM firsts
        WHERE CAST($year AS INTEGER) IS NULL OR year(first_at) = CAST($year AS INTEGER)
        GROUP BY month ORDER BY month
        """,
        user_id,
        year,
    )
    return [Discovery(str(m), int(n), [str(c) for c in names]) for m, n, names in rows]


def skip_shares(con: duckdb.DuckDBPyConnection, user_id: str, year: int | None = None) -> list[SkipShare]:
    """Per platform, the share of music rows skipped, among rows whose source says."""
    rows = _run(
        con,
        """
        , judged AS (
            SELECT platform,
                   json_type(raw_metadata, '$.skipped') = 'BOOLEAN' OR time_spent_s IS NOT NULL AS known,
                   coalesce(json_type(raw_metadata, '$.skipped') = 'BOOLEAN'
                            AND TRY_CAST(raw_metadata ->> 'skipped' AS BOOLEAN), false)
                   OR coalesce(time_spent_s < $threshold, false) AS skipped
            FROM scoped_rows WHERE media_type = 'music'
        )
        SELECT platform, count(*), count(*) FILTER (WHERE known), count(*) FILTER (WHERE known AND skipped)
        FROM judged GROUP BY platform HAVING count(*) FILTER (WHERE known) > 0 ORDER BY platform
        """,
        user_id,
        year,
        threshold=SKIP_THRESHOLD_S,
    )
    return [SkipShare(str(p), int(n), int(k), int(s), int(s) / int(k)) for p, n, k, s in rows]


def completion(con: duckdb.DuckDBPyConnection, user_id: str, year: int | None = None) -> list[Completion]:
    """Average of time spent / duration (capped at 1) where both are known."""
    rows = _run(
        con,
        """
        SELECT platform, media_type, count(*), avg(least(time_spent_s / duration_s, 1.0))
        FROM scoped_rows WHERE time_spent_s IS NOT NULL AND duration_s > 0
        GROUP BY platform, media_type ORDER BY platform, media_type
        """,
        user_id,
        year,
    )
    return [Completion(str(p), str(t), int(n), float(a)) for p, t, n, a in rows]


def unified_counts(con: duckdb.DuckDBPyConnection, user_id: str, year: int | None = None) -> UnifiedCounts:
    """Stored music rows against the real plays they stand for."""
    row = first_row(
        con.execute(
            _SCOPE + "SELECT count(*), count(DISTINCT play_id) FROM scoped_rows WHERE media_type = 'music'",
            {"user": user_id, "year": year},
        )
    )
    rows, real = (int(row[0]), int(row[1])) if row else (0, 0)
    return UnifiedCounts(rows, real, rows - real)


def compute_metrics(con: duckdb.DuckDBPyConnection, user_id: str, year: int | None = None) -> Metrics:
    """Every metric of one user (and local calendar year, when given)."""
    totals, periods = time_spent(con, user_id, year)
    sessions = binge_sessions(con, user_id, year)
    return Metrics(
        user_id=user_id,
        year=year,
        timezone=user_timezone(con, user_id),
        totals=totals,
        time_spent=periods,
        top=top_items(con, user_id, year),
        clock=listening_clock(con, user_id, year),
        binge_sessions=sessions,
        binges=summarise_binges(sessions),
        streaks=streaks(con, user_id, year),
        discovery=discovery(con, user_id, year),
        skips=skip_shares(con, user_id, year),
        completion=completion(con, user_id, year),
        unified=unified_counts(con, user_id, year),
    )
