"""The fake Last.fm over real HTTP, for Dagster runs in other processes.

The run launcher starts each run in a process of its own, where no httpx.MockTransport
can reach, so this serves `FakeLastfm` (one per Last.fm account, all behind one API key)
on 127.0.0.1 and counts what it was asked. An optional delay per request stands in for
the platform's latency. An optional rendezvous holds the first requests until that many
are in flight at once: two syncs then provably run together, however busy the machine is
and whatever order the daemon starts them in, so a test can show parallelism without
measuring time. If they never meet (runs held one at a time), the requests go on after
`rendezvous_timeout_s` and the overlap a test then sees is the truth: one.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from mca_pipeline_tests.fakes.lastfm_api import FakeLastfm


class LastfmServer:
    def __init__(
        self,
        api_key: str = "lastfm-key-123",
        delay_s: float = 0.0,
        rendezvous: int = 0,
        rendezvous_timeout_s: float = 120.0,
    ) -> None:
        self.api_key = api_key
        self.delay_s = delay_s
        self._rendezvous = threading.Barrier(rendezvous, timeout=rendezvous_timeout_s) if rendezvous else None
        self._held = 0
        #: Requests held until released, by (Last.fm user, number from 1): see hold().
        self._holds: dict[tuple[str, int], tuple[threading.Event, threading.Event]] = {}
        self._per_user: dict[str, int] = {}
        #: Whether the first requests met in flight (None without a rendezvous).
        self.met: bool | None = None
        self.accounts: dict[str, FakeLastfm] = {}
        self.requests = 0
        self._lock = threading.Lock()

    def account(self, name: str, scrobbles: int, start_uts: int = 1_714_000_000) -> FakeLastfm:
        """A Last.fm user with `scrobbles` plays, 200 s apart (no now-playing row)."""
        fake = FakeLastfm(api_key=self.api_key, user=name, now_playing=None)
        fake.scrobble(scrobbles, start_uts=start_uts)
        self.accounts[name] = fake
        return fake

    def handle(self, request: httpx.Request) -> httpx.Response:
        user = request.url.params.get("user", "")
        with self._lock:
            self.requests += 1
            self._per_user[user] = self._per_user.get(user, 0) + 1
            gate = self._holds.get((user, self._per_user[user]))
            hold = self._rendezvous is not None and self._held < self._rendezvous.parties
            self._held += hold
        if gate is not None:
            arrived, release = gate
            arrived.set()
            release.wait(timeout=300)
        if hold:
            self._meet()
        if self.delay_s:
            time.sleep(self.delay_s)
        fake = self.accounts.get(user)
        if fake is None:
            return httpx.Response(404, json={"error": 6, "message": "User not found"})
        return fake.handle(request)

    def hold(self, user: str, number: int) -> tuple[threading.Event, threading.Event]:
        """Hold the `number`-th request for `user`: (set when it arrives, set to let it through)."""
        gate = (threading.Event(), threading.Event())
        self._holds[(user, number)] = gate
        return gate

    def _meet(self) -> None:
        assert self._rendezvous is not None
        try:
            self._rendezvous.wait()
            met = True
        except threading.BrokenBarrierError:
            met = False
        with self._lock:
            self.met = met if self.met is None else self.met and met

    @contextmanager
    def serving(self) -> Iterator[str]:
        """Serve on a free port of 127.0.0.1; yields the base URL."""
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                url = f"http://{self.headers.get('Host', '127.0.0.1')}{self.path}"
                response = fake.handle(httpx.Request("GET", url))
                body = response.content
                self.send_response(response.status_code)
                self.send_header("Content-Type", response.headers.get("content-type", "application/json"))
                if "retry-after" in response.headers:  # what a rate-limited answer may carry
                    self.send_header("Retry-After", response.headers["retry-after"])
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                return

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        server.daemon_threads = True
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield f"http://127.0.0.1:{server.server_address[1]}"
        finally:
            server.shutdown()
            server.server_close()
