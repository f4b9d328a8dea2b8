"""The contract models reject bad values precisely: which field, which value."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from mca_pipeline.core import Credentials, ErrorCode, MediaItem, MediaType, PluginError, SyncResult


def item(**overrides: object) -> MediaItem:
    fields: dict[str, object] = {
        "platform": "netflix",
        "type": "video",
        "title": "Night Lines: A Concert Film",
        "consumed_at": datetime(2024, 5, 30, 21, 2, 13, tzinfo=UTC),
        "external_id": "Sam|2024-05-30 21:02:13|Night Lines: A Concert Film",
    }
    fields.update(overrides)
    return MediaItem.model_validate(fields)


def test_consumed_at_is_normalised_to_utc() -> None:
    berlin = timezone(timedelta(hours=2))
    got = item(consumed_at=datetime(2024, 5, 30, 23, 2, 13, tzinfo=berlin))
    assert got.consumed_at == datetime(2024, 5, 30, 21, 2, 13, tzinfo=UTC)
    assert got.consumed_at.utcoffset() == timedelta(0)
    assert item(consumed_at="2024-05-30T21:02:13Z").consumed_at.tzinfo is not None


def test_naive_consumed_at_is_rejected_naming_field_and_value() -> None:
    with pytest.raises(ValidationError) as info:
        item(consumed_at=datetime(2024, 5, 30, 21, 2, 13))
    error = info.value.errors()[0]
    assert error["loc"] == ("consumed_at",)
    assert "timezone-aware" in error["msg"]
    assert "2024-05-30T21:02:13" in error["msg"]


@pytest.mark.parametrize(
    ("field", "value", "fragment"),
    [
        ("type", "song", "'music', 'video', 'article' or 'podcast'"),
        ("title", "", "at least 1 character"),
        ("external_id", "", "at least 1 character"),
        ("time_spent", timedelta(seconds=-5), "must not be negative"),
        ("duration", timedelta(seconds=-1), "must not be negative"),
    ],
)
def test_bad_values_are_rejected_with_the_field_named(field: str, value: object, fragment: str) -> None:
    with pytest.raises(ValidationError) as info:
        item(**{field: value})
    error = info.value.errors()[0]
    assert error["loc"] == (field,)
    assert fragment in error["msg"]


def test_unknown_fields_are_rejected_instead_of_silently_dropped() -> None:
    with pytest.raises(ValidationError) as info:
        item(genre="jazz")
    assert info.value.errors()[0]["loc"] == ("genre",)


def test_media_types_and_error_codes_are_the_guides() -> None:
    assert {t.value for t in MediaType} == {"music", "video", "article", "podcast"}
    assert {c.value for c in ErrorCode} == {
        "auth_expired",
        "rate_limit",
        "partial_sync",
        "upstream",
        "invalid_data",
        "permission_denied",
        "file_parse_error",
    }


def test_partial_sync_must_say_where_to_resume() -> None:
    err = PluginError(code=ErrorCode.PARTIAL_SYNC, message="page 6 failed", retry=True)
    with pytest.raises(ValidationError, match="cursor to resume from"):
        SyncResult(items=[item()], err=err)
    assert SyncResult(items=[item()], next_cursor="page-6", has_more=True, err=err).has_more


def test_plugin_error_reads_like_the_guide() -> None:
    err = PluginError(
        code=ErrorCode.RATE_LIMIT, message="Spotify rate limit hit", after=timedelta(seconds=30)
    )
    assert str(err) == "[rate_limit] Spotify rate limit hit"


def test_credentials_never_show_secrets() -> None:
    creds = Credentials(access_token="tok-123-secret", refresh_token="ref-456-secret", api_key="key-789")
    shown = repr(creds) + str(creds) + creds.model_dump_json()
    for secret in ("tok-123-secret", "ref-456-secret", "key-789"):
        assert secret not in shown
    assert creds.access_token is not None and creds.access_token.get_secret_value() == "tok-123-secret"


def test_core_and_plugins_import_neither_dagster_nor_duckdb() -> None:
    code = (
        "import sys, mca_pipeline.core, mca_pipeline.plugins; "
        "bad = [m for m in ('dagster', 'duckdb') if m in sys.modules]; "
        "print(','.join(bad)); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, f"imported: {done.stdout.strip()} {done.stderr[-500:]}"
