"""Reading export files the way every file-import plugin needs: precisely located errors,
resumable byte-offset cursors, and JSON arrays streamed in bounded memory.

Export files repeat a person's whole history and can hold hundreds of thousands of
records, so a plugin pages through them: each page ends at a byte offset that becomes
the cursor, and the next call seeks straight there instead of re-reading the file.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from mca_pipeline.core import Credentials, ErrorCode, PluginError, SkippedRecord
from mca_pipeline.core.columnar import ColumnarRead

if TYPE_CHECKING:
    from pyarrow import RecordBatchReader

_CHUNK = 1 << 20
_MAX_RECORD = 16 << 20
_FINGERPRINT_BYTES = 1 << 20
_JSON_WS = " \t\r\n"


class ExportFileError(Exception):
    """Raised while reading an export; carries the PluginError to return."""

    def __init__(self, error: PluginError) -> None:
        super().__init__(str(error))
        self.error = error


def file_parse_error(
    path: Path,
    problem: str,
    *,
    line: int | None = None,
    offset: int | None = None,
    field: str | None = None,
    excerpt: str | None = None,
) -> PluginError:
    """A file_parse_error whose message says which file, where, and which field."""
    where = [f"line {line}" if line is not None else None, f"byte {offset}" if offset is not None else None]
    location = ", ".join(w for w in where if w)
    parts = [path.name]
    if location:
        parts.append(location)
    if field:
        parts.append(f"field {field!r}")
    message = f"{': '.join([', '.join(parts), problem])}"
    return PluginError(
        code=ErrorCode.FILE_PARSE_ERROR,
        message=message,
        retry=False,
        raw=excerpt,
        details={"file": path.name, "line": line, "byte_offset": offset, "field": field, "problem": problem},
    )


def require_file(plugin: str, creds: Credentials) -> Path:
    """The export file of a file-import sync, or an error saying none was given."""
    if creds.file is None:
        raise ExportFileError(
            PluginError(
                code=ErrorCode.FILE_PARSE_ERROR, message=f"{plugin}: no export file was given to import"
            )
        )
    path = Path(creds.file)
    if not path.is_file():
        raise ExportFileError(file_parse_error(path, "file does not exist or is not a regular file"))
    if path.stat().st_size == 0:
        raise ExportFileError(file_parse_error(path, "file is empty", line=1, offset=0))
    return path


def check_text(path: Path, head: bytes) -> None:
    """Reject binary files (zip, PDF, images) early with a clear message."""
    if head.startswith(b"PK\x03\x04"):
        raise ExportFileError(
            file_parse_error(
                path, "this is a zip archive; unzip the export and drop the files inside", line=1, offset=0
            )
        )
    nul = head.find(b"\x00")
    if nul >= 0:
        problem = "binary data (NUL byte), not a text export"
        raise ExportFileError(file_parse_error(path, problem, line=head.count(b"\n", 0, nul) + 1, offset=nul))


#: The reason of a record whose values passed the plugin's checks but not MediaItem's.
UNSTORABLE = "value cannot be stored"


def validation_problem(exc: ValidationError) -> tuple[str | None, str]:
    """The field and what is wrong with it, for a record MediaItem refused (a number as a
    name, text that is no Unicode, a time outside the calendar)."""
    first = exc.errors()[0]
    field = ".".join(str(part) for part in first["loc"]) or None
    return field, f"value {first.get('input')!r:.80} cannot be stored as {field}: {first['msg']}"


def line_at(path: Path, offset: int) -> int:
    """1-based line number of a byte offset; only computed on the error path."""
    line = 1
    remaining = offset
    with path.open("rb") as f:
        while remaining > 0:
            block = f.read(min(_CHUNK, remaining))
            if not block:
                break
            line += block.count(b"\n")
            remaining -= len(block)
    return line


def with_lines(path: Path, records: list[SkippedRecord]) -> list[SkippedRecord]:
    """Fill in the line of every skipped record that has only a byte offset, reading the
    file once for all of them (a line_at per record would make many bad records cost the
    square of the file size)."""
    pending = sorted({r.byte_offset for r in records if r.line is None and r.byte_offset is not None})
    if not pending:
        return records
    lines: dict[int, int] = {}
    line, consumed = 1, 0
    with path.open("rb") as f:
        for offset in pending:
            while consumed < offset:
                block = f.read(min(_CHUNK, offset - consumed))
                if not block:
                    break
                line += block.count(b"\n")
                consumed += len(block)
            lines[offset] = line
    return [
        r.model_copy(update={"line": lines[r.byte_offset]})
        if r.line is None and r.byte_offset is not None
        else r
        for r in records
    ]


def fingerprint(path: Path) -> str:
    """Identifies a file's content cheaply (size + first MiB) so a cursor is only reused
    for the same file: a different export starts from the beginning."""
    digest = hashlib.sha256()
    digest.update(str(path.stat().st_size).encode())
    with path.open("rb") as f:
        digest.update(f.read(_FINGERPRINT_BYTES))
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class FileCursor:
    """Where a paged file import stands: which file, and the byte offset to resume at."""

    file: str
    offset: int

    def encode(self) -> str:
        return json.dumps({"file": self.file, "offset": self.offset}, separators=(",", ":"))

    @classmethod
    def resume(cls, cursor: str, path: Path) -> FileCursor:
        """The cursor to start from for `path`: the stored one if it is for this file."""
        current = fingerprint(path)
        if cursor:
            try:
                data = json.loads(cursor)
                if data.get("file") == current and int(data.get("offset", 0)) >= 0:
                    return cls(current, int(data["offset"]))
            except (ValueError, TypeError, AttributeError):
                pass
        return cls(current, 0)


#: What Python's str.strip() strips (every character for which str.isspace() is true),
#: for DuckDB's trim() to strip the same on the columnar path.
PYTHON_SPACES = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006"
    "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
#: The same characters as an RE2 character class.
PYTHON_SPACE_CLASS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in PYTHON_SPACES) + "]"


def sql_text(text: str) -> str:
    """`text` as a SQL string literal, for values built into a columnar path's SQL."""
    return "'" + text.replace("'", "''") + "'"


