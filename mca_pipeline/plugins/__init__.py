"""The source plugins, one module each, and the registry of all of them.

Plugins know their platform's API or export format and nothing else: no storage, no
Dagster. Registering a plugin here is all it takes for it to get a Dagster asset.
"""

from mca_pipeline.core import PluginRegistry
from mca_pipeline.plugins.lastfm import LastfmPlugin
from mca_pipeline.plugins.netflix import NetflixPlugin
from mca_pipeline.plugins.spotify import SpotifyPlugin
from mca_pipeline.plugins.spotify_export import SpotifyExportPlugin


def build_registry() -> PluginRegistry:
    registry = PluginRegistry()
    registry.register(NetflixPlugin())
    registry.register(SpotifyExportPlugin())
    registry.register(SpotifyPlugin())
    registry.register(LastfmPlugin())
    return registry


__all__ = ["LastfmPlugin", "NetflixPlugin", "SpotifyExportPlugin", "SpotifyPlugin", "build_registry"]
