"""The repo's dagster.yaml picks its storage from the environment: SQLite files when
nothing is set (the embedded default, unchanged), PostgreSQL when MCA_DAGSTER_PG_* is."""

import os
import shutil
from pathlib import Path
from urllib.parse import urlsplit

import psycopg2
import pytest
from click.testing import CliRunner
from dagster import DagsterInstance, asset, materialize
from dagster._serdes import serialize_value

from mca_pipeline.cli import main
from mca_pipeline.instance_storage import StorageConfigError, postgres_url
from mca_pipeline_tests.deploy.deployment import ROOT

PG_VARIABLES = [
    "MCA_DAGSTER_PG_URL",
    "MCA_DAGSTER_PG_HOST",
    "MCA_DAGSTER_PG_USER",
    "MCA_DAGSTER_PG_DB",
    "MCA_DAGSTER_PG_PASSWORD",
    "MCA_DAGSTER_PG_PORT",
]


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A DAGSTER_HOME holding the repo's own dagster.yaml, as working directory."""
    shutil.copy(ROOT / "dagster.yaml", tmp_path / "dagster.yaml")
    monkeypatch.chdir(tmp_path)
    for name in PG_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return tmp_path


@asset
def plays() -> int:
    return 3


def test_nothing_set_means_sqlite_files_under_data(home: Path) -> None:
    with DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("users", ["alice"])
        assert materialize([plays], instance=instance).success
        assert type(instance.run_storage).__name__ == "SqliteRunStorage"
    assert (home / "data/dagster/storage/history/runs.db").is_file()
    with DagsterInstance.from_config(str(home)) as again:
        assert again.get_dynamic_partitions("users") == ["alice"]


def test_a_postgres_url_puts_all_state_in_that_database(
    home: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Trust auth ignores the password; it is there to show it never leaks.
    parts = urlsplit(postgres_url)
    with_password = parts._replace(
        netloc=f"{parts.username}:s3cret-pw@{parts.hostname}:{parts.port}"
    ).geturl()
    monkeypatch.setenv("MCA_DAGSTER_PG_URL", with_password)
    with DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("users", ["alice", "bob"])
        result = materialize([plays], instance=instance)
        assert result.success
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert instance.event_log_storage.supports_global_concurrency_limits  # pools work
        assert "s3cret-pw" not in instance.info_str()
        assert "s3cret-pw" not in serialize_value(instance.get_ref())
    assert not (home / "data/dagster/storage").exists()
    # Another process (here: another instance) sees the same state.
    with DagsterInstance.from_config(str(home)) as other:
        assert other.get_dynamic_partitions("users") == ["alice", "bob"]
        assert other.get_run_by_id(result.run_id) is not None
    with psycopg2.connect(postgres_url) as con, con.cursor() as cur:
        cur.execute("SELECT count(*) FROM runs")
        assert cur.fetchone() == (1,)


def test_host_user_and_database_variables_work_like_a_url(
    home: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = urlsplit(postgres_url)
    monkeypatch.setenv("MCA_DAGSTER_PG_HOST", parts.hostname or "")
    monkeypatch.setenv("MCA_DAGSTER_PG_PORT", str(parts.port))
    monkeypatch.setenv("MCA_DAGSTER_PG_USER", parts.username or "")
    monkeypatch.setenv("MCA_DAGSTER_PG_DB", parts.path.lstrip("/"))
    with DagsterInstance.from_config(str(home)) as instance:
        instance.add_dynamic_partitions("users", ["carol"])
    with psycopg2.connect(postgres_url) as con, con.cursor() as cur:
        cur.execute("SELECT partition FROM dynamic_partitions")
        assert cur.fetchall() == [("carol",)]


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, None),
        (
            {"MCA_DAGSTER_PG_URL": "postgresql://u:pw@db:5432/dagster"},
            "postgresql+psycopg2://u:pw@db:5432/dagster",
        ),
        ({"MCA_DAGSTER_PG_URL": "postgres://u@db/dagster"}, "postgresql+psycopg2://u@db/dagster"),
        (
            {"MCA_DAGSTER_PG_HOST": "db", "MCA_DAGSTER_PG_USER": "mca", "MCA_DAGSTER_PG_DB": "dagster"},
            "postgresql+psycopg2://mca@db:5432/dagster",
        ),
        (
            {
                "MCA_DAGSTER_PG_HOST": "db",
                "MCA_DAGSTER_PG_USER": "mca",
                "MCA_DAGSTER_PG_DB": "dagster",
                "MCA_DAGSTER_PG_PASSWORD": "p@ss/word",
                "MCA_DAGSTER_PG_PORT": "6432",
            },
            "postgresql+psycopg2://mca:p%40ss%2Fword@db:6432/dagster",
        ),
    ],
)
def test_the_environment_names_one_database(environ: dict[str, str], expected: str | None) -> None:
    assert postgres_url(environ) == expected


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        ({"MCA_DAGSTER_PG_HOST": "db"}, "needs MCA_DAGSTER_PG_USER, MCA_DAGSTER_PG_DB as well"),
        (
            {"MCA_DAGSTER_PG_URL": "postgresql://u@db/x", "MCA_DAGSTER_PG_PASSWORD": "pw"},
            "either MCA_DAGSTER_PG_URL or the parts \\(MCA_DAGSTER_PG_PASSWORD\\)",
        ),
        ({"MCA_DAGSTER_PG_URL": "mysql://u:pw@db/x"}, "must be a postgresql:// URL"),
        (
            {
                "MCA_DAGSTER_PG_HOST": "db",
                "MCA_DAGSTER_PG_USER": "u",
                "MCA_DAGSTER_PG_DB": "d",
                "MCA_DAGSTER_PG_PORT": "x",
            },
            "must be a port number",
        ),
    ],
)
def test_a_half_described_database_is_refused_without_showing_secrets(
    environ: dict[str, str], message: str
) -> None:
    with pytest.raises(StorageConfigError, match=message) as error:
        postgres_url(environ)
    assert "pw" not in str(error.value).replace("MCA_DAGSTER_PG_PASSWORD", "")


