"""Reading items to enrich and writing enrichment back, a batch at a time, set-based.

Items come back as MediaItems so plugins and taggers see exactly what sync produced;
results go in through an Arrow staging table and one UPDATE ... FROM per batch. The
lookup cache is read whole into memory once and new entries are written in one INSERT.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pydantic_core

from mca_pipeline.core import EnrichmentCache, MediaItem
from mca_pipeline.core.models import utc_now
from mca_pipeline.warehouse.parsed_fields import assignments, from_raw_metadata, from_universal_tags
from mca_pipeline.warehouse.results import changed
from mca_pipeline.warehouse.transactions import retried, transaction

_ITEM_FIELDS = """
    platform, external_id, media_type, title, creator, consumed_at, duration_s, time_spent_s,
    tags, url, raw_metadata
"""


def _items(rows: list[tuple[Any, ...]]) -> list[MediaItem]:
    return [
        MediaItem(
            platform=platform,
            type=media_type,
            title=title,
            creator=creator,
            consumed_at=consumed_at,
            duration=timedelta(seconds=duration) if duration is not None else None,
            time_spent=timedelta(seconds=spent) if spent is not None else None,
            tags=tuple(tags or ()),
            url=url,
            external_id=external_id,
            raw_metadata=json.loads(raw) if raw else {},
        )
        for platform, external_id, media_type, title, creator, consumed_at, duration, spent, tags, url, raw in rows
    ]


def items_for_plugin_enrichment(
    con: duckdb.DuckDBPyConnection, user_id: str, platform: str, limit: int
) -> list[MediaItem]:
    """Pending items whose plugin Enrich has not run yet."""
    rows = con.execute(
        f"""
        SELECT {_ITEM_FIELDS} FROM media_items
        WHERE user_id = ? AND platform = ? AND status = 'pending' AND plugin_enriched_at IS NULL
        ORDER BY consumed_at LIMIT ?
        """,
        [user_id, platform, limit],
    ).fetchall()
    return _items(rows)


def platforms_to_enrich(con: duckdb.DuckDBPyConnection, user_id: str) -> set[str]:
    """The platforms with pending items whose plugin Enrich has not run yet: the only
    plugins worth asking (and loading credentials for) in a run."""
    rows = con.execute(
        """
        SELECT DISTINCT platform FROM media_items
        WHERE user_id = ? AND status = 'pending' AND plugin_enriched_at IS NULL
        """,
        [user_id],
    ).fetchall()
    return {str(platform) for (platform,) in rows}


def items_for_universal_tags(
    con: duckdb.DuckDBPyConnection, user_id: str, after: str, limit: int
) -> list[MediaItem]:
    """Pending items, in a stable order; `after` is the last "platform|external_id" seen."""
    rows = con.execute(
        f"""
        SELECT {_ITEM_FIELDS} FROM media_items
        WHERE user_id = ? AND status = 'pending' AND platform || '|' || external_id > ?
        ORDER BY platform || '|' || external_id LIMIT ?
        """,
        [user_id, after, limit],
    ).fetchall()
    return _items(rows)


def save_plugin_enrichment(
    con: duckdb.DuckDBPyConnection, user_id: str, items: list[MediaItem], failures: dict[str, str]
) -> None:
    """New tags and metadata for a batch, and a length an enrichment found for an item that
    had none (YouTube's video details, TMDB's runtime: the metrics estimate time from it);
    items in `failures` (by external_id) are failed."""
    if not items:
        return
    staging = pa.table(
        {
            "platform": [i.platform for i in items],
            "external_id": [i.external_id for i in items],
            "tags": pa.array([list(i.tags) for i in items], pa.list_(pa.string())),
            "raw_metadata": [pydantic_core.to_json(i.raw_metadata).decode() for i in items],
            "duration_s": pa.array(
                [i.duration.total_seconds() if i.duration is not None else None for i in items], pa.float64()
            ),
            "reason": [failures.get(i.external_id) for i in items],
        }
    )
    now = utc_now()
    _update(
        con,
        staging,
        f"""
        UPDATE media_items AS m SET tags = s.tags, raw_metadata = s.raw_metadata::JSON,
            {assignments(from_raw_metadata("s.raw_metadata"))},
            duration_s = coalesce(m.duration_s, s.duration_s),
            plugin_enriched_at = ?, updated_at = ?,
            status = CASE WHEN s.reason IS NULL THEN m.status ELSE 'failed' END,
            status_reason = coalesce(s.reason, m.status_reason)
        FROM mca_enriched AS s
        WHERE m.user_id = ? AND m.platform = s.platform AND m.external_id = s.external_id
        """,
        [now, now, user_id],
    )


def save_universal_tags(
    con: duckdb.DuckDBPyConnection,
    user_id: str,
    tagged: dict[tuple[str, str], dict[str, Any]],
    failed: dict[tuple[str, str], str],
) -> None:
    """Universal tags per (platform, external_id); an item is enriched when its plugin
    Enrich has run too, else it stays pending (e.g. a missing API key) for a later run."""
    keys = list(tagged) + list(failed)
    if not keys:
        return
    staging = pa.table(
        {
            "platform": [k[0] for k in keys],
            "external_id": [k[1] for k in keys],
            "universal_tags": [json.dumps(tagged[k]) if k in tagged else None for k in keys],
            "reason": [failed.get(k) for k in keys],
        }
    )
    _update(
        con,
        staging,
        f"""
        UPDATE media_items AS m SET
            universal_tags = coalesce(s.universal_tags::JSON, m.universal_tags),
            {assignments(from_universal_tags("coalesce(s.universal_tags::JSON, m.universal_tags)"))}, updated_at = ?,
            status = CASE WHEN s.reason IS NOT NULL THEN 'failed'
                          WHEN m.plugin_enriched_at IS NOT NULL THEN 'enriched' ELSE m.status END,
            status_reason = s.reason
        FROM mca_enriched AS s
        WHERE m.user_id = ? AND m.platform = s.platform AND m.external_id = s.external_id
        """,
        [utc_now(), user_id],
    )


@retried
def _update(con: duckdb.DuckDBPyConnection, staging: pa.Table, sql: str, params: list[Any]) -> None:
    """One UPDATE ... FROM a staging table, in its own transaction."""
    con.register("mca_enriched", staging)
    try:
        with transaction(con):
            con.execute(sql, params)
    finally:
        con.unregister("mca_enriched")


def reset_enrichment(con: duckdb.DuckDBPyConnection, user_id: str) -> int:
    """Mark all of a user's items pending again (a re-requested enrichment)."""
    return changed(
        con.execute(
            """
            UPDATE media_items SET status = 'pending', status_reason = NULL, plugin_enriched_at = NULL,
                universal_tags = NULL, genres = NULL, moods = NULL
            WHERE user_id = ?
            """,
            [user_id],
        )
    )


