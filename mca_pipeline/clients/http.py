"""The HTTP behaviour every platform client shares, in one copy so that a fix reaches
every plugin and enrichment: a timeout on every request (an injected client without one
gets one), transport failures as upstream errors, Retry-After, the statuses every
platform means the same by (429, 5xx), the partial-sync wrapper, and keeping secrets out
of messages, raw excerpts and httpx's request log. What a status means beyond that is
the platform's own (clients/<platform>.py, or its one plugin or enrichment)."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote, quote_plus

import httpx

from mca_pipeline.core.enrichment import EnrichmentFailed
from mca_pipeline.core.models import ErrorCode, PluginError

REDACTED = "[REDACTED]"
#: How much of a platform's answer is kept (redacted) in a PluginError's `raw`.
RAW_CHARS = 500
#: How much of what a platform said goes into a message.
MESSAGE_CHARS = 200
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


def excerpt(text: str, secrets: Iterable[str | None] = ()) -> str:
    """A platform's answer for PluginError.raw: redacted first, so no piece of a secret is
    left by the cut, then cut to RAW_CHARS."""
    return redact(text, secrets)[:RAW_CHARS]


class PlatformFailed(EnrichmentFailed):
    """A request that failed as a whole (the platform unreachable, rate limited, down),
    carrying its PluginError: an enrichment lets it rise (core applies the error policy),
    a source plugin returns `error` in its SyncResult."""


class PlatformHttp:
    """One platform's HTTP client: its name for messages, and a timeout on every request.

    `client` is used as given (tests inject a MockTransport, a deployment may inject a
    proxying client), except that a client with no timeout at all gets `timeout_s` per
    request: a request never waits forever. Without one, a client with `base_url` and
    `timeout_s` on every phase is built.
    """

    def __init__(
        self, platform: str, base_url: str, client: httpx.Client | None = None, timeout_s: float = 20.0
    ) -> None:
        mask_api_keys_in_httpx_log()
        self.platform = platform
        self.client = client or httpx.Client(base_url=base_url, timeout=httpx.Timeout(timeout_s))
        t = self.client.timeout
        unbounded = t.connect is None and t.read is None and t.write is None and t.pool is None
        self.timeout: Any = httpx.Timeout(timeout_s) if unbounded else httpx.USE_CLIENT_DEFAULT

    def get(
        self, url: str, *, what: str, secrets: Iterable[str | None] = (), **kwargs: Any
    ) -> httpx.Response:
        """GET; a timeout or a network failure raises PlatformFailed(upstream, retry)."""
        return self.request("GET", url, what=what, secrets=secrets, **kwargs)

    def request(
        self, method: str, url: str, *, what: str, secrets: Iterable[str | None] = (), **kwargs: Any
    ) -> httpx.Response:
        try:
            return self.client.request(method, url, timeout=self.timeout, **kwargs)
        except httpx.TimeoutException as exc:
            raise PlatformFailed(
                self.upstream(f"{self.platform} did not answer in time", what, exc, secrets)
            ) from None
        except httpx.HTTPError as exc:
            raise PlatformFailed(self.upstream(f"cannot reach {self.platform}", what, exc, secrets)) from None

    def upstream(
        self, problem: str, what: str, exc: BaseException, secrets: Iterable[str | None]
    ) -> PluginError:
        return PluginError(
            code=ErrorCode.UPSTREAM,
            message=redact(f"{problem} ({what}): {describe(exc)}", secrets),
            retry=True,
        )

    def rate_limited(
        self,
        response: httpx.Response,
        what: str,
        *,
        default_wait: timedelta,
        after: timedelta | None = None,
        said: str = "",
        secrets: Iterable[str | None] = (),
        details: dict[str, Any] | None = None,
    ) -> PluginError:
        """A rate limit: wait `after` when the platform's own header said, else what
        Retry-After says, else `default_wait`."""
        wait = after if after is not None else retry_after(response.headers.get("Retry-After"), default_wait)
        secrets = list(secrets)
        text = f"{what}: {redact(said, secrets)}" if said else what
        return PluginError(
            code=ErrorCode.RATE_LIMIT,
            message=f"{self.platform} rate limit hit ({text}); retry in {wait.total_seconds():g} s",
            retry=True,
            after=wait,
            raw=excerpt(response.text, secrets),
            details={"http_status": response.status_code, **(details or {})},
        )

    def server_error(
        self,
        response: httpx.Response,
        what: str,
        *,
        said: str = "",
        secrets: Iterable[str | None] = (),
        details: dict[str, Any] | None = None,
    ) -> PluginError:
        """A 5xx (or the platform's own "try again later"): upstream, retried."""
        secrets = list(secrets)
        text = f"{what}: {redact(said, secrets)}" if said else what
        return PluginError(
            code=ErrorCode.UPSTREAM,
            message=f"{self.platform} answered HTTP {response.status_code} ({text})",
            retry=True,
            raw=excerpt(response.text, secrets),
            details={"http_status": response.status_code, **(details or {})},
        )

    def common_error(
        self,
        response: httpx.Response,
        what: str,
        *,
        default_wait: timedelta,
        said: str = "",
        secrets: Iterable[str | None] = (),
        details: dict[str, Any] | None = None,
    ) -> PluginError | None:
        """What every platform means by a status: 429 a rate limit, 5xx an outage; None
        for anything else (a success, or a status only the platform can read)."""
        if response.status_code == 429:
            return self.rate_limited(
                response, what, default_wait=default_wait, said=said, secrets=secrets, details=details
            )
        if response.status_code >= 500:
            return self.server_error(response, what, said=said, secrets=secrets, details=details)
        return None


def partial_sync(cause: PluginError, message: str, **details: Any) -> PluginError:
    """A failure after good pages: core keeps the items read, and the cursor resumes at
    the page that failed. `message` says how far the sync got; the cause's code, wait and
    raw answer go along."""
    return PluginError(
        code=ErrorCode.PARTIAL_SYNC,
        message=f"{message}: {cause.message}",
        retry=True,
        after=cause.after,
        raw=cause.raw,
        details={**cause.details, **details, "cause": cause.code.value},
    )
