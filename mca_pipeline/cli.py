"""The `mca` command: what the Dagster UI cannot do for a person.

`mca demo` imports the bundled sample exports through the real ingest job (on the
embedded DuckDB + local Dagster storage, no network) and `mca ui` starts the Dagster UI
on the same instance. `mca users`, `connect`, `apikey`, `disconnect`, `import`, `status`,
`export` and `vault rotate` manage people, their connections and their data. Errors are one line
and a non-zero exit, never a traceback; no secret is printed except the sign-in token
`mca users add` shows once (and the new vault key, when it lives in MCA_VAULT_KEY).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING

import click

from mca_pipeline import paths
from mca_pipeline.core.users import check_user_slug

if TYPE_CHECKING:
    from dagster import DagsterInstance

    from mca_pipeline.core import SourcePlugin
    from mca_pipeline.warehouse import Warehouse
    from mca_pipeline.warehouse.export_folders import ExportFolders
    from mca_pipeline.warehouse.status import LastSync


#: Where `mca web` (the connect app) listens by default.
WEB_PORT = 8642


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


class _OneLineErrors(click.Group):
    """Turns every error of a subcommand into one line and exit code 1 (MCA_DEBUG=1 shows
    the traceback instead)."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except (click.ClickException, click.exceptions.Abort, click.exceptions.Exit):
            raise
        except Exception as exc:
            if os.environ.get("MCA_DEBUG"):
                raise
            raise click.ClickException(_one_line(exc)) from None


def _one_line(exc: BaseException) -> str:
    from mca_pipeline.auth import VaultKeyError
    from mca_pipeline.warehouse import SchemaTooNewError, WarehouseBusyError

    text = " ".join(str(exc).split()) or type(exc).__name__
    if isinstance(exc, VaultKeyError | WarehouseBusyError | SchemaTooNewError | ValueError):
        return text
    if isinstance(exc, OSError):
        return f"{exc.strerror or text}: {exc.filename}" if exc.filename else text
    return f"{type(exc).__name__}: {text} (MCA_DEBUG=1 shows the traceback)"


@click.group(cls=_OneLineErrors)
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
    from mca_pipeline.defs.partitions import users_partitions
    from mca_pipeline.warehouse.export_folders import ExportFolders

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
        click.echo(f"{name:<18} {_summary_line(meta)}")
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure and event.step_failure_data:
                click.echo(
                    f"failed: {event.step_key}: {event.step_failure_data.error_display_string}", err=True
                )
        raise click.ClickException("the demo import failed; see above")
    click.echo("")
    click.echo(f"Warehouse: {_warehouse()}")
    click.echo(f"Dagster:   run `mca ui` and open http://127.0.0.1:{port}/assets (partition '{user}')")
    click.echo(f"Inbox:     drop a download (zip, tarball, folder) into {folders.inbox_root}/<user>/")
    if ui:
        _exec_dagster_dev(port)


def _summary_line(meta: dict[str, object]) -> str:
    """One line per materialized asset, from the counts its metadata carries."""
    if "new" in meta:
        return (
            f"new {meta['new']:>6,}  skipped {meta['skipped']:>6,}  "
            f"files {meta['files']}  total stored {meta['dagster/row_count']:,}"
        )
    if "reports" in meta:
        reports = str(meta["reports"]).replace("- `", "").replace("`", "").split("\n")
        return f"{meta['hours']:,} hours in {meta['year']}; reports:\n    " + "\n    ".join(reports)
    if "real_plays" in meta:
        return f"{meta['plays']:,} music plays are {meta['real_plays']:,} real plays"
    if "items" in meta:
        return f"{meta['items']:,} items, {meta['hours']:,} hours in all"
    if "tagger" in meta:
        return f"{meta.get('items/tagged', 0):,} items tagged by the {meta['tagger']} tagger"
    if "calls" in meta:
        skipped = str(meta.get("skipped", "")).replace("- **", "").replace("**", "")
        line = f"{meta.get('items/enriched', 0):,} items enriched, {meta['calls']:,} API calls"
        return (
            line
            if skipped == "nothing skipped"
            else f"{line}; skipped:\n    " + skipped.replace("\n", "\n    ")
        )
    return "done"


