"""Runs for different users at once, each in its own process, on one DuckDB warehouse.

DuckDB lets one process write a file at a time; this proves the warehouse's lock makes
concurrent runs queue for it instead of failing, and that no row is lost.
"""

from __future__ import annotations

import itertools
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from dagster import DagsterInstance

from mca_pipeline_tests.defs.dagster_env import Pipeline, metadata
from mca_pipeline_tests.synthetic_exports import write_extended_history

USERS = ["ana", "ben", "cai", "dev"]
PLAYS_PER_USER = 12_000


def import_for(data_dir: str, dagster_home: str, user: str, start: Any) -> tuple[bool, int, float, float]:
    """One Dagster run for one user, in a fresh process (as the run launcher does);
    returns the outcome and when the run started and finished (wall clock). Every process
    waits at the `start` barrier first, so the runs begin together however slowly the
    processes came up on a busy machine."""
    instance = DagsterInstance.from_config(dagster_home)
    pipeline = Pipeline(Path(data_dir), instance)
    defs = pipeline.defs  # built before the start: it is not part of the run
    start.wait(timeout=240)
    started = time.time()
    result = pipeline.materialize(user, "spotify_export", defs=defs)
    finished = time.time()
    new = int(metadata(result, "spotify_export")["new"]) if result.success else -1
    return result.success, new, started, finished


def test_several_users_materialize_at_once_without_lock_failures(pipeline: Pipeline) -> None:
    for seed, user in enumerate(USERS):
        write_extended_history(
            pipeline.folders.inbox(user, "spotify_export"), PLAYS_PER_USER, files=4, seed=seed
        )
    pipeline.instance.add_dynamic_partitions("users", USERS)
    home = pipeline.instance.root_directory
    spawn = multiprocessing.get_context("spawn")
    with spawn.Manager() as manager, ProcessPoolExecutor(max_workers=len(USERS), mp_context=spawn) as pool:
        start = manager.Barrier(len(USERS))
        futures = [pool.submit(import_for, str(pipeline.data_dir), home, user, start) for user in USERS]
        outcomes = [f.result(timeout=300) for f in futures]
    assert [(ok, new) for ok, new, _, _ in outcomes] == [(True, PLAYS_PER_USER)] * len(USERS)
    per_user = dict(pipeline.count("SELECT user_id, count(*) FROM media_items GROUP BY ALL"))
    assert per_user == dict.fromkeys(USERS, PLAYS_PER_USER)
    # the runs really were at the same time: at least two of them overlapped
    spans = sorted((start, end) for _, _, start, end in outcomes)
    assert any(later[0] < earlier[1] for earlier, later in itertools.pairwise(spans)), spans
