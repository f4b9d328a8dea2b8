"""The first sync after someone connects an account, started by the daemon.

Connecting (the web app, `mca apikey set`, `mca connect --account`) only stores the
credentials and marks the connection `connected` in the warehouse. This sensor looks for
connected accounts that have never synced (no sync_log row) and requests a run of that
plugin's asset for that user. So the first sync is an ordinary run: queued, launched by
the daemon in its own process, held to the platform's pool and visible in the UI, and
the web process never imports Dagster definitions nor runs syncs itself.

Why a sensor rather than the web app submitting the run: submitting a run needs its
execution plan, so either the code location's definitions loaded in the web process
(what `auth` must not import) or the webserver's GraphQL API (the connect app would then
depend on the Dagster webserver being up and reachable). A sensor is the Dagster-native
way for a code location to react to state outside it, needs only the daemon, and its run
keys make the request idempotent.

The run key is the connection and the moment it became connected, so a tick evaluated
twice, or a restarted daemon, never syncs twice; a later reconnect (a new moment) may.
The cursor remembers the keys already requested; a sync that fails before writing any
sync_log row is therefore not requested again until the account is reconnected. An
account that an unfinished run already syncs (the schedule's tick came first) is not
requested, nor remembered: if that run stores nothing, a later tick asks for it.
"""

import json
from collections.abc import Mapping

from dagster import (
    AssetKey,
    AssetsDefinition,
    DefaultSensorStatus,
    RunRequest,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    sensor,
)

from mca_pipeline.core.users import is_user_slug
from mca_pipeline.defs.partitions import users_partitions
from mca_pipeline.defs.resources import WarehouseResource
from mca_pipeline.defs.syncs_in_flight import syncs_in_flight
from mca_pipeline.warehouse.accounts import awaiting_first_sync

FIRST_SYNC_SENSOR = "first_sync_sensor"


def build_first_sync_sensor(api_assets: Mapping[str, AssetsDefinition]) -> SensorDefinition:
    """`api_assets`: plugin name -> its source asset, for every API plugin."""

    @sensor(
        name=FIRST_SYNC_SENSOR,
        minimum_interval_seconds=15,
        default_status=DefaultSensorStatus.RUNNING,
        target=list(api_assets.values()),
        description="Runs the first sync of an account right after it is connected.",
    )
    def first_sync_sensor(context: SensorEvaluationContext, warehouse: WarehouseResource) -> SensorResult:
        with warehouse.warehouse().connect() as con:
            waiting = [
                w for w in awaiting_first_sync(con) if w.plugin in api_assets and is_user_slug(w.user_id)
            ]
        asked = set(json.loads(context.cursor or "[]"))
        syncing = syncs_in_flight(context.instance) if waiting else {}
        keys: set[str] = set()
        requests: list[RunRequest] = []
        for account in waiting:
            key = f"first_sync:{account.plugin}:{account.user_id}:{account.connected_at.isoformat()}"
            if key not in asked and account.user_id in syncing.get(account.plugin, ()):
                # Already being synced (a scheduled batch came first): left out of the
                # cursor, so it is asked for at a later tick should that run store nothing.
                context.log.info(f"{account.plugin} for {account.user_id}: already syncing; not asked again")
                continue
            keys.add(key)
            if key in asked:
                continue
            requests.append(
                RunRequest(
                    run_key=key,
                    partition_key=account.user_id,
                    asset_selection=[AssetKey(account.plugin)],
                    tags={
                        "mca/user": account.user_id,
                        "mca/plugin": account.plugin,
                        "mca/trigger": "first_sync",
                    },
                )
            )
            context.log.info(f"first sync of {account.plugin} for {account.user_id}")
        known = set(context.instance.get_dynamic_partitions(users_partitions.name))
        new_users = sorted({str(r.partition_key) for r in requests} - known)
        return SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[users_partitions.build_add_request(new_users)] if new_users else [],
            # Only keys still waiting: an account that has synced leaves the cursor.
            cursor=json.dumps(sorted(keys)),
        )

    return first_sync_sensor