@main.command()
@click.option("--port", default=3000, show_default=True)
def ui(port: int) -> None:
    """Start the Dagster UI (webserver + daemon for sensors) on the embedded instance."""
    _enter_project()
    _exec_dagster_dev(port)


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind (keep it local).")
@click.option("--port", default=WEB_PORT, show_default=True)
@click.option(
    "--public-url",
    default=None,
    help="Address the browser uses, if not http://HOST:PORT (OAuth redirects go to PUBLIC_URL/connect/...).",
)
def web(host: str, port: int, public_url: str | None) -> None:
    """Start the connect web app: sign in with your token, connect accounts, upload exports."""
    from mca_pipeline.auth.web_app import serve

    _enter_project()
    click.echo(
        f"connect app on {public_url or f'http://{host}:{port}'} - sign in with the token from `mca users add`"
    )
    serve(host=host, port=port, public_url=public_url)


def _exec_dagster_dev(port: int) -> None:
    dagster = Path(sys.executable).with_name("dagster")
    command = [str(dagster), "dev", "-w", "workspace.yaml", "-h", "127.0.0.1", "-p", str(port)]
    from mca_pipeline.instance_storage import storage_kind

    click.echo(
        f"starting the Dagster UI on http://127.0.0.1:{port} "
        f"(DAGSTER_HOME={os.environ['DAGSTER_HOME']}, Dagster storage: {storage_kind()})"
    )
    sys.stdout.flush()
    # `dagster dev` is what Dagster's docs still teach; its notice about `dg dev` is noise here.
    os.environ.setdefault("PYTHONWARNINGS", "ignore:Function `dev_command` is superseded")
    os.execv(command[0], command)


# --- shared helpers -------------------------------------------------------------------


def _user(user: str) -> str:
    try:
        return check_user_slug(user)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None


def _warehouse() -> Warehouse:
    """The project's warehouse, after moving to the project root (paths are relative to it)."""
    from mca_pipeline.warehouse.lake import open_warehouse

    _enter_project()
    return open_warehouse()


def _existing_user(warehouse: Warehouse, user: str) -> None:
    from mca_pipeline.warehouse.users import user_exists

    with warehouse.connect() as con:
        if not user_exists(con, user):
            raise click.ClickException(f"no user {user!r}: create it with `mca users add {user}`")


@contextmanager
def _dagster_instance() -> Iterator[DagsterInstance]:
    from dagster import DagsterInstance

    with DagsterInstance.get() as instance:
        yield instance


def _plugin(name: str) -> SourcePlugin:
    from mca_pipeline.plugins import build_registry

    registry = build_registry()
    if name not in registry:
        raise click.ClickException(f"unknown plugin {name!r}; registered: {', '.join(registry.names())}")
    return registry.get(name)


def _auth(plugin: SourcePlugin) -> str:
    return str(getattr(plugin.auth_type, "value", plugin.auth_type))


def _when(value: object) -> str:
    if not isinstance(value, datetime):
        return "-"
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


#: Folders under data/ that hold one folder per user: everything the project writes of a user.
USER_FOLDERS = ("inbox", "archive", "rejected", "staging", "exports", "reports")


def _user_dirs(user: str) -> list[Path]:
    data = paths.data_dir()
    return [data / kind / user for kind in USER_FOLDERS]


# --- users ----------------------------------------------------------------------------


@main.group()
def users() -> None:
    """Add, list and delete the people whose media history is gathered."""


@users.command("add")
@click.argument("user")
def users_add(user: str) -> None:
    """Create USER (a Dagster partition) and print its sign-in token for `mca web`."""
    from mca_pipeline.auth.sign_in import issue_token
    from mca_pipeline.defs.partitions import users_partitions
    from mca_pipeline.warehouse.users import user_exists

    user = _user(user)
    warehouse = _warehouse()
    with warehouse.connect() as con:
        existed = user_exists(con, user)
    token = issue_token(warehouse, user)
    with _dagster_instance() as instance:
        if not instance.has_dynamic_partition(users_partitions.name, user):
            instance.add_dynamic_partitions(users_partitions.name, [user])
    if existed:
        click.echo(f"user {user!r} already existed: issued a new sign-in token (the old one no longer works)")
    else:
        click.echo(f"created user {user!r} (Dagster partition '{user}' in 'users')")
    click.echo("")
    click.echo(f"Sign-in token for {user!r}, used to sign in to `mca web`.")
    click.echo("It is shown only once and not stored (only its hash is): keep it somewhere safe.")
    click.echo("")
    click.echo(f"    {token}")
    click.echo("")


@users.command("list")
def users_list() -> None:
    """Every user with its item count and connected plugins."""
    _echo_users()


