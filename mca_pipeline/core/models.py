"""The data that crosses the plugin boundary, as pydantic models.

These mirror the Go contract in the plugin guide. They are pydantic models rather than
dataclasses because everything here comes from outside (platform payloads, export files)
and a bad value must be rejected with the field and the value named, not stored.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from pathlib import Path
from typing import Any

import pydantic_core
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator


class AuthType(StrEnum):
    """How a plugin gets access to a person's data on its platform."""

    OAUTH = "oauth"
    FILE_IMPORT = "file_import"
    API_KEY = "api_key"
    NONE = "none"


class MediaType(StrEnum):
    MUSIC = "music"
    VIDEO = "video"
    ARTICLE = "article"
    PODCAST = "podcast"


#: What one view of an item is, for counting: a media type, except that a video of a
#: series (raw_metadata.series) is an 'episode'.
VIEW_KINDS = ("music", "episode", "video", "podcast", "article")


class ErrorCode(StrEnum):
    """The seven normalised failure categories; core decides behaviour from these alone."""

    AUTH_EXPIRED = "auth_expired"
    RATE_LIMIT = "rate_limit"
    PARTIAL_SYNC = "partial_sync"
    UPSTREAM = "upstream"
    INVALID_DATA = "invalid_data"
    PERMISSION_DENIED = "permission_denied"
    FILE_PARSE_ERROR = "file_parse_error"


#: Codes whose errors core retries unless the plugin says `retry=False`.
RETRIED_BY_DEFAULT = frozenset({ErrorCode.RATE_LIMIT, ErrorCode.UPSTREAM, ErrorCode.PARTIAL_SYNC})


class DedupPolicy(StrEnum):
    """What core does when an item with the same (user, platform, external_id) exists.

    SKIP suits immutable facts (a play at a time); UPDATE_ON_CHANGE suits items whose
    platform metadata can be corrected later (a renamed video, a re-titled episode).
    """

    SKIP = "skip"
    UPDATE_ON_CHANGE = "update_on_change"


_PLUGIN_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def is_plugin_name(name: str) -> bool:
    """A plugin name doubles as a Dagster asset key and a folder name: lowercase identifier."""
    return bool(_PLUGIN_NAME.fullmatch(name))


class OAuthConfig(BaseModel):
    """OAuth parameters of a platform. Client id and secret are read from the environment
    (never from code) under the variable names given here."""

    model_config = ConfigDict(frozen=True)

    provider_name: str = Field(min_length=1)
    auth_url: str = Field(pattern=r"^https?://\S+$")
    token_url: str = Field(pattern=r"^https?://\S+$")
    scopes: tuple[str, ...] = Field(min_length=1)
    client_id_env: str = Field(min_length=1)
    client_secret_env: str = Field(min_length=1)
    supports_pkce: bool = False
    #: RFC 7009 token revocation endpoint, where the platform has one (Google does;
    #: Spotify does not): disconnecting revokes the stored tokens there.
    revoke_url: str | None = Field(default=None, pattern=r"^https?://\S+$")

    def client_id(self) -> str | None:
        return os.environ.get(self.client_id_env)

    def client_secret(self) -> SecretStr | None:
        value = os.environ.get(self.client_secret_env)
        return SecretStr(value) if value else None


class Credentials(BaseModel):
    """What core hands a plugin for one sync. Plugins never store these.

    Secrets are SecretStr so that a repr, a log line or an exception never shows them.
    For file imports, `file` is the path of the export file (a path rather than a stream
    so that the plugin can name it in errors and resume at a byte offset). `account` is
    the person's name on the platform where its API needs one (a Last.fm username);
    `scopes` are the OAuth scopes the person granted.
    """

    model_config = ConfigDict(frozen=True)

    access_token: SecretStr | None = None
    refresh_token: SecretStr | None = None
    expires_at: datetime | None = None
    api_key: SecretStr | None = None
    account: str | None = None
    scopes: tuple[str, ...] = ()
    file: Path | None = None


