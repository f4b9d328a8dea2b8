"""Cross-source duplicates: a history whose real plays were counted by hand.

Sources stamp plays differently (an export's start, an API's end minus length, a
scrobble a few seconds in) and spell them differently; the rule in
warehouse/unified_plays.py must count each real play once, and never merge two real
plays (a song on repeat, two listens on one platform, another song at the same time).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mca_pipeline.core import MediaItem
from mca_pipeline.warehouse import SyncAttempt, Warehouse, store_sync
from mca_pipeline.warehouse.unified_plays import link_plays, linked_pairs

RANKS = {"spotify_export": 10, "spotify": 20, "lastfm": 30, "listenbrainz": 40}
T0 = datetime(2024, 5, 3, 18, 0, 0, tzinfo=UTC)


def play(
    platform: str, key: str, artist: str, title: str, seconds: float, spent: float | None = None
) -> MediaItem:
    return MediaItem(
        platform=platform,
        type="music",
        title=title,
        creator=artist,
        consumed_at=T0 + timedelta(seconds=seconds),
        time_spent=timedelta(seconds=spent) if spent is not None else None,
        external_id=key,
    )


HISTORY = [
    # A, heard in full: four sources, four spellings and stamps -> 1 real play
    play("spotify_export", "exp-a1", "Marla Venn", "Lantern Street", 0, 214),
    play("spotify", "api-a1", "Marla Venn", "Lantern Street", 0.4),
    play("lastfm", "lfm-a1", "Marla Venn", "Lantern Street (Remastered 2011)", 5),
    play("listenbrainz", "lb-a1", "MARLA VENN", "Lantern Street", 3),
    # A again right after (on repeat) -> a second real play, not merged with the first
    play("spotify_export", "exp-a2", "Marla Venn", "Lantern Street", 220, 214),
    play("spotify", "api-a2", "Marla Venn", "Lantern Street", 221),
    play("lastfm", "lfm-a2", "Marla Venn", "Lantern Street", 225),
    # B, skipped after 30 s, spelled without accent and as "- Live" by Last.fm -> 1
    play("spotify_export", "exp-b", "Beyoncé", "Halo", 440, 30),
    play("lastfm", "lfm-b", "Beyonce", "Halo - Live", 442),
    # C only scrobbled -> 1; D another song at A's time -> 1
    play("lastfm", "lfm-c", "The Quiet Hours", "Paper Boats", 480),
    play("lastfm", "lfm-d", "Marla Venn", "Night Ferry", 10),
    # A the next day, export only -> 1
    play("spotify_export", "exp-a3", "Marla Venn", "Lantern Street", 86_400, 214),
    # E listened twice on one platform 30 s apart -> 2 (one platform never merges)
    play("listenbrainz", "lb-e1", "Odo Kline", "Telegraph Hill", 600),
    play("listenbrainz", "lb-e2", "Odo Kline", "Telegraph Hill", 630),
]


def store(warehouse: Warehouse, items: list[MediaItem]) -> None:
    with warehouse.connect() as con:
        for platform in {i.platform for i in items}:
            attempt = SyncAttempt("alice", platform, T0, "", "c", False)
            store_sync(con, attempt, [i for i in items if i.platform == platform])


def keys(warehouse: Warehouse) -> dict[str, str]:
    with warehouse.connect() as con:
        return dict(
            con.execute("SELECT external_id, play_key FROM unified_plays WHERE user_id = 'alice'").fetchall()
        )


def test_each_real_play_counts_once(warehouse: Warehouse) -> None:
    store(warehouse, HISTORY)
    with warehouse.connect() as con:
        assert link_plays(con, "alice", RANKS) == (14, 8)
    got = keys(warehouse)
    for key in ("exp-a1", "api-a1", "lfm-a1", "lb-a1"):
        assert got[key] == "spotify_export:exp-a1", key
    for key in ("exp-a2", "api-a2", "lfm-a2"):
        assert got[key] == "spotify_export:exp-a2", key
    assert got["lfm-b"] == "spotify_export:exp-b"
    for alone in ("lfm-c", "lfm-d", "exp-a3", "lb-e1", "lb-e2"):
        assert got[alone].endswith(":" + alone)


def test_a_row_names_the_row_it_matched_exactly_when_its_play_is_another_rows(warehouse: Warehouse) -> None:
    # The metrics find the linked rows by `linked_to` alone (a NULL test, not a key built
    # per row); that holds only if the two always agree, links followed transitively too.
    store(warehouse, HISTORY)
    with warehouse.connect() as con:
        link_plays(con, "alice", RANKS)
        rows = con.execute(
            "SELECT external_id, play_key <> platform || ':' || external_id, linked_to IS NOT NULL FROM unified_plays"
        ).fetchall()
    keyed_elsewhere = sorted(key for key, elsewhere, _ in rows if elsewhere)
    assert keyed_elsewhere == sorted(key for key, _, matched in rows if matched)
    assert keyed_elsewhere == sorted(["api-a1", "lfm-a1", "lb-a1", "api-a2", "lfm-a2", "lfm-b"])


def test_the_preferred_source_is_the_key_and_the_others_are_listed(warehouse: Warehouse) -> None:
    store(warehouse, HISTORY)
    with warehouse.connect() as con:
        link_plays(con, "alice", RANKS)
        pairs = linked_pairs(con, "alice")
    assert pairs == [
        ("lastfm", "spotify_export", 3),
        ("listenbrainz", "spotify_export", 1),
        ("spotify", "spotify_export", 2),
    ]


def test_relinking_is_idempotent_and_follows_new_data(warehouse: Warehouse) -> None:
    store(warehouse, HISTORY[:3])
    with warehouse.connect() as con:
        assert link_plays(con, "alice", RANKS) == (3, 1)
        assert link_plays(con, "alice", RANKS) == (3, 1)
    store(warehouse, HISTORY[3:])
    with warehouse.connect() as con:
        assert link_plays(con, "alice", RANKS) == (14, 8)


def test_other_users_and_media_are_left_out(warehouse: Warehouse) -> None:
    store(warehouse, HISTORY)
    with warehouse.connect() as con:
        store_sync(con, SyncAttempt("bob", "lastfm", T0, "", "c", False), [HISTORY[2]])
        store_sync(
            con,
            SyncAttempt("alice", "netflix", T0, "", "c", False),
            [
                MediaItem(
                    platform="netflix",
                    type="video",
                    title="Lantern Street",
                    creator="Marla Venn",
                    consumed_at=T0,
                    external_id="n1",
                )
            ],
        )
        assert link_plays(con, "alice", RANKS) == (14, 8)
        assert link_plays(con, "bob", RANKS) == (1, 1)


def test_names_in_other_scripts_are_matched_by_their_letters(warehouse: Warehouse) -> None:
    """Normalising once kept only a-z and 0-9: every CJK artist became "" and two
    different artists' songs with one title ("曲 4" by 周杰倫 and by 아이유) were one play."""
    store(
        warehouse,
        [
            play("spotify_export", "zhou", "周杰倫", "曲 4", 0, 200),
            play("lastfm", "iu", "아이유", "曲 4", 20),
            play("spotify_export", "yonezu", "米津玄師", "Lemon", 1000, 250),
            play("lastfm", "yonezu-l", "米津玄師", "Lemon (Live)", 1030),
        ],
    )
    with warehouse.connect() as con:
        assert link_plays(con, "alice", RANKS) == (4, 3)
    got = keys(warehouse)
    assert got["iu"] == "lastfm:iu"
    assert got["yonezu-l"] == "spotify_export:yonezu"