def _echo_users() -> None:
    from mca_pipeline.warehouse.users import list_users

    warehouse = _warehouse()
    with warehouse.connect() as con:
        summaries = list_users(con)
    if not summaries:
        click.echo("no users yet: add one with `mca users add USER`")
        return
    click.echo(f"{'user':<24} {'items':>10}  {'created':<20} connected")
    for s in summaries:
        click.echo(
            f"{s.user_id:<24} {s.items:>10,}  {_when(s.created_at):<20} {', '.join(s.connections) or '-'}"
        )


@users.command("delete")
@click.argument("user")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
def users_delete(user: str, yes: bool) -> None:
    """Delete USER for good: warehouse rows, files, partition and runs."""
    from dagster import RunsFilter

    from mca_pipeline.defs.partitions import users_partitions
    from mca_pipeline.warehouse.users import delete_user_data, user_exists

    user = _user(user)
    warehouse = _warehouse()
    with warehouse.connect() as con:
        in_warehouse = user_exists(con, user)
    folders = [d for d in _user_dirs(user) if d.exists()]
    runs_of = RunsFilter(tags={"dagster/partition": user})
    with _dagster_instance() as instance:
        has_partition = instance.has_dynamic_partition(users_partitions.name, user)
        runs = [r.dagster_run.run_id for r in instance.get_run_records(filters=runs_of)]
    if not (in_warehouse or folders or has_partition or runs):
        raise click.ClickException(f"no user {user!r}: nothing to delete")
    if not yes:
        click.confirm(
            f"Delete user {user!r} for good: its items, plays, credentials, sync log, notifications, "
            f"its files under {', '.join(USER_FOLDERS)}, its Dagster partition and its "
            f"{len(runs)} run(s) with their logs?",
            abort=True,
        )
    with warehouse.connect() as con:
        deleted = delete_user_data(con, user)
    rows = ", ".join(f"{table} {n:,}" for table, n in deleted.items() if n)
    click.echo(f"deleted warehouse rows: {rows or 'none'}")
    for folder in folders:
        count = sum(1 for p in folder.rglob("*") if p.is_file())
        shutil.rmtree(folder)
        click.echo(f"deleted {folder} ({count} files)")
    with _dagster_instance() as instance:
        if has_partition:
            instance.delete_dynamic_partition(users_partitions.name, user)
            click.echo(f"deleted Dagster partition '{user}'")
        for run_id in runs:
            instance.delete_run(run_id)
        if runs:
            click.echo(f"deleted {len(runs)} Dagster run(s) of '{user}' with their logs")
    click.echo(f"user {user!r} is gone")


# --- connecting accounts --------------------------------------------------------------


@main.command()
@click.argument("plugin")
@click.option("--user", required=True, help="User to connect.")
@click.option("--port", default=WEB_PORT, show_default=True, help="Port `mca web` listens on.")
@click.option("--account", help="For sources that read public data: your name on the platform.")
def connect(plugin: str, user: str, port: int, account: str | None) -> None:
    """Connect PLUGIN for a user: public-data sources take --account; otherwise how to."""
    from mca_pipeline.core.models import AuthType

    source = _plugin(plugin)
    user = _user(user)
    auth = AuthType(_auth(source))
    if auth is AuthType.OAUTH:
        _existing_user(_warehouse(), user)
        click.echo(f"{plugin} connects through OAuth in the web app:")
        click.echo(f"  1. run `mca web --port {port}` and sign in with {user}'s token (from `mca users add`)")
        click.echo(f"  2. open http://127.0.0.1:{port}/api/v1/plugins/{plugin}/connect")
        click.echo(f"  3. allow access on {plugin}'s page; you come back connected and the first sync starts")
    elif auth is AuthType.API_KEY:
        click.echo(f"{plugin} uses an API key: run `mca apikey set {plugin} --user {user}`")
    elif auth is AuthType.FILE_IMPORT:
        click.echo(
            f"{plugin} imports export files: run `mca import FILE --user {user} --plugin {plugin}` "
            f"(or drop the file into data/inbox/{user}/{plugin}/)"
        )
    elif account and account.strip():
        from mca_pipeline.auth import Vault, VaultCredentialStore
        from mca_pipeline.core import Credentials
        from mca_pipeline.warehouse.accounts import CONNECTED, set_connection_state

        warehouse = _warehouse()
        _existing_user(warehouse, user)
        VaultCredentialStore(warehouse, Vault()).save(user, plugin, Credentials(account=account.strip()))
        with warehouse.connect() as con:
            set_connection_state(con, user, plugin, CONNECTED, "account set with mca connect")
        click.echo(
            f"{user} follows {plugin} account {account.strip()!r}; while `mca ui` runs, the first sync "
            f"starts within a minute and the {plugin}_sync schedule keeps it current"
        )
    else:
        raise click.ClickException(f"{plugin} reads public data: give your name on it with --account NAME")


