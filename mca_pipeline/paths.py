"""Where mca_pipeline keeps its files, in one place.

Everything a running pipeline writes lives under one data folder (default `./data`,
the repo's `data/` when run from the repo root as the README says), so a user can back
it up, move it or delete it as one thing. Environment variables override each part.
"""

from __future__ import annotations

import os
from pathlib import Path


def data_dir() -> Path:
    return Path(os.environ.get("MCA_DATA_DIR", "data")).resolve()


def warehouse_location() -> str:
    """MCA_WAREHOUSE: a DuckDB file (default data/warehouse.duckdb) or a
    `ducklake:postgres:...` catalog, whose data path is MCA_WAREHOUSE_DATA_PATH."""
    location = os.environ.get("MCA_WAREHOUSE", "")
    if location.startswith("ducklake:"):
        return location
    return str(Path(location or data_dir() / "warehouse.duckdb").resolve())


def lake_data_path() -> str:
    return os.environ.get("MCA_WAREHOUSE_DATA_PATH", "")
