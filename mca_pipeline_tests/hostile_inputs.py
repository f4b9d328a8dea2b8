"""Hostile export files made from real ones, for the fuzz test and benchmarks/fuzz.py.

Three kinds of change, each drawn from a seeded random.Random so a case reproduces:

- bytes: flipped, dropped and inserted bytes, cut files, copied spans (what a broken
  download or a bad disk gives);
- values: a JSON export parsed, then values swapped for hostile ones of another kind
  (a URI that is a number, a time in the year 1 or 9999, a 5,000-digit integer, 1e308,
  a nested list, a lone surrogate...), keys dropped, records replaced (what an export of
  another era, a hand-edited file or an attacker gives);
- cells: a CSV export with cells, quotes and separators swapped the same way.

The contract every file plugin keeps for any of them (README, "Importing"): the readable
records are imported and the rest skipped and counted, or the file is rejected with a
report; never another exception, never endless paging.
"""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

from mca_pipeline.core import Credentials, FileImportPlugin, SyncContext
from mca_pipeline.core.plugin import SNIFF_BYTES

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SUFFIXES = {
    "spotify_export": (".json",),
    "netflix": (".csv",),
    "youtube_takeout": (".json", ".html"),
    "tiktok": (".json",),
    "instapaper": (".csv",),
}
#: Paging of one file stops well before this, whatever the page size.
MAX_PAGES = 500

_NUMBER = re.compile(rb"[:,]\s*\d")
_BYTES = [
    b"\\ud800",
    b'"',
    b",",
    b"\n",
    b"{",
    b"[",
    b"\x00",
    b"9" * 30,
    b"\xff\xfe",
    b"null",
    b"-1",
    b"\xe2\x80\xaf",
]
_TIMES = [
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59Z",
    "0000-00-00T00:00:00Z",
    "2024-02-30T10:00:00Z",
    "2024-01-01T25:61:61Z",
    "2024-01-01",
    "9999-12-31 23:59:59",
    "0001-01-01 00:00:00",
    "1/2/3",
    "",
]
#: Stands for an integer of 5,000 digits (past Python's int/str conversion limit), written
#: into the file as digits after the JSON is made.
_HUGE = "\x00huge-integer\x00"
_TEXTS = ["", " ", "\ud800", "\x00", "#x", "spotify:track:", "https://", "$\\foo{$", "a" * 5000, "9" * 400]


def hostile_value(rng: random.Random) -> Any:
    """A value of any JSON kind that an export should never hold where it is put."""
    roll = rng.randrange(12)
    if roll == 0:
        return rng.choice([10**20, -(10**20), 10**400, _HUGE, -1, 0, 2**63])
    if roll == 1:
        return rng.choice([1e20, 1e308, -1e308, 1e-300, 0.5, -0.0])
    if roll == 2:
        return rng.choice(_TIMES)
    if roll == 3:
        return rng.choice(_TEXTS)
    if roll == 4:
        return None
    if roll == 5:
        return rng.choice([True, False])
    if roll == 6:
        return [rng.choice(_TIMES), 1, None]
    if roll == 7:
        return {"#text": rng.choice(_TEXTS), "x": [1]}
    if roll == 8:
        nested: Any = 1
        for _ in range(rng.randint(2, 60)):
            nested = [nested]
        return nested
    if roll == 9:
        return rng.choice([1, 1.5, 10**11, 10**16])
    if roll == 10:
        return []
    return {}


