"""A terminated run reaches the plugin: run_cancellable sets the sync's cancellation on
an interrupt, waits for the request in flight and its page, then fails without retry.

Dagster turns a run's termination into interrupts of the step's main thread, more than
one of them; `_thread.interrupt_main` raises the same KeyboardInterrupt there.
"""

from __future__ import annotations

import _thread
import threading

import pytest
from dagster import Failure

from mca_pipeline.defs.cancellation import run_cancellable


def test_an_interrupted_sync_stops_after_the_page_in_flight_and_keeps_it() -> None:
    in_flight, answer = threading.Event(), threading.Event()
    stored: list[str] = []
    asked: list[threading.Event] = []

    def sync(cancelled: threading.Event) -> int:
        asked.append(cancelled)
        pages = 0
        while not cancelled.is_set():
            pages += 1
            if pages == 3:
                in_flight.set()
                assert answer.wait(60), "the test never let page 3 answer"
            stored.append(f"page {pages}")
        return pages

    def terminate() -> None:
        assert in_flight.wait(60)
        _thread.interrupt_main()
        assert asked[0].wait(60), "the interrupt never reached the sync"
        _thread.interrupt_main()  # Dagster forwards the termination more than once
        answer.set()

    threading.Thread(target=terminate, daemon=True).start()
    with pytest.raises(Failure) as failure:
        run_cancellable(sync, "lastfm for bob")
    # Page 3 was in flight: it was answered and stored, and nothing after it was asked.
    assert stored == ["page 1", "page 2", "page 3"]
    assert failure.value.allow_retries is False
    assert "the next run resumes" in (failure.value.description or "")


def test_without_an_interrupt_the_sync_result_and_errors_come_back_as_they_are() -> None:
    assert run_cancellable(lambda cancelled: 42, "x") == 42

    def broken(cancelled: threading.Event) -> int:
        raise ValueError("a bug in the plugin")

    with pytest.raises(ValueError, match="a bug in the plugin"):
        run_cancellable(broken, "x")
