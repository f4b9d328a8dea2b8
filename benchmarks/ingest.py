"""Import speed and memory of the file plugins, against DuckDB's own loaders.

    python benchmarks/ingest.py                # 1,000,000 plays in 10 files; 1,000,000 records per other plugin
    python benchmarks/ingest.py --plays 200000 --files 4 --records 200000
    python benchmarks/ingest.py --plays 5000000 --files 50 --plugins ""   # memory as files grow
    .venv-lake/bin/python benchmarks/ingest.py --warehouse lake   # into a DuckLake (the [lake] extra)

Prints, from one run: the pipeline's import time (a real Dagster materialization of
`spotify_export` for one user: parse, validate, dedup-store, archive); two floors, DuckDB
alone loading the same files with read_json into a plain table, and into a table keyed
like media_items with the raw record kept (INSERT ... ON CONFLICT DO NOTHING, then the
same files again); the ratios; re-importing the same files (all duplicates); and peak
RSS of each. Then a row per other file plugin (`--plugins`): its import of one synthetic
export of `--records` records against DuckDB loading the same file into a keyed table;
the Takeout HTML page, which DuckDB cannot read, against the JSON of the same records.
Each step runs in its own process so that its peak RSS is its own.
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


# --- a row per file plugin: the pipeline's import of one synthetic export against DuckDB
# loading the same file into a keyed table (the HTML page against the JSON of the same
# records, which DuckDB cannot read) ----------------------------------------------------

_KEYED_TABLE = """
    CREATE OR REPLACE TABLE items (
        user_id VARCHAR NOT NULL, platform VARCHAR NOT NULL, external_id VARCHAR NOT NULL,
        consumed_at TIMESTAMPTZ, raw_metadata JSON NOT NULL, PRIMARY KEY (user_id, platform, external_id)
    )"""

#: row -> (writer in synthetic_exports, plugin, DuckDB's keyed load of the file, or None)
PLUGIN_ROWS: dict[str, tuple[str, str, str | None]] = {
    "youtube_takeout json": (
        "write_takeout_json",
        "youtube_takeout",
        """INSERT INTO items SELECT 'bench', 'youtube_takeout', r.titleUrl || '|' || r.time, r.time::TIMESTAMPTZ,
               to_json(r) FROM read_json($file, format = 'array') r ON CONFLICT DO NOTHING""",
    ),
    "youtube_takeout html": ("write_takeout_html", "youtube_takeout", None),
    "netflix ViewingActivity": (
        "write_viewing_activity",
        "netflix",
        """INSERT INTO items SELECT 'bench', 'netflix', r."Title" || '|' || r."Start Time",
               strptime(r."Start Time", '%Y-%m-%d %H:%M:%S')::TIMESTAMPTZ, to_json(r)
           FROM read_csv($file, header = true, all_varchar = true) r ON CONFLICT DO NOTHING""",
    ),
    "tiktok": (
        "write_tiktok",
        "tiktok",
        """INSERT INTO items SELECT 'bench', 'tiktok', v.Link || '|' || v.Date::VARCHAR, v.Date::TIMESTAMPTZ,
               to_json(v)
           FROM (SELECT unnest(r."Your Activity"."Watch History".VideoList) AS v
                 FROM read_json($file, maximum_object_size = $size) r) ON CONFLICT DO NOTHING""",
    ),
    "instapaper": (
        "write_instapaper",
        "instapaper",
        """INSERT INTO items SELECT 'bench', 'instapaper', r."URL", to_timestamp(r."Timestamp"::BIGINT), to_json(r)
           FROM read_csv($file, header = true, all_varchar = true) r ON CONFLICT DO NOTHING""",
    ),
}


def _plugin_file(work: Path, row: str) -> Path:
    return next((work / "plugins" / row.replace(" ", "_")).iterdir())


def step_generate_plugin(work: Path, row: str, records: int) -> dict[str, float]:
    from mca_pipeline_tests import synthetic_exports

    writer = getattr(synthetic_exports, PLUGIN_ROWS[row][0])
    path = writer(work / "plugins" / row.replace(" ", "_"), records)
    return {"bytes": float(path.stat().st_size)}


def step_plugin_floor(work: Path, row: str) -> dict[str, float]:
    import duckdb

    sql = PLUGIN_ROWS[row][2]
    assert sql is not None
    path = _plugin_file(work, row)
    con = duckdb.connect(str(work / f"floor-{row.replace(' ', '_')}.duckdb"))
    con.execute(_KEYED_TABLE)
    params: dict[str, object] = {"file": str(path)}
    if "$size" in sql:
        params["size"] = path.stat().st_size + 1
    started = time.perf_counter()
    con.execute(sql, params)
    seconds = time.perf_counter() - started
    rows = con.execute("SELECT count(*) FROM items").fetchall()[0][0]
    con.close()
    return {"seconds": seconds, "rows": float(rows), "peak_rss_mib": _peak_rss_mib()}


def step_plugin_import(work: Path, row: str) -> dict[str, float]:
    from dagster import DagsterInstance

    from mca_pipeline_tests.defs.dagster_env import Pipeline, metadata

    plugin = PLUGIN_ROWS[row][1]
    pipeline = Pipeline(work / f"data-{row.replace(' ', '_')}", DagsterInstance.ephemeral())
    inbox = pipeline.folders.inbox("bench", plugin)
    inbox.mkdir(parents=True, exist_ok=True)
    path = _plugin_file(work, row)
    shutil.copy(path, inbox / path.name)
    started = time.perf_counter()
    result = pipeline.materialize("bench", plugin)
    seconds = time.perf_counter() - started
    if not result.success:
        raise SystemExit(f"import of {row} failed")
    meta = metadata(result, plugin)
    return {"seconds": seconds, "new": float(meta["new"]), "peak_rss_mib": _peak_rss_mib()}  # type: ignore[arg-type]


STEPS = {
    "generate": step_generate,
    "floor": step_floor,
    "keyed": step_keyed_floor,
    "import": step_import,
    "generate_plugin": step_generate_plugin,
    "plugin_floor": step_plugin_floor,
    "plugin_import": step_plugin_import,
}


def plugin_rows(work: Path, rows: list[str], records: int) -> None:
    """Print a row per file plugin (after the Spotify figures)."""
    print()
    print(
        f"{'file plugin, ' + format(records, ',') + ' records':34} {'import':>9} {'DuckDB keyed':>13} {'ratio':>6} {'new':>11} {'peak RSS':>9}"
    )
    json_import: float | None = None
    for row in rows:
        size = run_step("generate_plugin", work, "--row", row, "--records", str(records))["bytes"]
        done = run_step("plugin_import", work, "--row", row)
        if PLUGIN_ROWS[row][2] is not None:
            floor = run_step("plugin_floor", work, "--row", row)["seconds"]
            against = f"{floor:11.2f} s"
        else:
            floor = json_import or float("nan")
            against = f"{'JSON ' + format(floor, '.2f') + ' s':>13}"
        if row == "youtube_takeout json":
            json_import = done["seconds"]
        print(
            f"{row + f' ({size / 2**20:,.0f} MiB)':34} {done['seconds']:7.2f} s {against} {done['seconds'] / floor:5.1f}x "
            f"{done['new']:11,.0f} {done['peak_rss_mib']:6,.0f} MiB",
            flush=True,
        )


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
    parser.add_argument(
        "--records", type=int, default=1_000_000, help="records of each other file plugin's export"
    )
    parser.add_argument(
        "--plugins",
        default=",".join(PLUGIN_ROWS),
        help=f"comma-separated rows after Spotify's, of: {', '.join(PLUGIN_ROWS)}; empty: none",
    )
    parser.add_argument("--step", choices=sorted(STEPS), help=argparse.SUPPRESS)
    parser.add_argument("--row", help=argparse.SUPPRESS)
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
        elif args.step == "generate_plugin":
            kwargs = {"row": args.row, "records": args.records}
        elif args.step in ("plugin_floor", "plugin_import"):
            kwargs = {"row": args.row}
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
        report(args, size, floor, keyed, first, again)
        rows = [r.strip() for r in args.plugins.split(",") if r.strip()]
        unknown = sorted(set(rows) - set(PLUGIN_ROWS))
        if unknown:
            raise SystemExit(f"no such rows: {unknown}")
        if rows:
            plugin_rows(work, rows, args.records)


def report(
    args: argparse.Namespace,
    size: float,
    floor: dict[str, float],
    keyed: dict[str, float],
    first: dict[str, float],
    again: dict[str, float],
) -> None:
    """The Spotify figures."""
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