def mutate_value(rng: random.Random, data: Any, depth: int = 0) -> Any:
    """`data` with a few values swapped for hostile ones, keys dropped or records replaced."""
    if isinstance(data, dict) and data:
        out = dict(data)
        key = rng.choice(list(out))
        roll = rng.random()
        if roll < 0.5:
            out[key] = hostile_value(rng)
        elif roll < 0.65:
            del out[key]
        elif depth < 8:
            out[key] = mutate_value(rng, out[key], depth + 1)
        return out
    if isinstance(data, list) and data:
        out_list = list(data)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(out_list))
            roll = rng.random()
            if roll < 0.7 and depth < 8:
                out_list[at] = mutate_value(rng, out_list[at], depth + 1)
            elif roll < 0.85:
                out_list[at] = hostile_value(rng)
            else:
                out_list.insert(at, out_list[rng.randrange(len(out_list))])
        return out_list
    return hostile_value(rng)


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    out = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if not out:
            break
        at = rng.randrange(len(out))
        roll = rng.random()
        if roll < 0.3:
            out[at] = rng.randrange(256)
        elif roll < 0.4:
            del out[at : at + rng.randint(1, 40)]
        elif roll < 0.55:
            out[at:at] = rng.choice(_BYTES)
        elif roll < 0.8:
            # a number made huge, negative or non-text where it starts
            number = _NUMBER.search(bytes(out), at) or _NUMBER.search(bytes(out))
            if number is not None:
                out[number.end() - 1 : number.end() - 1] = rng.choice(_BYTES)
        elif roll < 0.85:
            del out[at:]
        else:
            out[at:at] = out[rng.randrange(len(out)) :][: rng.randint(1, 200)]
    return bytes(out)


def mutate_cells(rng: random.Random, text: str) -> str:
    """A CSV with cells swapped for hostile text, numbers and dates, quotes and commas."""
    lines = text.splitlines(keepends=True)
    for _ in range(rng.randint(1, 4)):
        if len(lines) < 2:
            break
        at = rng.randrange(1, len(lines))
        cells = lines[at].rstrip("\r\n").split(",")
        cell = rng.randrange(len(cells))
        value = hostile_value(rng)
        value = "9" * 5000 if value == _HUGE else value
        cells[cell] = rng.choice(
            [str(value), '"' + str(value).replace('"', '""') + '"', '"unterminated', ",,,,", ";"]
        )
        lines[at] = ",".join(cells) + "\n"
    return "".join(lines)


def hostile_file(rng: random.Random, source: Path) -> bytes:
    """One hostile variant of a real export file."""
    data = source.read_bytes()
    roll = rng.random()
    if roll < 0.35:
        return mutate_bytes(rng, data)
    if source.suffix == ".json":
        try:
            parsed = json.loads(data)
        except ValueError:
            return mutate_bytes(rng, data)
        if roll < 0.97:
            text = json.dumps(mutate_value(rng, parsed), ensure_ascii=rng.random() < 0.5)
            text = text.replace(json.dumps(_HUGE), "9" * 5000)
            return text.encode("utf-8", "surrogatepass")
        return rng.choice([b"[" * 100_000, b'{"a":' * 50_000, b"[" + b"9" * 5000 + b"]"])
    if source.suffix == ".csv":
        return mutate_cells(rng, data.decode("utf-8", "replace")).encode("utf-8", "surrogatepass")
    return mutate_bytes(rng, data)


def sources(plugin: str) -> list[Path]:
    """The real-format fixtures of a plugin: the seeds of its hostile files."""
    return sorted(p for p in (FIXTURES / plugin).rglob("*") if p.suffix in SUFFIXES[plugin] and p.is_file())


def read_whole(plugin: FileImportPlugin, others: list[FileImportPlugin], path: Path, page_size: int) -> str:
    """Sniff the file with every plugin and read it to the end, page by page, as the sync
    loop would; return how it ended ("imported" or the error code). Any exception, an
    item that cannot be stored or a skipped record that cannot be reported rises."""
    import pydantic_core

    head = path.read_bytes()[:SNIFF_BYTES]
    for other in others:
        other.recognizes(path.name, head)
    cursor = ""
    for _ in range(MAX_PAGES):
        result = plugin.sync(SyncContext(user_id="ada", page_size=page_size), Credentials(file=path), cursor)
        for item in result.items:
            pydantic_core.to_json(item.raw_metadata)
        for record in result.skipped:
            f"{record.reason}{record.detail or ''}{record.excerpt or ''}".encode()
        if result.err is not None:
            return result.err.code.value
        if not result.has_more:
            return "imported"
        cursor = result.next_cursor
    raise AssertionError(f"{path.name}: paging does not end")
