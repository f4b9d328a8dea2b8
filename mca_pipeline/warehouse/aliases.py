"""A user's corrections to how plays are counted, and why plays were linked.

People's histories spell one artist several ways ("Beyonce", "Beyoncé", "BEYONCÉ") and
the automatic linking sometimes joins two plays that were not one. A user can say:

- an **alias**: this artist (or title) spelling is that one. The spelling is matched
  without regard to case or surrounding spaces; the canonical name is kept as written.
  Aliases are applied by `unified_plays.link_plays` (before normalising) and by the
  metrics (top lists count the spellings as one name).
- **separate**: these two rows are not one play; they are never linked again.

The rules are kept in the warehouse (`aliases`, `separate_plays`), so every later
recompute obeys them. After a change the caller recomputes that user's links, metrics
and reports (`link_plays` is idempotent and set-based); nothing of other users moves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from mca_pipeline.core.models import utc_now
from mca_pipeline.warehouse.results import changed
from mca_pipeline.warehouse.upsert import upsert

FIELDS = ("artist", "title")
#: Longer than any real name: a pasted page is refused rather than stored.
MAX_NAME = 500


@dataclass(frozen=True)
class Alias:
    field: str
    spelling: str
    canonical: str


@dataclass(frozen=True)
class Merge:
    """One row counted as part of another's play, and why."""

    row: str  # "<platform>:<external_id>"
    title: str
    creator: str | None
    consumed_at: datetime
    play_key: str  # the row whose copy counts
    kept_title: str | None
    kept_creator: str | None
    kept_at: datetime | None
    linked_to: str | None  # the row it was matched with (the key, or a row on the way to it)
    rule: str | None
    seconds_apart: float | None


def _spelling(text: str) -> str:
    return text.strip().lower()


def add_alias(
    con: duckdb.DuckDBPyConnection, user_id: str, field: str, spelling: str, canonical: str
) -> Alias:
    """Say that `spelling` of an artist or title is `canonical` (replacing an earlier rule
    for the same spelling)."""
    if field not in FIELDS:
        raise ValueError(f"an alias is for an artist or a title, not {field!r}")
    key, canonical = _spelling(spelling), " ".join(canonical.split())
    if not key or not canonical:
        raise ValueError("both the spelling and the name it stands for must be given")
    if len(key) > MAX_NAME or len(canonical) > MAX_NAME:
        raise ValueError(f"a name is at most {MAX_NAME} characters")
    if key == _spelling(canonical):
        raise ValueError(f"{spelling!r} and {canonical!r} are already the same spelling")
    upsert(
        con,
        "aliases",
        {
            "user_id": user_id,
            "field": field,
            "spelling": key,
            "canonical": canonical,
            "created_at": utc_now(),
        },
        key=("user_id", "field", "spelling"),
        update=("canonical", "created_at"),
    )
    return Alias(field, key, canonical)


def remove_alias(con: duckdb.DuckDBPyConnection, user_id: str, field: str, spelling: str) -> bool:
    return bool(
        changed(
            con.execute(
                "DELETE FROM aliases WHERE user_id = ? AND field = ? AND spelling = ?",
                [user_id, field, _spelling(spelling)],
            )
        )
    )


def list_aliases(con: duckdb.DuckDBPyConnection, user_id: str) -> list[Alias]:
    rows = con.execute(
        "SELECT field, spelling, canonical FROM aliases WHERE user_id = ? ORDER BY field, canonical, spelling",
        [user_id],
    ).fetchall()
    return [Alias(str(f), str(s), str(c)) for f, s, c in rows]


def keep_apart(con: duckdb.DuckDBPyConnection, user_id: str, row_a: str, row_b: str) -> None:
    """Say that two stored rows ("<platform>:<external_id>") are not one play."""
    found = con.execute(
        """
        SELECT count(*) FROM media_items
        WHERE user_id = ? AND platform || ':' || external_id IN (?, ?)
        """,
        [user_id, row_a, row_b],
    ).fetchall()[0][0]
    if row_a == row_b or found != 2:
        raise ValueError(f"{row_a!r} and {row_b!r} are not two stored rows of {user_id}")
    upsert(
        con,
        "separate_plays",
        {"user_id": user_id, "row_a": min(row_a, row_b), "row_b": max(row_a, row_b), "created_at": utc_now()},
        key=("user_id", "row_a", "row_b"),
    )


def separated(con: duckdb.DuckDBPyConnection, user_id: str) -> list[tuple[str, str]]:
    rows = con.execute(
        "SELECT row_a, row_b FROM separate_plays WHERE user_id = ? ORDER BY row_a, row_b", [user_id]
    ).fetchall()
    return [(str(a), str(b)) for a, b in rows]


# The merges a query is about: every linked row of the user, or those a row takes part in.
_MERGED = """
    u.user_id = $user AND u.play_key <> u.platform || ':' || u.external_id
    AND ($row IS NULL OR $row IN (u.platform || ':' || u.external_id, u.play_key, u.linked_to))
"""


def merge_count(con: duckdb.DuckDBPyConnection, user_id: str, row: str | None = None) -> int:
    """How many rows `merges` would list without a limit."""
    rows = con.execute(
        f"SELECT count(*) FROM unified_plays u WHERE {_MERGED}", {"user": user_id, "row": row}
    ).fetchall()
    return int(rows[0][0])


def merges(
    con: duckdb.DuckDBPyConnection, user_id: str, row: str | None = None, limit: int | None = None
) -> list[Merge]:
    """Every row counted in another row's play (or, with `row`, the merges that row takes
    part in, on either side), newest first, with the rule that linked it; at most `limit`."""
    result = con.execute(
        f"""
        SELECT u.platform || ':' || u.external_id, m.title, m.creator, m.consumed_at, u.play_key,
               k.title, k.creator, k.consumed_at, u.linked_to, u.rule, u.seconds_apart
        FROM unified_plays u
        JOIN media_items m USING (user_id, platform, external_id)
        -- the kept row, by its key's parts ("<platform>:<external_id>"; platform names hold no colon)
        LEFT JOIN media_items k
          ON k.user_id = u.user_id AND k.platform = split_part(u.play_key, ':', 1)
         AND k.external_id = substr(u.play_key, strpos(u.play_key, ':') + 1)
        WHERE {_MERGED}
        ORDER BY m.consumed_at DESC, 1
        LIMIT $limit
        """,
        {"user": user_id, "row": row, "limit": limit},
    ).fetchall()
    return [
        Merge(str(r), str(t), c, at, str(key), kt, kc, ka, lt, rule, None if sec is None else float(sec))
        for r, t, c, at, key, kt, kc, ka, lt, rule, sec in result
    ]
