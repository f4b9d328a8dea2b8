"""Analysis metrics on a history whose answers were worked out by hand.

The user "ada" lives in Europe/Berlin: CET (UTC+1) until 2024-03-31 01:00 UTC, when the
clocks jump from 02:00 to 03:00, then CEST (UTC+2). All stamps below are UTC starts;
the local time is written next to each.

  key  platform        when (UTC)            local (Berlin)              what
  s1   spotify_export  2023-12-31 22:30      Sun 2023-12-31 23:30 (CET)  Marla Venn - Lantern Street, 200 s
  s2   spotify_export  2023-12-31 23:30      Mon 2024-01-01 00:30 (CET)  Odo Kline - Telegraph Hill, 180 s
  s3   spotify_export  2024-03-30 23:30      Sun 2024-03-31 00:30 (CET)  Marla Venn - Lantern Street, 240/300 s
  s4   spotify_export  2024-03-31 01:30      Sun 2024-03-31 03:30 (CEST) Marla Venn - Night Ferry, 20 s, skipped
  s5   spotify_export  2024-04-01 10:00      Mon 12:00                   The Quiet Hours - Paper Boats, 25 s
  s6   spotify_export  2024-04-01 10:05      Mon 12:05                   Marla Venn - Lantern Street, 240/240 s
  l1   lastfm          2024-04-01 10:05:10   Mon 12:05                   = s6 (a scrobble of the same play)
  l2   lastfm          2024-04-20 16:00      Sat 18:00                   Odo Kline - Harbour Lights, no time
  Dark Harbour (netflix, 45 min each): Tue 04-02 18:00, 18:50, 19:40, 20:50 UTC (local 20:00,
      20:50, 21:40, 22:50) and 22:05 UTC (local Wed 04-03 00:05)
  Slow Tide (netflix, 30 min each): Thu 04-04 12:00, 12:40 UTC (local 14:00, 14:40)
  Glass Cities (netflix, 30 min each): Fri 04-05 19:00, 19:45, 20:30 UTC (local 21:00, 21:45, 22:30)
  article (pocket, Ines Roth, 600 s): Sat 04-06 08:00 UTC (local 10:00)
  podcast (pocketcasts, The Long Walk, 1800 of 3600 s): Sun 04-07 06:00 UTC (local 08:00)
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from mca_pipeline.core import MediaItem
from mca_pipeline.warehouse import SyncAttempt, Warehouse, store_sync
from mca_pipeline.warehouse.metrics import (
    BingeSession,
    ClockCell,
    Completion,
    Discovery,
    Metrics,
    SkipShare,
    Streaks,
    Total,
    UnifiedCounts,
    compute_metrics,
    compute_metrics_for_users,
    set_user_timezone,
    user_timezone,
)
from mca_pipeline.warehouse.unified_plays import link_plays

RANKS = {"spotify_export": 10, "lastfm": 30}
H = 3600.0


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def song(
    platform: str,
    key: str,
    when: str,
    artist: str,
    title: str,
    spent: float | None = None,
    *,
    duration: float | None = None,
    skipped: bool | None = None,
    tags: tuple[str, ...] = (),
) -> MediaItem:
    raw: dict[str, object] = {}
    if skipped is not None:
        raw = {"skipped": skipped, "reason_end": "fwdbtn" if skipped else "trackdone"}
    return MediaItem(
        platform=platform,
        type="music",
        title=title,
        creator=artist,
        consumed_at=at(when),
        time_spent=timedelta(seconds=spent) if spent is not None else None,
        duration=timedelta(seconds=duration) if duration is not None else None,
        tags=tags,
        external_id=key,
        raw_metadata=raw,
    )


def episode(series: str, number: int, when: str, minutes: float) -> MediaItem:
    return MediaItem(
        platform="netflix",
        type="video",
        title=f"{series}: Season 1: Episode {number}",
        consumed_at=at(when),
        time_spent=timedelta(minutes=minutes),
        tags=("drama",),
        external_id=f"{series}|{number}",
        raw_metadata={"series": series, "season": "Season 1"},
    )


FOLK = ("folk",)
HISTORY = [
    song(
        "spotify_export",
        "s1",
        "2023-12-31T22:30",
        "Marla Venn",
        "Lantern Street",
        200,
        skipped=False,
        tags=FOLK,
    ),
    song(
        "spotify_export",
        "s2",
        "2023-12-31T23:30",
        "Odo Kline",
        "Telegraph Hill",
        180,
        skipped=False,
        tags=("jazz",),
    ),
    song(
        "spotify_export",
        "s3",
        "2024-03-30T23:30",
        "Marla Venn",
        "Lantern Street",
        240,
        duration=300,
        skipped=False,
        tags=FOLK,
    ),
    song(
        "spotify_export", "s4", "2024-03-31T01:30", "Marla Venn", "Night Ferry", 20, skipped=True, tags=FOLK
    ),
    song(
        "spotify_export",
        "s5",
        "2024-04-01T10:00",
        "The Quiet Hours",
        "Paper Boats",
        25,
        skipped=False,
        tags=("folk", "indie"),
    ),
    song(
        "spotify_export",
        "s6",
        "2024-04-01T10:05",
        "Marla Venn",
        "Lantern Street",
        240,
        duration=240,
        skipped=False,
        tags=FOLK,
    ),
    song("lastfm", "l1", "2024-04-01T10:05:10", "Marla Venn", "Lantern Street"),
    song("lastfm", "l2", "2024-04-20T16:00", "Odo Kline", "Harbour Lights"),
    # Dark Harbour: gaps 5, 5 and 25 min -> one session of 4 (a binge); the 5th starts
    # exactly 30 min after the 4th ends (20:50 + 45 = 21:35, 22:05) -> a session of 1.
    episode("Dark Harbour", 1, "2024-04-02T18:00", 45),
    episode("Dark Harbour", 2, "2024-04-02T18:50", 45),
    episode("Dark Harbour", 3, "2024-04-02T19:40", 45),
    episode("Dark Harbour", 4, "2024-04-02T20:50", 45),
    episode("Dark Harbour", 5, "2024-04-02T22:05", 45),
    # Slow Tide: two episodes 10 min apart -> a session of 2, not a binge.
    episode("Slow Tide", 1, "2024-04-04T12:00", 30),
    episode("Slow Tide", 2, "2024-04-04T12:40", 30),
    # Glass Cities: gaps 15 and 15 min -> a binge of 3.
    episode("Glass Cities", 1, "2024-04-05T19:00", 30),
    episode("Glass Cities", 2, "2024-04-05T19:45", 30),
    episode("Glass Cities", 3, "2024-04-05T20:30", 30),
    MediaItem(
        platform="pocket",
        type="article",
        title="How Tides Work",
        creator="Ines Roth",
        consumed_at=at("2024-04-06T08:00"),
        time_spent=timedelta(seconds=600),
        tags=("science",),
        external_id="a1",
    ),
    MediaItem(
        platform="pocketcasts",
        type="podcast",
        title="The Salt Roads",
        creator="The Long Walk",
        consumed_at=at("2024-04-07T06:00"),
        duration=timedelta(seconds=3600),
        time_spent=timedelta(seconds=1800),
        tags=("history",),
        external_id="p1",
    ),
]


def store(warehouse: Warehouse, user: str, items: list[MediaItem]) -> None:
    with warehouse.connect() as con:
        for platform in sorted({i.platform for i in items}):
            attempt = SyncAttempt(user, platform, at("2024-05-01T00:00"), "", "c", False)
            store_sync(con, attempt, [i for i in items if i.platform == platform])


@pytest.fixture
def ada(warehouse: Warehouse) -> Warehouse:
    store(warehouse, "ada", HISTORY)
    with warehouse.connect() as con:
        set_user_timezone(con, "ada", "Europe/Berlin")
        # l1 is the same real play as s6: 8 music rows, 7 real plays.
        assert link_plays(con, "ada", RANKS) == (8, 7)
    return warehouse


def metrics(warehouse: Warehouse, user: str = "ada", year: int | None = None) -> Metrics:
    with warehouse.connect() as con:
        return compute_metrics(con, user, year)


def r(hours: float) -> float:
    return round(hours, 9)


def top(m: Metrics, kind: str, by: str, within: str = "") -> list[tuple[str, int, float]]:
    return [
        (e.name, e.plays, r(e.hours)) for e in m.top if e.kind == kind and e.by == by and e.within == within
    ]


def test_top_artist_counts_each_real_play_once(ada: Warehouse) -> None:
    m = metrics(ada)
    # A series is credited like an artist: Dark Harbour 5 episodes x 45 min = 3.75 h,
    # Glass Cities 3 x 30 min, Slow Tide 2 x 30 min.
    # Marla Venn: s1, s3, s4, s6 (+ l1, the same play as s6) = 4 plays,
    # 200 + 240 + 20 + 240 = 700 s. Odo Kline: s2 + l2 = 2 plays, 180 s + 210 s (l2 has
    # no time: a song's typical length, an estimate) = 390 s, after Slow Tide's hour.
    # The three with one play are ordered by hours: 1800 s, 600 s, 25 s.
    assert top(m, "creator", "plays") == [
        ("Dark Harbour", 5, 3.75),
        ("Marla Venn", 4, r(700 / H)),
        ("Glass Cities", 3, 1.5),
        ("Slow Tide", 2, 1.0),
        ("Odo Kline", 2, r(390 / H)),
        ("The Long Walk", 1, r(1800 / H)),
        ("Ines Roth", 1, r(600 / H)),
        ("The Quiet Hours", 1, r(25 / H)),
    ]
    assert [name for name, _, _ in top(m, "creator", "hours")] == [
        "Dark Harbour",
        "Glass Cities",
        "Slow Tide",
        "The Long Walk",
        "Marla Venn",
        "Ines Roth",
        "Odo Kline",
        "The Quiet Hours",
    ]
    # Per kind: the artists, the series, the podcasts and the authors apart.
    assert [n for n, _, _ in top(m, "creator", "plays", "music")] == [
        "Marla Venn",
        "Odo Kline",
        "The Quiet Hours",
    ]
    assert top(m, "creator", "plays", "episode") == [
        ("Dark Harbour", 5, 3.75),
        ("Glass Cities", 3, 1.5),
        ("Slow Tide", 2, 1.0),
    ]
    assert top(m, "creator", "plays", "podcast") == [("The Long Walk", 1, 0.5)]
    assert top(m, "creator", "plays", "article") == [("Ines Roth", 1, r(600 / H))]
    assert top(m, "creator", "plays", "video") == []
    # Lantern Street: s1, s3, s6 (l1 merged) = 3 plays, 680 s.
    assert top(m, "title", "plays")[0] == ("Lantern Street", 3, r(680 / H))
    assert next(e for e in m.top if e.kind == "title" and e.by == "plays").creator == "Marla Venn"
    # drama: 10 episodes, 375 min; folk: s1 s3 s4 s6 s5 = 5 plays, 725 s; the rest 1 each.
    assert [(n, p) for n, p, _ in top(m, "tag", "plays")] == [
        ("drama", 10),
        ("folk", 5),
        ("history", 1),
        ("science", 1),
        ("jazz", 1),
        ("indie", 1),
    ]
    assert top(m, "tag", "hours")[:2] == [("drama", 10, 6.25), ("history", 1, 0.5)]


def test_hours_per_platform(ada: Warehouse) -> None:
    m = metrics(ada)
    # spotify_export: 200 + 180 + 240 + 20 + 25 + 240 = 905 s over 6 plays.
    # lastfm: l1 is s6's play (counted there), l2 has no time: 1 play, 210 s estimated.
    # netflix: 5 x 45 + 2 x 30 + 3 x 30 = 375 min = 6.25 h over 10 episodes.
    assert [
        (t.media_type, t.kind, t.platform, t.plays, r(t.hours), r(t.estimated_hours)) for t in m.totals
    ] == [
        ("article", "article", "pocket", 1, r(600 / H), 0.0),
        ("music", "music", "lastfm", 1, r(210 / H), r(210 / H)),
        ("music", "music", "spotify_export", 6, r(905 / H), 0.0),
        ("podcast", "podcast", "pocketcasts", 1, 0.5, 0.0),
        ("video", "episode", "netflix", 10, 6.25, 0.0),
    ]


def test_binge_sessions(ada: Warehouse) -> None:
    m = metrics(ada)
    # Dark Harbour 1-4: local 20:00 to 20:50 + 45 min = 21:35 UTC = 23:35 CEST, 4 x 45 min.
    # Glass Cities 1-3: local 21:00 to 20:30 + 30 min = 21:00 UTC = 23:00 CEST, 3 x 30 min.
    assert m.binge_sessions == [
        BingeSession("Dark Harbour", "2024-04-02T20:00:00", "2024-04-02T23:35:00", 4, 3.0),
        BingeSession("Glass Cities", "2024-04-05T21:00:00", "2024-04-05T23:00:00", 3, 1.5),
    ]
    assert m.binges.count == 2
    assert (m.binges.longest_episodes, m.binges.longest_series) == (4, "Dark Harbour")
    assert m.binges.per_series == {"Dark Harbour": 1, "Glass Cities": 1}


def test_a_binge_across_new_years_eve_is_one_binge_of_all_time_and_none_of_either_year(
    warehouse: Warehouse,
) -> None:
    # Four 40-minute episodes, 10 minutes apart, from 22:30 to 01:40 local (UTC+1):
    # two on 31 December, two on 1 January. Within each year only two are together.
    starts = ("2023-12-31T21:30", "2023-12-31T22:20", "2023-12-31T23:10", "2024-01-01T00:00")  # UTC
    store(warehouse, "bo", [episode("Night Ferry", n, start, 40) for n, start in enumerate(starts, start=1)])
    with warehouse.connect() as con:
        set_user_timezone(con, "bo", "Europe/Berlin")
    whole = metrics(warehouse, "bo")
    assert whole.binge_sessions == [
        BingeSession("Night Ferry", "2023-12-31T22:30:00", "2024-01-01T01:40:00", 4, pytest.approx(160 / 60))
    ]
    for year in (2023, 2024):
        assert metrics(warehouse, "bo", year).binge_sessions == [], year


def test_a_play_across_the_dst_change_lands_on_its_local_day_and_hour(ada: Warehouse) -> None:
    m = metrics(ada)
    # s3 at 23:30 UTC on Sat 30 March is 00:30 CET on Sunday 31 March (weekday 7, hour 0);
    # s4 at 01:30 UTC is 03:30 CEST (02:00-03:00 does not exist that night), not 02:30.
    # s1 at 22:30 UTC on 31 Dec 2023 is Sun 23:30; s2 at 23:30 UTC is Mon 1 Jan 00:30.
    assert m.clock == [
        ClockCell(1, 0, 1),  # s2
        ClockCell(1, 12, 2),  # s5, s6 (l1 is s6)
        ClockCell(2, 20, 2),  # Dark Harbour 1, 2
        ClockCell(2, 21, 1),  # Dark Harbour 3
        ClockCell(2, 22, 1),  # Dark Harbour 4
        ClockCell(3, 0, 1),  # Dark Harbour 5 (22:05 UTC Tue = 00:05 Wed)
        ClockCell(4, 14, 2),  # Slow Tide 1, 2
        ClockCell(5, 21, 2),  # Glass Cities 1, 2
        ClockCell(5, 22, 1),  # Glass Cities 3
        ClockCell(6, 10, 1),  # article
        ClockCell(6, 18, 1),  # l2
        ClockCell(7, 0, 1),  # s3: the DST night
        ClockCell(7, 3, 1),  # s4
        ClockCell(7, 8, 1),  # podcast
        ClockCell(7, 23, 1),  # s1
    ]
    days = {(p.period, p.platform): p for p in m.time_spent if p.grain == "day"}
    assert days["2024-03-31", "spotify_export"].plays == 2  # s3 and s4
    assert days["2024-03-31", "spotify_export"].hours == pytest.approx(260 / H)
    assert ("2024-03-30", "spotify_export") not in days
    months = {(p.period, p.platform): p.plays for p in m.time_spent if p.grain == "month"}
    assert months["2024-01-01", "spotify_export"] == 1  # s2, December in UTC
    assert months["2023-12-01", "spotify_export"] == 1  # s1
    weeks = {(p.period, p.media_type): p.plays for p in m.time_spent if p.grain == "week"}
    assert weeks["2024-03-25", "music"] == 2  # s3, s4: Sunday ends the ISO week of 25 March
    assert weeks["2024-04-01", "music"] == 2  # s5, s6


def test_changing_the_time_zone_moves_the_buckets(ada: Warehouse) -> None:
    with ada.connect() as con:
        set_user_timezone(con, "ada", "UTC")
        assert user_timezone(con, "ada") == "UTC"
        m = compute_metrics(con, "ada")
        with pytest.raises(ValueError, match="unknown time zone"):
            set_user_timezone(con, "ada", "Mars/Olympus_Mons")
    assert ClockCell(6, 23, 1) in m.clock  # s3 on Saturday 23:30 UTC
    assert {p.period for p in m.time_spent if p.grain == "day" and p.media_type == "music"} >= {"2024-03-30"}


def test_streaks_and_discovery(ada: Warehouse) -> None:
    m = metrics(ada)
    # Local days: 12-31, 01-01 | 03-31 (s3, s4), 04-01, 04-02, 04-03 (Dark Harbour 5),
    # 04-04, 04-05, 04-06, 04-07 = 8 days | 04-20 (l2), the last day, long past: no
    # current streak (a run is current only if it reaches today or yesterday).
    assert m.streaks == Streaks(8, "2024-03-31", "2024-04-07", 0, None, None)
    # First plays: Marla Venn s1 (Dec 2023), Odo Kline s2 (Jan 2024 local, Dec 2023 in UTC),
    # April: The Quiet Hours, Ines Roth, The Long Walk and the three series.
    assert m.discovery == [
        Discovery("2023-12", 1, ["Marla Venn"]),
        Discovery("2024-01", 1, ["Odo Kline"]),
        Discovery(
            "2024-04",
            6,
            ["Dark Harbour", "Glass Cities", "Ines Roth", "Slow Tide", "The Long Walk", "The Quiet Hours"],
        ),
    ]


def test_skips_completion_and_unified_plays(ada: Warehouse) -> None:
    m = metrics(ada)
    # spotify_export says for all 6 rows; s4 is flagged, s5 lasted 25 s < 30 s: 2 of 6.
    # lastfm says nothing (no flag, no time), so it is left out.
    assert m.skips == [SkipShare("spotify_export", 6, 6, 2, pytest.approx(1 / 3))]
    # s3 240/300 = 0.8 and s6 240/240 = 1.0 -> 0.9; the podcast 1800/3600 = 0.5.
    assert m.completion == [
        Completion("pocketcasts", "podcast", 1, 0.5),
        Completion("spotify_export", "music", 2, pytest.approx(0.9)),
    ]
    assert m.unified == UnifiedCounts(music_rows=8, real_plays=7, duplicates=1)


def test_year_is_the_users_local_year(ada: Warehouse) -> None:
    m = metrics(ada, year=2024)
    # s1 (23:30 on 31 Dec local) falls out; s2 (00:30 on 1 Jan local) stays in.
    assert Total("music", "spotify_export", 5, pytest.approx(705 / H), "music", 0.0) in m.totals
    assert ClockCell(7, 23, 1) not in m.clock and ClockCell(1, 0, 1) in m.clock
    assert {p.period for p in m.time_spent if p.grain == "year"} == {"2024-01-01"}
    assert m.streaks == Streaks(8, "2024-03-31", "2024-04-07", 0, None, None)
    # Marla Venn was first heard in 2023, so she is not new in 2024.
    assert [d.month for d in m.discovery] == ["2024-01", "2024-04"]
    assert m.skips == [SkipShare("spotify_export", 5, 5, 2, pytest.approx(0.4))]
    assert m.unified == UnifiedCounts(7, 6, 1)
    assert m.binges.count == 2

    old = metrics(ada, year=2023)
    assert old.totals == [Total("music", "spotify_export", 1, pytest.approx(200 / H), "music", 0.0)]
    assert old.clock == [ClockCell(7, 23, 1)]
    assert old.streaks == Streaks(1, "2023-12-31", "2023-12-31", 0, None, None)
    assert old.discovery == [Discovery("2023-12", 1, ["Marla Venn"])]
    assert old.binge_sessions == [] and old.binges.count == 0
    assert metrics(ada, year=2019).totals == []


def test_a_user_with_nothing_gets_empty_metrics(ada: Warehouse) -> None:
    m = metrics(ada, user="nobody")
    assert m.timezone == "UTC"
    assert (m.totals, m.time_spent, m.top, m.clock, m.binge_sessions, m.discovery) == ([], [], [], [], [], [])
    assert (m.skips, m.completion) == ([], [])
    assert m.binges.count == 0 and m.binges.per_series == {}
    assert m.streaks == Streaks()
    assert m.unified == UnifiedCounts(0, 0, 0)
    json.dumps(asdict(m))


def test_a_user_with_one_play(warehouse: Warehouse) -> None:
    # No time zone set: UTC. One Last.fm scrobble, no time, never linked.
    store(warehouse, "bob", [song("lastfm", "x", "2024-06-01T23:59", "Odo Kline", "Telegraph Hill")])
    m = metrics(warehouse, user="bob")
    assert m.timezone == "UTC"
    # A scrobble without a length: one play, a song's typical 210 s, all of it estimated.
    assert m.totals == [Total("music", "lastfm", 1, pytest.approx(210 / H), "music", pytest.approx(210 / H))]
    assert [(p.grain, p.period) for p in m.time_spent] == [
        ("year", "2024-01-01"),
        ("month", "2024-06-01"),
        ("week", "2024-05-27"),
        ("day", "2024-06-01"),
    ]
    assert m.clock == [ClockCell(6, 23, 1)]
    assert top(m, "creator", "plays") == [("Odo Kline", 1, r(210 / H))]
    assert m.streaks == Streaks(1, "2024-06-01", "2024-06-01", 0, None, None)
    assert m.discovery == [Discovery("2024-06", 1, ["Odo Kline"])]
    assert m.binge_sessions == [] and m.skips == [] and m.completion == []
    assert m.unified == UnifiedCounts(1, 1, 0)


def test_metrics_are_json_serialisable(ada: Warehouse) -> None:
    data = json.loads(json.dumps(asdict(metrics(ada, year=2024))))
    assert data["timezone"] == "Europe/Berlin"
    assert data["binges"]["per_series"] == {"Dark Harbour": 1, "Glass Cities": 1}


def test_the_current_streak_is_the_run_that_reaches_today_or_yesterday(warehouse: Warehouse) -> None:
    """Local days in Tokyo: today, yesterday and the day before (3 days, current), then a
    gap, then 5 days ending ten days ago (the longest, not current)."""
    zone = ZoneInfo("Asia/Tokyo")
    today = datetime.now(zone).replace(hour=12, minute=0, second=0, microsecond=0)
    days = [today - timedelta(days=n) for n in (0, 1, 2, *range(10, 15))]
    plays = [
        song(
            "spotify_export",
            f"t{n}",
            day.astimezone(UTC).strftime("%Y-%m-%dT%H:%M"),
            "Marla Venn",
            "Night Lines",
            200,
        )
        for n, day in enumerate(days)
    ]
    store(warehouse, "kai", plays)
    with warehouse.connect() as con:
        set_user_timezone(con, "kai", "Asia/Tokyo")
    streaks = metrics(warehouse, "kai").streaks
    local = [d.date().isoformat() for d in days]
    assert streaks == Streaks(5, local[-1], local[3], 3, local[2], local[0])


def test_many_users_at_once_get_what_each_gets_alone(ada: Warehouse) -> None:
    """One pass for several users and years gives each user exactly their own figures."""
    store(ada, "bob", [song("lastfm", "x", "2024-06-01T23:59", "Marla Venn", "Lantern Street")])
    with ada.connect() as con:
        together = compute_metrics_for_users(con, ["ada", "bob", "nobody"], [None, 2024, 2023])
        for user in ("ada", "bob", "nobody"):
            for year in (None, 2024, 2023):
                assert together[user, year] == compute_metrics(con, user, year)
    # bob's play is not ada's: her Marla Venn count stays 4.
    assert top(together["ada", None], "creator", "plays")[1] == ("Marla Venn", 4, r(700 / H))
    assert top(together["bob", None], "creator", "plays") == [("Marla Venn", 1, r(210 / H))]


def test_a_source_s_typical_length_replaces_the_kind_s(ada: Warehouse) -> None:
    # l2 (Last.fm, no time) takes 210 s by default; Last.fm saying 180 s for music wins.
    with ada.connect() as con:
        m = compute_metrics(con, "ada", typical_lengths={("lastfm", "music"): 180.0})
    lastfm = next(t for t in m.totals if t.platform == "lastfm")
    assert (lastfm.plays, r(lastfm.hours), r(lastfm.estimated_hours)) == (1, r(180 / H), r(180 / H))
