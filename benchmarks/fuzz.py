"""The long fuzz run of every file plugin: hostile variants of the real fixtures (bytes,
JSON values, CSV cells: mca_pipeline_tests/hostile_inputs.py), each read to the end as the
sync loop reads it.

    python benchmarks/fuzz.py                       # 100,000 inputs per plugin
    python benchmarks/fuzz.py --cases 5000 --plugins tiktok netflix --seed 7

Prints per plugin: inputs tried, how they ended (imported, or rejected as
file_parse_error), inputs that broke the contract (an exception, endless paging), the
slowest input, and the run's peak RSS. An input that broke the contract is kept in
--keep (default /tmp/mca-fuzz) to reproduce it; the exit status is 1 when there was one.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import time
import traceback
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for mca_pipeline_tests.hostile_inputs

from mca_pipeline.core import FileImportPlugin  # noqa: E402
from mca_pipeline.plugins import build_registry  # noqa: E402
from mca_pipeline_tests.hostile_inputs import SUFFIXES, hostile_file, read_whole, sources  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--cases", type=int, default=100_000, help="inputs per plugin")
    parser.add_argument("--plugins", nargs="*", default=sorted(SUFFIXES), choices=sorted(SUFFIXES))
    parser.add_argument("--seed", default="benchmark")
    parser.add_argument("--keep", type=Path, default=Path("/tmp/mca-fuzz"))
    args = parser.parse_args()
    args.keep.mkdir(parents=True, exist_ok=True)
    registry = build_registry()
    others = [p for p in registry if isinstance(p, FileImportPlugin)]
    broken_total = 0
    print(
        f"{'plugin':<16} {'inputs':>8} {'imported':>9} {'rejected':>9} {'broken':>7} {'slowest':>9} {'time':>8}"
    )
    for name in args.plugins:
        plugin = registry.get(name)
        assert isinstance(plugin, FileImportPlugin)
        rng = random.Random(f"{args.seed}:{name}")
        seeds = sources(name)
        endings: Counter[str] = Counter()
        broken: Counter[str] = Counter()
        slowest = (0.0, "")
        started = time.perf_counter()
        for case in range(args.cases):
            source = rng.choice(seeds)
            path = args.keep / f"{name}-{case}{source.suffix}"
            path.write_bytes(hostile_file(rng, source))
            began = time.perf_counter()
            try:
                endings[read_whole(plugin, others, path, rng.choice([1, 7, 50_000]))] += 1
            except Exception as exc:  # the contract broken: keep the input, say where
                where = traceback.extract_tb(exc.__traceback__)[-1]
                key = f"{type(exc).__name__} at {Path(where.filename).name}:{where.lineno}"
                if not broken[key]:
                    print(f"  broken: {key}: {str(exc)[:200]} (input kept: {path})")
                broken[key] += 1
                continue
            finally:
                took = time.perf_counter() - began
                if took > slowest[0]:
                    slowest = (took, f"{source.name} #{case}")
            path.unlink()
        total = sum(broken.values())
        broken_total += total
        print(
            f"{name:<16} {args.cases:>8,} {endings['imported']:>9,} {endings['file_parse_error']:>9,} "
            f"{total:>7,} {slowest[0]:>8.3f}s {time.perf_counter() - started:>7.0f}s   slowest: {slowest[1]}"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB; inputs that broke the contract: {broken_total}")
    return 1 if broken_total else 0


if __name__ == "__main__":
    sys.exit(main())
