"""Linking the same real play seen by several sources, so that each play counts once.

Both rows stay in media_items as stored facts; `unified_plays` maps every music item of
a user to a `play_key` (the preferred source's "<platform>:<external_id>"), and a real
play is one distinct play_key.

The matching rule, in one statement over all of a user's music plays:

1. Artist and title are normalised: accents stripped, lower-cased, anything in
   parentheses or brackets dropped ("(Remastered 2011)", "[Live]"), a trailing
   " - Remastered ..."/" - Live ..."/" - ... Version|Edit|Mix" dropped, then only letters
   and digits (of any script: "米津玄師" stays itself) kept. "Beyoncé - Halo (Remastered)"
   and "beyonce halo" match.
2. Two plays from different platforms are candidates when both normalised fields are
   equal and their start times lie within a window: five minutes, or the longer of the
   two plays' lengths when that is more (sources stamp a play at its start, its end or
   when it was scrobbled).
3. Candidates are linked only as mutual nearest neighbours per pair of platforms (p's
   closest candidate on platform Q is q, and q's closest on p's platform is p), so a
   song on repeat pairs up play by play instead of collapsing into one.
4. Each play follows its link to the most preferred platform it matched (platforms are
   ranked by the caller, lower rank preferred), and links are followed transitively
   (a ListenBrainz listen linked to a Last.fm scrobble linked to a Spotify play all get
   the Spotify play's key).

Netflix viewings are linked the same way across its two export kinds (`_NETFLIX`): a
`NetflixViewingHistory.csv` row (a title and a local date) and a `ViewingActivity.csv`
session (a UTC start) are one viewing when the episode (series, season and episode title,
else the title) is the same and the session starts on that date, give or take a day for
the time zone. Each simple row takes the latest such session (the simple export lists a
title on the day it was last watched), one to one, and is keyed to it: the session has
the start time and the time watched.

Every linked row keeps why (`linked_to`: the row it matched; `rule`: the rule in words,
with the normalised names, the time apart and which source was preferred;
`seconds_apart`). The user's corrections (warehouse/aliases.py) are obeyed: an alias
makes two spellings of an artist or title one before normalising, and a pair of rows
said to be two plays is never a candidate.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa

from mca_pipeline.warehouse.transactions import retried, transaction

WINDOW_S = 300

# How an alias's spelling is matched: case and surrounding spaces do not count.
_SPELLING = "lower(trim({col}))"

_NORMALISE = r"""
    regexp_replace(
      regexp_replace(
        regexp_replace(
          regexp_replace(lower(strip_accents(coalesce({col}, ''))), '\s*[\(\[][^\)\]]*[\)\]]', '', 'g'),
          '\s+-\s+.*(remaster|live|version|edit|mix|mono|stereo).*$', ''),
        '\bfeat\.?\s.*$', ''),
      '[^\pL\pN]+', '', 'g')
"""


# The episode a Netflix row names, the same in both export kinds: ViewingActivity ends
# titles with "(Episode 4)", which parse_title keeps out of episode_title.
_NETFLIX_KEY = """lower(coalesce(
    (raw_metadata ->> 'series') || '|' || (raw_metadata ->> 'season') || '|' || (raw_metadata ->> 'episode_title'),
    title))"""

_NETFLIX = f"""
    INSERT INTO unified_plays (user_id, platform, external_id, play_key, linked_to, rule, seconds_apart)
    WITH simple AS (
        SELECT external_id, {_NETFLIX_KEY} AS episode, CAST(consumed_at AS DATE) AS day
        FROM media_items
        WHERE user_id = $user AND platform = 'netflix' AND (raw_metadata ->> 'date_precision') = 'day'
    ),
    sessions AS (
        SELECT external_id, {_NETFLIX_KEY} AS episode, consumed_at
        FROM media_items
        WHERE user_id = $user AND platform = 'netflix' AND (raw_metadata ->> 'profile') IS NOT NULL
    ),
    candidates AS (
        SELECT s.external_id AS s_id, a.external_id AS a_id, s.episode, s.day,
               abs(date_diff('day', s.day, CAST(a.consumed_at AS DATE))) AS days, a.consumed_at
        FROM simple s JOIN sessions a
          ON a.episode = s.episode AND CAST(a.consumed_at AS DATE) BETWEEN s.day - 1 AND s.day + 1
    ),
    best AS (
        SELECT * FROM candidates
        QUALIFY row_number() OVER (PARTITION BY s_id ORDER BY days, consumed_at DESC, a_id) = 1
    )
    SELECT $user, 'netflix', s_id, 'netflix:' || a_id, 'netflix:' || a_id,
           'the same episode or title (' || episode || '): the simple export lists it on ' || strftime(day, '%Y-%m-%d')
           || ', the viewing activity has a session that starts '
           || CASE days WHEN 0 THEN 'that day' ELSE 'a day off (time zone)' END
           || ' and is preferred (it has the start time and the time watched)',
           NULL
    FROM best
    WHERE NOT EXISTS (
        SELECT 1 FROM separate_plays x
        WHERE x.user_id = $user AND x.row_a = least('netflix:' || s_id, 'netflix:' || a_id)
          AND x.row_b = greatest('netflix:' || s_id, 'netflix:' || a_id)
    )
    QUALIFY row_number() OVER (PARTITION BY a_id ORDER BY days, s_id) = 1
