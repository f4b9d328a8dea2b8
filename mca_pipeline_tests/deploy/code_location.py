"""The code location the production-mode tests and benchmark load in their daemon.

It is the real one (`mca_pipeline.defs`), reaching Last.fm where MCA_LASTFM_API_URL says
(a fake on 127.0.0.1, as a deployment would point at a test double), with one
difference: MCA_TEST_LASTFM_CRON, when set, replaces Last.fm's hourly schedule so a test
sees ticks.
"""

import os

from mca_pipeline.core import PluginRegistry
from mca_pipeline.defs import build_definitions
from mca_pipeline.plugins import build_registry


def _registry() -> PluginRegistry:
    registry = PluginRegistry()
    for plugin in build_registry():
        if plugin.name == "lastfm" and os.environ.get("MCA_TEST_LASTFM_CRON"):
            plugin.schedule_cron = os.environ["MCA_TEST_LASTFM_CRON"]
        registry.register(plugin)
    return registry


defs = build_definitions(_registry())