@main.group()
def apikey() -> None:
    """API keys of API-key plugins (stored encrypted in the vault)."""


@apikey.command("set")
@click.argument("plugin")
@click.option("--user", required=True, help="User whose key this is.")
@click.option("--account", help="Your name on the platform (the Last.fm username); asked if not given.")
def apikey_set(plugin: str, user: str, account: str | None) -> None:
    """Store the API key for PLUGIN (read without echo) and mark the plugin connected."""
    from mca_pipeline.auth import Vault, VaultCredentialStore
    from mca_pipeline.core import Credentials
    from mca_pipeline.core.models import AuthType
    from mca_pipeline.warehouse.accounts import CONNECTED, set_connection_state

    source = _plugin(plugin)
    if _auth(source) != AuthType.API_KEY.value:
        raise click.ClickException(
            f"{plugin} does not use an API key (it is {_auth(source)}): see `mca connect {plugin} --user {user}`"
        )
    user = _user(user)
    warehouse = _warehouse()
    _existing_user(warehouse, user)
    store = VaultCredentialStore(warehouse, Vault())  # a bad vault key fails before any prompt
    store.check_key()
    key = click.prompt(f"{plugin} API key", hide_input=True).strip()
    if not key:
        raise click.ClickException("the API key is empty")
    if account is None:
        account = click.prompt(f"{plugin} account (your username on {plugin})")
    account = account.strip()
    if not account:
        raise click.ClickException("the account name is empty")
    store.save(user, plugin, Credentials(api_key=key, account=account))
    with warehouse.connect() as con:
        set_connection_state(con, user, plugin, CONNECTED, "API key set with mca apikey set")
    click.echo(f"stored {user}'s {plugin} API key (encrypted) for account {account!r}; state: connected")
    click.echo(
        f"while `mca ui` runs, the first sync starts within a minute and the {plugin}_sync schedule "
        "keeps it current"
    )


@main.command()
@click.argument("plugin")
@click.option("--user", required=True, help="User to disconnect.")
def disconnect(plugin: str, user: str) -> None:
    """Disconnect PLUGIN for a user: revoke its tokens where the platform can, delete them here."""
    import httpx

    from mca_pipeline.auth import Revocation, Vault, VaultCredentialStore
    from mca_pipeline.auth import disconnect as disconnect_source
    from mca_pipeline.core.models import AuthType

    source = _plugin(plugin)
    if _auth(source) == AuthType.FILE_IMPORT.value:
        raise click.ClickException(f"{plugin} imports export files: there is no connection to end")
    user = _user(user)
    warehouse = _warehouse()
    _existing_user(warehouse, user)
    store = VaultCredentialStore(warehouse, Vault())
    with httpx.Client(timeout=httpx.Timeout(20.0)) as http:
        outcome = disconnect_source(source, store, warehouse, user, http, "disconnected with mca disconnect")
    said = {
        Revocation.REVOKED: f"revoked the tokens at {plugin}",
        Revocation.FAILED: f"{plugin} could not revoke the tokens (see the log); they are deleted here anyway",
        Revocation.NOT_OFFERED: f"{plugin} offers no revocation: remove mca in your {plugin} account's app "
        "settings to revoke it there"
        if _auth(source) == AuthType.OAUTH.value
        else "",
    }[outcome]
    click.echo(f"{user}'s {plugin} credentials are deleted; state: disconnected")
    if said:
        click.echo(said)


# --- files, status, export ------------------------------------------------------------


