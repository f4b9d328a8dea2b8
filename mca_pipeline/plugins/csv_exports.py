"""Reading CSV export files the same way in every CSV plugin (Netflix, Instapaper):
binary and UTF-16 files refused up front, a BOM tolerated, every row located by the
physical line it starts on (quoted values may hold line breaks), every problem a
file_parse_error naming the line. Invalid UTF-8 inside one row does not stop the reader:
the bytes come through as surrogate escapes and `utf8_problem` lets the plugin skip that
row alone (a whole file in another encoding then fails most rows and is rejected)."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from mca_pipeline.core import SkippedRecord
from mca_pipeline.plugins.export_files import (
    PYTHON_SPACE_CLASS,
    ExportFileError,
    check_text,
    file_parse_error,
)

_HEAD_BYTES = 4096
#: No row of a real export comes near this; a longer line (a million commas, say) is not
#: an export, and the reader would hold a list of every one of its fields.
MAX_LINE_CHARS = 1 << 20
_SHOWN_CHARS = 160


def check_csv_head(path: Path) -> None:
    """Reject binary files, zips and spreadsheet re-saves before the CSV reader sees them."""
    with path.open("rb") as f:
        head = f.read(_HEAD_BYTES)
    if head.startswith((b"\xff\xfe", b"\xfe\xff")):
        problem = (
            "the file is UTF-16 text (re-saved by a spreadsheet?); download it again or save it as UTF-8"
        )
        raise ExportFileError(file_parse_error(path, problem, offset=0))
    check_text(path, head)


def csv_rows(path: Path) -> Iterator[tuple[int, list[str]]]:
    """Yield (line the row starts on, values) for each row with any value, header included.

    The delimiter is the header row's: a comma, or a semicolon where a spreadsheet in a
    comma-decimal locale saved the file (seen in real Turkish Netflix exports).
    """
    start = 1
    try:
        with path.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as f:
            delimiter = _delimiter(f.readline(MAX_LINE_CHARS))
            f.seek(0)
            reader = csv.reader(_bounded_lines(f, path), strict=True, delimiter=delimiter)
            for row in reader:
                if any(value.strip() for value in row):
                    yield start, row
                start = reader.line_num + 1
    except csv.Error as exc:
        raise ExportFileError(file_parse_error(path, _csv_problem(exc), line=start)) from None


def _bounded_lines(f: TextIO, path: Path) -> Iterator[str]:
    """The file's physical lines, each read with a bound, so memory never follows a line's
    length; a line past MAX_LINE_CHARS rejects the file there."""
    number = 0
    while line := f.readline(MAX_LINE_CHARS + 1):
        number += 1
        if len(line) > MAX_LINE_CHARS:
            problem = f"line {number} is longer than {MAX_LINE_CHARS:,} characters: not an export's row"
            raise ExportFileError(file_parse_error(path, problem, line=number))
        yield line


class UnreadableRow(Exception):
    """A row that cannot be read: the plugin skips and reports it, the rest of the file
    still imports (raised and caught inside a plugin, never out of `sync`)."""

    def __init__(self, line: int, field: str | None, reason: str, detail: str, row: list[str]) -> None:
        super().__init__(reason)
        self.record = SkippedRecord(reason=reason, line=line, field=field, detail=detail, excerpt=shown(row))


def check_row_text(line: int, row: list[str]) -> None:
    """Raise UnreadableRow for a row holding bytes that are not UTF-8."""
    problem = utf8_problem(row)
    if problem is not None:
        raise UnreadableRow(line, None, problem, "the row holds bytes that are not UTF-8", row)


def utf8_problem(row: list[str]) -> str | None:
    """Why a row read by `csv_rows` is not text, or None when every value is UTF-8."""
    for value in row:
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "not valid UTF-8 text (was the file re-saved in another encoding?)"
    return None


def header_of(head: bytes) -> tuple[str, ...] | None:
    """The header row of a CSV file from its first bytes, for recognising an export by
    content; None when the bytes do not start with a readable CSV row."""
    text = head[:8192].decode("utf-8", errors="replace").removeprefix("\ufeff")
    first = text.split("\n", 1)[0].rstrip("\r")
    try:
        row = next(csv.reader([first], delimiter=_delimiter(first)), [])
    except csv.Error:
        return None
    return tuple(value.strip() for value in row)


def _delimiter(header_line: str) -> str:
    return ";" if ";" in header_line and "," not in header_line else ","


def shown(values: list[str] | tuple[str, ...]) -> str:
    """Values as a person would see them in the file, cut short for a message."""
    text = ",".join(values)
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS] + "…"


def field_error(path: Path, line: int, name: str, problem: str) -> ExportFileError:
    return ExportFileError(file_parse_error(path, problem, line=line, field=name))


def _csv_problem(exc: csv.Error) -> str:
    text = str(exc)
    if "unexpected end of data" in text or "field larger than field limit" in text:
        return "a quoted value that starts in this row is never closed (missing '\"'); is the file truncated?"
    return f"malformed CSV row ({text})"


# --- the columnar path: DuckDB reads a CSV export as csv_rows does --------------------------

#: The longest value the columnar path takes: the csv module refuses fields past 131,072
#: characters, and csv_rows lines past MAX_LINE_CHARS.
_MAX_COLUMNAR_VALUE = 65_536


def has_exact_header(path: Path, header: tuple[str, ...]) -> bool:
    """Whether the file starts (after a BOM) with exactly this comma-separated header line:
    the only files the columnar path reads (a semicolon re-save, padded names or a header
    after blank lines go to the streaming reader)."""
    line = ",".join(header).encode()
    try:
        check_csv_head(path)
        with path.open("rb") as f:
            head = f.read(len(line) + 8)
    except (ExportFileError, OSError):
        return False
    return head.removeprefix(b"\xef\xbb\xbf").startswith((line + b"\n", line + b"\r\n"))


def columnar_csv_rows(columns: int) -> str:
    """SQL reading `$file` (a file with an exact header) as csv_rows reads it: the values
    as text c0, c1, ... ('' where empty), `rn` each row's place in the file, rows of
    nothing but white space dropped, and `mca_record` each kept row's number from 0 (for
    a ColumnarRead `numbered` `in_file_order`: no ORDER BY needed after a join)."""
    names = [f"c{i}" for i in range(columns)]
    return f"""(
        SELECT row_number() OVER () - 1 AS mca_record, *
        FROM (SELECT rn, {", ".join(f"coalesce({c}, '') AS {c}" for c in names)}
              FROM (SELECT row_number() OVER () AS rn, *
                    FROM read_csv($file, header = true, auto_detect = false, delim = ',', quote = '"', escape = '"',
                                  strict_mode = true, null_padding = false,
                                  columns = {{{", ".join(f"'{c}': 'VARCHAR'" for c in names)}}}))
              WHERE NOT regexp_full_match({" || ".join(f"coalesce({c}, '')" for c in names)}, '{PYTHON_SPACE_CLASS}*'))
    )"""


def columnar_csv_clean(columns: int, *, quotes: bool) -> str:
    """SQL, true where DuckDB's CSV reader cannot have read a row otherwise than the csv
    module: no control character, no value past the csv module's limit and, unless
    `quotes`, no double quote in any value (a value quoted oddly)."""
    names = [f"c{i}" for i in range(columns)]
    banned = "\\x00-\\x08\\x0b-\\x1f" + ("" if quotes else '"')
    return f"NOT regexp_matches({' || '.join(names)}, '[{banned}]') AND " + " AND ".join(
        f"length({c}) <= {_MAX_COLUMNAR_VALUE}" for c in names
    )
