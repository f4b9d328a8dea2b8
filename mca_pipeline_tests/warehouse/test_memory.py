"""A connection held under a lower memory limit for one piece of work gets its own back."""

from __future__ import annotations

import duckdb
import pytest

from mca_pipeline.warehouse.memory import bytes_of_size, memory_at_most, memory_limit
from mca_pipeline.warehouse.queries import source_health
from mca_pipeline.warehouse.schema import migrate


def limit_is(con: duckdb.DuckDBPyConnection, shown: str) -> bool:
    """Whether `con`'s memory limit is the one DuckDB showed as `shown`: a limit set
    again from what DuckDB shows comes back to its tenth of a MiB."""
    return abs(bytes_of_size(memory_limit(con)) - bytes_of_size(shown)) <= 0.1 * 2**20


@pytest.mark.parametrize(("own", "lowered"), [("512MB", True), ("64MB", False)])
def test_the_limit_is_lowered_for_the_block_only_and_a_lower_one_is_kept(own: str, lowered: bool) -> None:
    with duckdb.connect(config={"memory_limit": own}) as con:
        before = memory_limit(con)
        with memory_at_most(con, 100 * 2**20):
            assert memory_limit(con) == ("100.0 MiB" if lowered else before)
        assert limit_is(con, before)


def test_a_lifted_block_runs_under_the_connections_own_limit_then_the_lowered_one_again() -> None:
    with duckdb.connect(config={"memory_limit": "512MB"}) as con:
        own = memory_limit(con)
        with memory_at_most(con, 100 * 2**20) as lowered:
            with lowered.lifted():
                assert limit_is(con, own)
            assert memory_limit(con) == "100.0 MiB"
            assert lowered.double()
            with lowered.lifted():
                assert limit_is(con, own)
            assert memory_limit(con) == "200.0 MiB"


def test_the_health_of_a_source_counts_under_a_lower_limit_and_leaves_the_connection_as_found() -> None:
    with duckdb.connect(config={"memory_limit": "512MB"}) as con:
        migrate(con)
        con.execute(
            """INSERT INTO media_items (user_id, platform, external_id, media_type, title, consumed_at,
                   raw_metadata, first_seen_at, updated_at)
               SELECT 'u', 'p', 'id-' || i, 'music', 't', now() + INTERVAL (i) DAY, '{}', now(), now()
               FROM range(3) t(i)"""
        )
        before = memory_limit(con)
        health = source_health(con, "u", "p")
        assert (health.duplicate_keys, health.future_items) == (0, 1)
        assert limit_is(con, before)
