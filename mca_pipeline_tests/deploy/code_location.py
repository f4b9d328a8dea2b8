"""The code location the production-mode tests and benchmark load in their daemon.

It is the real one (`mca_pipeline.defs`) with one difference: Last.fm is reached at
MCA_TEST_LASTFM_URL (a fake served on 127.0.0.1, since runs are other processes), and
MCA_TEST_LASTFM_CRON, when set, replaces its hourly schedule so a test sees ticks.
"""

import os

from mca_pipeline.core import PluginRegistry
from mca_pipeline.defs import build_definitions
from mca_pipeline.plugins import LastfmPlugin, build_registry


def _registry() -> PluginRegistry:
    registry = PluginRegistry()
    for plugin in build_registry():
        if plugin.name == "lastfm":
            plugin = LastfmPlugin(base_url=os.environ["MCA_TEST_LASTFM_URL"])
            if os.environ.get("MCA_TEST_LASTFM_CRON"):
                plugin.schedule_cron = os.environ["MCA_TEST_LASTFM_CRON"]
        registry.register(plugin)
    return registry


defs = build_definitions(_registry())
