"""A year of video only, none of it with a time spent, reviewed from the warehouse up.

The user "vid" lives in Asia/Tokyo (UTC+9, no daylight saving). Nothing below carries a
time spent, so every hour is an estimate: the item's length where an enrichment found
one, else the source's typical length (the plugins' `typical_length_s`: a TikTok video
30 s, a Netflix title without a series 6,000 s), else the kind's (a video 600 s, an
episode of a series 2,700 s).

  2020  youtube_takeout  LinusTechTips x2                       2 x 600 s
  2021  youtube_takeout  Kurzgesagt "The Egg" Wed 02-03 20:00   900 s (YouTube duration)
                         Kurzgesagt Thu 02-04 20:00             600 s
                         LinusTechTips Mon 03-01 12:00          600 s
        tiktok           4 videos, Sat 04-10 22:00-22:03        4 x 30 s
        netflix          Dark, 3 episodes, Sat 06-05 00:00      3 x 2,700 s (simple export: a date)
                         Roma, Fri 06-11 00:00                  6,000 s

2021: 8 videos (3 + 4 + 1) and 3 episodes; 2,100 + 120 + 6,000 + 8,100 = 16,320 s,
all estimated. The year before: 2 videos, 1,200 s.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mca_pipeline.analysis.insights import build_insights
from mca_pipeline.analysis.sources import Sources
from mca_pipeline.core import MediaItem
from mca_pipeline.plugins import build_registry
from mca_pipeline.warehouse import SyncAttempt, Warehouse, store_sync
from mca_pipeline.warehouse.enrichment import save_universal_tags
from mca_pipeline.warehouse.metrics import BusiestDay, KindTotal, NewFavourite, Total, set_user_timezone

H = 3600.0


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def video(platform: str, key: str, when: str, title: str, creator: str | None, **extra: object) -> MediaItem:
    duration = extra.pop("duration", None)
    return MediaItem(
        platform=platform,
        type="video",
        title=title,
        creator=creator,
        consumed_at=at(when),
        duration=timedelta(seconds=float(duration)) if duration is not None else None,  # type: ignore[arg-type]
        external_id=key,
        raw_metadata=dict(extra),
    )


HISTORY = [
    video("youtube_takeout", "y0", "2020-05-10T12:00", "Why I left", "LinusTechTips"),
    video("youtube_takeout", "y00", "2020-06-01T12:00", "Building a PC", "LinusTechTips"),
    video("youtube_takeout", "y1", "2021-02-03T11:00", "The Egg", "Kurzgesagt", duration=900),
    video("youtube_takeout", "y2", "2021-02-04T11:00", "Black Holes", "Kurzgesagt"),
    video("youtube_takeout", "y3", "2021-03-01T03:00", "Server room tour", "LinusTechTips"),
    *[video("tiktok", f"t{n}", f"2021-04-10T13:0{n}", f"TikTok video 70{n}", None) for n in range(4)],
    *[
        video("netflix", f"n{n}", "2021-06-04T15:00", f"Dark: Season 1: {name}", None, series="Dark")
        for n, name in enumerate(("Secrets", "Lies", "Past and Present"))
    ],
    video("netflix", "n9", "2021-06-10T15:00", "Roma", None),
]
TAGS = {
    "n0": ("thriller", "dark"),
    "n1": ("thriller", "dark"),
    "n2": ("thriller", "dark"),
    "y1": ("science", "curious"),
}


@pytest.fixture
def vid(warehouse: Warehouse) -> Warehouse:
    with warehouse.connect() as con:
        for platform in sorted({i.platform for i in HISTORY}):
            attempt = SyncAttempt("vid", platform, at("2022-01-01T00:00"), "", "c", False)
            store_sync(con, attempt, [i for i in HISTORY if i.platform == platform])
        set_user_timezone(con, "vid", "Asia/Tokyo")
        platform_of = {i.external_id: i.platform for i in HISTORY}
        tagged = {
            (platform_of[key], key): {"genre": [genre], "mood": [mood], "topic": [], "language": None}
            for key, (genre, mood) in TAGS.items()
        }
        save_universal_tags(con, "vid", tagged, {})
    return warehouse


def review(warehouse: Warehouse, tmp_path, year: int | None = 2021):  # type: ignore[no-untyped-def]
    [insight] = build_insights(warehouse, tmp_path, "vid", [year], Sources.of(build_registry()))
    return insight


def test_every_view_counts_with_its_time_estimated(vid: Warehouse, tmp_path) -> None:  # type: ignore[no-untyped-def]
    m = review(vid, tmp_path).metrics
    assert m.totals == [
        Total("video", "netflix", 3, pytest.approx(8100 / H), "episode", pytest.approx(8100 / H)),
        Total("video", "netflix", 1, pytest.approx(6000 / H), "video", pytest.approx(6000 / H)),
        Total("video", "tiktok", 4, pytest.approx(120 / H), "video", pytest.approx(120 / H)),
        Total("video", "youtube_takeout", 3, pytest.approx(2100 / H), "video", pytest.approx(2100 / H)),
    ]
    by_kind = {
        (e.within, e.by, e.rank): (e.name, e.plays, round(e.hours * H)) for e in m.top if e.kind == "creator"
    }
    # Series and channels reach the top lists; Roma and the TikToks name no one.
    assert by_kind["episode", "hours", 1] == ("Dark", 3, 8100)
    assert by_kind["video", "hours", 1] == ("Kurzgesagt", 2, 1500)
    assert by_kind["video", "hours", 2] == ("LinusTechTips", 1, 600)
    assert ("video", "hours", 3) not in by_kind
    assert by_kind["", "hours", 1] == ("Dark", 3, 8100)
    genres = [(e.name, e.plays, round(e.hours * H)) for e in m.top if e.kind == "genre" and e.by == "hours"]
    assert genres == [("thriller", 3, 8100), ("science", 1, 900)]
    assert [e.name for e in m.top if e.kind == "mood" and e.by == "plays"] == ["dark", "curious"]


def test_the_year_against_the_one_before_and_what_is_most_you(vid: Warehouse, tmp_path) -> None:  # type: ignore[no-untyped-def]
    insight = review(vid, tmp_path)
    m, data = insight.metrics, insight.data
    assert m.previous_year == [KindTotal("video", 2, pytest.approx(1200 / H))]
    # By hours in 2021: Dark 8,100 s, Kurzgesagt 1,500 s, LinusTechTips 600 s (heard in 2020).
    assert m.new_favourites == [
        NewFavourite("Dark", "episode", "2021-06-05", 3, pytest.approx(2.25), 1),
        NewFavourite("Kurzgesagt", "video", "2021-02-03", 2, pytest.approx(1500 / H), 2),
    ]
    assert m.busiest_day == BusiestDay("2021-06-05", 3, pytest.approx(2.25))
    # The four TikToks started on Saturday at 22:00 in Tokyo (13:00 UTC): the most-you hour.
    assert data.peak_slot == (5, 22, 4)
    # Three episodes of Dark on one date of the simple export: one sitting.
    assert (m.binges.count, m.binges.longest_series, m.binges.longest_episodes) == (1, "Dark", 3)
    assert data.views_by_kind == {"episode": 3, "video": 8}
    assert data.estimated_hours == pytest.approx(16320 / H)


def test_a_video_only_year_reads_as_one(vid: Warehouse, tmp_path) -> None:  # type: ignore[no-untyped-def]
    html = review(vid, tmp_path).report.read_text(encoding="utf-8")
    assert "No plays" not in html and "Nothing in 2021" not in html
    assert "3 episodes, 8 videos · 4.5 hours (4.5 estimated)" in html
    assert "hours in total, 4.5 of them estimated" in html
    for line in (
        "Most you: Saturdays at 22:00 (4 started then, Asia/Tokyo)",
        "Busiest day: 2021-06-05, 2.2 hours over 3 views",
        "Longest binge: 3 episodes of Dark in one sitting",
        "New favourite: Dark (series, first on 2021-06-05; 2.2 h this year)",
        "Top genres: thriller, science",
        "All 4.5 hours are estimated",
    ):
        assert line in html
    # The year before had 1,200 s of video: +2.25 h of series, +1.95 h of video.
    assert "Against 2020: more series (+2.2 h), more video (+2.0 h)" in html
    top_series = html.split('id="top-episode"')[1].split("</table>")[0]
    assert "Dark" in top_series
    top_channels = html.split('id="top-video"')[1].split("</table>")[0]
    assert top_channels.index("Kurzgesagt") < top_channels.index("LinusTechTips")
    assert 'id="top-music"' not in html
    # Sources by the names people know, in the tables and the charts' data.
    assert "YouTube — Google Takeout" in html and "youtube_takeout" not in html


def test_a_year_with_nothing_dated_says_nothing_yet(vid: Warehouse, tmp_path) -> None:  # type: ignore[no-untyped-def]
    html = review(vid, tmp_path, 2019).report.read_text(encoding="utf-8")
    assert "Nothing in 2019 yet" in html