def python_strip_sql(value: str) -> str:
    """SQL for Python's `value.strip()` (the query given PYTHON_SPACES as `$spaces`).
    DuckDB's trim() with a list of characters costs some 0.5 s per million values, so
    only the values with such a character at an edge pay for it."""
    edge = f"^{PYTHON_SPACE_CLASS}|{PYTHON_SPACE_CLASS}$"
    return f"CASE WHEN regexp_matches({value}, '{edge}') THEN trim({value}, $spaces) ELSE {value} END"


def columnar_file_read(
    sql: str,
    path: Path,
    cursor: str,
    params: Mapping[str, object] | None = None,
    functions: Mapping[str, Callable[[str], str | None]] | None = None,
    tables: Mapping[str, Callable[[], RecordBatchReader]] | None = None,
    *,
    numbered: bool = False,
    in_file_order: bool = False,
    read_note: Callable[[], str] | None = None,
) -> ColumnarRead | None:
    """The ColumnarRead of `path` by `sql` (its file as the named parameter `file` where
    the SQL names it, beside `params`; `functions`, `tables`, `numbered`, `in_file_order` and `read_note` as
    ColumnarRead has them),
    resuming after the records that `cursor` says are stored; None when `cursor` is the
    streaming reader's, mid-file, which only the streaming reader can continue.

    A columnar page's cursor is `{"file", "offset": 0, "record": n, "read": bytes}`:
    offset 0, so that the streaming reader, were it handed one, reads the file from its
    start (what is stored is skipped by the dedup), and `read`, an estimate from the
    share of records, only for the progress bar.
    """
    current = fingerprint(path)
    size = path.stat().st_size
    start = 0
    if cursor:
        try:
            data = json.loads(cursor)
            if data.get("file") == current:
                if int(data.get("offset", 0)) > 0:
                    return None
                start = max(0, int(data.get("record", 0)))
        except (ValueError, TypeError, AttributeError):
            start = 0

    def cursor_at(done: int, total: int) -> str:
        read = size if done >= total else size * done // max(1, total)
        return json.dumps({"file": current, "offset": 0, "record": done, "read": read}, separators=(",", ":"))

    return ColumnarRead(
        sql=sql,
        params={**(params or {}), **({"file": str(path)} if "$file" in sql else {})},
        start=start,
        cursor_at=cursor_at,
        functions=functions or {},
        tables=tables or {},
        numbered=numbered,
        in_file_order=in_file_order,
        read_note=read_note,
    )


def iter_json_array(path: Path, start: int = 0) -> Iterator[tuple[Any, int]]:
    """Yield (element, byte offset just after it) for each element of a top-level JSON array.

    Memory stays bounded by one chunk plus one element, whatever the file size, and
    `start` (an offset previously yielded) resumes right after that element. Errors come
    out as ExportFileError naming the line and byte offset.
    """
    with path.open("rb") as f:
        if start == 0:
            check_text(path, f.read(4096))
        f.seek(start)
        reader = _JsonArrayReader(path, f, start)
        yield from reader.elements(expect_open=start == 0)


def _int_or_digits(digits: str) -> int | str:
    return int(digits) if len(digits) <= _MAX_INT_DIGITS else digits


_MAX_INT_DIGITS = 4000
_BIG_INT_DECODER = json.JSONDecoder(parse_int=_int_or_digits)


def loads_keeping_big_ints(text: str) -> Any:
    """json.loads for a whole export document, except that an integer past Python's
    4300-digit conversion limit comes back as its digits (for the plugin to skip as not
    a number) instead of failing the file. RecursionError still escapes for the caller
    to reject a file nested deeper than any export."""
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        raise
    except ValueError:
        return _BIG_INT_DECODER.decode(text)


