"""The warehouse schema as an ordered list of forward migrations.

Each migration runs once, in its own transaction, and records its number in
schema_version; opening an older file brings it up to date, opening a newer one
(written by a later release) is refused rather than guessed at.
"""

from __future__ import annotations

from collections.abc import Callable

import duckdb

from mca_pipeline.warehouse.parsed_fields import assignments, from_raw_metadata, from_universal_tags
from mca_pipeline.warehouse.results import first_row

MIGRATIONS: list[str] = [
    # 1: users, the items themselves, and one row per sync attempt.
    """
    CREATE TABLE users (
        user_id     VARCHAR PRIMARY KEY,
        timezone    VARCHAR NOT NULL DEFAULT 'UTC',
        created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
    );
    CREATE TABLE media_items (
        user_id        VARCHAR NOT NULL,
        platform       VARCHAR NOT NULL,
        external_id    VARCHAR NOT NULL,
        media_type     VARCHAR NOT NULL CHECK (media_type IN ('music', 'video', 'article', 'podcast')),
        title          VARCHAR NOT NULL,
        creator        VARCHAR,
        consumed_at    TIMESTAMPTZ NOT NULL,
        duration_s     DOUBLE,
        time_spent_s   DOUBLE,
        tags           VARCHAR[] NOT NULL DEFAULT [],
        url            VARCHAR,
        raw_metadata   JSON NOT NULL,
        status         VARCHAR NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'enriched', 'failed')),
        status_reason  VARCHAR,
        first_seen_at  TIMESTAMPTZ NOT NULL,
        updated_at     TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (user_id, platform, external_id)
    );
    CREATE SEQUENCE sync_log_id;
    CREATE TABLE sync_log (
        id              BIGINT PRIMARY KEY DEFAULT nextval('sync_log_id'),
        user_id         VARCHAR NOT NULL,
        platform        VARCHAR NOT NULL,
        source          VARCHAR,
        run_id          VARCHAR,
        started_at      TIMESTAMPTZ NOT NULL,
        finished_at     TIMESTAMPTZ NOT NULL,
        cursor_in       VARCHAR NOT NULL,
        cursor_out      VARCHAR NOT NULL,
        has_more        BOOLEAN NOT NULL,
        received_count  INTEGER NOT NULL,
        new_count       INTEGER NOT NULL,
        updated_count   INTEGER NOT NULL,
        skipped_count   INTEGER NOT NULL,
        outcome         VARCHAR NOT NULL CHECK (outcome IN ('success', 'partial', 'failed', 'rate_limited')),
        error_code      VARCHAR,
        error_message   VARCHAR,
        error_raw       VARCHAR
    );
    """,
    # 2: each user's connection to each API platform, and what the user must be told.
    """
    CREATE TABLE connections (
        user_id     VARCHAR NOT NULL,
        plugin      VARCHAR NOT NULL,
        state       VARCHAR NOT NULL CHECK (state IN ('connected', 'disconnected', 'needs_reauth')),
        reason      VARCHAR,
        changed_at  TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (user_id, plugin)
    );
    CREATE SEQUENCE notification_id;
    CREATE TABLE notifications (
        id          BIGINT PRIMARY KEY DEFAULT nextval('notification_id'),
        user_id     VARCHAR NOT NULL,
        plugin      VARCHAR NOT NULL,
        kind        VARCHAR NOT NULL,
        message     VARCHAR NOT NULL,
        created_at  TIMESTAMPTZ NOT NULL,
        read_at     TIMESTAMPTZ
    );
    """,
    # 3: the credential vault (secrets encrypted by auth.vault before they get here) and
    # per-user sign-in tokens for the connect web app (only a hash is kept).
    """
    CREATE TABLE credentials (
        user_id     VARCHAR NOT NULL,
        plugin      VARCHAR NOT NULL,
        sealed      BLOB NOT NULL,
        scopes      VARCHAR[] NOT NULL DEFAULT [],
        expires_at  TIMESTAMPTZ,
        updated_at  TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (user_id, plugin)
    );
    CREATE TABLE user_tokens (
        user_id     VARCHAR PRIMARY KEY,
        token_hash  VARCHAR NOT NULL UNIQUE,
        created_at  TIMESTAMPTZ NOT NULL
    );
    """,
    # 4: which stored plays are the same real play, seen by several sources.
    """
    CREATE TABLE unified_plays (
        user_id      VARCHAR NOT NULL,
        platform     VARCHAR NOT NULL,
        external_id  VARCHAR NOT NULL,
        play_key     VARCHAR NOT NULL,
        PRIMARY KEY (user_id, platform, external_id)
    );
    """,
    # 5: enrichment: when plugin Enrich ran on an item, its universal tags, and the
    # lookup cache shared by all users (one call per artist or title, ever).
    """
    ALTER TABLE media_items ADD COLUMN plugin_enriched_at TIMESTAMPTZ;
    ALTER TABLE media_items ADD COLUMN universal_tags JSON;
    CREATE TABLE enrichment_cache (
        kind        VARCHAR NOT NULL,
        key         VARCHAR NOT NULL,
        value       JSON,
        fetched_at  TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (kind, key)
    );
    """,
    # 6: which sync_log page first stored an item, so that a file rejected after some of
    # its pages were stored can be taken back exactly (rows it did not add stay), and how
    # many records of each page could not be read.
    """
    ALTER TABLE media_items ADD COLUMN sync_log_id BIGINT;
    ALTER TABLE sync_log ADD COLUMN unreadable_count INTEGER DEFAULT 0;
    """,
    # 7: Instapaper ids (normalised URLs) no longer keep a default port ("https://host:443/")
    # nor the empty host of a lost slash ("https:/host" read as "https:///host"), so the
    # same article from a later export is the same item. Stored ids are rewritten the same
    # way; where the rewritten id is already stored, the older duplicate row goes.
    r"""
    CREATE TEMP TABLE instapaper_ids AS
    SELECT user_id, external_id AS old_id,
           regexp_replace(
             regexp_replace(
               regexp_replace(external_id, '^(https?)://(/+)', '\1://'),
               '^(https://[^/?#]*):443([/?#]|$)', '\1\2'),
             '^(http://[^/?#]*):80([/?#]|$)', '\1\2') AS new_id
    FROM media_items WHERE platform = 'instapaper';
    DELETE FROM instapaper_ids WHERE old_id = new_id;
    DELETE FROM media_items m USING instapaper_ids i
    WHERE m.platform = 'instapaper' AND m.user_id = i.user_id AND m.external_id = i.old_id
      AND EXISTS (SELECT 1 FROM media_items k
                  WHERE k.platform = 'instapaper' AND k.user_id = i.user_id AND k.external_id = i.new_id);
    UPDATE media_items m SET external_id = i.new_id
    FROM instapaper_ids i
    WHERE m.platform = 'instapaper' AND m.user_id = i.user_id AND m.external_id = i.old_id;
    DROP TABLE instapaper_ids;
    """,
    # 8: offline Spotify plays are dated by offline_timestamp (when they were played, not
    # when the app synced them) and their ids end in "|offline <seconds>", so that two
    # offline plays of a track synced together stay two. Stored offline plays get the
    # same id and time (raw_metadata kept offline_timestamp in seconds), and their links
    # in unified_plays follow.
    r"""
    CREATE TEMP TABLE offline_plays AS
    SELECT user_id, external_id AS old_id,
           external_id || '|offline ' || CAST(raw_metadata ->> 'offline_timestamp' AS BIGINT) AS new_id,
           to_timestamp(CAST(raw_metadata ->> 'offline_timestamp' AS BIGINT)) AS played_at
    FROM media_items
    WHERE platform = 'spotify_export' AND (raw_metadata ->> 'schema') = 'extended'
      AND (raw_metadata ->> 'offline') = 'true' AND (raw_metadata ->> 'offline_timestamp') IS NOT NULL
      AND CAST(raw_metadata ->> 'offline_timestamp' AS BIGINT)
          <= epoch(CAST(raw_metadata ->> 'ts' AS TIMESTAMPTZ))
      AND NOT contains(external_id, '|offline ');
    UPDATE media_items m SET external_id = o.new_id, consumed_at = o.played_at
    FROM offline_plays o
    WHERE m.platform = 'spotify_export' AND m.user_id = o.user_id AND m.external_id = o.old_id;
    UPDATE unified_plays u SET external_id = o.new_id
    FROM offline_plays o
    WHERE u.platform = 'spotify_export' AND u.user_id = o.user_id AND u.external_id = o.old_id;
    UPDATE unified_plays u SET play_key = 'spotify_export:' || o.new_id
    FROM offline_plays o
    WHERE u.user_id = o.user_id AND u.play_key = 'spotify_export:' || o.old_id;
    DROP TABLE offline_plays;
    """,
    # 9: syncs paused by a long rate limit (warehouse/pauses.py): the schedule and the
    # continuation sensor leave (user, platform) alone until not_before.
    """
    CREATE TABLE sync_pauses (
        user_id     VARCHAR NOT NULL,
        platform    VARCHAR NOT NULL,
        not_before  TIMESTAMPTZ NOT NULL,
        reason      VARCHAR,
        paused_at   TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (user_id, platform)
    );
    """,
    # 10: YouTube topics are lower case on every path (clients/youtube.topic_name); likes
    # synced before kept Wikipedia's capitals ("Pop music").
    """
    UPDATE media_items SET tags = list_transform(tags, lambda t: lower(t))
    WHERE platform = 'youtube' AND list_bool_or(list_transform(tags, lambda t: t <> lower(t)));
    """,
    # 11: the vault's key check: a known text sealed with the current key, so that a
    # process holding a retired or wrong key is refused before it writes a credential.
    """
    CREATE TABLE vault_check (
        id          INTEGER PRIMARY KEY CHECK (id = 1),
        sealed      BLOB NOT NULL,
        updated_at  TIMESTAMPTZ NOT NULL
    );
    """,
    # 12: why rows were linked into one play (the row matched, the rule in words, how far
    # apart), and the user's corrections the linking obeys: spellings of an artist or a
    # title that are one (aliases), and pairs of rows that are not one play.
    """
    ALTER TABLE unified_plays ADD COLUMN linked_to VARCHAR;
    ALTER TABLE unified_plays ADD COLUMN rule VARCHAR;
    ALTER TABLE unified_plays ADD COLUMN seconds_apart DOUBLE;
    CREATE TABLE aliases (
        user_id     VARCHAR NOT NULL,
        field       VARCHAR NOT NULL CHECK (field IN ('artist', 'title')),
        spelling    VARCHAR NOT NULL,
        canonical   VARCHAR NOT NULL,
        created_at  TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (user_id, field, spelling)
    );
    CREATE TABLE separate_plays (
        user_id     VARCHAR NOT NULL,
        row_a       VARCHAR NOT NULL,
        row_b       VARCHAR NOT NULL,
        created_at  TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (user_id, row_a, row_b)
    );
    """,
    # 13: the fields of raw_metadata and universal_tags that the metrics read, parsed once
    # when a document is written rather than on every metrics run (warehouse/parsed_fields.py).
    f"""
    ALTER TABLE media_items ADD COLUMN series VARCHAR;
    ALTER TABLE media_items ADD COLUMN skipped BOOLEAN;
    ALTER TABLE media_items ADD COLUMN time_unknown BOOLEAN;
    ALTER TABLE media_items ADD COLUMN genres VARCHAR;
    ALTER TABLE media_items ADD COLUMN moods VARCHAR;
    UPDATE media_items SET {assignments(from_raw_metadata("raw_metadata") | from_universal_tags("universal_tags"))};
    """,
]

