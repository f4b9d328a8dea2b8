"""What every HTTP-speaking plugin and enrichment client needs when a platform answers
badly: how long a Retry-After says to wait, and how to keep secrets out of messages,
raw excerpts and httpx's request log. One copy, so a fix reaches every platform."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import quote, quote_plus

REDACTED = "[REDACTED]"
_API_KEY_PARAM = re.compile(r"((?:api_key|key)=)[^&\s\"'<>]+", re.IGNORECASE)
_LONGEST_WAIT_S = 86_400


def retry_after(header: str | None, default: timedelta) -> timedelta:
    """A Retry-After header (seconds, or an HTTP date) as a wait; `default` when it is
    missing, unreadable, negative or absurd (more than a day)."""
    value = (header or "").strip()
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError, IndexError):
            return default
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        return max(timedelta(0), when - datetime.now(UTC))
    if not math.isfinite(seconds) or seconds < 0 or seconds > _LONGEST_WAIT_S:
        return default
    return timedelta(seconds=math.ceil(seconds))


def redact(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Mask each secret (verbatim and URL-encoded) and any `api_key=`/`key=` query value."""
    for secret in secrets:
        if secret:
            for form in {secret, quote(secret, safe=""), quote_plus(secret)}:
                text = text.replace(form, REDACTED)
    return _API_KEY_PARAM.sub(r"\1" + REDACTED, text)


def describe(exc: BaseException) -> str:
    """An exception as "Type: message" for a PluginError message."""
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class _MaskApiKeysInHttpxLog(logging.Filter):
    """httpx logs every request URL at INFO, query string included: mask keys in it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else _masked_url(a) for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def _masked_url(value: object) -> object:
    text = str(value)
    return redact(text) if "key=" in text.lower() else value


def mask_api_keys_in_httpx_log() -> None:
    """Install the filter once per process (idempotent)."""
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _MaskApiKeysInHttpxLog) for f in logger.filters):
        logger.addFilter(_MaskApiKeysInHttpxLog())
