"""Sessions, CSRF protection and security headers of the connect web app.

Sessions live in this process's memory (a random id in an HttpOnly, SameSite=Lax
cookie): a restart signs everybody out, which suits a local app. Every state-changing
request must carry its session's CSRF token; every response carries the headers below.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "mca_session"
SESSION_TTL_S = 12 * 3600.0
ANONYMOUS_TTL_S = 3600.0
#: Anonymous (not yet signed-in) sessions kept at most; the oldest is dropped first.
MAX_ANONYMOUS_SESSIONS = 10_000
SWEEP_EVERY_S = 60.0
MAX_BODY_BYTES = 512 * 1024 * 1024  # an export archive can be large, but not unbounded
#: The most a request without a browser's origin headers may send for its csrf_token
#: form field to be read (forms are small; uploads come from browsers, which send them).
FORM_TOKEN_BODY_BYTES = 64 * 1024

SECURITY_HEADERS = {
    "content-security-policy": "default-src 'self'; frame-ancestors 'none'; form-action 'self'",
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


# --------------------------------------------------------------------------- sessions


@dataclass
class Session:
    id: str
    csrf_token: str
    user_id: str | None  # None: anonymous, only allowed to sign in
    last_seen: float
    #: The hash of the sign-in token the session was opened with: the session ends when
    #: the user gets a new token or is deleted.
    token_hash: str | None = None


class SessionStore:
    """Sessions in memory: a restart signs everybody out, which is fine for a local app.

    Anyone can open an anonymous session (GET /login without a cookie), so their number is
    capped (the oldest go first) and expired sessions are swept at most once a minute, not
    on every new session: 20,000 sessions had made each request 7 times slower."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._anonymous: OrderedDict[str, None] = OrderedDict()
        self._swept = clock()
        self._lock = threading.Lock()

    def create(self, user_id: str | None, token_hash: str | None = None) -> Session:
        now = self._clock()
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), user_id, now, token_hash)
        with self._lock:
            if now - self._swept > SWEEP_EVERY_S:
                self._swept = now
                for sid in [s.id for s in self._sessions.values() if self._expired(s, now)]:
                    self._drop(sid)
            self._sessions[session.id] = session
            if user_id is None:
                self._anonymous[session.id] = None
                while len(self._anonymous) > MAX_ANONYMOUS_SESSIONS:
                    self._drop(next(iter(self._anonymous)))
        return session

    def get(self, session_id: str | None) -> Session | None:
        if not session_id:
            return None
        now = self._clock()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if self._expired(session, now):
                self._drop(session_id)
                return None
            session.last_seen = now
            return session

    def delete(self, session_id: str | None) -> None:
        with self._lock:
            self._drop(session_id or "")

    def __len__(self) -> int:
        return len(self._sessions)

    def _drop(self, session_id: str) -> None:
        self._sessions.pop(session_id, None)
        self._anonymous.pop(session_id, None)

    @staticmethod
    def _expired(session: Session, now: float) -> bool:
        ttl = SESSION_TTL_S if session.user_id else ANONYMOUS_TTL_S
        return now - session.last_seen > ttl


# -------------------------------------------------------------------------- middleware


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                # A response may narrow the Content-Security-Policy for itself (a report
                # page needs inline styles and data: images and runs nothing); every other
                # header is the app's.
                own = {k.decode().lower(): v for k, v in message.get("headers", [])}
                keep = {"content-security-policy"} if "content-security-policy" in own else set()
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.decode().lower() not in SECURITY_HEADERS or k.decode().lower() in keep
                ]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items() if k not in keep]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class CSRFMiddleware:
    """Every state-changing request must come from this app's own pages, shown so without
    reading the body first (one large POST must not tie the app up):

    - a body over MAX_BODY_BYTES, or of no stated length, is refused at once (413/411);
    - there must be a session (its cookie is SameSite=Lax: a cross-site POST has none);
    - then one proof: the `X-CSRF-Token` header equal to the session's token, or the
      browser's own word that the request comes from this origin (`Sec-Fetch-Site:
      same-origin`, or an `Origin` equal to the app's); a browser that says cross-site is
      refused. Without any of these headers (a non-browser client), the `csrf_token` form
      field is read, from a body of at most FORM_TOKEN_BODY_BYTES.
    """

    def __init__(self, app: ASGIApp, sessions: SessionStore) -> None:
        self.app = app
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        length = _content_length(headers)
        if length is None:
            await PlainTextResponse("A request body needs a Content-Length.", status_code=411)(
                scope, receive, send
            )
            return
        if length > MAX_BODY_BYTES:
            await PlainTextResponse("Request too large.", status_code=413)(scope, receive, send)
            return
        session = self.sessions.get(Request(scope).cookies.get(SESSION_COOKIE))
        proof = _header_proof(headers, session)
        if proof is None and session is not None and length <= FORM_TOKEN_BODY_BYTES:
            body = await _read_all(receive)
            if body is None:
                return
            receive = _replaying(body, receive)
            presented = await _form_field(Request(scope, receive), "csrf_token")
            proof = presented is not None and _same(presented, session.csrf_token)
            receive = _replaying(body, receive)
        if session is None or not proof:
            response = PlainTextResponse(
                "Forbidden: the form's security token is missing or out of date. "
                "Go back, reload the page and try again.",
                status_code=403,
            )
            await response(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _content_length(headers: Headers) -> int | None:
    """The stated body length; 0 for a POST with no body at all; None when unstated
    (chunked) or unreadable."""
    raw = headers.get("content-length")
    if raw is None:
        return None if "chunked" in headers.get("transfer-encoding", "").lower() else 0
    return int(raw) if raw.isascii() and raw.isdigit() else None


def _header_proof(headers: Headers, session: Session | None) -> bool | None:
    """True/False when the headers settle it, None when they say nothing."""
    token = headers.get("x-csrf-token")
    if token is not None:
        return session is not None and _same(token, session.csrf_token)
    site = headers.get("sec-fetch-site")
    if site is not None:
        return site == "same-origin"
    origin = headers.get("origin")
    if origin is not None:
        host = headers.get("host", "")
        return origin in (f"http://{host}", f"https://{host}")
    return None


def _same(presented: str, expected: str) -> bool:
    """compare_digest, which raises for text that is not ASCII (a 500 before)."""
    return presented.isascii() and secrets.compare_digest(presented, expected)


async def _read_all(receive: Receive) -> bytes | None:
    """The whole (small, length-checked) body; None if the client went away."""
    chunks: list[bytes] = []
    more = True
    while more:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    return b"".join(chunks)


def _replaying(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


async def _form_field(request: Request, name: str) -> str | None:
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        values = parse_qs((await request.body()).decode("latin-1")).get(name)
        return values[0] if values else None
    if content_type.startswith("multipart/form-data"):
        try:
            form = await request.form()
        except Exception:  # a malformed body: the endpoint will refuse it too
            return None
        try:
            value = form.get(name)
            return value if isinstance(value, str) else None
        finally:
            await form.close()
    return None
