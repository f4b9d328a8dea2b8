"""The registry refuses plugins that would break at a user's first sync, naming them."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from mca_pipeline.core import (
    AuthType,
    Credentials,
    DedupPolicy,
    MediaItem,
    OAuthConfig,
    PluginRegistry,
    RegistryError,
    SourcePlugin,
    SyncContext,
    SyncResult,
)
from mca_pipeline.plugins import build_registry
from mca_pipeline.plugins.spotify import SPOTIFY_OAUTH


@dataclass
class FakePlugin(SourcePlugin):
    name: str
    auth_type: AuthType = AuthType.NONE
    auth_config: OAuthConfig | dict | None = None  # type: ignore[type-arg]
    dedup_policy: DedupPolicy = DedupPolicy.SKIP

    def sync(self, ctx: SyncContext, creds: Credentials, cursor: str) -> SyncResult:
        return SyncResult()

    def enrich(self, ctx: SyncContext, creds: Credentials, items: list[MediaItem]) -> list[MediaItem]:
        return items


def test_registers_and_finds_plugins() -> None:
    registry = PluginRegistry()
    registry.register(FakePlugin("lastfm", AuthType.API_KEY))
    registry.register(FakePlugin("spotify", AuthType.OAUTH, SPOTIFY_OAUTH))
    assert registry.names() == ["lastfm", "spotify"]
    assert registry.get("spotify").auth_config == SPOTIFY_OAUTH
    with pytest.raises(KeyError, match="registered: lastfm, spotify"):
        registry.get("tiktok")


def test_duplicate_name_is_rejected() -> None:
    registry = PluginRegistry()
    registry.register(FakePlugin("netflix"))
    with pytest.raises(RegistryError, match=r"'netflix'.*already registered"):
        registry.register(FakePlugin("netflix"))


@pytest.mark.parametrize("name", ["Netflix", "spotify-export", "1password", "", "you tube", "ü"])
def test_name_must_be_a_lowercase_identifier(name: str) -> None:
    with pytest.raises(RegistryError, match="lowercase identifier") as info:
        PluginRegistry().register(FakePlugin(name))
    assert repr(name) in str(info.value)


def test_oauth_plugin_without_config_is_rejected() -> None:
    with pytest.raises(RegistryError, match=r"plugin 'spotify'.*needs an OAuthConfig"):
        PluginRegistry().register(FakePlugin("spotify", AuthType.OAUTH, None))


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"scopes": ()}, "scopes"),
        ({"auth_url": ""}, "auth_url"),
        ({"token_url": "not a url"}, "token_url"),
    ],
)
def test_oauth_plugin_with_incomplete_config_is_rejected(change: dict, field: str) -> None:  # type: ignore[type-arg]
    config = SPOTIFY_OAUTH.model_dump() | change
    with pytest.raises(RegistryError, match=f"plugin 'spotify'.*incomplete OAuthConfig: {field}"):
        PluginRegistry().register(FakePlugin("spotify", AuthType.OAUTH, config))


def test_a_file_import_plugin_that_cannot_recognise_its_files_is_rejected() -> None:
    with pytest.raises(RegistryError, match=r"plugin 'letterboxd'.*must implement recognizes"):
        PluginRegistry().register(FakePlugin("letterboxd", AuthType.FILE_IMPORT))

    @dataclass
    class Recognising(FakePlugin):
        def recognizes(self, name: str, head: bytes) -> bool:
            return head.startswith(b"Date,Name,Year")

    registry = PluginRegistry()
    registry.register(Recognising("letterboxd", AuthType.FILE_IMPORT))
    assert registry.names() == ["letterboxd"]


def test_object_that_is_not_a_plugin_is_rejected() -> None:
    class NotAPlugin:
        name = "broken"

    with pytest.raises(RegistryError, match=r"'broken'.*does not implement SourcePlugin"):
        PluginRegistry().register(NotAPlugin())  # type: ignore[arg-type]


def test_the_shipped_registry_has_every_plugin_valid() -> None:
    registry = build_registry()
    assert {p.name: p.auth_type for p in registry} == {
        "instapaper": AuthType.FILE_IMPORT,
        "lastfm": AuthType.API_KEY,
        "listenbrainz": AuthType.NONE,
        "netflix": AuthType.FILE_IMPORT,
        "spotify": AuthType.OAUTH,
        "spotify_export": AuthType.FILE_IMPORT,
        "tiktok": AuthType.FILE_IMPORT,
        "youtube": AuthType.OAUTH,
        "youtube_takeout": AuthType.FILE_IMPORT,
    }
    covered = {p.auth_type for p in registry}
    assert covered == set(AuthType), "every auth type of the guide has a real plugin"


def test_every_built_in_source_has_a_name_people_know() -> None:
    from mca_pipeline.plugins import build_registry

    shown = {p.name: p.display_name for p in build_registry()}
    assert all(shown.values()), shown
    assert len(set(shown.values())) == len(shown), "no two sources look alike"
    assert shown["youtube_takeout"] == "YouTube — Google Takeout"


@pytest.mark.parametrize(
    "lengths",
    [{"movie": 6000.0}, {"video": 0.0}, {"video": -5.0}, {"video": 90_000.0}, {"video": "long"}],
)
def test_a_typical_length_must_name_a_view_kind_and_a_plausible_length(lengths: dict) -> None:  # type: ignore[type-arg]
    class Odd(FakePlugin):
        typical_length_s = lengths  # type: ignore[assignment]

    with pytest.raises(RegistryError, match=r"'odd'.*typical_length_s"):
        PluginRegistry().register(Odd("odd"))


def test_typical_lengths_come_from_the_plugins() -> None:
    lengths = build_registry().typical_lengths()
    assert lengths[("tiktok", "video")] == 30.0
    assert lengths[("netflix", "video")] == 6000.0
    assert ("spotify_export", "music") not in lengths  # measured: the kind's default is never needed
