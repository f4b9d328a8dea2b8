"""Import speed and memory of the Spotify export path, against DuckDB's own JSON loader.

    python benchmarks/ingest.py                # 1,000,000 plays in 10 files
    python benchmarks/ingest.py --plays 200000 --files 4
    .venv-lake/bin/python benchmarks/ingest.py --warehouse lake   # into a DuckLake (the [lake] extra)

Prints, from one run: the pipeline's import time (a real Dagster materialization of
`spotify_export` for one user: parse, validate, dedup-store, archive); two floors, DuckDB
alone loading the same files with read_json into a plain table, and into a table keyed
like media_items with the raw record kept (INSERT ... ON CONFLICT DO NOTHING, then the
same files again); the ratios; re-importing the same files (all duplicates); and peak
RSS of each. Each step runs in its own process so that its peak RSS is its own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # for mca_pipeline_tests.synthetic_exports


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def step_generate(work: Path, plays: int, files: int) -> dict[str, float]:
    from mca_pipeline_tests.synthetic_exports import write_extended_history

    paths = write_extended_history(work / "export", plays, files=files, seed=42)
    return {"bytes": float(sum(p.stat().st_size for p in paths))}


def step_floor(work: Path) -> dict[str, float]:
    import duckdb

    files = sorted(str(p) for p in (work / "export").glob("*.json"))
    con = duckdb.connect(str(work / "floor.duckdb"))
    started = time.perf_counter()
    con.execute("CREATE OR REPLACE TABLE plays AS SELECT * FROM read_json(?, format = 'array')", [files])
    rows = con.execute("SELECT count(*) FROM plays").fetchall()[0][0]
    seconds = time.perf_counter() - started
    con.close()
    return {"seconds": seconds, "rows": float(rows), "peak_rss_mib": _peak_rss_mib()}


def step_keyed_floor(work: Path) -> dict[str, float]:
    """DuckDB alone, keyed like media_items: the files into a table with the primary key
    (user_id, platform, external_id), the external id built as spotify_export builds it
    and the raw record kept as JSON, by INSERT ... ON CONFLICT DO NOTHING; then the same
    files again (all duplicates). The floor the pipeline's import and re-import are held to."""
    import duckdb

    files = sorted(str(p) for p in (work / "export").glob("*.json"))
    con = duckdb.connect(str(work / "keyed.duckdb"))
    con.execute(
        """
        CREATE TABLE plays (
            user_id VARCHAR NOT NULL, platform VARCHAR NOT NULL, external_id VARCHAR NOT NULL,
            consumed_at TIMESTAMPTZ NOT NULL, raw_metadata JSON NOT NULL,
            PRIMARY KEY (user_id, platform, external_id)
        )"""
    )
    load = """
        INSERT INTO plays
        SELECT 'bench', 'spotify_export',
               r.ts || '|' || coalesce(r.spotify_track_uri, r.spotify_episode_uri, r.master_metadata_track_name, '')
                    || '|' || r.ms_played,
               r.ts::TIMESTAMPTZ, to_json(r)
        FROM read_json(?, format = 'array') r
        ON CONFLICT DO NOTHING"""
    seconds = []
    for _ in range(2):
        started = time.perf_counter()
        con.execute(load, [files])
        seconds.append(time.perf_counter() - started)
    rows = con.execute("SELECT count(*) FROM plays").fetchall()[0][0]
    con.close()
    return {
        "seconds": seconds[0],
        "again_seconds": seconds[1],
        "rows": float(rows),
        "peak_rss_mib": _peak_rss_mib(),
    }


def step_import(work: Path, catalog: str = "") -> dict[str, float]:
    from dagster import DagsterInstance

    from mca_pipeline_tests.defs.dagster_env import Pipeline, metadata

    pipeline = Pipeline(work / "data", DagsterInstance.ephemeral(), warehouse_location=catalog)
    inbox = pipeline.folders.inbox("bench", "spotify_export")
    inbox.mkdir(parents=True, exist_ok=True)
    for path in sorted((work / "export").glob("*.json")):
        shutil.copy(path, inbox / path.name)
    started = time.perf_counter()
    result = pipeline.materialize("bench", "spotify_export")
    seconds = time.perf_counter() - started
    if not result.success:
        raise SystemExit("import failed")
    meta = metadata(result, "spotify_export")
    return {
        "seconds": seconds,
        "new": float(meta["new"]),  # type: ignore[arg-type]
        "skipped": float(meta["skipped"]),  # type: ignore[arg-type]
        "peak_rss_mib": _peak_rss_mib(),
    }


