"""Units of work: one transaction each, and on a lake, tried again when another host's
commit got in first.

A DuckLake commits optimistically: two transactions that change the same table, an
update or delete beside anything else, cannot both commit, and the later one fails with
"Failed to commit DuckLake transaction" (a DuckDB file, whose lock lets one writer in at a
time, never does). The later one is simply run again, from its BEGIN, on the newer
snapshot: `retried` does that for a function that is one unit of work.

After a failed COMMIT no transaction is open, and a ROLLBACK would raise "no transaction
is active" over the real error; `transaction` rolls back only what is still open.
"""

from __future__ import annotations

import contextlib
import functools
import random
import time
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

import duckdb

P = ParamSpec("P")
T = TypeVar("T")

#: How many times a unit of work is tried before its conflict is the caller's error.
ATTEMPTS = 8
LOST_COMMIT = "Failed to commit DuckLake transaction"


@contextlib.contextmanager
def transaction(
    con: duckdb.DuckDBPyConnection,
    commit_room: Callable[[], contextlib.AbstractContextManager[None]] | None = None,
) -> Iterator[None]:
    """BEGIN, then COMMIT when the block ends, or ROLLBACK when it raises.

    `commit_room`, when given, is entered around the COMMIT alone: a connection held
    under a low memory limit gets its own back for it (see `LoweredLimit.lifted`)."""
    con.execute("BEGIN TRANSACTION")
    try:
        yield
        with commit_room() if commit_room is not None else contextlib.nullcontext():
            con.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(duckdb.TransactionException):  # nothing open after a failed COMMIT
            con.execute("ROLLBACK")
        raise


def is_lost_commit(exc: BaseException) -> bool:
    """A DuckLake commit that lost to another transaction's (and may be tried again)."""
    return isinstance(exc, duckdb.TransactionException) and LOST_COMMIT in str(exc)


def retried(unit: Callable[P, T]) -> Callable[P, T]:
    """Run `unit` (a function that is one whole transaction) again when its commit lost,
    after a short random pause that grows, up to ATTEMPTS times."""

    @functools.wraps(unit)
    def again(*args: P.args, **kwargs: P.kwargs) -> T:
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return unit(*args, **kwargs)
            except duckdb.TransactionException as exc:
                if not is_lost_commit(exc) or attempt == ATTEMPTS:
                    raise
                time.sleep(random.uniform(0.01, 0.05) * 2**attempt)
        raise AssertionError("unreachable")

    return again
