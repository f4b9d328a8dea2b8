"""What the analysis needs to know of the registered sources, without drawing anything
(so the code location can build it without importing matplotlib)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from mca_pipeline.core import PluginRegistry


@dataclass(frozen=True)
class Sources:
    """What the analysis needs to know of the registered sources: their typical view
    lengths (for estimates), the names people know them by, and whose copy of a play
    counts (unify ranks)."""

    typical_lengths: Mapping[tuple[str, str], float] = field(default_factory=dict)
    display_names: Mapping[str, str] = field(default_factory=dict)
    ranks: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def of(cls, registry: PluginRegistry) -> Sources:
        return cls(
            typical_lengths=registry.typical_lengths(),
            display_names={p.name: p.display_name or p.name for p in registry},
            ranks={p.name: int(p.unify_rank) for p in registry},
        )
