"""DuckDB extensions taken from installed Python packages, never from the network.

A DuckLake warehouse needs two DuckDB extensions, ducklake and postgres_scanner (the
PostgreSQL catalog). DuckDB would download them on first use, which machines without
internet (these, CI, many servers) cannot do. The packages duckdb-extension-ducklake and
duckdb-extension-postgres ship the binaries, each for the one DuckDB version it is
numbered after, which is why pyproject pins DuckDB to that version.

DuckDB looks for an extension at <extension_directory>/v<version>/<platform>/<name>.duckdb_extension
(the postgres one is named postgres_scanner there). `load_extensions` lays that directory
out once, as links to the packaged files, points the connection at it and turns
automatic installation off: an extension that is not installed is an error naming the
package to install, never a download.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import tempfile
from pathlib import Path

import duckdb

from mca_pipeline.warehouse.results import first_row

#: DuckDB's name for each extension -> (Python package, file name inside the package).
PACKAGED: dict[str, tuple[str, str]] = {
    "ducklake": ("duckdb_extension_ducklake", "ducklake"),
    "postgres_scanner": ("duckdb_extension_postgres", "postgres"),
    "httpfs": ("duckdb_extension_httpfs", "httpfs"),  # a data path in object storage (s3://)
}


class ExtensionMissingError(RuntimeError):
    """An extension's package is not installed, or was built for another DuckDB."""


def packaged_file(name: str) -> Path:
    """The extension binary that the installed package holds for this DuckDB version."""
    package, stem = PACKAGED[name]
    spec = importlib.util.find_spec(package)
    pip_name = package.replace("_", "-")
    if spec is None or not spec.submodule_search_locations:
        raise ExtensionMissingError(
            f"the DuckDB extension {name} needs the package {pip_name}: pip install {pip_name}"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "extensions"
    binary = folder / f"v{duckdb.__version__}" / f"{stem}.duckdb_extension"
    if not binary.is_file():
        found = sorted(p.name for p in folder.glob("v*")) or ["none"]
        raise ExtensionMissingError(
            f"{pip_name} has no build for DuckDB {duckdb.__version__} (it has {', '.join(found)}); "
            f"install the {pip_name} release numbered like DuckDB"
        )
    return binary


def extension_directory(con: duckdb.DuckDBPyConnection, names: tuple[str, ...]) -> Path:
    """A directory laid out as DuckDB expects, with a link to each packaged binary.

    It lives in the temporary directory, one per DuckDB version and user, and is
    rebuilt link by link when a link is missing or points elsewhere (a reinstalled venv)."""
    platform_row = first_row(con.execute("PRAGMA platform"))
    platform = str(platform_row[0]) if platform_row else "unknown"
    root = Path(tempfile.gettempdir()) / f"mca-duckdb-extensions-{os.getuid()}"
    folder = root / f"v{duckdb.__version__}" / platform
    folder.mkdir(parents=True, exist_ok=True)
    for name in names:
        target = packaged_file(name)
        link = folder / f"{name}.duckdb_extension"
        if link.is_symlink() and link.resolve() == target.resolve():
            continue
        # Another process may be making the same link: make ours beside it and rename.
        fresh = folder / f".{name}.{os.getpid()}.link"
        with contextlib.suppress(FileNotFoundError):
            fresh.unlink()
        fresh.symlink_to(target)
        fresh.replace(link)
    return root


def load_extensions(
    con: duckdb.DuckDBPyConnection, names: tuple[str, ...] = ("ducklake", "postgres_scanner")
) -> None:
    """Load `names` into `con` from the installed packages; never download anything."""
    con.execute("SET autoinstall_known_extensions = false")
    folder = str(extension_directory(con, names)).replace("'", "''")
    con.execute(f"SET extension_directory = '{folder}'")
    for name in names:  # names are PACKAGED's keys: packaged_file refused any other
        con.execute(f"LOAD {name}")
