"""Users as Dagster dynamic partitions, and what counts as a valid user id.

A user id becomes a partition key and a folder name under data/, so it is a short
lowercase slug: no path separators, no dots, nothing a shell or URL would mangle.
"""

from __future__ import annotations

import re

from dagster import DynamicPartitionsDefinition, Failure

users_partitions = DynamicPartitionsDefinition(name="users")

_USER_SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")


def is_user_slug(value: str) -> bool:
    return bool(_USER_SLUG.fullmatch(value))


def check_user_slug(value: str) -> str:
    if not is_user_slug(value):
        raise ValueError(
            f"invalid user id {value!r}: use 1-63 lowercase letters, digits, '-' or '_', "
            "starting with a letter or digit"
        )
    return value


def partition_user(partition_key: str) -> str:
    """The user of a run's partition; a bad key fails the step at once (retrying would not
    make it valid, and it must never become a path)."""
    try:
        return check_user_slug(partition_key)
    except ValueError as exc:
        raise Failure(description=str(exc), allow_retries=False) from None