STEPS = {"generate": step_generate, "floor": step_floor, "keyed": step_keyed_floor, "import": step_import}


@contextlib.contextmanager
def lake_catalog(kind: str, work: Path) -> Iterator[str]:
    """The catalog: "" for the DuckDB file; for a lake, a catalog database of its own
    (dropped after) and a data path in the work folder, set for the import steps."""
    if kind == "file":
        yield ""
        return
    from mca_pipeline_tests.postgres import fresh_database

    os.environ["MCA_WAREHOUSE_DATA_PATH"] = str(work / "lake")
    with fresh_database() as url:
        yield f"ducklake:postgres:{url}"


def run_step(name: str, work: Path, *extra: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, __file__, "--step", name, "--work", str(work), *extra],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    if done.returncode != 0:
        raise SystemExit(f"step {name} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--plays", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=10)
    parser.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--catalog", default="", help=argparse.SUPPRESS)
    parser.add_argument(
        "--warehouse",
        choices=["file", "lake"],
        default="file",
        help="lake: a DuckLake with its catalog in a new database on MCA_TEST_POSTGRES_URL's server",
    )
    args = parser.parse_args()

    if args.step:
        kwargs: dict[str, object] = {}
        if args.step == "generate":
            kwargs = {"plays": args.plays, "files": args.files}
        elif args.step == "import":
            kwargs = {"catalog": args.catalog}
        print(json.dumps(STEPS[args.step](args.work, **kwargs)))  # type: ignore[operator]
        return

    with tempfile.TemporaryDirectory(prefix="mca-bench-") as tmp:
        work = Path(tmp)
        print(
            f"generating {args.plays:,} Extended Streaming History plays in {args.files} files ...",
            flush=True,
        )
        size = run_step("generate", work, "--plays", str(args.plays), "--files", str(args.files))["bytes"]
        floor = run_step("floor", work)
        keyed = run_step("keyed", work)
        with lake_catalog(args.warehouse, work) as catalog:
            first = run_step("import", work, "--catalog", catalog)
            again = run_step("import", work, "--catalog", catalog)
    print()
    import duckdb

    print(f"warehouse:            {args.warehouse} (DuckDB {duckdb.__version__})")
    print(f"input:                {args.plays:,} plays, {args.files} files, {size / 2**20:,.0f} MiB")
    print(f"DuckDB read_json:     {floor['seconds']:8.2f} s   ({floor['rows']:,.0f} rows; the plain floor)")
    print(
        f"DuckDB keyed load:    {keyed['seconds']:8.2f} s   ({keyed['rows']:,.0f} rows; the keyed floor), "
        f"again {keyed['again_seconds']:.2f} s"
    )
    print(
        f"pipeline import:      {first['seconds']:8.2f} s   {first['seconds'] / floor['seconds']:5.1f}x plain floor   "
        f"{first['seconds'] / keyed['seconds']:5.1f}x keyed   "
        f"{first['new']:,.0f} new   {args.plays / first['seconds']:,.0f} plays/s"
    )
    print(
        f"re-import (all dup):  {again['seconds']:8.2f} s   {again['seconds'] / floor['seconds']:5.1f}x plain floor   "
        f"{again['seconds'] / keyed['again_seconds']:5.1f}x keyed again   "
        f"{again['new']:,.0f} new, {again['skipped']:,.0f} skipped"
    )
    print(
        f"peak RSS:             import {first['peak_rss_mib']:,.0f} MiB, re-import {again['peak_rss_mib']:,.0f} MiB, "
        f"DuckDB floors {floor['peak_rss_mib']:,.0f} / {keyed['peak_rss_mib']:,.0f} MiB"
    )


if __name__ == "__main__":
    main()
