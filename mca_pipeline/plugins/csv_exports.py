"""Reading CSV export files the same way in every CSV plugin (Netflix, Instapaper):
binary and UTF-16 files refused up front, a BOM tolerated, every row located by the
physical line it starts on (quoted values may hold line breaks), every problem a
file_parse_error naming the line."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

from mca_pipeline.plugins.export_files import ExportFileError, check_text, file_parse_error, line_at

_HEAD_BYTES = 4096
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
    """Yield (line the row starts on, values) for each row with any value, header included."""
    start = 1
    try:
        with path.open(encoding="utf-8-sig", newline="") as f:
            reader = csv.reader(f, strict=True)
            for row in reader:
                if any(value.strip() for value in row):
                    yield start, row
                start = reader.line_num + 1
    except csv.Error as exc:
        raise ExportFileError(file_parse_error(path, _csv_problem(exc), line=start)) from None
    except UnicodeDecodeError:
        raise _utf8_error(path) from None


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


def _utf8_error(path: Path) -> ExportFileError:
    """Locate the first byte that is not UTF-8; only runs on the error path."""
    offset = 0
    try:
        path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = exc.start
    problem = "not valid UTF-8 text (was the file re-saved in another encoding?)"
    return ExportFileError(file_parse_error(path, problem, line=line_at(path, offset), offset=offset))
