"""The `mca` command: what the Dagster UI cannot do for a person.

For now: `mca demo` imports the bundled sample exports through the real ingest job (on
the embedded DuckDB + local Dagster storage, no network) and `mca ui` starts the Dagster
UI on the same instance. Errors are one line and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import os
import shutil
import sys
from importlib import resources
from pathlib import Path

import click

from mca_pipeline import paths
from mca_pipeline.defs.partitions import check_user_slug


def project_root() -> Path:
    """The folder holding dagster.yaml and workspace.yaml: the cwd or one of its parents."""
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if (folder / "dagster.yaml").is_file() and (folder / "workspace.yaml").is_file():
            return folder
    raise click.ClickException(
        "run mca from the mca_pipeline checkout (no dagster.yaml + workspace.yaml found)"
    )


def _enter_project() -> Path:
    """Work from the repo root with DAGSTER_HOME there, as the README says, so that
    runs started here and the UI share one instance and one warehouse."""
    root = project_root()
    os.chdir(root)
    os.environ.setdefault("DAGSTER_HOME", str(root))
    return root


@click.group()
def main() -> None:
    """mca: your media history, gathered by Dagster into DuckDB."""


@main.command()
@click.option("--user", default="demo", show_default=True, help="User (partition) to import the samples for.")
@click.option("--ui", is_flag=True, help="Start the Dagster UI afterwards (Ctrl-C stops it).")
@click.option("--port", default=3000, show_default=True, help="Port for --ui.")
def demo(user: str, ui: bool, port: int) -> None:
    """Import the bundled sample exports (Spotify, Netflix) through the ingest job."""
    from dagster import DagsterInstance

    from mca_pipeline.defs import INGEST_JOB, defs
    from mca_pipeline.defs.export_folders import ExportFolders
    from mca_pipeline.defs.partitions import users_partitions

    try:
        check_user_slug(user)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    _enter_project()
    folders = ExportFolders(paths.data_dir())
    samples = resources.files("mca_pipeline") / "samples"
    for plugin_dir in sorted(samples.iterdir(), key=lambda p: p.name):
        if not plugin_dir.is_dir():
            continue
        target = folders.inbox(user, plugin_dir.name)
        target.mkdir(parents=True, exist_ok=True)
        for sample in sorted(plugin_dir.iterdir(), key=lambda p: p.name):
            with resources.as_file(sample) as src:
                shutil.copy(src, target / sample.name)
            click.echo(f"dropped sample {sample.name} into {target}")

    instance = DagsterInstance.get()
    if not instance.has_dynamic_partition(users_partitions.name, user):
        instance.add_dynamic_partitions(users_partitions.name, [user])
    result = defs.resolve_job_def(INGEST_JOB).execute_in_process(
        instance=instance,
        partition_key=user,
        raise_on_error=False,
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
    )
    click.echo("")
    for event in result.get_asset_materialization_events():
        mat = event.materialization
        meta = {k: getattr(v, "value", v) for k, v in mat.metadata.items()}
        name = mat.asset_key.to_user_string()
        if "new" in meta:
            click.echo(
                f"{name:<16} new {meta['new']:>6,}  skipped {meta['skipped']:>6,}  "
                f"files {meta['files']}  total stored {meta['dagster/row_count']:,}"
            )
        else:
            click.echo(f"{name:<16} {meta['items']:,} items, {meta['hours']:,} hours in all")
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure and event.step_failure_data:
                click.echo(
                    f"failed: {event.step_key}: {event.step_failure_data.error_display_string}", err=True
                )
        raise click.ClickException("the demo import failed; see above")
    click.echo("")
    click.echo(f"Warehouse: {paths.warehouse_path()}")
    click.echo(f"Dagster:   run `mca ui` and open http://127.0.0.1:{port}/assets (partition '{user}')")
    click.echo(f"Inbox:     drop more exports into {folders.inbox_root}/<user>/<plugin>/")
    if ui:
        _exec_dagster_dev(port)


@main.command()
@click.option("--port", default=3000, show_default=True)
def ui(port: int) -> None:
    """Start the Dagster UI (webserver + daemon for sensors) on the embedded instance."""
    _enter_project()
    _exec_dagster_dev(port)


def _exec_dagster_dev(port: int) -> None:
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    click.echo(
        f"starting the Dagster UI on http://127.0.0.1:{port} (DAGSTER_HOME={os.environ['DAGSTER_HOME']})"
    )
    sys.stdout.flush()
    # `dagster dev` is what Dagster's docs still teach; its notice about `dg dev` is noise here.
    os.environ.setdefault("PYTHONWARNINGS", "ignore:Function `dev_command` is superseded")
    os.execv(command[0], command)