@main.command("import")
@click.argument("file", type=click.Path(dir_okay=True, path_type=Path, resolve_path=True))
@click.option("--user", required=True, help="User the export belongs to.")
@click.option(
    "--plugin",
    "plugin",
    default=None,
    help="File-import plugin that reads it (netflix, ...). Without it, FILE may be an archive "
    "(.zip, .tgz, .tar) or a folder, and each file in it goes to the plugin that recognises it.",
)
def import_(file: Path, user: str, plugin: str | None) -> None:
    """Copy an export FILE (or archive, or folder) into the watched inbox.

    With --plugin it goes to data/inbox/<user>/<plugin>/; without, to data/inbox/<user>/,
    where the inbox sensor unpacks it and routes each file to its plugin."""
    from mca_pipeline.core.models import AuthType
    from mca_pipeline.warehouse.export_folders import ExportFolders

    if plugin is not None:
        source = _plugin(plugin)
        if _auth(source) != AuthType.FILE_IMPORT.value:
            raise click.ClickException(
                f"{plugin} does not import files (it is {_auth(source)}): see `mca connect {plugin} --user {user}`"
            )
    user = _user(user)
    if file.is_dir() and plugin is not None:
        raise click.ClickException(f"{file} is a folder: give the export file itself, or leave out --plugin")
    if not file.is_file() and not file.is_dir():
        raise click.ClickException(f"no such file: {file}")
    _enter_project()
    folders = ExportFolders(paths.data_dir())
    inbox = folders.inbox(user, plugin) if plugin else folders.inbox_root / user
    target = inbox / file.name
    if target.exists():
        raise click.ClickException(f"{target} is already waiting to be imported")
    inbox.mkdir(parents=True, exist_ok=True)
    # Copied under a name the sensor skips, then renamed: it never sees half a file.
    partial = inbox / f".{file.name}.part"
    if file.is_dir():
        shutil.rmtree(partial, ignore_errors=True)
        shutil.copytree(file, partial, symlinks=True)
    else:
        shutil.copyfile(file, partial)
    partial.replace(target)
    click.echo(f"copied {file.name} to {target}")
    if plugin:
        click.echo(
            "the inbox sensor imports it within a minute while `mca ui` runs; "
            f"afterwards it is in data/archive/{user}/{plugin}/ (or rejected/, with a report)"
        )
    else:
        click.echo(
            "the inbox sensor unpacks it within a minute while `mca ui` runs and moves each file "
            f"to the plugin that recognises it (data/inbox/{user}/<plugin>/), which imports it; "
            f"afterwards it is in data/archive/{user}/arrivals/ with a report of what went where "
            "(or in rejected/, with a report, when it is corrupt or too large)"
        )


@main.command()
@click.option("--user", help="Whose status to show; without it, the users and the inbox only.")
def status(user: str | None) -> None:
    """Per plugin: connection, last sync and items; then unread notifications, and what
    the inbox leaves alone (files no user or plugin folder holds)."""
    from mca_pipeline.core.models import AuthType, utc_now
    from mca_pipeline.plugins import build_registry
    from mca_pipeline.warehouse import item_count
    from mca_pipeline.warehouse.accounts import connection_state, notifications
    from mca_pipeline.warehouse.credentials import load_sealed
    from mca_pipeline.warehouse.export_folders import ExportFolders
    from mca_pipeline.warehouse.pauses import pauses_of
    from mca_pipeline.warehouse.status import last_syncs

    folders = ExportFolders(paths.data_dir())
    if user is None:
        _echo_users()
        _echo_misplaced(folders)
        return
    user = _user(user)
    warehouse = _warehouse()
    _existing_user(warehouse, user)
    registry = build_registry()
    with warehouse.connect() as con:
        syncs = {s.platform: s for s in last_syncs(con, user)}
        pauses = pauses_of(con, user, utc_now())
        rows = []
        for source in sorted(registry, key=lambda p: p.name):
            auth = _auth(source)
            state = connection_state(con, user, source.name)
            if state is not None:
                connection = state[0] + (f" ({state[1]})" if state[1] else "")
            elif auth == AuthType.FILE_IMPORT.value:
                waiting = len(folders.waiting(user, source.name))
                connection = f"{waiting} file(s) in inbox" if waiting else "-"
            elif load_sealed(con, user, source.name) is not None:
                connection = "credentials stored"
            else:
                connection = "not connected"
            sync = syncs.get(source.name)
            last = _last_sync(sync) if sync else "never"
            pause = pauses.get(source.name)
            if pause is not None:
                last += f"; waiting until {_when(pause.not_before)} (rate limit)"
            rows.append((source.name, auth, connection, last, item_count(con, user, source.name)))
        unread = notifications(con, user)
    click.echo(f"status of {user!r}")
    click.echo(f"{'plugin':<16} {'auth':<12} {'items':>9}  {'connection':<28} last sync")
    for name, auth, connection, last, items in rows:
        click.echo(f"{name:<16} {auth:<12} {items:>9,}  {connection:<28} {last}")
    click.echo("")
    if not unread:
        click.echo("no unread notifications")
    else:
        click.echo(f"{len(unread)} unread notification(s):")
        for note in unread:
            click.echo(f"  {_when(note.created_at)}  {note.plugin} {note.kind}: {note.message}")
    _echo_misplaced(folders)


