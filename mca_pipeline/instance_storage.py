"""Dagster's instance storage, chosen by the environment: SQLite files or PostgreSQL.

One dagster.yaml serves both ways of running mca. With no MCA_DAGSTER_PG_* variable set,
runs, event logs, schedules, sensor cursors and user partitions live in SQLite files
under data/ (the embedded default, for one person). With MCA_DAGSTER_PG_URL, or the
host/user/database variables, they live in PostgreSQL through dagster-postgres, which is
what a separate daemon, webserver and many concurrent runs need. The choice is made when
each process builds its instance, and every process Dagster starts (code servers, runs)
inherits the environment, so all of them agree. The connection URL comes only from the
environment: it never appears in the instance's config, which the UI displays.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from dagster import DagsterInstance
from dagster._core.storage.base_storage import DagsterStorage
from dagster._core.storage.event_log.base import EventLogStorage
from dagster._core.storage.runs.base import RunStorage
from dagster._core.storage.schedules.base import ScheduleStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage
from dagster._serdes import ConfigurableClass, ConfigurableClassData

URL_VARIABLE = "MCA_DAGSTER_PG_URL"
#: The parts, for deployments that hand out host, user and password separately.
PART_VARIABLES = {
    "hostname": "MCA_DAGSTER_PG_HOST",
    "username": "MCA_DAGSTER_PG_USER",
    "db_name": "MCA_DAGSTER_PG_DB",
    "password": "MCA_DAGSTER_PG_PASSWORD",
    "port": "MCA_DAGSTER_PG_PORT",
}
_REQUIRED_PARTS = ("hostname", "username", "db_name")
#: SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3; dagster-postgres is built on
#: psycopg2 (a dependency already), so plain URLs are pointed at it.
_DRIVER_SCHEME = "postgresql+psycopg2"


class StorageConfigError(ValueError):
    """The MCA_DAGSTER_PG_* variables do not describe one PostgreSQL database."""


def postgres_url(environ: Mapping[str, str] | None = None) -> str | None:
    """The PostgreSQL URL the environment asks for, or None for the embedded SQLite default."""
    env = os.environ if environ is None else environ
    url = env.get(URL_VARIABLE, "").strip()
    parts = {key: env.get(name, "").strip() for key, name in PART_VARIABLES.items()}
    if url:
        if any(parts.values()):
            given = ", ".join(PART_VARIABLES[k] for k, v in parts.items() if v)
            raise StorageConfigError(f"set either {URL_VARIABLE} or the parts ({given}), not both")
        scheme, sep, rest = url.partition("://")
        if not sep or scheme not in ("postgresql", "postgres", _DRIVER_SCHEME):
            raise StorageConfigError(f"{URL_VARIABLE} must be a postgresql:// URL")
        return f"{_DRIVER_SCHEME}://{rest}"
    if not any(parts.values()):
        return None
    missing = [PART_VARIABLES[k] for k in _REQUIRED_PARTS if not parts[k]]
    if missing:
        raise StorageConfigError(f"PostgreSQL storage needs {', '.join(missing)} as well")
    port = parts["port"] or "5432"
    if not port.isdigit():
        raise StorageConfigError(f"{PART_VARIABLES['port']} must be a port number")
    # Quoted with nothing safe: a "/" or "@" in a password must not end the field.
    user = quote(parts["username"], safe="")
    if parts["password"]:
        user += ":" + quote(parts["password"], safe="")
    return f"{_DRIVER_SCHEME}://{user}@{parts['hostname']}:{port}/{quote(parts['db_name'], safe='')}"


def storage_kind(environ: Mapping[str, str] | None = None) -> str:
    """'postgres' or 'sqlite', for messages that say which instance a command works on."""
    return "postgres" if postgres_url(environ) else "sqlite"


class EnvSelectedStorage(DagsterStorage, ConfigurableClass):
    """PostgreSQL when MCA_DAGSTER_PG_* is set, else SQLite under `sqlite_base_dir`.

    It hands Dagster the chosen backend's own run, event log and schedule storages, so
    every feature of that backend (concurrency pools in PostgreSQL, say) works unchanged.
    """

    def __init__(self, sqlite_base_dir: str, inst_data: ConfigurableClassData | None = None) -> None:
        self._inst_data = inst_data
        url = postgres_url()
        if url is None:
            self._backend: DagsterStorage = DagsterSqliteStorage.from_local(sqlite_base_dir)
        else:
            from dagster_postgres import DagsterPostgresStorage

            self._backend = DagsterPostgresStorage(postgres_url=url)
        super().__init__()

    @property
    def inst_data(self) -> ConfigurableClassData | None:
        return self._inst_data

    @classmethod
    def config_type(cls) -> dict[str, Any]:
        return {"sqlite_base_dir": str}

    @classmethod
    def from_config_value(
        cls, inst_data: ConfigurableClassData | None, config_value: Mapping[str, Any]
    ) -> EnvSelectedStorage:
        return cls(sqlite_base_dir=config_value["sqlite_base_dir"], inst_data=inst_data)

    def register_instance(self, instance: DagsterInstance) -> None:
        super().register_instance(instance)
        if not self._backend.has_instance:
            self._backend.register_instance(instance)

    @property
    def event_log_storage(self) -> EventLogStorage:
        return self._backend.event_log_storage

    @property
    def run_storage(self) -> RunStorage:
        return self._backend.run_storage

    @property
    def schedule_storage(self) -> ScheduleStorage:
        return self._backend.schedule_storage

    def dispose(self) -> None:
        self._backend.dispose()
