"""What Last.fm's source plugin (user.getRecentTracks) and its tag enrichment
(track/artist.getTopTags) share about the Last.fm API: the endpoint, the API key in the
query string, and reading an answer whose HTTP status is unreliable.

Last.fm answers errors as `{"error": <code>, "message": ...}`, sometimes with HTTP 200
(PLATFORMS.md 7.3), so the body is read before the status. The codes both callers read
alike are mapped here (`common_error`); the ones only one caller can read (6: no such
user, or no such artist; 9: session; 17: hidden history) are left to it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx

from mca_pipeline.clients.http import MESSAGE_CHARS, PlatformHttp, excerpt, redact
from mca_pipeline.core import ErrorCode, PluginError, endpoints

API_PATH = "/2.0/"
#: Wait after a rate limit when Last.fm sends no Retry-After (it usually does not).
RATE_LIMIT_WAIT = timedelta(seconds=60)
#: Where a person gets a working API key.
API_KEY_URL = "https://www.last.fm/api/account/create"

# Last.fm error codes (https://www.last.fm/api/errorcodes, PLATFORMS.md 7.3).
INVALID_PARAMETERS = 6  # also "not found" for a user, artist or track
OPERATION_FAILED = 8
INVALID_SESSION = 9
INVALID_API_KEY = 10
SERVICE_OFFLINE = 11
TEMPORARY_ERROR = 16
LOGIN_REQUIRED = 17
SUSPENDED_API_KEY = 26
RATE_LIMITED = 29
TRANSIENT = frozenset({OPERATION_FAILED, SERVICE_OFFLINE, TEMPORARY_ERROR})


@dataclass(frozen=True)
class LastfmAnswer:
    """One response, read: the JSON body (None when it is not JSON), the Last.fm error
    code when there is one, and what Last.fm said, redacted and cut."""

    response: httpx.Response
    body: Any
    code: int | str | None
    said: str

    @property
    def status(self) -> int:
        return self.response.status_code

    @property
    def details(self) -> dict[str, Any]:
        return {"lastfm_error": self.code, "http_status": self.status}


class LastfmClient(PlatformHttp):
    """The Last.fm API at MCA_LASTFM_API_URL (or `base_url`), every call with the key."""

    def __init__(
        self, client: httpx.Client | None = None, base_url: str | None = None, timeout_s: float = 20.0
    ) -> None:
        base_url = base_url or endpoints.base_url(endpoints.LASTFM_API)
        super().__init__("Last.fm", base_url, client, timeout_s)
        # An injected client without a base URL still needs an absolute URL.
        self.url = API_PATH if self.client.base_url.host else base_url.rstrip("/") + API_PATH

    def call(self, params: dict[str, Any], secret: str, what: str) -> LastfmAnswer:
        """One API method call; a transport failure raises PlatformFailed."""
        query = {**params, "api_key": secret, "format": "json"}
        response = self.get(self.url, params=query, what=what, secrets=[secret])
        try:
            body = json.loads(response.content)
        except ValueError:
            body = None
        code: Any = body.get("error") if isinstance(body, dict) else None
        if isinstance(code, str) and code.strip().isdigit():
            code = int(code)
        said = body.get("message") if isinstance(body, dict) and code is not None else None
        return LastfmAnswer(response, body, code, redact(str(said or ""), [secret])[:MESSAGE_CHARS])

    def common_error(self, answer: LastfmAnswer, secret: str, what: str, key_fix: str) -> PluginError | None:
        """The failures both callers read alike: error 29 or HTTP 429 (rate limit), errors
        10 and 26 (the key: permission_denied, `key_fix` says where to enter a working
        one), errors 8/11/16 and HTTP 5xx (upstream, retried). None: a success, or a code
        the caller reads itself."""
        raw = excerpt(answer.response.text, [secret])
        code, said = answer.code, answer.said
        if code == RATE_LIMITED or (code is None and answer.status == 429):
            told = f"{what}, error 29: {said}" if said else what
            return self.rate_limited(
                answer.response, told, default_wait=RATE_LIMIT_WAIT, secrets=[secret], details=answer.details
            )
        if code in (INVALID_API_KEY, SUSPENDED_API_KEY):
            state = "is suspended" if code == SUSPENDED_API_KEY else "is not valid"
            return PluginError(
                code=ErrorCode.PERMISSION_DENIED,
                message=f"the Last.fm API key {state} (error {code}: {said}); {key_fix} from {API_KEY_URL}",
                raw=raw,
                details=answer.details,
            )
        if code in TRANSIENT:
            return PluginError(
                code=ErrorCode.UPSTREAM,
                message=f"Last.fm failed temporarily ({what}, error {code}: {said})",
                retry=True,
                raw=raw,
                details=answer.details,
            )
        if answer.status >= 500:
            told = f"{what}, error {code}: {said}" if code is not None else what
            return self.server_error(answer.response, told, secrets=[secret], details=answer.details)
        return None
