"""A fake Last.fm `user.getRecentTracks`, served through httpx.MockTransport.

Answers like the real API (PLATFORMS.md 7.1/7.3): newest first, `page`/`limit`,
`from`/`to` in Unix seconds, every number a string in `@attr`, a now-playing row on top
of page 1 without a date, and errors as {"error": code, "message": ...}. Failures can
be queued for the next requests.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import httpx

BASE = "https://ws.audioscrobbler.com"


@dataclass
class FakeLastfm:
    scrobbles: list[tuple[int, str, str]] = field(default_factory=list)  # (uts, artist, track)
    api_key: str = "lastfm-key-123"
    user: str = "mv_listener"
    now_playing: tuple[str, str] | None = ("Marla Venn", "Lantern Street")
    fail: deque[httpx.Response] = field(default_factory=deque)
    requests: list[httpx.Request] = field(default_factory=list)

    def scrobble(self, count: int, start_uts: int = 1_714_000_000) -> None:
        last = self.scrobbles[-1][0] if self.scrobbles else start_uts
        for i in range(count):
            n = len(self.scrobbles)
            self.scrobbles.append((last + 200 * (i + 1), f"Artist {n % 9}", f"Track {n}"))

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail:
            return self.fail.popleft()
        params = request.url.params
        if params.get("api_key") != self.api_key:
            return httpx.Response(
                403,
                json={"error": 10, "message": "Invalid API key - You must be granted a valid key by last.fm"},
            )
        if params.get("user") != self.user:
            return httpx.Response(404, json={"error": 6, "message": "User not found"})
        limit = int(params.get("limit", 50))
        page = int(params.get("page", 1))
        low = int(params.get("from", 0))
        high = int(params.get("to", 2**40))
        window = sorted((s for s in self.scrobbles if low <= s[0] <= high), reverse=True)
        total_pages = max(1, -(-len(window) // limit))
        rows = [self._row(*s) for s in window[(page - 1) * limit : page * limit]]
        if page == 1 and self.now_playing:
            artist, name = self.now_playing
            rows.insert(0, self._row(None, artist, name))
        body = {
            "recenttracks": {
                "track": rows,
                "@attr": {
                    "user": self.user,
                    "page": str(page),
                    "perPage": str(limit),
                    "totalPages": str(total_pages),
                    "total": str(len(window)),
                },
            }
        }
        return httpx.Response(200, json=body)

    @staticmethod
    def _row(uts: int | None, artist: str, name: str) -> dict[str, object]:
        row: dict[str, object] = {
            "artist": {"mbid": "", "#text": artist},
            "streamable": "0",
            "image": [{"size": "small", "#text": ""}],
            "mbid": "",
            "album": {"mbid": "", "#text": ""},
            "name": name,
            "url": f"https://www.last.fm/music/{artist.replace(' ', '+')}/_/{name.replace(' ', '+')}",
        }
        if uts is None:
            row["@attr"] = {"nowplaying": "true"}
        else:
            row["date"] = {"uts": str(uts), "#text": "03 May 2024, 18:18"}
        return row
