"""A PostgreSQL database of its own for a test, on the server these machines run.

Used by the deploy tests (Dagster's storage) and by the warehouse tests on a lake (its
catalog). MCA_TEST_POSTGRES_URL names the server's admin database.
"""

from __future__ import annotations

import os
import urllib.parse
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

ADMIN_URL = os.environ.get("MCA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server answered at ADMIN_URL."""


@contextmanager
def fresh_database(admin_url: str = ADMIN_URL, template: str = "") -> Iterator[str]:
    """A new database on the server, empty or a copy of `template` (a database name),
    dropped afterwards; yields its URL."""
    import psycopg2

    parts = urllib.parse.urlsplit(admin_url)
    try:
        admin = psycopg2.connect(admin_url, connect_timeout=3)
    except psycopg2.OperationalError as exc:
        where = f"{parts.hostname}:{parts.port or 5432}"
        raise PostgresUnavailable(f"no PostgreSQL at {where}: {str(exc).strip()}") from None
    admin.autocommit = True
    name = f"mca_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
        yield urllib.parse.urlunsplit(parts._replace(path=f"/{name}"))
    finally:
        with admin.cursor() as cur:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
