"""Any bytes end as imported + skipped records, or as a rejected file: never another
exception and never endless paging. Real fixtures of every file plugin are mutated with a
fixed seed (flipped and dropped bytes, cut files, lone surrogates, huge numbers, NULs),
so a failure here reproduces exactly. The crashes this found are fixed and also have
tests of their own in each plugin's file."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pydantic_core
import pytest

from mca_pipeline.core import Credentials, FileImportPlugin, SyncContext
from mca_pipeline.core.plugin import SNIFF_BYTES
from mca_pipeline.plugins import build_registry
from mca_pipeline_tests.conftest import FIXTURES

CASES_PER_PLUGIN = 300
SUFFIXES = {
    "spotify_export": (".json",),
    "netflix": (".csv",),
    "youtube_takeout": (".json", ".html"),
    "tiktok": (".json",),
    "instapaper": (".csv",),
}
NUMBER = re.compile(rb"[:,]\s*\d")
INSERTS = [
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


def mutate(rng: random.Random, data: bytes) -> bytes:
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
            out[at:at] = rng.choice(INSERTS)
        elif roll < 0.8:
            # a number made huge, negative or non-text where it starts
            number = NUMBER.search(bytes(out), at) or NUMBER.search(bytes(out))
            if number is not None:
                out[number.end() - 1 : number.end() - 1] = rng.choice(INSERTS)
        elif roll < 0.85:
            del out[at:]
        else:
            out[at:at] = out[rng.randrange(len(out)) :][: rng.randint(1, 200)]
    return bytes(out)


@pytest.mark.parametrize("plugin_name", sorted(SUFFIXES))
def test_mutated_real_exports_end_as_records_or_a_rejected_file(tmp_path: Path, plugin_name: str) -> None:
    registry = build_registry()
    plugin = registry.get(plugin_name)
    others = [p for p in registry if isinstance(p, FileImportPlugin)]
    sources = sorted(p for p in (FIXTURES / plugin_name).rglob("*") if p.suffix in SUFFIXES[plugin_name])
    rng = random.Random(plugin_name)
    for case in range(CASES_PER_PLUGIN):
        source = rng.choice(sources)
        data = mutate(rng, source.read_bytes())
        path = tmp_path / f"{case}{source.suffix}"
        path.write_bytes(data)
        for other in others:
            other.recognizes(path.name, data[:SNIFF_BYTES])  # never raises
        cursor, pages = "", 0
        while True:
            ctx = SyncContext(user_id="ada", page_size=rng.choice([1, 7, 50_000]))
            result = plugin.sync(ctx, Credentials(file=path), cursor)
            for item in result.items:
                pydantic_core.to_json(item.raw_metadata)  # storable
            for record in result.skipped:
                f"{record.reason}{record.detail or ''}{record.excerpt or ''}".encode()  # reportable
            pages += 1
            if result.err is not None or not result.has_more:
                break
            assert pages < 500, f"{source.name} case {case}: paging does not end"
            cursor = result.next_cursor
