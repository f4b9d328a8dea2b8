"""What counts as a valid user id, and the name of the Dagster partition set of users.

A user id becomes a partition key and a folder name under data/, so it is a short
lowercase slug: no path separators, no dots, nothing a shell or URL would mangle. The
rule lives in core because everything that accepts a user id (the CLI, the web app,
the inbox, the Dagster partitions) must apply the same one.
"""

from __future__ import annotations

import re

#: The dynamic partitions definition holding one partition per user.
USERS_PARTITION = "users"

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
