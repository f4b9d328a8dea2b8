"""Sessions, CSRF protection and security headers of the connect web app.

Sessions live in this process's memory (a random id in an HttpOnly, SameSite=Lax
cookie): a restart signs everybody out, which suits a local app. Every state-changing
request must carry its session's CSRF token; every response carries the headers below.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SESSION_COOKIE = "mca_session"
SESSION_TTL_S = 12 * 3600.0
ANONYMOUS_TTL_S = 3600.0
MAX_BODY_BYTES = 512 * 1024 * 1024  # an export archive can be large, but not unbounded

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


class SessionStore:
    """Sessions in memory: a restart signs everybody out, which is fine for a local app."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def create(self, user_id: str | None) -> Session:
        now = self._clock()
        session = Session(secrets.token_urlsafe(32), secrets.token_urlsafe(32), user_id, now)
        with self._lock:
            for sid in [s.id for s in self._sessions.values() if self._expired(s, now)]:
                del self._sessions[sid]
            self._sessions[session.id] = session
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
                del self._sessions[session_id]
                return None
            session.last_seen = now
            return session

    def delete(self, session_id: str | None) -> None:
        with self._lock:
            self._sessions.pop(session_id or "", None)

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
                headers = [
                    (k, v)
                    for k, v in message.get("headers", [])
                    if k.decode().lower() not in SECURITY_HEADERS
                ]
                headers += [(k.encode(), v.encode()) for k, v in SECURITY_HEADERS.items()]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)


class CSRFMiddleware:
    """Every state-changing request must carry its session's CSRF token.

    The body is read once here (to find the `csrf_token` form field) and replayed to
    the endpoint.
    """

    def __init__(self, app: ASGIApp, sessions: SessionStore) -> None:
        self.app = app
        self.sessions = sessions

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        body = b""
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = message.get("more_body", False)
            if len(body) > MAX_BODY_BYTES:
                await PlainTextResponse("Request too large.", status_code=413)(scope, receive, send)
                return

        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        request = Request(scope, replay)
        session = self.sessions.get(request.cookies.get(SESSION_COOKIE))
        presented = request.headers.get("x-csrf-token") or await _form_field(request, "csrf_token")
        if session is None or not presented or not secrets.compare_digest(presented, session.csrf_token):
            response = PlainTextResponse(
                "Forbidden: the form's security token is missing or out of date. "
                "Go back, reload the page and try again.",
                status_code=403,
            )
            await response(scope, receive, send)
            return
        sent = False
        await self.app(scope, replay, send)


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