def _echo_misplaced(folders: ExportFolders) -> None:
    """The inbox's misplaced entries, looked at now (not remembered): gone once moved."""
    misplaced = folders.misplaced()
    if misplaced:
        click.echo("")
        click.echo(f"{len(misplaced)} entr{'y' if len(misplaced) == 1 else 'ies'} in the inbox left alone:")
        for entry in misplaced:
            click.echo(f"  {entry.path}: {entry.reason}")


def _last_sync(sync: LastSync) -> str:
    """One platform's newest run in words: an import by its files (one broken file does
    not make three imported ones a failure), an API sync by its outcome."""
    unreadable = f", {sync.unreadable:,} unreadable skipped" if sync.unreadable else ""
    if sync.files_imported or sync.files_rejected:
        text = f"{_when(sync.finished_at)} {sync.files_imported} file(s) imported, {sync.new_count:,} new"
        if sync.files_rejected:
            unreadable += f"; {sync.files_rejected} rejected (see data/rejected/)"
        return text + unreadable
    error = f": {sync.error_message}" if sync.error_message and sync.outcome != "success" else ""
    return f"{_when(sync.finished_at)} {sync.outcome}, {sync.new_count:,} new{unreadable}{error}"


@main.command()
@click.option("--user", required=True)
@click.option("--format", "fmt", type=click.Choice(["jsonl", "parquet"]), default="jsonl", show_default=True)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path, resolve_path=True),
    help="Folder to write into (default data/exports/<user>/).",
)
def export(user: str, fmt: str, out: Path | None) -> None:
    """Write everything stored for a user (items, sync log, connections, notifications;
    never credentials) to JSON Lines or Parquet, one file per table."""
    from mca_pipeline.warehouse.status import export_user

    user = _user(user)
    warehouse = _warehouse()
    _existing_user(warehouse, user)
    folder = out or paths.data_dir() / "exports" / user
    with warehouse.connect() as con:
        written = export_user(con, user, folder, fmt)
    for table, count in written.items():
        click.echo(f"{table:<14} {count:>9,} rows  -> {folder / f'{table}.{fmt}'}")


@main.command()
@click.option("--user", required=True)
@click.option("--year", type=int, help="Year to review (default: every year with data).")
def report(user: str, year: int | None) -> None:
    """Write the year-in-review report(s) of a user to data/reports/<user>/<year>.html."""
    from mca_pipeline.analysis.insights import build_insights
    from mca_pipeline.analysis.report import views_line
    from mca_pipeline.analysis.sources import Sources
    from mca_pipeline.plugins import build_registry
    from mca_pipeline.warehouse.metrics import active_years

    user = _user(user)
    warehouse = _warehouse()
    _existing_user(warehouse, user)
    with warehouse.connect() as con:
        active = active_years(con, user)
    if year is not None and active and year not in active:
        raise click.ClickException(
            f"{user} has nothing dated in {year}: reports exist for {', '.join(map(str, active))}"
        )
    years = active if year is None else [year]
    built = build_insights(warehouse, paths.data_dir(), user, years or [None], Sources.of(build_registry()))
    for insight in built:
        data = insight.data
        click.echo(f"{data.period}: {views_line(data)} -> {insight.report}")


# --- corrections: aliases, separate plays, why merged ------------------------------------


def _recompute(warehouse: Warehouse, user: str) -> None:
    """After a correction: the user's links, then every year's report, from scratch (set
    based and idempotent; no other user is touched)."""
    from mca_pipeline.analysis.insights import recompute_user
    from mca_pipeline.analysis.sources import Sources
    from mca_pipeline.plugins import build_registry

    plays, real, built = recompute_user(warehouse, paths.data_dir(), user, Sources.of(build_registry()))
    click.echo(
        f"recomputed {user}: {plays:,} music rows are {real:,} plays; {len(built)} report(s) rewritten"
    )


def _field(artist: str | None, title: str | None) -> tuple[str, str]:
    if (artist is None) == (title is None):
        raise click.UsageError("give one of --artist SPELLING or --title SPELLING")
    return ("artist", artist) if artist is not None else ("title", title or "")


