"""What core hands plugins and taggers for enrichment: a lookup cache, and a way to say
an enrichment could not run (a missing API key is not an error: items stay pending).

The cache is a plain in-memory map that core fills from the warehouse before a batch
and writes back after it, in one statement each way: a thousand plays of one artist
cost one API call, across users, and no lookup ever queries the database.
"""

from __future__ import annotations

from typing import Any

from mca_pipeline.core.models import PluginError


class EnrichmentSkipped(Exception):
    """Raised by an enrich step that cannot run now (no API key configured, say). The
    message says which enrichment and why; the items stay pending for a later run."""


class EnrichmentFailed(Exception):
    """Raised by an enrich step whose platform failed as a whole (rate limit, outage);
    carries the PluginError so core applies the usual error policy."""

    def __init__(self, error: PluginError) -> None:
        super().__init__(str(error))
        self.error = error


class EnrichmentCache:
    """Lookups by (kind, key), e.g. ("lastfm:artist", "marla venn"). Values are JSON-able.

    `None` is a valid cached answer ("looked up, nothing found"); a miss is `MISSING`.
    """

    MISSING: Any = object()

    def __init__(self, entries: dict[tuple[str, str], Any] | None = None) -> None:
        self._entries: dict[tuple[str, str], Any] = dict(entries or {})
        self._new: dict[tuple[str, str], Any] = {}
        self.hits = 0
        self.misses = 0
        self.calls = 0

    def get(self, kind: str, key: str) -> Any:
        value = self._entries.get((kind, key), self.MISSING)
        if value is self.MISSING:
            self.misses += 1
        else:
            self.hits += 1
        return value

    def put(self, kind: str, key: str, value: Any) -> None:
        self._entries[(kind, key)] = value
        self._new[(kind, key)] = value

    def count_call(self) -> None:
        """Counted by clients for every HTTP request they make (metadata: calls made)."""
        self.calls += 1

    def new_entries(self) -> dict[tuple[str, str], Any]:
        return dict(self._new)

    @property
    def hit_rate(self) -> float:
        total = self.hits + self.misses
        return self.hits / total if total else 0.0
