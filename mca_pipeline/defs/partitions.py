"""Users as Dagster dynamic partitions (the id rule itself is in core.users)."""

from __future__ import annotations

from dagster import DynamicPartitionsDefinition, Failure

from mca_pipeline.core.users import USERS_PARTITION, check_user_slug

users_partitions = DynamicPartitionsDefinition(name=USERS_PARTITION)


def partition_user(partition_key: str) -> str:
    """The user of a run's partition; a bad key fails the step at once (retrying would not
    make it valid, and it must never become a path)."""
    try:
        return check_user_slug(partition_key)
    except ValueError as exc:
        raise Failure(description=str(exc), allow_retries=False) from None
