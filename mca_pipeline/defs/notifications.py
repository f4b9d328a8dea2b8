"""Telling a user what they must do: a warehouse row (read by the UI and the CLI), a
line in the Dagster log, and, when MCA_NOTIFY_WEBHOOK is set, a JSON POST to it."""

from __future__ import annotations

import logging
import os

import httpx

from mca_pipeline.warehouse import Warehouse
from mca_pipeline.warehouse.accounts import add_notification, set_connection_state
from mca_pipeline.warehouse.transactions import transaction

WEBHOOK_ENV = "MCA_NOTIFY_WEBHOOK"


def notify(
    warehouse: Warehouse,
    log: logging.Logger | logging.LoggerAdapter,  # type: ignore[type-arg]
    user_id: str,
    plugin: str,
    kind: str,
    message: str,
    *,
    connection_state: str | None = None,
) -> None:
    """Record the notification (and the new connection state) in one transaction."""
    with warehouse.connect() as con, transaction(con):
        if connection_state is not None:
            set_connection_state(con, user_id, plugin, connection_state, message)
        note = add_notification(con, user_id, plugin, kind, message)
    log.warning(f"notification for {user_id} ({plugin}, {kind}): {message}")
    url = os.environ.get(WEBHOOK_ENV)
    if not url:
        return
    payload = {
        "id": note.id,
        "user_id": user_id,
        "plugin": plugin,
        "kind": kind,
        "message": message,
        "created_at": note.created_at.isoformat(),
    }
    try:
        httpx.post(url, json=payload, timeout=10.0).raise_for_status()
    except httpx.HTTPError as exc:
        log.warning(f"notification webhook failed ({type(exc).__name__}); the notification is stored anyway")
