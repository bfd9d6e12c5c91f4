"""The test server: DATABASE_URL when set, a testcontainers PostgreSQL with
ATLAS_ORCH_TEST_DOCKER=1, else an embedded pgserver. Each test database is a
``CREATE DATABASE … TEMPLATE`` copy of a schema built once per session."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import asyncpg

from listener.core.config import database_url_from_env
from listener.schema import migrations


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database (query string kept: socket hosts)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


@dataclass
class Server:
    admin_url: str
    prefix: str = field(default_factory=lambda: f"atlas_test_{os.getpid()}")
    _counter: Iterator[int] = field(default_factory=itertools.count)
    templates: dict[str, str] = field(default_factory=dict)
    _keep: Any = None

    def url(self, dbname: str) -> str:
        return with_database(self.admin_url, dbname)

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    def create(self, template: str | None = None) -> str:
        """A fresh database (a copy of ``template`` when given); returns its name."""
        name = f"{self.prefix}_{next(self._counter)}"
        tpl = f" TEMPLATE {self.templates[template]}" if template else ""
        anyio.run(self._admin, f"CREATE DATABASE {name}{tpl}")
        return name

    def drop(self, name: str) -> None:
        anyio.run(self._admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def build_template(self, key: str, mode: str) -> None:
        name = f"{self.prefix}_tpl_{key}"
        anyio.run(self._admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        anyio.run(self._admin, f"CREATE DATABASE {name}")

        async def install() -> None:
            conn = await asyncpg.connect(self.url(name))
            try:
                await migrations.install(conn, mode, progress=False)
            finally:
                await conn.close()

        anyio.run(install)
        self.templates[key] = name

    def close(self) -> None:
        for name in self.templates.values():
            self.drop(name)
        if self._keep is not None:
            self._keep()


@contextmanager
def test_server() -> Iterator[Server]:
    url = database_url_from_env()
    if url:
        server = Server(admin_url=url)
    elif os.environ.get("ATLAS_ORCH_TEST_DOCKER") == "1":
        from testcontainers.postgres import PostgresContainer

        container = PostgresContainer("postgres:15", driver=None)
        container.start()
        server = Server(admin_url=container.get_connection_url(), _keep=container.stop)
    else:
        import pgserver

        tmp = Path(tempfile.mkdtemp(prefix="atlas-orch-pg-"))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pg = pgserver.get_server(tmp, cleanup_mode="stop")

        def stop() -> None:
            pg.cleanup()
            shutil.rmtree(tmp, ignore_errors=True)

        server = Server(admin_url=str(pg.get_uri("postgres")), _keep=stop)
    try:
        yield server
    finally:
        server.close()


def pg_dump_binary(server_major: int) -> str:
    """A pg_dump that can read this server: the embedded one (16) or the system's own."""
    candidates: list[Path] = []
    try:
        import pgserver._commands as cmds

        candidates.append(Path(cmds.POSTGRES_BIN_PATH) / "pg_dump")
    except ImportError:
        pass
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_dump"), reverse=True)
    for path in candidates:
        major = int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 16
        if path.exists() and major >= server_major:
            return str(path)
    found = shutil.which("pg_dump")
    if found:
        return found
    raise RuntimeError("no pg_dump able to read this server")