class _JsonArrayReader:
    """Decodes chunks of a file to text and tracks the byte offset of any text index.

    json's C scanner works on str, so offsets are kept by a mark (index, byte offset)
    that only moves forward: each byte is encoded once to count it.
    """

    def __init__(self, path: Path, f: Any, start: int) -> None:
        self.path, self.f = path, f
        self.buf = ""
        self.pos = 0
        self.pending = b""
        self.eof = False
        self.mark_idx, self.mark_off = 0, start
        self.decoder = json.JSONDecoder()

    def offset_of(self, index: int) -> int:
        if index >= self.mark_idx:
            self.mark_off += len(self.buf[self.mark_idx : index].encode())
            self.mark_idx = index
            return self.mark_off
        return self.mark_off - len(self.buf[index : self.mark_idx].encode())

    def fill(self) -> bool:
        if self.eof:
            return False
        block_start = self.f.tell()
        block = self.f.read(_CHUNK)
        if not block:
            self.eof = True
            if self.pending:
                raise self.error(block_start - len(self.pending), "file ends inside a UTF-8 character")
            return False
        data = self.pending + block
        try:
            text = data.decode("utf-8")
            self.pending = b""
        except UnicodeDecodeError as exc:
            if exc.start >= len(data) - 3 and exc.reason == "unexpected end of data":
                text = data[: exc.start].decode("utf-8")
                self.pending = data[exc.start :]
            else:
                raise self.error(
                    block_start - len(self.pending) + exc.start, "not valid UTF-8 text"
                ) from None
        keep_from = self.pos
        base = self.offset_of(keep_from)
        self.buf = self.buf[keep_from:] + text
        self.pos = 0
        self.mark_idx, self.mark_off = 0, base
        return True

    def skip_ws(self) -> bool:
        buf = self.buf
        while True:
            pos = self.pos
            while pos < len(buf) and buf[pos] in _JSON_WS:
                pos += 1
            self.pos = pos
            if pos < len(buf):
                return True
            if not self.fill():
                return False
            buf = self.buf

    def error(self, offset: int, problem: str) -> ExportFileError:
        return _error(self.path, offset, problem)

    def here(self) -> int:
        return self.offset_of(self.pos)

    def expect_more(self, problem: str) -> str:
        if not self.skip_ws():
            raise self.error(self.here(), problem)
        return self.buf[self.pos]

    def elements(self, expect_open: bool) -> Iterator[tuple[Any, int]]:
        self.fill()
        if expect_open:
            if self.buf.startswith("\ufeff"):
                self.pos = 1
            first = self.expect_more("file holds only white space, expected a JSON array")
            if first != "[":
                raise self.error(self.here(), f"expected a JSON array '[' but found {first!r}")
            self.pos += 1
            if self.expect_more("file is truncated: the JSON array is never closed") == "]":
                return
        else:
            sep = self.expect_more("file is truncated: the JSON array is never closed")
            if sep == "]":
                return
            if sep != ",":
                raise self.error(self.here(), f"expected ',' or ']' between array elements, found {sep!r}")
            self.pos += 1
        while True:
            self.expect_more("file is truncated: expected an array element")
            element = self.decode_one()
            after = self.here()
            sep = self.expect_more("file is truncated: the JSON array is never closed")
            self.pos += 1
            if sep == "]":
                yield element, after
                return
            if sep != ",":
                raise self.error(after, f"expected ',' or ']' after an array element, found {sep!r}")
            yield element, after

    def decode_one(self) -> Any:
        while True:
            try:
                element, end = self.decoder.raw_decode(self.buf, self.pos)
            except RecursionError:
                raise self.error(self.here(), "invalid JSON: nested too deeply for any export") from None
            except json.JSONDecodeError as exc:
                if not self.eof and len(self.buf) - self.pos < _MAX_RECORD and self.fill():
                    continue
                truncated = self.eof and (
                    exc.pos >= len(self.buf.rstrip()) or exc.msg.startswith("Unterminated string")
                )
                problem = f"{'file is truncated' if truncated else 'invalid JSON'}: {exc.msg}"
                raise self.error(self.offset_of(exc.pos), problem) from None
            except ValueError:
                # An integer past Python's 4300-digit conversion limit: the record is
                # still JSON, so decode it again keeping such numbers as their digits;
                # the plugin then skips the record for a field that is not a number.
                element, end = _BIG_INT_DECODER.raw_decode(self.buf, self.pos)
            if end == len(self.buf) and not self.eof and self.fill():
                continue  # a number or literal may go on in the next chunk
            self.pos = end
            return element


def _error(path: Path, offset: int, problem: str) -> ExportFileError:
    return ExportFileError(file_parse_error(path, problem, line=line_at(path, offset), offset=offset))
