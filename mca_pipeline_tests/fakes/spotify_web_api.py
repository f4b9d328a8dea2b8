"""A fake Spotify Web API and accounts service, served through httpx.MockTransport.

It keeps a listening history and answers GET /v1/me/player/recently-played the way the
real endpoint does (PLATFORMS.md 1.2/1.3: newest first, limit <= 50, `after`/`before`
in Unix ms, `next` carrying before=, `cursors` as strings, errors in the nested
{"error": {"status", "message"}} shape), and POST /api/token for refreshes. Failures
are scripted per request, or drawn at random for the fault-injection test.

With a `clock`, access tokens expire like real ones: an hour (`expires_in`) after they
were issued, the API answers 401. `token_fail` scripts the token endpoint's failures.
"""

from __future__ import annotations

import json
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs

import httpx

API = "https://api.spotify.com"
ACCOUNTS = "https://accounts.spotify.com"


def _ms(played_at: datetime) -> int:
    return int(played_at.timestamp() * 1000)


def track(n: int) -> dict[str, object]:
    track_id = f"{n:022d}"
    artist = {
        "id": f"artist{n % 7:016d}",
        "name": f"Artist {n % 7}",
        "type": "artist",
        "uri": f"spotify:artist:artist{n % 7:016d}",
        "href": f"{API}/v1/artists/artist{n % 7:016d}",
        "external_urls": {"spotify": f"https://open.spotify.com/artist/artist{n % 7:016d}"},
    }
    return {
        "album": {
            "album_type": "album",
            "name": f"Album {n % 11}",
            "id": f"album{n % 11:017d}",
            "release_date": "2021-09-10",
            "release_date_precision": "day",
            "total_tracks": 11,
            "images": [],
            "artists": [artist],
            "type": "album",
            "uri": f"spotify:album:album{n % 11:017d}",
            "href": f"{API}/v1/albums/album{n % 11:017d}",
            "external_urls": {"spotify": f"https://open.spotify.com/album/album{n % 11:017d}"},
            "available_markets": ["DE", "GB", "US"],
        },
        "artists": [artist],
        "available_markets": ["DE", "GB", "US"],
        "disc_number": 1,
        "duration_ms": 180_000 + n,
        "explicit": False,
        "external_urls": {"spotify": f"https://open.spotify.com/track/{track_id}"},
        "href": f"{API}/v1/tracks/{track_id}",
        "id": track_id,
        "is_local": False,
        "name": f"Song {n}",
        "preview_url": None,
        "track_number": 1 + n % 11,
        "type": "track",
        "uri": f"spotify:track:{track_id}",
    }


@dataclass
class FakeSpotify:
    """Plays are (played_at, track number); `fail` queues responses to give instead."""

    plays: list[tuple[datetime, int]] = field(default_factory=list)
    access_token: str = "access-1"
    refresh_token: str = "refresh-1"
    refresh_allowed: bool = True
    granted_scopes: tuple[str, ...] = ("user-read-recently-played",)
    fail: deque[httpx.Response | Exception] = field(default_factory=deque)
    random_failure_rate: float = 0.0
    rng: random.Random = field(default_factory=lambda: random.Random(7))
    requests: list[httpx.Request] = field(default_factory=list)
    clock: Callable[[], datetime] | None = None
    expires_in: int = 3600
    #: When the current access token stops working (only with a clock).
    token_expires_at: datetime | None = None
    token_fail: deque[httpx.Response | Exception] = field(default_factory=deque)
    #: How many API calls were answered 401 because the token had expired.
    expired_token_calls: int = 0

    def listen(self, count: int, start: datetime | None = None) -> None:
        """Add `count` plays, three minutes apart, after the last one."""
        last = self.plays[-1][0] if self.plays else (start or datetime(2024, 5, 1, 8, tzinfo=UTC))
        first_n = len(self.plays)
        for i in range(count):
            self.plays.append((last + timedelta(minutes=3 * (i + 1), milliseconds=137 * i), first_n + i))

    def expire_token(self) -> None:
        self.access_token = self.access_token + "-expired"

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if request.url.path == "/api/token":
            return self._token(request)
        if self.fail:
            scripted = self.fail.popleft()
            if isinstance(scripted, Exception):
                raise scripted
            return scripted
        if self.random_failure_rate and self.rng.random() < self.random_failure_rate:
            return self._random_failure(request)
        if request.headers.get("Authorization") != f"Bearer {self.access_token}" or self._expired():
            self.expired_token_calls += 1
            return _error(401, "The access token expired")
        if "user-read-recently-played" not in self.granted_scopes:
            return _error(403, "Insufficient client scope")
        return self._recently_played(request)

    def _random_failure(self, request: httpx.Request) -> httpx.Response:
        kind = self.rng.choice(["429", "500", "timeout", "truncated"])
        if kind == "429":
            return _error(429, "API rate limit exceeded", headers={"Retry-After": "0"})
        if kind == "500":
            return _error(500, "Server error")
        if kind == "timeout":
            raise httpx.ReadTimeout("timed out", request=request)
        good = self._recently_played(request)
        return httpx.Response(200, content=good.content[: len(good.content) // 2], headers=good.headers)

    def _recently_played(self, request: httpx.Request) -> httpx.Response:
        params = request.url.params
        limit = min(int(params.get("limit", 20)), 50)
        reachable = sorted(self.plays, reverse=True)[:50]  # only the last ~50 plays exist
        if "after" in params:
            after = int(params["after"])
            newer = [p for p in reachable if _ms(p[0]) > after]
            page = newer[-limit:]  # the oldest `limit` plays after the cursor, newest first
            older_left = False
        else:
            before = int(params["before"]) if "before" in params else None
            candidates = [p for p in reachable if before is None or _ms(p[0]) < before]
            page = candidates[:limit]
            older_left = len(candidates) > limit
        items = [
            {
                "track": track(n),
                "played_at": played.strftime("%Y-%m-%dT%H:%M:%S.") + f"{played.microsecond // 1000:03d}Z",
                "context": None,
            }
            for played, n in page
        ]
        body: dict[str, object] = {
            "items": items,
            "next": (
                f"{API}/v1/me/player/recently-played?before={_ms(page[-1][0])}&limit={limit}"
                if page and older_left
                else None
            ),
            "cursors": {"after": str(_ms(page[0][0])), "before": str(_ms(page[-1][0]))} if page else None,
            "limit": limit,
            "href": str(request.url),
        }
        return httpx.Response(200, json=body)

    def _expired(self) -> bool:
        return (
            self.clock is not None
            and self.token_expires_at is not None
            and self.clock() >= self.token_expires_at
        )

    def _token(self, request: httpx.Request) -> httpx.Response:
        if self.token_fail:
            scripted = self.token_fail.popleft()
            if isinstance(scripted, Exception):
                raise scripted
            return scripted
        form = parse_qs(request.content.decode())
        if not self.refresh_allowed or form.get("refresh_token") != [self.refresh_token]:
            return httpx.Response(
                400, json={"error": "invalid_grant", "error_description": "Refresh token revoked"}
            )
        self.access_token = "access-" + str(len(self.requests))
        if self.clock is not None:
            self.token_expires_at = self.clock() + timedelta(seconds=self.expires_in)
        body = {
            "access_token": self.access_token,
            "token_type": "Bearer",
            "scope": " ".join(self.granted_scopes),
            "expires_in": self.expires_in,
        }
        return httpx.Response(200, content=json.dumps(body), headers={"Content-Type": "application/json"})


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"status": status, "message": message}}, headers=headers)
