"""The columnar path of a file import: DuckDB reads the whole export file.

A plugin's streaming reader builds one `MediaItem` per record, which costs far more than
reading the file (a 1,000,000-play Spotify history: about 40 s against DuckDB's 3 s).
A file plugin whose files can be large may therefore also say how DuckDB reads a file
into the columns of a page (`ColumnarRead`, from `ColumnarFileImportPlugin.columnar_read`); core runs that query outside the warehouse,
checks every row against `MEDIA_ITEM_RULES` and the plugin's own `clean` column, and
stores the file in pages, each one INSERT ... SELECT from what DuckDB read.

The columnar path only ever takes files it can read whole and exactly: when DuckDB
cannot read the file, or any row breaks a rule, core falls back to the plugin's
streaming reader for the whole file, which names each bad record's line, byte and field
in the import report. So the plugin's `clean` column need not explain anything; it must
only be false for every record the streaming reader would skip or map differently.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING

from mca_pipeline.core.models import MediaType

if TYPE_CHECKING:
    from pyarrow import RecordBatchReader

#: The columns (in this order) of a columnar page: what `store_sync` stages from items.
#: raw_metadata is JSON text; consumed_at a TIMESTAMPTZ; the *_s columns are seconds.
PAGE_COLUMNS = (
    "external_id",
    "media_type",
    "title",
    "creator",
    "consumed_at",
    "duration_s",
    "time_spent_s",
    "tags",
    "url",
    "raw_metadata",
)

_TYPES = ", ".join(f"'{t.value}'" for t in MediaType)

#: What `MediaItem` enforces, as SQL over the page columns: each must hold for a row to
#: be stored on the columnar path (a row that breaks one sends the file to the streaming
#: reader, where `MediaItem` rejects that record with its reason). Keyed by the field.
MEDIA_ITEM_RULES: Mapping[str, str] = MappingProxyType(
    {
        "external_id": "external_id IS NOT NULL AND length(external_id) >= 1",
        "media_type": f"media_type IN ({_TYPES})",
        "title": "title IS NOT NULL AND length(title) >= 1",
        # timezone-aware by its type; MediaItem's datetime ends at 9999-12-31 in UTC
        "consumed_at": "consumed_at IS NOT NULL AND consumed_at < TIMESTAMPTZ '10000-01-01 00:00:00+00'"
        " AND consumed_at >= TIMESTAMPTZ '0001-01-01 00:00:00+00'",
        # a timedelta: finite, not negative, under its 999,999,999 days
        "duration": "duration_s IS NULL OR (isfinite(duration_s) AND duration_s BETWEEN 0 AND 8.64e13)",
        "time_spent": "time_spent_s IS NULL OR (isfinite(time_spent_s) AND time_spent_s BETWEEN 0 AND 8.64e13)",
        "tags": "tags IS NOT NULL AND list_count(tags) = len(tags)",
        "raw_metadata": "raw_metadata IS NOT NULL AND json_valid(raw_metadata)"
        " AND json_type(raw_metadata) = 'OBJECT'",
    }
)


@dataclass(frozen=True)
class ColumnarRead:
    """How DuckDB reads one export file into a page's columns.

    `sql` is a SELECT (DuckDB's dialect, `params` as named parameters) giving
    PAGE_COLUMNS, in order, then a BOOLEAN `clean`: false for any record that the
    plugin's streaming reader would skip or map to different values, and a VARCHAR
    `left_out`: for a record left out on purpose (an ad, a trailer) the reason as the
    import report says it, NULL for a record to store. Rows come in the
    file's order, one per record. `start` records of the file are already stored (an interrupted
    import resumes after them); `cursor_at(n, total)` is the plugin's cursor after the
    first n of the file's `total` records, stored with each page as the streaming
    reader's cursor is.

    `functions` are Python functions of one text the SQL may call by name (NULL stays
    NULL), for what SQL cannot say: Netflix's episode titles need a regular expression
    with a back-reference, which DuckDB's RE2 does not have. Each call is a Python
    call: call them only on the values SQL cannot read itself.

    `numbered`: each row also has, after `left_out`, `mca_record`, its record's
    number in the file from 0; the rows may then come in any order, and DuckDB reads
    the file on all its threads (in the file's order it stages large rows on one).
    `in_file_order`: the SQL numbers the rows itself in the order DuckDB reads the file
    (`row_number() OVER ()` over the reader, as `columnar_csv_rows` does), so DuckDB
    keeps that order while it reads, and the query needs no ORDER BY of its own.

    `tables` are Arrow record-batch streams the SQL may read by name, opened when the
    query runs, for a file DuckDB has no reader for: Takeout's HTML page, split by the
    plugin into one text per entry, which the SQL then reads with regular expressions.

    `read_note`, called once DuckDB has read the file and it takes the columnar path,
    gives a line for the run's log that the streaming reader would have logged (TikTok:
    how many records each list had).
    """

    sql: str
    cursor_at: Callable[[int, int], str]
    params: Mapping[str, object] = field(default_factory=dict)
    start: int = 0
    functions: Mapping[str, Callable[[str], str | None]] = field(default_factory=dict)
    tables: Mapping[str, Callable[[], RecordBatchReader]] = field(default_factory=dict)
    numbered: bool = False
    in_file_order: bool = False
    read_note: Callable[[], str] | None = None
