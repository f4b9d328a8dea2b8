"""The "connect your accounts" web app: sign in, connect, upload, disconnect.

A small Starlette app, bound to 127.0.0.1 by default. Each person signs in with the
per-user token `mca users add` printed; the session lives in this process's memory
(a random id in an HttpOnly, SameSite=Lax cookie), and every query uses the session's
user, so one person can never see or change another's connections.

Connecting stores the credentials and marks the connection `connected`; nothing more.
The first sync is a Dagster run that the daemon starts (defs/first_sync_sensor.py), so
it goes through the run queue and the platform's pool like every other sync, and this
process needs no Dagster definitions.

Routes:
    GET  /login, POST /login, POST /logout      sign-in with the per-user token
    GET  /                                      the person's own page (auth/own_page.py): per
                                                source what is stored, last and next sync,
                                                problems and what to do, imports in progress,
                                                upload, year-in-review pages, corrections
    GET  /reports/{year}                        one of their year-in-review pages
    GET  /upload.js                             the upload progress bar (the only script)
    POST /aliases, /aliases/remove, /separate   corrections; the user's history is recomputed
    GET  /api/v1/plugins                        the same as JSON
    GET  /api/v1/plugins/{name}/connect         starts OAuth (302 to the platform)
    GET  /connect/{name}/callback               OAuth redirect target
    POST /connect/{name}/apikey                 API-key plugins (validated first)
    POST /connect/{name}/account                public-data plugins: the user's name there
    POST /upload/{name}                         file-import plugins (into the inbox)
    POST /upload                                any export, archive (.zip, .tgz): unpacked and
                                                routed to the plugin that recognises each file
    POST /api/v1/plugins/{name}/disconnect      revokes (where the platform can) and deletes
                                                the stored credentials
    GET  /style.css                             the stylesheet (CSP forbids inline styles)

Every POST must come from this app's pages (`CSRFMiddleware`, which decides without
reading the body: the `X-CSRF-Token` header, the browser's Origin / Sec-Fetch-Site, or for
a small body without them the `csrf_token` form field); 403 otherwise. The sign-in form
has a token too: GET /login starts an anonymous session, and signing in replaces it with a
new session id (no session fixation). A session ends when its user gets a new sign-in
token or is deleted.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import shutil
import traceback
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import IO, Any

import duckdb
import httpx
from cronsim import CronSim
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from mca_pipeline.analysis.insights import recompute_user
from mca_pipeline.analysis.sources import Sources
from mca_pipeline.auth.credential_store import VaultCredentialStore
from mca_pipeline.auth.oauth_flow import (
    StateError,
    StateStore,
    TokenExchangeError,
    authorization_url,
    exchange_code,
    missing_scopes,
)
from mca_pipeline.auth.own_page import ARRIVED, UPLOAD_JS, OwnPage, SourceView, render_own_page
from mca_pipeline.auth.revocation import disconnect as disconnect_source
from mca_pipeline.auth.sign_in import hash_token, user_for_token
from mca_pipeline.auth.web_pages import (
    CSS,
    NOT_CONNECTED,
    login_form,
    message,
    page,
)
from mca_pipeline.auth.web_security import (
    SESSION_COOKIE,
    CSRFMiddleware,
    SecurityHeadersMiddleware,
    Session,
    SessionStore,
)
from mca_pipeline.clients.http import redact
from mca_pipeline.core import AuthType, Credentials, ErrorCode, PluginRegistry, SourcePlugin, SyncContext
from mca_pipeline.core.users import is_user_slug
from mca_pipeline.warehouse import Warehouse
from mca_pipeline.warehouse.accounts import (
    CONNECTED,
    DISCONNECTED,
    NEEDS_REAUTH,
    connection_states,
    notifications,
    set_connection_state,
)
from mca_pipeline.warehouse.aliases import (
    add_alias,
    keep_apart,
    list_aliases,
    merge_count,
    merges,
    remove_alias,
    separated,
)
from mca_pipeline.warehouse.export_folders import ExportFolders, is_export_candidate, is_export_name
from mca_pipeline.warehouse.lake import open_warehouse
from mca_pipeline.warehouse.overview import ImportProgress, import_progress, items_per_source
from mca_pipeline.warehouse.pauses import pauses_of
from mca_pipeline.warehouse.status import last_syncs
from mca_pipeline.warehouse.users import user_for_token_hash

log = logging.getLogger("mca_pipeline.web")

#: A year-in-review page is self-contained (inline styles, data: images) and runs nothing.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'"

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8642
# API-key errors that mean the key or account is wrong (anything else: could not check).
_REFUSING_CODES = {ErrorCode.PERMISSION_DENIED, ErrorCode.AUTH_EXPIRED, ErrorCode.INVALID_DATA}

# ---------------------------------------------------------------------------- the app


def create_app(
    registry: PluginRegistry,
    warehouse: Warehouse,
    credentials: VaultCredentialStore,
    folders: ExportFolders,
    *,
    http: httpx.Client,
    public_url: str = f"http://{DEFAULT_HOST}:{DEFAULT_PORT}",
    states: StateStore | None = None,
    sessions: SessionStore | None = None,
) -> Starlette:
    """The connect app on these stores; the daemon's first_sync_sensor syncs what it connects."""
    public_url = public_url.rstrip("/")
    states = states if states is not None else StateStore()
    sessions = sessions if sessions is not None else SessionStore()
    secure_cookie = public_url.startswith("https://")

    # ---- helpers

    def still_signed_in(session: Session) -> bool:
        """A session lasts only as long as the sign-in token it was opened with: a new
        token (`mca users add` again) or a deleted user ends it."""
        with warehouse.connect() as con:
            return (
                session.token_hash is not None
                and user_for_token_hash(con, session.token_hash) == session.user_id
            )

    async def current(request: Request) -> Session | None:
        session = sessions.get(request.cookies.get(SESSION_COOKIE))
        if session is None or not session.user_id:
            return None
        if not await run_in_threadpool(still_signed_in, session):
            sessions.delete(session.id)
            return None
        return session

    def set_cookie(response: Response, session: Session) -> Response:
        response.set_cookie(
            SESSION_COOKIE, session.id, httponly=True, samesite="lax", secure=secure_cookie, path="/"
        )
        return response

    def plugin_or_none(name: str) -> SourcePlugin | None:
        return registry.get(name) if name in registry else None

    async def user_and_plugin(
        request: Request, kinds: set[AuthType] | None = None, what: str = ""
    ) -> tuple[str, SourcePlugin] | Response:
        """The signed-in user and the source the path names, or the page to answer instead."""
        session = await current(request)
        if session is None or session.user_id is None:
            return login_redirect()
        name = request.path_params["name"]
        plugin = plugin_or_none(name)
        if plugin is None or (kinds is not None and AuthType(plugin.auth_type) not in kinds):
            return message("Unknown source", f"There is no {what}source named {name!r}.", 404)
        return session.user_id, plugin

    def states_for(user: str) -> dict[str, str]:
        with warehouse.connect() as con:
            known = connection_states(con, user)
        return {p.name: known.get(p.name, (NOT_CONNECTED, None))[0] for p in registry}

    def mark(user: str, plugin: str, state: str, reason: str | None) -> None:
        with warehouse.connect() as con:
            set_connection_state(con, user, plugin, state, reason)

    def login_redirect() -> RedirectResponse:
        return RedirectResponse("/login", status_code=302)

    # ---- sign-in

    async def login_page(request: Request) -> Response:
        if await current(request) is not None:
            return RedirectResponse("/", status_code=302)
        session = sessions.get(request.cookies.get(SESSION_COOKIE)) or sessions.create(None)
        return set_cookie(page("Sign in", login_form(session.csrf_token)), session)

    async def login(request: Request) -> Response:
        form = await request.form()
        token = str(form.get("token") or "").strip()
        user = await run_in_threadpool(user_for_token, warehouse, token) if token else None
        if user is None:
            session = sessions.get(request.cookies.get(SESSION_COOKIE)) or sessions.create(None)
            body = '<p class="error">That sign-in token is not valid.</p>' + login_form(session.csrf_token)
            return set_cookie(page("Sign in", body, status=401), session)
        sessions.delete(request.cookies.get(SESSION_COOKIE))
        session = sessions.create(user, hash_token(token))
        return set_cookie(RedirectResponse("/", status_code=303), session)

    async def logout(request: Request) -> Response:
        sessions.delete(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="lax", secure=secure_cookie)
        return response

    # ---- pages and JSON

    def own_page(user: str, csrf_token: str) -> OwnPage:
        now = datetime.now(UTC)
        waiting = [
            (p.name, f.name, stat.st_size, datetime.fromtimestamp(stat.st_mtime, UTC))
            for p in registry
            if AuthType(p.auth_type) == AuthType.FILE_IMPORT
            for f in folders.waiting(user, p.name)
            for stat in [f.stat()]
        ]
        arrivals = folders.inbox_root / user
        unpacking = (
            sorted(f for f in arrivals.iterdir() if f.is_file() and is_export_candidate(f))
            if arrivals.is_dir()
            else []
        )
        with warehouse.connect() as con:
            items = items_per_source(con, user)
            lasts = {s.platform: s for s in last_syncs(con, user)}
            pauses = pauses_of(con, user, now)
            notices = notifications(con, user)
            known = connection_states(con, user)
            progress = import_progress(con, user, waiting)
            rules, apart = list_aliases(con, user), separated(con, user)
            recent, total = merges(con, user, limit=20), merge_count(con, user)
        progress += [ImportProgress(ARRIVED, f.name, f.stat().st_size, 0, 0, None) for f in unpacking]
        sources = [
            SourceView(
                plugin=p,
                state=known.get(p.name, (NOT_CONNECTED, None))[0],
                reason=known.get(p.name, (NOT_CONNECTED, None))[1],
                items=items.get(p.name, 0),
                last=lasts.get(p.name),
                next_sync=next(CronSim(p.schedule_cron, now))
                if AuthType(p.auth_type) != AuthType.FILE_IMPORT
                else None,
                pause=pauses.get(p.name),
                notices=[n for n in notices if n.plugin == p.name],
            )
            for p in registry
        ]
        return OwnPage(
            user, csrf_token, sources, progress, report_years(user), rules, apart, recent, total, now
        )

    def report_years(user: str) -> list[str]:
        folder = folders.data_dir / "reports" / user
        stems = [p.stem for p in folder.glob("*.html")] if folder.is_dir() else []
        years = sorted((s for s in stems if s.isdigit()), reverse=True)
        return years + (["all"] if "all" in stems else [])

    async def home(request: Request) -> Response:
        session = await current(request)
        if session is None:
            return login_redirect()
        assert session.user_id is not None
        data = await run_in_threadpool(own_page, session.user_id, session.csrf_token)
        return page("Your media", render_own_page(data))

    async def report(request: Request) -> Response:
        """A year-in-review page of the signed-in user (their own folder only)."""
        session = await current(request)
        if session is None or session.user_id is None:
            return login_redirect()
        year = request.path_params["year"]
        if not (year.isdigit() or year == "all") or year not in report_years(session.user_id):
            return message("No such page", f"There is no year-in-review page for {year!r} yet.", 404)
        path = folders.data_dir / "reports" / session.user_id / f"{year}.html"
        # The report is self-contained: inline styles and data: images, nothing else.
        return Response(
            path.read_bytes(),
            media_type="text/html; charset=utf-8",
            headers={"content-security-policy": REPORT_CSP},
        )

    async def upload_script(request: Request) -> Response:
        return Response(UPLOAD_JS, media_type="text/javascript")

    # ---- corrections: recomputed for this user at once

    def correct(user: str, change: Callable[[duckdb.DuckDBPyConnection], object]) -> str | None:
        """Apply a correction, then recompute the user's links and pages; the error text
        when the correction is refused."""
        try:
            with warehouse.connect() as con:
                change(con)
        except ValueError as exc:
            return str(exc)
        recompute_user(warehouse, folders.data_dir, user, Sources.of(registry))
        return None

    async def corrected(
        request: Request, change: Callable[[str, Any], Callable[[duckdb.DuckDBPyConnection], object]]
    ) -> Response:
        session = await current(request)
        if session is None or session.user_id is None:
            return login_redirect()
        form = await request.form()
        error = await run_in_threadpool(correct, session.user_id, change(session.user_id, form))
        if error is not None:
            return message("Not changed", error, 400)
        return RedirectResponse("/", status_code=303)

    def text(form: Any, key: str) -> str:
        return str(form.get(key) or "")

    async def alias_add(request: Request) -> Response:
        return await corrected(
            request,
            lambda user, form: (
                lambda con: add_alias(
                    con, user, text(form, "field"), text(form, "spelling"), text(form, "canonical")
                )
            ),
        )

    async def alias_remove(request: Request) -> Response:
        return await corrected(
            request,
            lambda user, form: (
                lambda con: remove_alias(con, user, text(form, "field"), text(form, "spelling"))
            ),
        )

    async def separate(request: Request) -> Response:
        return await corrected(
            request,
            lambda user, form: lambda con: keep_apart(con, user, text(form, "row_a"), text(form, "row_b")),
        )

    async def api_plugins(request: Request) -> Response:
        session = await current(request)
        if session is None:
            return JSONResponse({"error": "sign in first", "login": "/login"}, status_code=401)
        assert session.user_id is not None
        by_plugin = await run_in_threadpool(states_for, session.user_id)
        return JSONResponse(
            [{"name": p.name, "auth_type": str(p.auth_type), "state": by_plugin[p.name]} for p in registry]
        )

    # ---- OAuth

    async def connect(request: Request) -> Response:
        found = await user_and_plugin(request)
        if isinstance(found, Response):
            return found
        user, plugin = found
        name = plugin.name
        config = plugin.auth_config
        if plugin.auth_type != AuthType.OAUTH or config is None:
            return message("Not an OAuth source", f"{name} does not connect through a sign-in page.", 400)
        pending = states.issue(user, name, f"{public_url}/connect/{name}/callback", pkce=config.supports_pkce)
        try:
            url = authorization_url(config, pending)
        except TokenExchangeError as exc:
            states.consume(pending.state, user, name)
            return message(
                "Not configured",
                f"{config.provider_name} cannot be connected yet: {exc.description}. "
                "Ask whoever runs this app to register it with the platform.",
                500,
            )
        return RedirectResponse(url, status_code=302)

    async def callback(request: Request) -> Response:
        found = await user_and_plugin(request, {AuthType.OAUTH}, "OAuth ")
        if isinstance(found, Response):
            return found
        user, plugin = found
        name, config = plugin.name, plugin.auth_config
        if config is None:
            return message("Unknown source", f"There is no OAuth source named {name!r}.", 404)
        params = request.query_params
        try:
            pending = states.consume(params.get("state", ""), user, name)
        except StateError as exc:
            return message(
                "This sign-in link is not valid",
                f"The connection request is {exc}. Nothing was stored; start again from the list.",
                400,
            )
        error = params.get("error")
        if error == "access_denied":
            return message(
                "You declined",
                f"You declined to give access on {config.provider_name}, so nothing was connected.",
                200,
            )
        if error:
            description = params.get("error_description", "")
            return message(
                f"{config.provider_name} refused",
                f"{config.provider_name} said: {error[:100]} {description[:300]}. Nothing was stored.",
                400,
            )
        code = params.get("code")
        if not code:
            return message("No code", f"{config.provider_name} sent no authorization code.", 400)
        try:
            creds = await run_in_threadpool(exchange_code, config, code, pending, http)
        except TokenExchangeError as exc:
            if exc.error == "invalid_grant":
                what = "The authorization code was refused (invalid_grant): it expired or was used already."
            else:
                what = f"The token exchange failed: {exc}."
            return message(
                "Connecting failed",
                f"{what} Nothing was stored; start again from the list.",
                502 if exc.error in ("unreachable", "bad_response") else 400,
            )
        missing = missing_scopes(config, creds)
        await run_in_threadpool(credentials.save, user, name, creds)
        if missing:
            reason = f"missing permissions: {', '.join(missing)}"
            await run_in_threadpool(mark, user, name, NEEDS_REAUTH, reason)
            return message(
                "More permissions needed",
                f"{config.provider_name} granted fewer permissions than needed ({reason}). "
                "Connect again and allow all of them.",
                200,
            )
        await run_in_threadpool(mark, user, name, CONNECTED, "connected in the web app")
        return RedirectResponse("/", status_code=302)

    # ---- API keys

    async def api_key(request: Request) -> Response:
        found = await user_and_plugin(request, {AuthType.API_KEY, AuthType.NONE}, "API-key or public ")
        if isinstance(found, Response):
            return found
        user, plugin = found
        name = plugin.name
        form = await request.form()
        key = str(form.get("api_key") or "").strip() or None
        account = str(form.get("account") or "").strip() or None
        if plugin.auth_type == AuthType.API_KEY and not key:
            return message("No key", "Paste the API key into the form.", 400)
        if plugin.auth_type == AuthType.NONE and not account:
            return message("No name", f"Type your name on {name} into the form.", 400)
        creds = Credentials(api_key=key, account=account)
        ctx = SyncContext(user_id=user, page_size=1)
        try:
            result = await run_in_threadpool(plugin.sync, ctx, creds, "")
            err = result.err
        except Exception as exc:  # a plugin bug: the key was not checked, so it is not stored
            log.error("checking the %s key of %s crashed:\n%s", name, user, _redacted_traceback(exc, key))
            return message(
                "Could not check",
                f"Checking it with {name} failed inside mca (the error is logged). Nothing was stored; "
                "try again later.",
                500,
            )
        if err is not None and err.code in _REFUSING_CODES:
            return message("Refused", f"{name} refused it: {err.message}", 400)
        await run_in_threadpool(credentials.save, user, name, creds)
        await run_in_threadpool(mark, user, name, CONNECTED, "API key added in the web app")
        return RedirectResponse("/", status_code=303)

    # ---- file imports

    async def receive(request: Request, user: str, plugin: str | None) -> Path | Response:
        """Save the form's file into the user's inbox (streamed, never held whole)."""
        form = await request.form()
        try:
            upload_file = form.get("file")
            if not isinstance(upload_file, UploadFile) or not upload_file.filename:
                return message("No file", "Choose an export file to upload.", 400)
            return await run_in_threadpool(
                save_upload, folders, user, plugin, upload_file.filename, upload_file.file
            )
        finally:
            await form.close()

    def received(request: Request, text: str) -> Response:
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse({"message": text})
        return message("File received", text, 200)

    async def upload(request: Request) -> Response:
        found = await user_and_plugin(request, {AuthType.FILE_IMPORT}, "file-import ")
        if isinstance(found, Response):
            return found
        user, plugin = found
        name = plugin.name
        target = await receive(request, user, name)
        if isinstance(target, Response):
            return target
        return received(request, f"{target.name} is in your {name} inbox and will be imported shortly.")

    async def upload_any(request: Request) -> Response:
        session = await current(request)
        if session is None or session.user_id is None:
            return login_redirect()
        target = await receive(request, session.user_id, None)
        if isinstance(target, Response):
            return target
        return received(
            request,
            f"{target.name} is in your inbox: it will be unpacked if it is an archive, and each "
            "export in it imported by the source that recognises it, shortly. Files no source "
            "recognises are listed in the report in data/archive/<you>/arrivals/.",
        )

    # ---- disconnect

    async def disconnect(request: Request) -> Response:
        found = await user_and_plugin(request)
        if isinstance(found, Response):
            return found
        user, plugin = found
        name = plugin.name
        await run_in_threadpool(
            disconnect_source, plugin, credentials, warehouse, user, http, "disconnected in the web app"
        )
        if "application/json" in request.headers.get("accept", ""):
            return JSONResponse({"name": name, "state": DISCONNECTED})
        return RedirectResponse("/", status_code=303)

    async def stylesheet(request: Request) -> Response:
        return Response(CSS, media_type="text/css")

    app = Starlette(
        routes=[
            Route("/login", login_page, methods=["GET"]),
            Route("/login", login, methods=["POST"]),
            Route("/logout", logout, methods=["POST"]),
            Route("/", home, methods=["GET"]),
            Route("/reports/{year}", report, methods=["GET"]),
            Route("/upload.js", upload_script, methods=["GET"]),
            Route("/aliases", alias_add, methods=["POST"]),
            Route("/aliases/remove", alias_remove, methods=["POST"]),
            Route("/separate", separate, methods=["POST"]),
            Route("/style.css", stylesheet, methods=["GET"]),
            Route("/api/v1/plugins", api_plugins, methods=["GET"]),
            Route("/api/v1/plugins/{name}/connect", connect, methods=["GET"]),
            Route("/api/v1/plugins/{name}/disconnect", disconnect, methods=["POST"]),
            Route("/connect/{name}/callback", callback, methods=["GET"]),
            Route("/connect/{name}/apikey", api_key, methods=["POST"]),
            Route("/connect/{name}/account", api_key, methods=["POST"]),
            Route("/upload/{name}", upload, methods=["POST"]),
            Route("/upload", upload_any, methods=["POST"]),
        ]
    )
    # Added last = outermost: security headers go on every answer, the 403 included.
    app.add_middleware(CSRFMiddleware, sessions=sessions)
    app.add_middleware(SecurityHeadersMiddleware)
    app.state.sessions = sessions
    app.state.oauth_states = states
    return app


