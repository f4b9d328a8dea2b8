"""One user's API sync, the same whether it runs in that user's own run (the asset) or
in a batch run of many users (defs/sync_batches.py).

Every PluginError code ends in the behaviour the design table asks for (see
error_policy): an expired token is refreshed once and the sync run again; a refused
refresh or missing permissions change the connection state and notify the user; a rate
limit longer than a run should hold its slot pauses the user's scheduled syncs until the
platform's time (warehouse/pauses.py). What is left — an error to retry or to fail on —
is returned in `UserSync.error`, for the caller to turn into its run's outcome: the asset
raises it (error_policy.raise_for), a batch records it and goes on with the next user.

An OAuth token that expires within `REFRESH_MARGIN` is refreshed before the sync, so a
sync does not fail with 401 once an hour; the refresh after AUTH_EXPIRED stays for tokens
revoked early. How a failed refresh ends depends on its class (auth.token_refresh): a
refused grant disconnects and notifies; a token endpoint that is down is an upstream
error (retried, the connection stays connected); a configuration problem fails without
retry and leaves the connection alone. The last two raise `Failure` from here.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

import duckdb
import httpx
from dagster import AssetCheckResult, Failure, MetadataValue

from mca_pipeline.auth import (
    CredentialStore,
    RefreshMisconfigured,
    RefreshRefused,
    TokenEndpointUnavailable,
    due_for_refresh,
    refresh_access_token,
)
from mca_pipeline.core import AuthType, Credentials, ErrorCode, PluginError, SourcePlugin, SyncContext
from mca_pipeline.defs.cancellation import run_cancellable
from mca_pipeline.defs.error_policy import crashed, pauses_sync, rate_limit_wait
from mca_pipeline.defs.notifications import notify
from mca_pipeline.defs.source_reporting import contention_metadata, stored_checks, sync_metadata
from mca_pipeline.warehouse import Warehouse, item_count
from mca_pipeline.warehouse.accounts import CONNECTED, DISCONNECTED, NEEDS_REAUTH, set_connection_state
from mca_pipeline.warehouse.pauses import clear_pause, pause_sync
from mca_pipeline.warehouse.sync_loop import PluginCrashed, SyncSummary, run_sync

Log = logging.Logger | logging.LoggerAdapter  # type: ignore[type-arg]


@dataclass(frozen=True)
class SyncRequest:
    """How far one sync may go: the run's page budget and page size, and whether it
    starts from an empty cursor."""

    max_pages: int
    page_size: int
    full_resync: bool = False


@dataclass
class UserSync:
    """What one user's sync came to."""

    user_id: str
    summaries: list[SyncSummary] = field(default_factory=list)
    #: The error the caller must act on (None when the sync succeeded or was paused).
    error: PluginError | None = None
    paused_until: datetime | None = None
    #: Items of the platform stored for the user after the sync, and the source checks.
    total: int = 0
    checks: list[AssetCheckResult] = field(default_factory=list)

    @property
    def stored(self) -> bool:
        """Whether the sync added or changed any item."""
        return any(s.new or s.updated for s in self.summaries)

    def metadata(self, warehouse: Warehouse) -> dict[str, MetadataValue]:
        """The counts a person checks after a sync, as materialization metadata."""
        metadata = (
            sync_metadata(self.summaries, self.total)
            | contention_metadata(warehouse)
            | {"connection": MetadataValue.text(CONNECTED)}
        )
        if self.paused_until is not None:
            # The schedule resumes after the pause; the continuation sensor must not.
            metadata["has_more"] = MetadataValue.bool(False)
            metadata["waiting_until"] = MetadataValue.text(self.paused_until.isoformat())
        return metadata


