"""The asset of an API plugin: sync a user's account from the stored cursor.

Every PluginError code ends here in the behaviour the design table asks for (see
error_policy): an expired token is refreshed once and the sync run again; a refused
refresh or missing permissions change the connection state and notify the user; rate
limits wait, transient failures retry, partial syncs keep what they got and resume.
A rate limit longer than a run should hold its slot ends the run cleanly instead: what
was stored stays with its cursor, and the sync is paused until the platform's time
(warehouse/pauses.py), which the schedule honours.

An OAuth token that expires within `REFRESH_MARGIN` is refreshed before the sync, so a
sync does not fail with 401 once an hour; the refresh after AUTH_EXPIRED stays for tokens
revoked early. How a failed refresh ends depends on its class (auth.token_refresh): a
refused grant disconnects and notifies; a token endpoint that is down is an upstream
error (retried, the connection stays connected); a configuration problem fails the run
without retry and leaves the connection alone.
"""

import threading
from collections.abc import Callable, Iterator
from datetime import datetime

import httpx
from dagster import (
    AssetCheckResult,
    AssetExecutionContext,
    AssetsDefinition,
    Config,
    Failure,
    MaterializeResult,
    MetadataValue,
    ResourceParam,
    RetryPolicy,
    asset,
)
from pydantic import Field

from mca_pipeline.auth import (
    CredentialStore,
    RefreshMisconfigured,
    RefreshRefused,
    TokenEndpointUnavailable,
    due_for_refresh,
    refresh_access_token,
)
from mca_pipeline.core import AuthType, Credentials, ErrorCode, PluginError, SourcePlugin, SyncContext
from mca_pipeline.defs.automation import tag_if_stored
from mca_pipeline.defs.cancellation import run_cancellable
from mca_pipeline.defs.error_policy import crashed, pauses_sync, raise_for, rate_limit_wait
from mca_pipeline.defs.notifications import notify
from mca_pipeline.defs.partitions import partition_user, users_partitions
from mca_pipeline.defs.resources import WarehouseResource
from mca_pipeline.defs.source_reporting import (
    check_specs,
    checks_even_on_failure,
    contention_metadata,
    stored_checks,
    sync_metadata,
)
from mca_pipeline.warehouse import Warehouse, item_count
from mca_pipeline.warehouse.accounts import CONNECTED, DISCONNECTED, NEEDS_REAUTH, set_connection_state
from mca_pipeline.warehouse.pauses import clear_pause, pause_sync
from mca_pipeline.warehouse.sync_loop import PluginCrashed, SyncSummary, run_sync


class SyncConfig(Config):
    full_resync: bool = Field(
        default=False,
        description="Start from an empty cursor, as on the first sync, instead of the stored one.",
    )
    max_pages: int = Field(
        default=20,
        ge=1,
        description="Pages to sync in this run; if more remain, the continuation sensor asks for another run.",
    )
    page_size: int = Field(default=10_000, ge=1, description="Items the plugin may return per page.")