def _redacted_traceback(exc: BaseException, *secrets: str | None) -> str:
    """The traceback for the log, with the key masked: a plugin's exception may quote
    the request URL, and Last.fm's carries the key in its query string."""
    return redact("".join(traceback.format_exception(exc)), secrets)


# ------------------------------------------------------------------------- file names

_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]+")


def safe_filename(name: str) -> str:
    """The base name only: no directories, no leading dots, no control or odd characters."""
    base = PurePosixPath(name.replace("\\", "/")).name
    base = _UNSAFE.sub("_", base).strip(" .")
    base = base.lstrip("-~")
    return base[:200] or "upload"


def save_upload(
    folders: ExportFolders, user: str, plugin: str | None, filename: str, data: IO[bytes]
) -> Path:
    """Into data/inbox/<user>/<plugin>/, or data/inbox/<user>/ (an arrival) without a plugin."""

    if not is_user_slug(user):
        raise ValueError(f"invalid user id {user!r}")
    inbox = folders.inbox(user, plugin) if plugin else folders.inbox_root / user
    inbox.mkdir(parents=True, exist_ok=True)
    name = safe_filename(filename)
    if not is_export_name(name):
        name += ".upload"  # a name the inbox skips (a download in progress, a report) would never be imported
    # Written under a name of its own that the inbox sensor ignores, then linked to the
    # first free name: a link never replaces a file, so concurrent uploads of one name
    # each keep theirs.
    partial = inbox / f".{uuid.uuid4().hex}.part"
    try:
        with partial.open("wb") as out:
            shutil.copyfileobj(data, out, 1 << 20)
        stem, dot, suffix = name.partition(".")
        for n in itertools.count():
            target = inbox / (name if n == 0 else f"{stem}-{n}{dot}{suffix}")
            try:
                os.link(partial, target)
                return target
            except FileExistsError:
                continue
    finally:
        partial.unlink(missing_ok=True)
    raise AssertionError("unreachable")  # itertools.count() never ends