@main.group()
def alias() -> None:
    """Spellings of an artist (or creator) or a title that are one: obeyed when plays are
    linked across sources and in the top lists."""


@alias.command("add")
@click.option("--user", required=True)
@click.option("--artist", help="The artist or creator spelling to fold in.")
@click.option("--title", help="The title spelling to fold in.")
@click.option("--is", "canonical", required=True, help="The name it stands for.")
def alias_add(user: str, artist: str | None, title: str | None, canonical: str) -> None:
    """Say that a spelling is another name, then recompute that user's history."""
    from mca_pipeline.warehouse.aliases import add_alias

    user = _user(user)
    warehouse = _warehouse()
    _existing_user(warehouse, user)
    field, spelling = _field(artist, title)
    with warehouse.connect() as con:
        try:
            rule = add_alias(con, user, field, spelling, canonical)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"{field} {rule.spelling!r} is now counted as {rule.canonical!r}")
    _recompute(warehouse, user)


@alias.command("remove")
@click.option("--user", required=True)
@click.option("--artist")
@click.option("--title")
def alias_remove(user: str, artist: str | None, title: str | None) -> None:
    """Forget an alias, then recompute that user's history."""
    from mca_pipeline.warehouse.aliases import remove_alias

    user = _user(user)
    warehouse = _warehouse()
    _existing_user(warehouse, user)
    field, spelling = _field(artist, title)
    with warehouse.connect() as con:
        if not remove_alias(con, user, field, spelling):
            raise click.ClickException(f"{user} has no {field} alias for {spelling!r}")
    _recompute(warehouse, user)


@alias.command("list")
@click.option("--user", required=True)
def alias_list(user: str) -> None:
    """The user's aliases and the rows they said are separate plays."""
    from mca_pipeline.warehouse.aliases import list_aliases, separated

    user = _user(user)
    warehouse = _warehouse()
    _existing_user(warehouse, user)
    with warehouse.connect() as con:
        rules, apart = list_aliases(con, user), separated(con, user)
    for rule in rules:
        click.echo(f"{rule.field:<6} {rule.spelling!r} -> {rule.canonical!r}")
    for row_a, row_b in apart:
        click.echo(f"apart  {row_a}  /  {row_b}")
    if not rules and not apart:
        click.echo(f"{user} has no aliases and no separated plays")


@main.command()
@click.option("--user", required=True)
@click.argument("row_a")
@click.argument("row_b")
def separate(user: str, row_a: str, row_b: str) -> None:
    """Say that two rows (PLATFORM:ID, as `mca why` shows them) are not one play; they are
    never linked again. Recomputes that user's history."""
    from mca_pipeline.warehouse.aliases import keep_apart

    user = _user(user)
    warehouse = _warehouse()
    _existing_user(warehouse, user)
    with warehouse.connect() as con:
        try:
            keep_apart(con, user, row_a, row_b)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    click.echo(f"{row_a} and {row_b} are two plays from now on")
    _recompute(warehouse, user)


@main.command()
@click.option("--user", required=True)
@click.argument("row", required=False)
@click.option("--limit", type=int, default=50, show_default=True)
def why(user: str, row: str | None, limit: int) -> None:
    """Why plays were counted as one: each linked row, the row whose copy counts, and the
    rule (ROW: only the links of that PLATFORM:ID)."""
    from mca_pipeline.warehouse.aliases import merge_count, merges

    user = _user(user)
    warehouse = _warehouse()
    _existing_user(warehouse, user)
    with warehouse.connect() as con:
        found, total = merges(con, user, row, limit=limit), merge_count(con, user, row)
    for merge in found:
        click.echo(
            f"{merge.row}  {merge.creator or ''} - {merge.title}  ({merge.consumed_at:%Y-%m-%d %H:%M:%S %Z})"
        )
        click.echo(f"  counted as {merge.play_key}  {merge.kept_creator or ''} - {merge.kept_title or '?'}")
        click.echo(
            f"  because {merge.rule or 'linked before reasons were kept; the next recompute says why'}"
        )
    more = total - len(found)
    click.echo(f"{total:,} linked row(s)" + (f", {more:,} more not shown (--limit)" if more > 0 else ""))


# --- vault ----------------------------------------------------------------------------


@main.group()
def vault() -> None:
    """The credential vault's key."""