def load_cache(con: duckdb.DuckDBPyConnection) -> EnrichmentCache:
    rows = con.execute("SELECT kind, key, value FROM enrichment_cache").fetchall()
    return EnrichmentCache(
        {(kind, key): json.loads(value) if value is not None else None for kind, key, value in rows}
    )


def save_cache(con: duckdb.DuckDBPyConnection, cache: EnrichmentCache) -> int:
    entries = cache.new_entries()
    if not entries:
        return 0
    staging = pa.table(
        {
            "kind": [k[0] for k in entries],
            "key": [k[1] for k in entries],
            "value": [json.dumps(v) for v in entries.values()],
        }
    )
    con.register("mca_cache_new", staging)
    try:
        con.execute(
            """
            MERGE INTO enrichment_cache AS t
            USING (SELECT kind, key, value::JSON AS value, ?::TIMESTAMPTZ AS fetched_at FROM mca_cache_new) AS s
            ON t.kind = s.kind AND t.key = s.key
            WHEN MATCHED THEN UPDATE SET value = s.value, fetched_at = s.fetched_at
            WHEN NOT MATCHED THEN INSERT (kind, key, value, fetched_at) VALUES (s.kind, s.key, s.value, s.fetched_at)
            """,
            [utc_now()],
        )
    finally:
        con.unregister("mca_cache_new")
    return len(entries)


def enrichment_counts(con: duckdb.DuckDBPyConnection, user_id: str) -> dict[str, int]:
    rows = con.execute(
        "SELECT status, count(*) FROM media_items WHERE user_id = ? GROUP BY ALL", [user_id]
    ).fetchall()
    return {str(status): int(n) for status, n in rows}
