from collections.abc import Iterator

import pytest

from mca_pipeline_tests.postgres import PostgresUnavailable, fresh_database


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A database of its own on the local PostgreSQL server, dropped after the test."""
    try:
        database = fresh_database()
        url = database.__enter__()
    except PostgresUnavailable as exc:
        pytest.skip(f"production-mode tests need PostgreSQL (set MCA_TEST_POSTGRES_URL): {exc}")
    try:
        yield url
    finally:
        database.__exit__(None, None, None)
