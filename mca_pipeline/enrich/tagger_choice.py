"""Which tagger universal enrichment uses: chosen by the environment, in a module of its
own because it is the one place that knows both taggers."""

from __future__ import annotations

import os

from mca_pipeline.enrich.llm_tagger import LlmTagger
from mca_pipeline.enrich.universal_tags import OfflineTagger, Tagger


def choose_tagger() -> Tagger:
    """The LLM tagger when `MCA_LLM_BASE_URL` and `MCA_LLM_MODEL` are set, else offline."""
    if os.environ.get("MCA_LLM_BASE_URL", "").strip() and os.environ.get("MCA_LLM_MODEL", "").strip():
        return LlmTagger()
    return OfflineTagger()