def sync_user(
    plugin: SourcePlugin,
    warehouse: Warehouse,
    user_id: str,
    request: SyncRequest,
    *,
    credentials: CredentialStore,
    oauth_http: httpx.Client,
    clock: Callable[[], datetime],
    log: Log,
    run_id: str,
    final_try: bool,
    after: Callable[[duckdb.DuckDBPyConnection], None] | None = None,
) -> UserSync:
    """Sync one user's account from the stored cursor (see the module docstring).

    `final_try` says whether an upstream failure ends the retries (the user is then told);
    `after` runs on the connection that records a successful outcome."""
    creds = credentials.load(user_id, plugin.name)
    if creds is None:
        raise Failure(
            description=f"{user_id} has not connected {plugin.name}: connect the account first",
            allow_retries=False,
        )

    outcome = UserSync(user_id)
    recorded = False

    def record(con: duckdb.DuckDBPyConnection) -> None:
        """The outcome of a sync that ended well (or paused), on the connection given."""
        nonlocal recorded
        set_connection_state(con, user_id, plugin.name, CONNECTED)
        if outcome.paused_until is None:
            clear_pause(con, user_id, plugin.name)
        else:
            pause_sync(con, user_id, plugin.name, outcome.paused_until, reason)
        outcome.total = item_count(con, user_id, plugin.name)
        outcome.checks = stored_checks(plugin, con, user_id)
        if after is not None:
            after(con)
        recorded = True

    def sync(with_creds: Credentials, from_scratch: bool) -> SyncSummary:
        def work(cancelled: threading.Event) -> SyncSummary:
            return run_sync(
                plugin,
                warehouse,
                user_id,
                with_creds,
                log=log,
                run_id=run_id,
                max_pages=request.max_pages,
                full_resync=from_scratch,
                ctx=SyncContext(user_id=user_id, page_size=request.page_size, cancelled=cancelled),
                finish=record,
            )

        try:
            return run_cancellable(work, f"{plugin.name} for {user_id}")
        except PluginCrashed as exc:
            log.error(f"{exc}\n{exc.trace}")
            raise crashed(exc) from exc

    def renew(why: str) -> Credentials | PluginError:
        """Refreshed and saved credentials, or the upstream error of a token endpoint that
        is down; a refused or impossible refresh ends the sync here."""
        try:
            renewed = _renewed(plugin, creds, why, oauth_http, clock(), warehouse, log, user_id)
        except TokenEndpointUnavailable as exc:
            return PluginError(code=ErrorCode.UPSTREAM, message=f"{why}, but {exc}")
        credentials.save(user_id, plugin.name, renewed)
        return renewed

    error: PluginError | None = None
    reason = "rate limit"
    if plugin.auth_type == AuthType.OAUTH and due_for_refresh(creds, clock()):
        ahead = renew("the access token expires soon")
        if isinstance(ahead, Credentials):
            creds = ahead
            log.info(f"{plugin.name}: access token refreshed ahead of its expiry")
        elif creds.expires_at is not None and creds.expires_at > clock():
            log.warning(f"{ahead.message}; syncing with the current token while it lasts")
        else:
            error = ahead
    if error is None:
        outcome.summaries.append(sync(creds, request.full_resync))
        error = outcome.summaries[-1].error
    if error is not None and error.code is ErrorCode.AUTH_EXPIRED:
        renewed = renew(f"{plugin.name} rejected the stored credentials ({error.message})")
        if isinstance(renewed, Credentials):
            creds = renewed
            log.info(f"{plugin.name}: access token refreshed; syncing again")
            outcome.summaries.append(sync(creds, request.full_resync and outcome.summaries[0].received == 0))
            error = outcome.summaries[-1].error
        else:
            error = renewed
    if error is not None and error.retry is not False and pauses_sync(error):
        outcome.paused_until = clock() + rate_limit_wait(error)
        log.warning(
            f"{plugin.name} for {user_id}: {error.message}; too long to hold a run slot, so this sync "
            f"ends and scheduled syncs of {user_id} wait until {outcome.paused_until.isoformat()}"
        )
        reason = error.message
        error = None
    if error is not None:
        _tell_user(plugin, error, warehouse, log, user_id, final_try=final_try)
        outcome.error = error
        return outcome
    if not recorded:  # paused, or cut short: not recorded with the last page
        with warehouse.connect() as con:
            record(con)
    return outcome


def _renewed(
    plugin: SourcePlugin,
    creds: Credentials,
    why: str,
    http: httpx.Client,
    now: datetime,
    warehouse: Warehouse,
    log: Log,
    user_id: str,
) -> Credentials:
    """New credentials from the plugin's token URL.

    A refused grant (or a key the platform rejects: there is nothing to refresh)
    disconnects, notifies and fails without retry. A misconfigured app fails without
    retry and leaves the connection alone: the operator fixes the environment and the
    next scheduled sync works with the same connection. TokenEndpointUnavailable is
    raised on for the caller to treat as upstream.
    """
    config = plugin.auth_config
    if plugin.auth_type != AuthType.OAUTH or config is None:
        reason = why
    else:
        try:
            return refresh_access_token(config, creds, http, now)
        except RefreshRefused as exc:
            reason = str(exc)
        except RefreshMisconfigured as exc:
            raise Failure(
                description=f"{plugin.name} access for {user_id} cannot be renewed until the app's "
                f"configuration is fixed: {exc}",
                allow_retries=False,
            ) from None
    message = f"{plugin.name} access expired and could not be renewed: {reason}. Reconnect {plugin.name}."
    notify(warehouse, log, user_id, plugin.name, "disconnected", message, connection_state=DISCONNECTED)
    raise Failure(description=message, allow_retries=False)


def _tell_user(
    plugin: SourcePlugin,
    error: PluginError,
    warehouse: Warehouse,
    log: Log,
    user_id: str,
    *,
    final_try: bool,
) -> None:
    """Notify where the user must act (or should know syncing stopped)."""
    if error.code is ErrorCode.AUTH_EXPIRED:
        message = f"{plugin.name} access expired again right after a refresh ({error.message}). Reconnect {plugin.name}."
        notify(warehouse, log, user_id, plugin.name, "disconnected", message, connection_state=DISCONNECTED)
    elif error.code is ErrorCode.PERMISSION_DENIED:
        missing = error.details.get("missing_scopes") or []
        needs = f" missing permissions: {', '.join(missing)}." if missing else ""
        message = (
            f"{plugin.name} refused access ({error.message}).{needs} Reconnect {plugin.name} and allow them."
        )
        notify(warehouse, log, user_id, plugin.name, "needs_reauth", message, connection_state=NEEDS_REAUTH)
    elif error.code is ErrorCode.INVALID_DATA:
        message = f"{plugin.name} sent data mca could not read; syncing stopped until this is looked at: {error.message}"
        notify(warehouse, log, user_id, plugin.name, "invalid_data", message)
    elif error.code is ErrorCode.UPSTREAM and final_try:
        message = f"{plugin.name} kept failing and the retries ran out: {error.message}. The next scheduled sync tries again."
        notify(warehouse, log, user_id, plugin.name, "sync_failed", message)
