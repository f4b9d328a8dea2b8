"""The one place that maps a PluginError code to what the Dagster step does.

| code              | step behaviour                                                        |
|-------------------|-----------------------------------------------------------------------|
| rate_limit        | RetryRequested after `after` (not a failed sync), up to               |
|                   | `longest_wait_in_run()`; longer, the run ends and the sync is paused  |
| upstream          | raise, so the asset's RetryPolicy (exponential backoff, jitter) retries |
| partial_sync      | items + cursor already committed; RetryRequested resumes from cursor  |
| auth_expired      | Failure without retry: the user must reconnect                        |
| permission_denied | Failure without retry, naming the missing scopes                      |
| invalid_data      | Failure without retry; raw excerpt kept in sync_log                   |
| file_parse_error  | Failure without retry; the file goes to rejected/ with a report       |

Whatever the code, a PluginError with `retry=False` (the platform said retrying is
pointless) fails without retry. A plugin that raises instead of answering is a bug in
mca, not the platform's doing: the run fails with its traceback and is not retried
(`crashed`), never reported as a platform error.
"""

from __future__ import annotations

import os
from datetime import timedelta

from dagster import Backoff, Failure, Jitter, MetadataValue, RetryPolicy, RetryRequested

from mca_pipeline.core import ErrorCode, PluginError
from mca_pipeline.warehouse.store import PROGRAMMING_ERROR
from mca_pipeline.warehouse.sync_loop import PluginCrashed

#: Retries for transient platform failures (upstream): 4 tries over about two minutes.
SOURCE_RETRY_POLICY = RetryPolicy(
    max_retries=3, delay=10, backoff=Backoff.EXPONENTIAL, jitter=Jitter.PLUS_MINUS
)

_DEFAULT_RATE_LIMIT_WAIT = timedelta(seconds=60)

#: The longest rate-limit wait spent inside a run (holding its run slot and pool slot).
LONGEST_WAIT_IN_RUN = timedelta(minutes=5)
LONGEST_WAIT_ENV = "MCA_LONGEST_WAIT_IN_RUN_S"


def longest_wait_in_run() -> timedelta:
    """LONGEST_WAIT_IN_RUN, or MCA_LONGEST_WAIT_IN_RUN_S seconds where a deployment sets it."""
    raw = os.environ.get(LONGEST_WAIT_ENV, "").strip()
    try:
        return timedelta(seconds=float(raw)) if raw else LONGEST_WAIT_IN_RUN
    except ValueError:
        return LONGEST_WAIT_IN_RUN


def rate_limit_wait(error: PluginError) -> timedelta:
    """How long the platform asked to wait (a minute when it did not say)."""
    return error.after if error.after is not None else _DEFAULT_RATE_LIMIT_WAIT


def pauses_sync(error: PluginError) -> bool:
    """A rate limit too long to wait for in the run: end it and pause the sync instead."""
    return error.code is ErrorCode.RATE_LIMIT and rate_limit_wait(error) > longest_wait_in_run()


class UpstreamError(Exception):
    """A transient platform failure; raised plainly so the RetryPolicy applies."""


def raise_for(error: PluginError, plugin: str, user_id: str, retry_policy: RetryPolicy) -> None:
    """Turn a plugin's error into the step outcome its code calls for. Never returns.

    A partial sync resumes after the retry policy's first delay: its items are stored,
    so waiting longer gains nothing.
    """
    what = f"{plugin} for user {user_id}: {error.message}"
    metadata = {"error_code": MetadataValue.text(error.code.value)}
    if error.retry is False:
        raise Failure(
            description=f"{what} (the platform's answer says retrying will not help)",
            metadata=metadata,
            allow_retries=False,
        )
    if error.code is ErrorCode.RATE_LIMIT:
        raise RetryRequested(max_retries=5, seconds_to_wait=rate_limit_wait(error).total_seconds())
    if error.code is ErrorCode.PARTIAL_SYNC:
        raise RetryRequested(max_retries=retry_policy.max_retries, seconds_to_wait=retry_policy.delay or 0)
    if error.code is ErrorCode.UPSTREAM:
        raise UpstreamError(what)
    if error.code is ErrorCode.PERMISSION_DENIED and error.details.get("missing_scopes"):
        metadata["missing_scopes"] = MetadataValue.text(", ".join(error.details["missing_scopes"]))
    raise Failure(description=what, metadata=metadata, allow_retries=False)


def crashed(exc: PluginCrashed) -> Failure:
    """The step's end for a plugin that raised: failed with the traceback, no retry."""
    return Failure(
        description=str(exc),
        metadata={
            "error_code": MetadataValue.text(PROGRAMMING_ERROR),
            "traceback": MetadataValue.md(f"```\n{exc.trace[-8000:]}\n```"),
        },
        allow_retries=False,
    )
