"""mca_pipeline: media consumption history gathered by Dagster into DuckDB.

Everything the project writes is a person's history (or their secrets), so every process
that imports it (the CLI, the Dagster code location, the connect web app) creates files
owner-only: the warehouse, archived and rejected exports, reports and exports.
"""

import os

os.umask(0o077)
