"""What one person's own page shows about their sources, in as few statements as the
page has tables: items stored per source, and how far an import in progress has read.

An import's progress is what its run has stored so far: the file import writes one
sync_log row per page it stores, with the byte offset it has read to in the cursor
(plugins/export_files.FileCursor), so records and bytes read can be shown while the run
goes on, from any process that can read the warehouse.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import duckdb


@dataclass(frozen=True)
class ImportProgress:
    """A file waiting in the inbox or being imported."""

    plugin: str
    file: str
    size: int
    records: int  # read so far by the newest run of this file (0: not started)
    bytes_read: int
    updated_at: datetime | None

    @property
    def started(self) -> bool:
        return self.updated_at is not None


def items_per_source(con: duckdb.DuckDBPyConnection, user_id: str) -> dict[str, int]:
    rows = con.execute(
        "SELECT platform, count(*) FROM media_items WHERE user_id = ? GROUP BY platform", [user_id]
    ).fetchall()
    return {str(p): int(n) for p, n in rows}


def import_progress(
    con: duckdb.DuckDBPyConnection, user_id: str, waiting: list[tuple[str, str, int, datetime]]
) -> list[ImportProgress]:
    """For files still in the inbox ((plugin, file name, size, last modified)), what the
    newest run of each has stored since the file arrived; a file with none is waiting
    (an earlier file of the same name, long archived, does not count)."""
    if not waiting:
        return []
    rows = con.execute(
        """
        WITH files AS (
            SELECT unnest(CAST($plugins AS VARCHAR[])) AS platform, unnest(CAST($names AS VARCHAR[])) AS source,
                   unnest(CAST($arrived AS TIMESTAMPTZ[])) AS arrived
        ),
        pages AS (
            SELECT l.platform, l.source, l.run_id, l.finished_at,
                   l.received_count + l.unreadable_count AS records,
                   CASE WHEN json_valid(l.cursor_out)  -- a cursor is opaque: not every plugin's is JSON
                        -- a file DuckDB read whole says how far its pages have come in `read`
                        THEN coalesce(TRY_CAST(json_extract_string(l.cursor_out, '$.read') AS BIGINT),
                                      TRY_CAST(json_extract_string(l.cursor_out, '$.offset') AS BIGINT)) END AS offset_read
            FROM sync_log l JOIN files f USING (platform, source)
            WHERE l.user_id = $user AND l.started_at >= f.arrived
        ),
        newest AS (
            SELECT platform, source, arg_max(run_id, finished_at) AS run_id FROM pages GROUP BY platform, source
        )
        SELECT p.platform, p.source, sum(p.records), max(p.offset_read), max(p.finished_at)
        FROM pages p JOIN newest n USING (platform, source)
        WHERE p.run_id IS NOT DISTINCT FROM n.run_id
        GROUP BY p.platform, p.source
        """,
        {
            "user": user_id,
            "plugins": [w[0] for w in waiting],
            "names": [w[1] for w in waiting],
            "arrived": [w[3] for w in waiting],
        },
    ).fetchall()
    found = {(str(p), str(s)): (int(n), int(o or 0), at) for p, s, n, o, at in rows}
    result = []
    for plugin, name, size, _ in waiting:
        records, offset, at = found.get((plugin, name), (0, 0, None))
        result.append(ImportProgress(plugin, name, size, records, min(offset, size), at))
    return result