def build_api_sync_asset(plugin: SourcePlugin, retry_policy: RetryPolicy) -> AssetsDefinition:
    @asset(
        name=plugin.name,
        partitions_def=users_partitions,
        group_name="sources",
        kinds={"duckdb"},
        retry_policy=retry_policy,
        pool=f"platform_{plugin.name}",
        tags={"mca/auth_type": str(plugin.auth_type)},
        check_specs=check_specs(plugin),
        description=f"{plugin.name}: the user's history synced from the platform's API, from the stored cursor.",
    )
    def _source(
        context: AssetExecutionContext,
        config: SyncConfig,
        warehouse: WarehouseResource,
        credentials: ResourceParam[CredentialStore],
        oauth_http: ResourceParam[httpx.Client],
        clock: ResourceParam[Callable[[], datetime]],
    ) -> Iterator[MaterializeResult | AssetCheckResult]:
        user_id = partition_user(context.partition_key)
        wh = warehouse.warehouse()

        def sync_source() -> MaterializeResult:
            creds = credentials.load(user_id, plugin.name)
            if creds is None:
                raise Failure(
                    description=f"{user_id} has not connected {plugin.name}: connect the account first",
                    allow_retries=False,
                )
            # A retry resumes from the stored cursor even when a full resync was asked for.
            full = config.full_resync and context.retry_number == 0

            def sync(with_creds: Credentials, from_scratch: bool) -> SyncSummary:
                def work(cancelled: threading.Event) -> SyncSummary:
                    return run_sync(
                        plugin,
                        wh,
                        user_id,
                        with_creds,
                        log=context.log,
                        run_id=context.run.run_id,
                        max_pages=config.max_pages,
                        full_resync=from_scratch,
                        ctx=SyncContext(user_id=user_id, page_size=config.page_size, cancelled=cancelled),
                    )

                try:
                    return run_cancellable(work, f"{plugin.name} for {user_id}")
                except PluginCrashed as exc:
                    context.log.error(f"{exc}\n{exc.trace}")
                    raise crashed(exc) from exc

            def renew(why: str) -> Credentials | PluginError:
                """Refreshed and saved credentials, or the upstream error of a token endpoint
                that is down; a refused or impossible refresh ends the step here."""
                try:
                    renewed = _renewed(plugin, creds, why, oauth_http, clock(), wh, context, user_id)
                except TokenEndpointUnavailable as exc:
                    return PluginError(code=ErrorCode.UPSTREAM, message=f"{why}, but {exc}")
                credentials.save(user_id, plugin.name, renewed)
                return renewed

            summaries: list[SyncSummary] = []
            error: PluginError | None = None
            if plugin.auth_type == AuthType.OAUTH and due_for_refresh(creds, clock()):
                ahead = renew("the access token expires soon")
                if isinstance(ahead, Credentials):
                    creds = ahead
                    context.log.info(f"{plugin.name}: access token refreshed ahead of its expiry")
                elif creds.expires_at is not None and creds.expires_at > clock():
                    context.log.warning(f"{ahead.message}; syncing with the current token while it lasts")
                else:
                    error = ahead
            if error is None:
                summaries.append(sync(creds, full))
                error = summaries[-1].error
            if error is not None and error.code is ErrorCode.AUTH_EXPIRED:
                renewed = renew(f"{plugin.name} rejected the stored credentials ({error.message})")
                if isinstance(renewed, Credentials):
                    creds = renewed
                    context.log.info(f"{plugin.name}: access token refreshed; syncing again")
                    summaries.append(sync(creds, full and summaries[0].received == 0))
                    error = summaries[-1].error
                else:
                    error = renewed
            paused_until = None
            if error is not None and error.retry is not False and pauses_sync(error):
                paused_until = clock() + rate_limit_wait(error)
                context.log.warning(
                    f"{plugin.name} for {user_id}: {error.message}; too long to hold a run slot, so this run "
                    f"ends and scheduled syncs of {user_id} wait until {paused_until.isoformat()}"
                )
                error = None
            if error is not None:
                _tell_user(
                    plugin,
                    error,
                    wh,
                    context,
                    user_id,
                    final_try=context.retry_number >= retry_policy.max_retries,
                )
                raise_for(error, plugin.name, user_id, retry_policy)
            with wh.connect() as con:
                set_connection_state(con, user_id, plugin.name, CONNECTED)
                if paused_until is None:
                    clear_pause(con, user_id, plugin.name)
                else:
                    reason = (
                        summaries[-1].error.message if summaries and summaries[-1].error else "rate limit"
                    )
                    pause_sync(con, user_id, plugin.name, paused_until, reason)
                total = item_count(con, user_id, plugin.name)
                checks = stored_checks(plugin, con, user_id)
                tag_if_stored(context, con, user_id, plugin.name)
            metadata = (
                sync_metadata(summaries, total)
                | contention_metadata(wh)
                | {"connection": MetadataValue.text(CONNECTED)}
            )
            if paused_until is not None:
                # The schedule resumes after the pause; the continuation sensor must not.
                metadata["has_more"] = MetadataValue.bool(False)
                metadata["waiting_until"] = MetadataValue.text(paused_until.isoformat())
            return MaterializeResult(metadata=metadata, check_results=checks)

        yield from checks_even_on_failure(plugin, wh, user_id, context.log, sync_source)

    return _source


def _renewed(
    plugin: SourcePlugin,
    creds: Credentials,
    why: str,
    http: httpx.Client,
    now: datetime,
    warehouse: Warehouse,
    context: AssetExecutionContext,
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
    notify(
        warehouse, context.log, user_id, plugin.name, "disconnected", message, connection_state=DISCONNECTED
    )
    raise Failure(description=message, allow_retries=False)


def _tell_user(
    plugin: SourcePlugin,
    error: PluginError,
    warehouse: Warehouse,
    context: AssetExecutionContext,
    user_id: str,
    *,
    final_try: bool,
) -> None:
    """Notify where the user must act (or should know syncing stopped)."""
    if error.code is ErrorCode.AUTH_EXPIRED:
        message = f"{plugin.name} access expired again right after a refresh ({error.message}). Reconnect {plugin.name}."
        notify(
            warehouse,
            context.log,
            user_id,
            plugin.name,
            "disconnected",
            message,
            connection_state=DISCONNECTED,
        )
    elif error.code is ErrorCode.PERMISSION_DENIED:
        missing = error.details.get("missing_scopes") or []
        needs = f" missing permissions: {', '.join(missing)}." if missing else ""
        message = (
            f"{plugin.name} refused access ({error.message}).{needs} Reconnect {plugin.name} and allow them."
        )
        notify(
            warehouse,
            context.log,
            user_id,
            plugin.name,
            "needs_reauth",
            message,
            connection_state=NEEDS_REAUTH,
        )
    elif error.code is ErrorCode.INVALID_DATA:
        message = f"{plugin.name} sent data mca could not read; syncing stopped until this is looked at: {error.message}"
        notify(warehouse, context.log, user_id, plugin.name, "invalid_data", message)
    elif error.code is ErrorCode.UPSTREAM and final_try:
        message = f"{plugin.name} kept failing and the retries ran out: {error.message}. The next scheduled sync tries again."
        notify(warehouse, context.log, user_id, plugin.name, "sync_failed", message)
