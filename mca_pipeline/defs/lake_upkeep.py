"""lake_upkeep: a DuckLake warehouse's files compacted and old snapshots expired, daily.

Every sync commits a few rows; on a lake (warehouse/lake.py) each commit is a snapshot and,
once the rows are written out, a small Parquet file per user. Left alone, reads open more
and more small files and the data path keeps every version of every row. The job runs
DuckLake's own maintenance (warehouse.lake.upkeep); its schedule runs by itself only when
the warehouse is a lake, and the job says so and does nothing on a DuckDB file.
"""

import os

from dagster import (
    DefaultScheduleStatus,
    JobDefinition,
    OpExecutionContext,
    ScheduleDefinition,
    job,
    op,
)

from mca_pipeline.defs.resources import WarehouseResource
from mca_pipeline.warehouse.lake import LakeWarehouse, upkeep

LAKE_UPKEEP_JOB = "lake_upkeep"


def keep_days() -> int:
    """How far back a lake keeps snapshots (and the files they need), for time travel:
    MCA_LAKE_KEEP_DAYS, 7 by default."""
    return int(os.environ.get("MCA_LAKE_KEEP_DAYS", "7"))


@op(description="Flush inlined rows, merge small files, expire old snapshots, delete unneeded files.")
def lake_upkeep_op(context: OpExecutionContext, warehouse: WarehouseResource) -> None:
    wh = warehouse.warehouse()
    if not isinstance(wh, LakeWarehouse):
        context.log.info("the warehouse is a DuckDB file: a lake's upkeep has nothing to do")
        return
    days = keep_days()
    with wh.connect() as con:
        done = upkeep(con, days)
    context.log.info(
        f"data files {done.files_before} -> {done.files_after}, snapshots {done.snapshots_before} -> "
        f"{done.snapshots_after} (kept: {days} days)"
    )


@job(name=LAKE_UPKEEP_JOB, description="DuckLake upkeep: compaction and snapshot expiry (warehouse/lake.py).")
def lake_upkeep_job() -> None:
    lake_upkeep_op()


def build_lake_upkeep_schedule(warehouse: WarehouseResource, job_def: JobDefinition) -> ScheduleDefinition:
    """Daily at 04:30; running by default only when the warehouse is a lake."""
    is_lake = isinstance(warehouse.warehouse(), LakeWarehouse)
    return ScheduleDefinition(
        name=f"{LAKE_UPKEEP_JOB}_daily",
        cron_schedule="30 4 * * *",
        job=job_def,
        default_status=DefaultScheduleStatus.RUNNING if is_lake else DefaultScheduleStatus.STOPPED,
        description="Compacts a DuckLake warehouse's files and expires its old snapshots.",
    )
