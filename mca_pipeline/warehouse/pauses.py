"""Syncs paused by a platform's long rate limit: "not before" times per user and platform.

A rate limit longer than a run should wait (YouTube's daily quota lasts until Pacific
midnight) ends the run instead of holding one of the few run slots for hours; the time
the platform named is kept here, the schedule and the continuation sensor leave that
user alone until then, and `mca status` and the asset's metadata show it. A successful
sync clears the pause; so does its time passing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb

from mca_pipeline.core.models import utc_now
from mca_pipeline.warehouse.upsert import upsert


@dataclass(frozen=True)
class Pause:
    platform: str
    not_before: datetime
    reason: str


def pause_sync(
    con: duckdb.DuckDBPyConnection, user_id: str, platform: str, not_before: datetime, reason: str
) -> None:
    """Keep (user, platform) from scheduled syncs until `not_before`; a later pause replaces it."""
    upsert(
        con,
        "sync_pauses",
        {
            "user_id": user_id,
            "platform": platform,
            "not_before": not_before,
            "reason": reason,
            "paused_at": utc_now(),
        },
        key=("user_id", "platform"),
        update=("not_before", "reason", "paused_at"),
    )


def clear_pause(con: duckdb.DuckDBPyConnection, user_id: str, platform: str) -> None:
    con.execute("DELETE FROM sync_pauses WHERE user_id = ? AND platform = ?", [user_id, platform])


def paused_users(con: duckdb.DuckDBPyConnection, platform: str, now: datetime) -> dict[str, datetime]:
    """Users of `platform` whose pause lasts beyond `now`, with its end."""
    rows = con.execute(
        "SELECT user_id, not_before FROM sync_pauses WHERE platform = ? AND not_before > ?",
        [platform, now],
    ).fetchall()
    return {str(user): when for user, when in rows}


def pauses_of(con: duckdb.DuckDBPyConnection, user_id: str, now: datetime) -> dict[str, Pause]:
    """The user's pauses still running at `now`, by platform."""
    rows = con.execute(
        "SELECT platform, not_before, reason FROM sync_pauses WHERE user_id = ? AND not_before > ?",
        [user_id, now],
    ).fetchall()
    return {str(p): Pause(str(p), when, str(reason or "")) for p, when, reason in rows}