"""


@retried
def link_plays(con: duckdb.DuckDBPyConnection, user_id: str, ranks: dict[str, int]) -> tuple[int, int]:
    """Recompute the user's unified_plays in one transaction; returns (plays, real plays)."""
    rank_table = pa.table({"platform": list(ranks), "rank": list(ranks.values())})
    con.register("mca_platform_rank", rank_table)
    try:
        with transaction(con):
            con.execute("DELETE FROM unified_plays WHERE user_id = ?", [user_id])
            con.execute(
                f"""
                INSERT INTO unified_plays (user_id, platform, external_id, play_key, linked_to, rule, seconds_apart)
                WITH RECURSIVE plays AS (
                    SELECT m.platform, m.external_id, epoch(m.consumed_at) AS at_s,
                           greatest({WINDOW_S}, coalesce(m.time_spent_s, m.duration_s, 0)) AS window_s,
                           {_NORMALISE.format(col="coalesce(aa.canonical, m.creator)")} AS artist,
                           {_NORMALISE.format(col="coalesce(ta.canonical, m.title)")} AS title,
                           aa.canonical IS NOT NULL OR ta.canonical IS NOT NULL AS aliased,
                           coalesce(r.rank, 1000) AS rank
                    FROM media_items m LEFT JOIN mca_platform_rank r USING (platform)
                    LEFT JOIN aliases aa
                      ON aa.user_id = m.user_id AND aa.field = 'artist' AND aa.spelling = {_SPELLING.format(col="m.creator")}
                    LEFT JOIN aliases ta
                      ON ta.user_id = m.user_id AND ta.field = 'title' AND ta.spelling = {_SPELLING.format(col="m.title")}
                    WHERE m.user_id = $user AND m.media_type = 'music'
                ),
                candidates AS (
                    SELECT p.platform AS p_platform, p.external_id AS p_id, p.rank AS p_rank,
                           q.platform AS q_platform, q.external_id AS q_id, q.rank AS q_rank,
                           abs(p.at_s - q.at_s) AS distance, greatest(p.window_s, q.window_s) AS window_s,
                           p.artist, p.title, p.aliased OR q.aliased AS aliased
                    FROM plays p JOIN plays q
                      ON p.artist = q.artist AND p.title = q.title AND p.platform <> q.platform
                     AND q.at_s BETWEEN p.at_s - greatest(p.window_s, q.window_s)
                                    AND p.at_s + greatest(p.window_s, q.window_s)
                    WHERE p.title <> ''
                      AND NOT EXISTS (
                          SELECT 1 FROM separate_plays x
                          WHERE x.user_id = $user
                            AND x.row_a = least(p.platform || ':' || p.external_id, q.platform || ':' || q.external_id)
                            AND x.row_b = greatest(p.platform || ':' || p.external_id, q.platform || ':' || q.external_id)
                      )
                ),
                mutual AS (
                    SELECT * FROM candidates
                    QUALIFY row_number() OVER (PARTITION BY p_platform, p_id, q_platform ORDER BY distance, q_id) = 1
                ),
                links AS (
                    SELECT a.p_platform, a.p_id, a.q_platform, a.q_id, a.q_rank, a.p_rank, a.distance, a.window_s,
                           a.artist, a.title, a.aliased
                    FROM mutual a
                    JOIN mutual b ON b.p_platform = a.q_platform AND b.p_id = a.q_id
                                 AND b.q_platform = a.p_platform AND b.q_id = a.p_id
                    WHERE a.q_rank < a.p_rank
                       OR (a.q_rank = a.p_rank AND a.q_platform < a.p_platform)
                    QUALIFY row_number() OVER (PARTITION BY a.p_platform, a.p_id ORDER BY a.q_rank, a.q_platform) = 1
                ),
                walk(platform, external_id, key_platform, key_id, depth) AS (
                    SELECT platform, external_id, platform, external_id, 0 FROM plays
                    UNION ALL
                    SELECT w.platform, w.external_id, l.q_platform, l.q_id, w.depth + 1
                    FROM walk w JOIN links l ON l.p_platform = w.key_platform AND l.p_id = w.key_id
                    WHERE w.depth < 16
                )
                , keyed AS (
                    SELECT platform, external_id, arg_max(key_platform || ':' || key_id, depth) AS play_key
                    FROM walk GROUP BY platform, external_id
                )
                SELECT $user, k.platform, k.external_id, k.play_key,
                       l.q_platform || ':' || l.q_id,
                       CASE WHEN l.q_id IS NOT NULL THEN
                           'the same artist and title once normalised (' || l.artist || ' / ' || l.title || ')'
                           || CASE WHEN l.aliased THEN ', counting your aliases' ELSE '' END
                           || ', ' || CAST(round(l.distance) AS BIGINT) || ' s apart (within '
                           || CAST(round(l.window_s) AS BIGINT) || ' s); ' || l.q_platform || ' is preferred to '
                           || l.p_platform || ' (source preference ' || l.q_rank || ' before ' || l.p_rank || ')'
                       END,
                       l.distance
                FROM keyed k LEFT JOIN links l ON l.p_platform = k.platform AND l.p_id = k.external_id
                """,
                {"user": user_id},
            )
            counts = con.execute(
                "SELECT count(*), count(DISTINCT play_key) FROM unified_plays WHERE user_id = ?", [user_id]
            ).fetchall()[0]
            con.execute(_NETFLIX, {"user": user_id})
    finally:
        con.unregister("mca_platform_rank")
    return int(counts[0]), int(counts[1])


def linked_pairs(con: duckdb.DuckDBPyConnection, user_id: str) -> list[tuple[str, str, int]]:
    """(platform, preferred platform, plays linked) for the materialization metadata."""
    rows = con.execute(
        """
        SELECT platform, split_part(play_key, ':', 1) AS preferred, count(*)
        FROM unified_plays
        WHERE user_id = ? AND play_key <> platform || ':' || external_id
        GROUP BY ALL ORDER BY ALL
        """,
        [user_id],
    ).fetchall()
    return [(str(a), str(b), int(n)) for a, b, n in rows]