class MediaItem(BaseModel):
    """One act of consumption, normalised. `consumed_at` is when it started, in UTC."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    platform: str = Field(min_length=1)
    type: MediaType
    title: str = Field(min_length=1)
    creator: str | None = None
    consumed_at: datetime
    duration: timedelta | None = None
    time_spent: timedelta | None = None
    tags: tuple[str, ...] = ()
    url: str | None = None
    external_id: str = Field(min_length=1)
    raw_metadata: dict[str, Any] = Field(default_factory=dict)

    @field_validator("consumed_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"must be timezone-aware, got naive {value.isoformat()}")
        try:
            return value.astimezone(UTC)
        except OverflowError:
            raise ValueError(f"{value.isoformat()} is outside the calendar in UTC") from None

    @field_validator("raw_metadata")
    @classmethod
    def _storable(cls, value: dict[str, Any]) -> dict[str, Any]:
        """A lone surrogate ("\\ud800" in a JSON export) or a value JSON cannot hold would
        only fail when the page is stored, costing the whole page; failing here lets the
        plugin skip that one record."""
        try:
            pydantic_core.to_json(value)
        except pydantic_core.PydanticSerializationError as exc:
            raise ValueError(f"cannot be stored as JSON: {exc}") from None
        return value

    @field_validator("duration", "time_spent")
    @classmethod
    def _not_negative(cls, value: timedelta | None) -> timedelta | None:
        if value is not None and value < timedelta(0):
            raise ValueError(f"must not be negative, got {value}")
        return value


class PluginError(BaseModel):
    """A normalised platform failure. `raw` keeps an excerpt of what the platform said."""

    code: ErrorCode
    message: str
    #: Whether core may try again. Left out, it follows the code: a rate limit, an
    #: upstream failure and a partial sync are worth retrying, the rest need a person.
    #: A plugin says False where the platform told it retrying is pointless.
    retry: bool | None = None  # never None once validated: see _retry_by_code
    after: timedelta | None = None
    raw: str | None = None
    details: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _retry_by_code(self) -> PluginError:
        if self.retry is None:
            self.retry = self.code in RETRIED_BY_DEFAULT
        return self

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}"


class SkippedRecord(BaseModel):
    """A record of an export file that could not be read, left out of the import.

    One bad record must not cost a person the rest of their history, so file plugins
    report it here instead of failing the file; core counts these, writes them into the
    file's import report and rejects the file only when too many fail (see
    `mca_pipeline.warehouse.import_report.REJECT_SHARE`). `reason` is short and the same for
    every record with the same problem ("title is empty"), so reasons can be counted;
    `detail` says what this record held.
    """

    model_config = ConfigDict(frozen=True)

    reason: str = Field(min_length=1)
    line: int | None = None
    byte_offset: int | None = None
    field: str | None = None
    detail: str | None = None
    excerpt: str | None = None

    @field_validator("reason", "field", "detail", "excerpt", mode="before")
    @classmethod
    def _printable(cls, value: object) -> object:
        """What a broken record held is shown as it was, but bytes that are not text
        (a latin-1 row read as UTF-8, a lone surrogate) become escapes, so the report and
        the metadata can always be written."""
        if isinstance(value, str):
            return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value


class SyncResult(BaseModel):
    """One page of a sync: items so far, where to resume, and whether more is waiting.

    File-import plugins also report the records of the page they could not read
    (`skipped`) and how many they left out on purpose by reason (`left_out`: ads,
    trailers, removed videos), so a person can see why fewer items came in than the
    file has records.
    """

    items: list[MediaItem] = Field(default_factory=list)
    next_cursor: str = ""
    has_more: bool = False
    err: PluginError | None = None
    skipped: list[SkippedRecord] = Field(default_factory=list)
    left_out: dict[str, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _resumable(self) -> SyncResult:
        if self.err is not None and self.err.code == ErrorCode.PARTIAL_SYNC and not self.next_cursor:
            raise ValueError("a partial_sync result must carry the cursor to resume from")
        return self


def utc_now() -> datetime:
    return datetime.now(UTC)
