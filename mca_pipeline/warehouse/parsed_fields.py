"""The fields of an item's two JSON documents that the metrics read, kept parsed in
columns of media_items beside the documents.

Why: parsing `raw_metadata` and `universal_tags` for every row on every metrics run was
a third of the time of a 1,000,000-play report (benchmarks/analysis.py), and real
`raw_metadata` (a whole export record) is longer than the benchmark's. A document is
written by a few statements only (store, plugin Enrich, universal tags, their reset);
each sets these columns in the same statement from the expressions here, so the columns
never disagree with the documents, and migration 13 fills them for stored rows.

The parse is lenient (`json_transform`): a value of another shape reads as NULL, never
as an error. Text fields read like `->>` (a number or an object becomes its text);
`skipped` is a boolean only when the source wrote a real JSON boolean.
"""

from __future__ import annotations

_META_SHAPE = '{"series": "VARCHAR", "skipped": "JSON", "consumed_at_unknown": "VARCHAR"}'
_TAGS_SHAPE = '{"genre": "VARCHAR[]", "mood": "VARCHAR[]"}'
#: Between the names of a `genres` or `moods` text: the ASCII unit separator, which no
#: genre or mood name holds (the taggers' names are words).
NAME_SEPARATOR = "chr(31)"


def from_raw_metadata(document: str) -> dict[str, str]:
    """Column -> SQL expression over `document` (a JSON or VARCHAR expression):
    `series` (an episode's series, '' read as none), `skipped` (the source's own flag),
    and `time_unknown` (the row's time is a stand-in: every dated metric leaves it out)."""
    meta = f"json_transform({document}, '{_META_SHAPE}')"
    return {
        "series": f"nullif(struct_extract({meta}, 'series'), '')",
        "skipped": f"CASE struct_extract({meta}, 'skipped') WHEN 'true' THEN true WHEN 'false' THEN false END",
        "time_unknown": f"coalesce(struct_extract({meta}, 'consumed_at_unknown'), 'false') = 'true'",
    }


def from_universal_tags(document: str) -> dict[str, str]:
    """Column -> SQL expression over `document`: the universal genres and moods, each
    kept as one text of names joined by `NAME_SEPARATOR` (NULL when there are none).

    Text, not a list: DuckDB rewrites a row whose list column is updated as a delete and
    an insert, index included, which made the migration of a 1,200,000-row warehouse
    take 97 s instead of 0.3 s, and would slow every save of universal tags the same way.
    The metrics split the text (`split_names`) only where they rank names."""
    tags = f"json_transform({document}, '{_TAGS_SHAPE}')"
    return {
        "genres": f"nullif(array_to_string(struct_extract({tags}, 'genre'), {NAME_SEPARATOR}), '')",
        "moods": f"nullif(array_to_string(struct_extract({tags}, 'mood'), {NAME_SEPARATOR}), '')",
    }


def split_names(column: str) -> str:
    """The list of names a `genres` or `moods` text holds ([] for NULL)."""
    return f"coalesce(string_split({column}, {NAME_SEPARATOR}), [])"


def assignments(columns: dict[str, str]) -> str:
    """`col = expr, ...` for an UPDATE's SET list."""
    return ", ".join(f"{column} = {expression}" for column, expression in columns.items())