def test_the_processes_dagster_starts_inherit_the_choice(home: Path) -> None:
    """Runs and code servers are started with the parent's environment and the instance
    ref names our storage class, not a URL: the child picks the same storage again."""
    os.environ.pop("MCA_DAGSTER_PG_URL", None)
    with DagsterInstance.from_config(str(home)) as instance:
        ref = instance.get_ref()
    assert ref.storage_data is not None
    assert (ref.storage_data.module_name, ref.storage_data.class_name) == (
        "mca_pipeline.instance_storage",
        "EnvSelectedStorage",
    )


def test_mca_commands_work_on_the_same_postgres_instance(
    home: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    (home / "workspace.yaml").write_text((ROOT / "workspace.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("MCA_DATA_DIR", str(home / "data"))
    monkeypatch.delenv("MCA_WAREHOUSE", raising=False)
    monkeypatch.setenv("MCA_DAGSTER_PG_URL", postgres_url)
    result = CliRunner().invoke(main, ["users", "add", "alice"])
    assert result.exit_code == 0, result.output
    with psycopg2.connect(postgres_url) as con, con.cursor() as cur:
        cur.execute("SELECT partitions_def_name, partition FROM dynamic_partitions")
        assert cur.fetchall() == [("users", "alice")]
    assert not (home / "data/dagster/storage").exists()


def test_a_misconfigured_environment_is_one_clear_line_from_mca(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (home / "workspace.yaml").write_text((ROOT / "workspace.yaml").read_text())
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.setenv("MCA_DATA_DIR", str(home / "data"))
    monkeypatch.setenv("MCA_DAGSTER_PG_HOST", "db.example.org")
    monkeypatch.setenv("MCA_DAGSTER_PG_PASSWORD", "s3cret-pw")
    result = CliRunner().invoke(main, ["users", "add", "alice"])
    assert result.exit_code == 1
    assert "needs MCA_DAGSTER_PG_USER, MCA_DAGSTER_PG_DB as well" in result.output
    assert "s3cret-pw" not in result.output and "Traceback" not in result.output
