"""The source plugins, one module each, and the registry of all of them.

Plugins know their platform's API or export format and nothing else: no storage, no
Dagster. Registering a plugin here is all it takes for it to get a Dagster asset.
"""

from mca_pipeline.core import PluginRegistry
from mca_pipeline.plugins.instapaper import InstapaperPlugin
from mca_pipeline.plugins.lastfm import LastfmPlugin
from mca_pipeline.plugins.listenbrainz import ListenbrainzPlugin
from mca_pipeline.plugins.netflix import NetflixPlugin
from mca_pipeline.plugins.spotify import SpotifyPlugin
from mca_pipeline.plugins.spotify_export import SpotifyExportPlugin
from mca_pipeline.plugins.tiktok import TiktokPlugin
from mca_pipeline.plugins.youtube import YoutubePlugin
from mca_pipeline.plugins.youtube_takeout import YoutubeTakeoutPlugin


def build_registry() -> PluginRegistry:
    registry = PluginRegistry()
    registry.register(NetflixPlugin())
    registry.register(SpotifyExportPlugin())
    registry.register(SpotifyPlugin())
    registry.register(LastfmPlugin())
    registry.register(TiktokPlugin())
    registry.register(InstapaperPlugin())
    registry.register(YoutubePlugin())
    registry.register(YoutubeTakeoutPlugin())
    registry.register(ListenbrainzPlugin())
    return registry


__all__ = [
    "InstapaperPlugin",
    "LastfmPlugin",
    "ListenbrainzPlugin",
    "NetflixPlugin",
    "SpotifyExportPlugin",
    "SpotifyPlugin",
    "TiktokPlugin",
    "YoutubePlugin",
    "YoutubeTakeoutPlugin",
    "build_registry",
]
