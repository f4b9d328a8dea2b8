"""MediaItem's rules as SQL (MEDIA_ITEM_RULES): each rejects what MediaItem rejects.

For every rule, one bad value: MediaItem refuses it, and a file whose one row holds it
gets no columnar pages (the streaming reader takes the file, and MediaItem skips the
record there with its reason). A row of good values passes both.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from mca_pipeline.core import MediaItem
from mca_pipeline.core.columnar import MEDIA_ITEM_RULES, ColumnarRead
from mca_pipeline.warehouse.columnar_pages import read_columnar
from mca_pipeline_tests.plugins.columnar_paths import page_rows

LOG = logging.getLogger("test")

GOOD_ITEM: dict[str, Any] = {
    "platform": "p",
    "type": "music",
    "title": "Song",
    "creator": "Artist",
    "consumed_at": datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
    "duration": timedelta(seconds=200),
    "time_spent": timedelta(seconds=180),
    "tags": ("rock",),
    "url": None,
    "external_id": "id-1",
    "raw_metadata": {"a": 1},
}
GOOD_SQL: dict[str, str] = {
    "external_id": "'id-1'",
    "media_type": "'music'",
    "title": "'Song'",
    "creator": "'Artist'",
    "consumed_at": "TIMESTAMPTZ '2024-05-01 12:00:00+00'",
    "duration_s": "200.0::DOUBLE",
    "time_spent_s": "180.0::DOUBLE",
    "tags": "['rock']",
    "url": "NULL::VARCHAR",
    "raw_metadata": """'{"a": 1}'""",
}

# rule -> (MediaItem field and bad value, page column and the same bad value in SQL)
BAD: dict[str, list[tuple[str, Any, str, str]]] = {
    "external_id": [("external_id", "", "external_id", "''"), ("external_id", None, "external_id", "NULL")],
    "media_type": [("type", "book", "media_type", "'book'"), ("type", "Music", "media_type", "'Music'")],
    "title": [("title", "", "title", "''"), ("title", None, "title", "NULL::VARCHAR")],
    "consumed_at": [
        ("consumed_at", None, "consumed_at", "NULL::TIMESTAMPTZ"),
        ("consumed_at", "10000-01-01T00:00:00+00:00", "consumed_at", "TIMESTAMPTZ '10000-01-01 00:00:00+00'"),
    ],
    "duration": [
        ("duration", timedelta(seconds=-1), "duration_s", "-1.0::DOUBLE"),
        ("duration", float("inf"), "duration_s", "'inf'::DOUBLE"),
    ],
    "time_spent": [
        ("time_spent", timedelta(milliseconds=-1), "time_spent_s", "-0.001::DOUBLE"),
        ("time_spent", float("nan"), "time_spent_s", "'nan'::DOUBLE"),
    ],
    "tags": [("tags", ("a", None), "tags", "['a', NULL]"), ("tags", None, "tags", "NULL::VARCHAR[]")],
    "raw_metadata": [
        ("raw_metadata", [1], "raw_metadata", "'[1]'"),
        ("raw_metadata", None, "raw_metadata", "NULL::VARCHAR"),
    ],
}


def one_row_file(columns: dict[str, str]) -> ColumnarRead:
    select = ", ".join(f"{sql} AS {name}" for name, sql in columns.items())
    return ColumnarRead(
        sql=f"SELECT {select}, true AS clean, NULL::VARCHAR AS left_out",
        cursor_at=lambda n, total: f"{n}/{total}",
    )


def test_every_rule_has_its_bad_values() -> None:
    assert sorted(BAD) == sorted(MEDIA_ITEM_RULES)


def test_good_values_pass_both() -> None:
    MediaItem(**GOOD_ITEM)
    read = read_columnar(one_row_file(GOOD_SQL), LOG)
    assert read is not None and read.rows == 1
    [page] = page_rows(read, 10)
    read.close()
    assert page.table.column("title").to_pylist() == ["Song"]
    assert (page.cursor, page.has_more) == ("1/1", False)


@pytest.mark.parametrize(
    ("rule", "case"), [(rule, case) for rule, cases in sorted(BAD.items()) for case in range(len(cases))]
)
def test_a_bad_value_is_refused_by_both(rule: str, case: int) -> None:
    field, value, column, sql = BAD[rule][case]
    with pytest.raises(ValidationError):
        MediaItem(**{**GOOD_ITEM, field: value})
    assert read_columnar(one_row_file({**GOOD_SQL, column: sql}), LOG) is None


def test_a_row_the_plugin_calls_unclean_sends_the_file_to_the_streaming_reader() -> None:
    read = one_row_file(GOOD_SQL)
    unclean = ColumnarRead(
        sql=read.sql.replace("true AS clean", "NULL::BOOLEAN AS clean"), cursor_at=read.cursor_at
    )
    assert read_columnar(unclean, LOG) is None


def test_a_page_keeps_the_last_row_of_a_repeated_key_in_order() -> None:
    """As items_table keeps the last of repeated items: the hostile variants found the
    first version keeping the wrong rows, and the insert hit the primary key."""
    columns = {**GOOD_SQL, "external_id": "k", "title": "t"}
    select = ", ".join(f"{sql} AS {name}" for name, sql in columns.items())
    keys = "('a', '1'), ('b', '2'), ('a', '3'), ('c', '4'), ('b', '5')"
    read = read_columnar(
        ColumnarRead(
            sql=f"SELECT {select}, true AS clean, NULL::VARCHAR AS left_out FROM (VALUES {keys}) AS v(k, t)",
            cursor_at=lambda n, total: f"{n}/{total}",
        ),
        LOG,
    )
    assert read is not None
    try:
        [page] = page_rows(read, 10)
    finally:
        read.close()
    assert page.table.column("external_id").to_pylist() == ["a", "c", "b"]
    assert page.table.column("title").to_pylist() == ["3", "4", "5"]
