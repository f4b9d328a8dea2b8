"""The SourcePlugin protocol and the context core passes to every call.

A Protocol, so core states the whole contract in one place. Plugins subclass it
explicitly: that is how they get the defaults of the optional capabilities
(`display_name`, `schedule_cron`, `typical_length_s`, `unify_rank`, `cursor_order`) instead of core probing for them.
A capability without a default is a Protocol of its own (`ColumnarFileImportPlugin`),
which a plugin subclasses when it has it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import ClassVar, Protocol, runtime_checkable

from mca_pipeline.core.columnar import ColumnarRead
from mca_pipeline.core.enrichment import EnrichmentCache
from mca_pipeline.core.models import AuthType, Credentials, DedupPolicy, MediaItem, OAuthConfig, SyncResult


@dataclass
class SyncContext:
    """Per-call context: whose data this is, where to log, and whether to stop early.

    `cancelled` is a threading.Event so that core (or a Dagster step being terminated)
    can ask a plugin to stop between pages; plugins check `ctx.is_cancelled()`.
    """

    user_id: str
    log: logging.Logger = field(default_factory=lambda: logging.getLogger("mca_pipeline.plugin"))
    cancelled: threading.Event = field(default_factory=threading.Event)
    page_size: int = 50_000
    #: Rows per page of a file DuckDB reads whole (mca_pipeline.core.columnar): four of
    #: DuckDB's row groups. Each page is a commit, and commits are what a page costs: a
    #: page's full row groups are written while it is inserted, where its COMMIT
    #: compresses and writes what is left over (1,000,000 Netflix records: 8 commits of
    #: 0.5 s in pages of 122,880, 4 of 0.25 s in pages of 245,760, and in these 23.1 s in
    #: all against 26.3 s; Instapaper 21.5 s against 26.7 s).
    columnar_page_size: int = 491_520
    cache: EnrichmentCache = field(default_factory=EnrichmentCache)

    def is_cancelled(self) -> bool:
        return self.cancelled.is_set()


@runtime_checkable
class SourcePlugin(Protocol):
    """What every media source implements (see the plugin guide)."""

    name: str
    auth_type: AuthType
    auth_config: OAuthConfig | None
    dedup_policy: DedupPolicy

    #: What people call the source, shown in the connect app ("Spotify — data download");
    #: empty: the name.
    display_name: ClassVar[str] = ""

    #: How often an API plugin's schedule syncs every connected user (cron, UTC).
    schedule_cron: ClassVar[str] = "0 * * * *"

    #: How long one view on this source usually lasts, in seconds, per view kind
    #: ('music', 'episode', 'video', 'podcast', 'article'), for rows that carry neither a
    #: time spent nor a length: the metrics count that time as an estimate. Kinds left
    #: out take the metrics' default for the kind (a TikTok video is not a YouTube one).
    typical_length_s: ClassVar[Mapping[str, float]] = MappingProxyType({})

    #: Whose copy of a play `unified_plays` keeps when several sources recorded it:
    #: lower wins; sources that say nothing come after every source that does.
    unify_rank: ClassVar[int] = 100

    def cursor_order(self, cursor: str) -> float | None:
        """Where an (otherwise opaque) cursor lies in time, so core can check that syncs
        never move backwards; None when the plugin's cursors have no order."""
        return None

    def sync(self, ctx: SyncContext, creds: Credentials, cursor: str) -> SyncResult:
        """Fetch one page of items. Empty cursor means first (full) sync."""
        ...

    def enrich(self, ctx: SyncContext, creds: Credentials, items: list[MediaItem]) -> list[MediaItem]:
        """Add platform-specific tags; return items unchanged when there is nothing to add.

        Lookups go through `ctx.cache`; raise EnrichmentSkipped when the enrichment cannot
        run (no API key) and EnrichmentFailed when the platform fails as a whole. A single
        item that cannot be enriched is returned unchanged, never failing the batch.
        """
        ...


#: How many leading bytes of a file `FileImportPlugin.recognizes` is shown.
SNIFF_BYTES = 1 << 16


@runtime_checkable
class FileImportPlugin(SourcePlugin, Protocol):
    """A source whose data arrives as export files: it can also tell its files apart.

    People download a whole archive (a Takeout .tgz, `my_spotify_data.zip`) or unpack it
    into folders of their own, and rename files; core routes each file to the plugin
    that recognises it, by content first and name second.
    """

    def recognizes(self, name: str, head: bytes) -> bool:
        """Whether a file called `name` (no folders) starting with `head` (up to
        SNIFF_BYTES bytes, fewer for a short file) is an export this plugin reads.

        Must be cheap and must not raise on any bytes: it is asked about every file of
        an archive, most of which belong to other plugins or to none.
        """
        ...


@runtime_checkable
class ColumnarFileImportPlugin(FileImportPlugin, Protocol):
    """A file-import plugin whose files can be large: DuckDB can read them whole.

    Optional: `sync`'s streaming reader alone is a complete plugin; this only makes large
    files fast (mca_pipeline.core.columnar).
    """

    def columnar_read(self, file: Path, cursor: str) -> ColumnarRead | None:
        """How DuckDB reads `file` whole, resuming after `cursor`; None when not this
        file (an HTML page among JSON ones) or not from this cursor (one the streaming
        reader left mid-file)."""
        ...
