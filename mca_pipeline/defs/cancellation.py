"""Cancellation that reaches the plugin: a terminated run stops between pages.

Terminating a run in the UI, or a daemon shutting down, interrupts the step's main thread
(Dagster raises DagsterExecutionInterruptedError there, wherever it is). Were the plugin
running on that thread, the interrupt would land in the middle of an HTTP request or a
page being stored. So the sync runs on a worker thread while the step's thread only
waits; an interrupt sets the sync context's `cancelled` event, the plugin returns after
the request in flight with its cursor (the contract's "Sync() respects cancellation"),
that page is stored, and the interrupt goes on so the run ends as canceled. The next
run resumes from the stored cursor.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from dagster import Failure

T = TypeVar("T")


class SyncTerminated(Failure):
    """The run was terminated during a sync: it ends the step (a batch run stops there too,
    rather than going on with its next user)."""


#: How long a cancelled sync may take to finish the request and page in flight.
STOP_WAIT_S = 120.0
_POLL_S = 0.2
#: Under `mca_pipeline`, which dagster.yaml hands to Dagster: the line shows in the run's log.
_log = logging.getLogger(__name__)


def run_cancellable(
    work: Callable[[threading.Event], T],
    what: str,
) -> T:
    """`work(cancelled)` on a worker thread; an interrupt of this thread sets `cancelled`,
    waits (up to STOP_WAIT_S) for the work to stop where it may, and fails the step
    without retries."""
    cancelled = threading.Event()
    outcome: dict[str, object] = {}

    # Waited on rather than Thread.join(): a join interrupted by KeyboardInterrupt can
    # leave the thread marked stopped while it still runs (CPython 3.11).
    done = threading.Event()

    def target() -> None:
        try:
            outcome["value"] = work(cancelled)
        except BaseException as exc:  # handed to the step's thread, raised there
            outcome["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=target, name=f"mca-sync {what}", daemon=True)
    try:
        worker.start()  # inside: an interrupt may come before start() returns
        while not done.wait(_POLL_S):
            pass
    except BaseException as interrupt:
        # Set the event, wait for the page in flight to be stored, then end the step.
        _finish(cancelled, done, outcome, what)
        # Dagster retries an interrupted step that has a RetryPolicy, which would carry
        # on syncing in a run the person just terminated; a Failure without retries ends it.
        raise SyncTerminated(
            description=f"{what}: the run was terminated; the sync stopped after the request in "
            "flight, what it read is stored with its cursor, and the next run resumes there",
            allow_retries=False,
        ) from interrupt
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome["value"]  # type: ignore[return-value]


def _finish(cancelled: threading.Event, done: threading.Event, outcome: dict[str, object], what: str) -> None:
    """Wait for a cancelled sync to store its last page. Dagster keeps interrupting the
    process until it ends (the termination is forwarded more than once); each interrupt
    raised here would cut the wait short and the pages read would die with the process,
    so the interrupt signals are ignored on this thread while it waits (the first one is
    being handled), then handed back."""
    ignored = _ignore_interrupts()
    try:
        cancelled.set()
        _log.warning(f"{what}: run terminated; stopping after the request in flight")
        deadline = time.monotonic() + STOP_WAIT_S
        while not done.is_set() and time.monotonic() < deadline:
            with contextlib.suppress(BaseException):
                done.wait(_POLL_S)
        if not done.is_set():
            _log.warning(f"{what}: still busy after {STOP_WAIT_S:.0f} s; ending without it")
        elif "error" in outcome:
            _log.warning(f"{what}: the stopped sync failed: {outcome['error']!r}")
    finally:
        for signum, handler in ignored.items():
            signal.signal(signum, handler)


def _ignore_interrupts() -> dict[int, Any]:
    """Ignore SIGINT and SIGTERM (main thread only); returns the handlers to restore."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.getsignal(signum)
        signal.signal(signum, signal.SIG_IGN)
    return previous