SCHEMA_VERSION = len(MIGRATIONS)


class SchemaTooNewError(RuntimeError):
    """The file was written by a newer mca_pipeline; refusing beats corrupting it."""


def current_version(con: duckdb.DuckDBPyConnection) -> int:
    exists = first_row(
        con.execute("SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_version'")
    )
    if not exists or not exists[0]:
        return 0
    row = first_row(con.execute("SELECT coalesce(max(version), 0) FROM schema_version"))
    return int(row[0]) if row else 0


def migrate(con: duckdb.DuckDBPyConnection, adapt: Callable[[str], str] = str) -> int:
    """Apply every migration the file has not seen; return the resulting version.
    `adapt` rewrites each migration for the database (a lake's, lake.lake_ddl)."""
    version = current_version(con)
    if version > SCHEMA_VERSION:
        raise SchemaTooNewError(
            f"warehouse schema version {version} is newer than this code understands ({SCHEMA_VERSION}); "
            "upgrade mca_pipeline"
        )
    for number in range(version + 1, SCHEMA_VERSION + 1):
        con.execute("BEGIN TRANSACTION")
        try:
            if number == 1:
                con.execute(
                    adapt(
                        "CREATE TABLE schema_version (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL)"
                    )
                )
            con.execute(adapt(MIGRATIONS[number - 1]))
            con.execute("INSERT INTO schema_version VALUES (?, now())", [number])
            con.execute("COMMIT")
        except Exception:
            con.execute("ROLLBACK")
            raise
    return SCHEMA_VERSION