@vault.command("rotate")
def vault_rotate() -> None:
    """Re-encrypt every stored credential with a new key, then retire the old key(s).

    The new key is written durably (fsynced, owner-only) before the rotation commits: a
    crash, a closed pipe or a full disk at any point leaves a key that opens every row."""
    from cryptography.fernet import Fernet

    from mca_pipeline.auth import Vault
    from mca_pipeline.auth.vault import KEY_ENV, key_file, load_keys, rotate_vault

    warehouse = _warehouse()
    from_env = bool(os.environ.get(KEY_ENV))
    old = load_keys(create=False)
    new = Fernet.generate_key()
    both = Vault([new, *old])  # checks that the old keys are well-formed before anything changes
    # Until the rotation commits, the file holds new and old keys, so its content opens
    # every row whether the rotation has committed or not.
    path = key_file().with_name("vault.key.rotated") if from_env else key_file()
    _write_key_file(path, [new, *old])
    count = rotate_vault(warehouse, both)
    if from_env:
        click.echo(f"re-encrypted {count} credential(s) with a new key.")
        click.echo(f"The key came from {KEY_ENV}: set {KEY_ENV} to this new key now (the old one no longer")
        click.echo(f"opens the credentials). It is also in {path} (owner-only, beside the old key);")
        click.echo("delete that file once the new key is stored where you keep secrets:")
        click.echo("")
        click.echo(f"    {new.decode()}")
        click.echo("")
    else:
        _write_key_file(path, [new])
        click.echo(f"re-encrypted {count} credential(s) with a new key.")
        click.echo(f"The key came from the key file: {path} now holds only the new key.")
    click.echo("Restart `mca ui` and `mca web` if they are running, so that they use the new key.")


def _write_key_file(path: Path, keys: list[bytes]) -> None:
    """Replace the key file atomically and durably (file and folder fsynced), owner-only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        os.fchmod(f.fileno(), 0o600)
        f.write(b",".join(keys) + b"\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    folder = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


@main.group("warehouse")
def warehouse_group() -> None:
    """The warehouse itself: moving a DuckDB file into a DuckLake."""


@warehouse_group.command("migrate")
@click.option("--to", "to", required=True, help="The lake's catalog: ducklake:postgres:<libpq settings>.")
@click.option("--data-path", default="", help="The lake's data path (default: MCA_WAREHOUSE_DATA_PATH).")
@click.option(
    "--from",
    "source",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The DuckDB file (default: data/warehouse.duckdb or MCA_WAREHOUSE when it is a file).",
)
def warehouse_migrate(to: str, data_path: str, source: Path | None) -> None:
    """Copy a DuckDB warehouse file into a DuckLake. Run it again to resume a copy that
    stopped; rows already in the lake are not copied twice. Needs the [lake] extra."""
    from mca_pipeline import paths
    from mca_pipeline.warehouse import Warehouse, WarehouseBusyError
    from mca_pipeline.warehouse.lake import LakeWarehouse
    from mca_pipeline.warehouse.lake_copy import CopyError, copy_into_lake

    _enter_project()
    location = paths.warehouse_location()
    file = source or Path(
        paths.data_dir() / "warehouse.duckdb" if location.startswith("ducklake:") else location
    )
    if not file.is_file():
        raise click.ClickException(f"no warehouse file at {file}")
    try:
        with Warehouse(file).connect():
            pass  # brought up to this release's schema, as the lake is
    except WarehouseBusyError as exc:  # a file this DuckDB cannot read: copy_into_lake says what to do
        if "version number" not in str(exc):
            raise
    lake = LakeWarehouse(to, data_path or paths.lake_data_path())
    try:
        copied = copy_into_lake(lake, file)
    except CopyError as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        lake.close()
    for table in copied:
        click.echo(
            f"{table.table:<18} copied {table.copied:>9,}   file {table.in_file:>9,}   lake {table.in_lake:>9,}"
        )
    click.echo(f"{file} is in the lake: set MCA_WAREHOUSE to the lake's catalog to use it.")


@warehouse_group.command("downgrade")
@click.argument("source", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.argument("target", type=click.Path(dir_okay=False, path_type=Path))
def warehouse_downgrade(source: Path, target: Path) -> None:
    """Write a copy of a warehouse file that DuckDB 1.5 reads (the [lake] extra's DuckDB),
    from an install with a newer DuckDB; then migrate that copy into the lake."""
    from mca_pipeline.warehouse.lake_copy import CopyError, downgraded_copy

    try:
        downgraded_copy(source, target)
    except CopyError as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"wrote {target}: migrate it with the [lake] install's mca warehouse migrate --from {target}")
