"""mca_pipeline: media consumption history gathered by Dagster into DuckDB."""
