"""Dagster resources: the warehouse and the export folders, configurable per deployment.

Empty settings mean "the embedded default" (data/ under the working directory, or the
MCA_* environment variables), so `dagster dev` from the repo root needs no config.
"""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource

from mca_pipeline import paths
from mca_pipeline.warehouse import Warehouse
from mca_pipeline.warehouse.export_folders import ExportFolders
from mca_pipeline.warehouse.lake import open_warehouse


class WarehouseResource(ConfigurableResource):
    """The warehouse: a DuckDB file or a `ducklake:postgres:...` catalog; blank =
    MCA_WAREHOUSE or data/warehouse.duckdb."""

    path: str = ""

    def warehouse(self) -> Warehouse:
        return open_warehouse(self.path)


class ExportFoldersResource(ConfigurableResource):
    """Where export files are dropped, archived and rejected; blank = MCA_DATA_DIR or data/."""

    data_dir: str = ""

    def folders(self) -> ExportFolders:
        return ExportFolders(Path(self.data_dir).resolve() if self.data_dir else paths.data_dir())
