"""The plugin registry: every plugin registered once at start, checked on the way in.

Checking at registration means a misconfigured plugin stops the code location from
loading with an error naming that plugin, instead of failing at a user's first sync.
"""

from __future__ import annotations

from collections.abc import Iterator

from pydantic import ValidationError

from mca_pipeline.core.models import VIEW_KINDS, AuthType, DedupPolicy, OAuthConfig, is_plugin_name
from mca_pipeline.core.plugin import FileImportPlugin, SourcePlugin


class RegistryError(ValueError):
    """A plugin that cannot be registered; the message names the plugin."""


class PluginRegistry:
    def __init__(self) -> None:
        self._plugins: dict[str, SourcePlugin] = {}

    def register(self, plugin: SourcePlugin) -> None:
        name = getattr(plugin, "name", None)
        label = f"plugin {name!r} ({type(plugin).__name__})"
        if not isinstance(plugin, SourcePlugin):
            raise RegistryError(
                f"{label} does not implement SourcePlugin (name, auth_type, auth_config, "
                "dedup_policy, sync, enrich; subclass it to get the optional members' defaults)"
            )
        if not isinstance(name, str) or not is_plugin_name(name):
            raise RegistryError(f"{label}: name must be a lowercase identifier like 'spotify_export'")
        if name in self._plugins:
            raise RegistryError(
                f"{label}: a plugin named {name!r} is already registered "
                f"({type(self._plugins[name]).__name__})"
            )
        try:
            auth_type = AuthType(plugin.auth_type)
            DedupPolicy(plugin.dedup_policy)
        except ValueError as exc:
            raise RegistryError(f"{label}: {exc}") from exc
        if auth_type is AuthType.FILE_IMPORT and not isinstance(plugin, FileImportPlugin):
            raise RegistryError(
                f"{label}: a file-import plugin must implement recognizes(name, head), so files of a "
                "dropped archive or folder can be routed to it"
            )
        for kind, seconds in plugin.typical_length_s.items():
            if kind not in VIEW_KINDS or not isinstance(seconds, int | float) or not 0 < seconds < 86_400:
                raise RegistryError(
                    f"{label}: typical_length_s[{kind!r}] = {seconds!r}: kinds are {', '.join(VIEW_KINDS)}, "
                    "lengths seconds between 0 and a day"
                )
        config = plugin.auth_config
        if auth_type is AuthType.OAUTH:
            if config is None:
                raise RegistryError(
                    f"{label}: an OAuth plugin needs an OAuthConfig (auth URL, token URL, scopes)"
                )
            try:
                OAuthConfig.model_validate(config.model_dump() if isinstance(config, OAuthConfig) else config)
            except ValidationError as exc:
                raise RegistryError(f"{label}: incomplete OAuthConfig: {_fields(exc)}") from exc
        self._plugins[name] = plugin

    def get(self, name: str) -> SourcePlugin:
        try:
            return self._plugins[name]
        except KeyError:
            raise KeyError(
                f"no plugin named {name!r}; registered: {', '.join(sorted(self._plugins))}"
            ) from None

    def __contains__(self, name: object) -> bool:
        return name in self._plugins

    def __iter__(self) -> Iterator[SourcePlugin]:
        return iter(self._plugins.values())

    def __len__(self) -> int:
        return len(self._plugins)

    def names(self) -> list[str]:
        return sorted(self._plugins)

    def typical_lengths(self) -> dict[tuple[str, str], float]:
        """(plugin, view kind) -> seconds one view usually lasts, as the plugins declare."""
        return {
            (plugin.name, kind): float(seconds)
            for plugin in self._plugins.values()
            for kind, seconds in plugin.typical_length_s.items()
        }


def _fields(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