# ------------------------------------------------------------------------------ serve


def build_app(public_url: str) -> Starlette:
    """The real app: the registered plugins, the default warehouse, vault and data folder."""
    from mca_pipeline import paths
    from mca_pipeline.plugins import build_registry

    registry = build_registry()
    warehouse = open_warehouse()
    credentials = VaultCredentialStore(warehouse)
    http = httpx.Client(timeout=httpx.Timeout(20.0))
    return create_app(
        registry,
        warehouse,
        credentials,
        ExportFolders(paths.data_dir()),
        http=http,
        public_url=public_url,
    )


_OAUTH_QUERY = re.compile(r"((?:^|[?&])(?:code|state)=)[^&\s]*")


class MaskOAuthQuery(logging.Filter):
    """The OAuth callback's `code` and `state` are one-use secrets: the access log gets
    the path with them masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(
                _OAUTH_QUERY.sub(r"\1[REDACTED]", a) if isinstance(a, str) else a for a in record.args
            )
        return True


def install_access_log_mask() -> None:
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, MaskOAuthQuery) for f in logger.filters):
        logger.addFilter(MaskOAuthQuery())


def serve(
    host: str = DEFAULT_HOST, port: int = DEFAULT_PORT, public_url: str | None = None, **uvicorn_options: Any
) -> None:
    """Run the connect app with uvicorn, on 127.0.0.1 unless told otherwise.

    `public_url` is the address the browser uses (the OAuth redirect URI registered
    with each platform is `{public_url}/connect/{name}/callback`).
    """
    import uvicorn

    install_access_log_mask()
    app = build_app(public_url or f"http://{host}:{port}")
    uvicorn.run(app, host=host, port=port, **({"log_level": "info"} | uvicorn_options))
