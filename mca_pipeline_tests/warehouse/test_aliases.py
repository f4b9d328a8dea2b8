"""A user's aliases and "not the same play" rules: obeyed by the linking and the metrics,
kept for every recompute, and each link explained.

ada's history (UTC; ranks: spotify_export 10 before lastfm 30):

  s1  spotify_export  2024-01-01 10:00:00  Beyoncé  - Halo          200 s
  l1  lastfm          2024-01-01 10:00:40  Beyonce  - Halo (Live)   (normalised: beyonce / halo)
  s2  spotify_export  2024-01-02 09:00:00  Beyoncé  - Halo          180 s
  l2  lastfm          2024-01-02 09:01:00  Queen B  - Halo          (another artist, until an alias)

bob has a play by "Queen B" too; ada's alias is not his.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from mca_pipeline.core import MediaItem
from mca_pipeline.warehouse import SyncAttempt, Warehouse, store_sync
from mca_pipeline.warehouse.aliases import add_alias, keep_apart, list_aliases, merges, remove_alias
from mca_pipeline.warehouse.metrics import compute_metrics
from mca_pipeline.warehouse.unified_plays import link_plays

RANKS = {"spotify_export": 10, "lastfm": 30}


def song(
    platform: str, key: str, when: str, artist: str, title: str, spent: float | None = None
) -> MediaItem:
    return MediaItem(
        platform=platform,
        type="music",
        title=title,
        creator=artist,
        consumed_at=datetime.fromisoformat(when).replace(tzinfo=UTC),
        time_spent=timedelta(seconds=spent) if spent is not None else None,
        external_id=key,
    )


HISTORY = {
    "ada": [
        song("spotify_export", "s1", "2024-01-01T10:00:00", "Beyoncé", "Halo", 200),
        song("lastfm", "l1", "2024-01-01T10:00:40", "Beyonce", "Halo (Live)"),
        song("spotify_export", "s2", "2024-01-02T09:00:00", "Beyoncé", "Halo", 180),
        song("lastfm", "l2", "2024-01-02T09:01:00", "Queen B", "Halo"),
    ],
    "bob": [song("lastfm", "b1", "2024-01-02T09:01:00", "Queen B", "Halo")],
}


@pytest.fixture
def wh(warehouse: Warehouse) -> Warehouse:
    with warehouse.connect() as con:
        for user, items in HISTORY.items():
            for platform in sorted({i.platform for i in items}):
                attempt = SyncAttempt(user, platform, datetime(2024, 2, 1, tzinfo=UTC), "", "c", False)
                store_sync(con, attempt, [i for i in items if i.platform == platform])
            link_plays(con, user, RANKS)
    return warehouse


def creators(con, user: str = "ada") -> list[tuple[str, int]]:  # type: ignore[no-untyped-def]
    top = compute_metrics(con, user).top
    return [(e.name, e.plays) for e in top if e.kind == "creator" and e.by == "plays" and e.within == ""]


def links(con, user: str = "ada") -> dict[str, str]:  # type: ignore[no-untyped-def]
    rows = con.execute(
        "SELECT platform || ':' || external_id, play_key FROM unified_plays WHERE user_id = ? "
        "AND play_key <> platform || ':' || external_id",
        [user],
    ).fetchall()
    return dict(rows)


def test_each_link_says_why(wh: Warehouse) -> None:
    with wh.connect() as con:
        [merge] = merges(con, "ada")
        assert merges(con, "ada", row="spotify_export:s1") == [merge]
        assert merges(con, "ada", row="spotify_export:s2") == []
    assert (merge.row, merge.play_key, merge.linked_to) == (
        "lastfm:l1",
        "spotify_export:s1",
        "spotify_export:s1",
    )
    assert (merge.title, merge.kept_title, merge.seconds_apart) == ("Halo (Live)", "Halo", 40.0)
    assert merge.rule == (
        "the same artist and title once normalised (beyonce / halo), 40 s apart (within 300 s); "
        "spotify_export is preferred to lastfm (source preference 10 before 30)"
    )


def test_an_alias_joins_spellings_in_the_links_and_the_top_lists(wh: Warehouse) -> None:
    with wh.connect() as con:
        # Before: l2 by "Queen B" is its own play; Beyoncé has s1 (with l1) and s2.
        assert links(con) == {"lastfm:l1": "spotify_export:s1"}
        assert creators(con) == [("Beyoncé", 2), ("Queen B", 1)]

        add_alias(con, "ada", "artist", "  queen b ", "Beyoncé")
        assert link_plays(con, "ada", RANKS) == (4, 2)
        assert links(con) == {"lastfm:l1": "spotify_export:s1", "lastfm:l2": "spotify_export:s2"}
        assert creators(con) == [("Beyoncé", 2)]
        [l2] = merges(con, "ada", row="lastfm:l2")
        assert "counting your aliases" in (l2.rule or "") and l2.seconds_apart == 60.0
        # Recomputing again changes nothing; bob's "Queen B" stays his.
        assert link_plays(con, "ada", RANKS) == (4, 2)
        assert creators(con, "bob") == [("Queen B", 1)]

        assert remove_alias(con, "ada", "artist", "Queen B")
        link_plays(con, "ada", RANKS)
        assert creators(con) == [("Beyoncé", 2), ("Queen B", 1)]
        assert list_aliases(con, "ada") == []


def test_two_rows_said_to_be_two_plays_stay_two(wh: Warehouse) -> None:
    with wh.connect() as con:
        keep_apart(con, "ada", "spotify_export:s1", "lastfm:l1")
        keep_apart(con, "ada", "lastfm:l1", "spotify_export:s1")  # said twice: one rule
        assert link_plays(con, "ada", RANKS) == (4, 4)
        assert links(con) == {}
        # l1 now counts on its own, credited to its own spelling.
        assert creators(con) == [("Beyoncé", 2), ("Beyonce", 1), ("Queen B", 1)]
        assert con.execute("SELECT count(*) FROM separate_plays").fetchone() == (1,)


def test_rules_are_refused_when_they_cannot_mean_anything(wh: Warehouse) -> None:
    with wh.connect() as con:
        with pytest.raises(ValueError, match="artist or a title"):
            add_alias(con, "ada", "album", "x", "y")
        with pytest.raises(ValueError, match="already the same"):
            add_alias(con, "ada", "artist", "BEYONCÉ ", "Beyoncé")
        with pytest.raises(ValueError, match="at most 500 characters"):
            add_alias(con, "ada", "artist", "x" * 501, "Beyoncé")
        # Odd but short text is a name like any other: stored, matched by its letters.
        odd = add_alias(con, "ada", "title", "Halo\u200f\x00", "Halo")
        assert (odd.spelling, odd.canonical) == ("halo\u200f\x00", "Halo")
        with pytest.raises(ValueError, match="not two stored rows"):
            keep_apart(con, "ada", "spotify_export:s1", "lastfm:b1")  # bob's row
