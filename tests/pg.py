"""The test server: DATABASE_URL when set, a testcontainers PostgreSQL with
ATLAS_ORCH_TEST_DOCKER=1, else an embedded pgserver. Each test database is a
``CREATE DATABASE … TEMPLATE`` copy of a schema built once per session, made ahead and
dropped after by a background thread (Prefetcher)."""

from __future__ import annotations

import fcntl
import itertools
import os
import shutil
import tempfile
import threading
import warnings
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import anyio
import asyncpg

from listener.core.config import database_url_from_env
from listener.schema import migrations

_holding_exclusive = False


@contextmanager
def _server_lock(exclusive: bool) -> Iterator[None]:
    """A lock shared by the pytest-xdist workers of one run (none without xdist): every CREATE
    and DROP DATABASE of a worker holds it shared, a ``quiet_server`` test holds it exclusive,
    so no other worker's copy or drop holds the xmin horizon back while that test runs."""
    global _holding_exclusive
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID")
    # the quiet test's own copy, made while it holds the lock exclusive, must not wait for it
    if not run or _holding_exclusive:
        yield
        return
    path = Path(tempfile.gettempdir()) / f"atlas-orch-test-{run}.lock"
    # a descriptor of its own each time: flock conflicts between descriptors of one process too
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        if exclusive:
            _holding_exclusive = True
        try:
            yield
        finally:
            if exclusive:
                _holding_exclusive = False
            fcntl.flock(fh, fcntl.LOCK_UN)


def with_database(url: str, dbname: str) -> str:
    """The same server URL pointing at another database (query string kept: socket hosts)."""
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + dbname))


# Copies kept ready per template: two let a long test bank one for the short ones after it.
PREFETCH_DEPTH = 2
# Finished databases dropped together (~13 MB each on disk meanwhile): see Prefetcher.
DROP_BATCH = 16

Job = tuple[str, str, "Future[str]"]


class Prefetcher:
    """One thread that makes the next copies of each template while a test runs and drops
    finished databases after it, so a test's setup takes a copy made during the test before.

    CREATE and DROP DATABASE are fsync-bound (IO wait, not CPU): a third of a second or more
    per test when they ran in its setup and teardown. A DROP DATABASE on PostgreSQL 15 also
    forces a checkpoint, which writes every dirty page on the server (another session's load
    too: one drop took seconds beside a benchmark); so finished databases are dropped
    ``DROP_BATCH`` at a time, one after another, and only the first of a batch finds much to
    write. Either statement holds a transaction id while it runs, and that id is in every
    snapshot on the server, so a test that needs the xmin horizon to pass its own transactions
    is marked ``quiet_server``: ``pause`` waits for the statement in flight and holds the rest
    until ``resume``."""

    def __init__(self, server: Server, depth: int = PREFETCH_DEPTH) -> None:
        self._server = server
        self._depth = depth
        self._cond = threading.Condition()
        # copies first: a test may be waiting for one; drops only free disk
        self._creates: deque[Job] = deque()
        self._drops: deque[Job] = deque()
        self._ready: dict[str | None, deque[Future[str]]] = {}
        self._paused = 0
        self._dropping = False
        self._busy = False
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="atlas-test-prefetch",
                                        daemon=True)
        self._thread.start()

    def take(self, template: str | None) -> str:
        """A fresh copy of ``template``: one made ahead when there is one, else one made now."""
        with self._cond:
            pool = self._ready.setdefault(template, deque())
            fut = None
            # while paused, a copy still queued would not come: make one here instead
            if pool and (not self._paused or pool[0].done()):
                fut = pool.popleft()
            while len(pool) < self._depth and not self._closed:
                name = self._server.new_name()
                queued: Future[str] = Future()
                self._creates.append((self._server.create_sql(name, template), name, queued))
                pool.append(queued)
            self._cond.notify_all()
        if fut is None:
            return self._server.create_now(template)
        return fut.result(timeout=300)

    def drop(self, name: str) -> None:
        """Drop ``name`` once no copy is wanted first."""
        with self._cond:
            self._drops.append((self._server.drop_sql(name), name, Future()))
            self._cond.notify_all()

    def discard(self, template: str | None) -> None:
        """Give up the copies of ``template`` made or queued ahead: no test will take one."""
        with self._cond:
            for fut in self._ready.pop(template, deque()):
                if not fut.cancel():
                    # running or made: drop it once it is there
                    fut.add_done_callback(self._drop_made)

    def _drop_made(self, fut: Future[str]) -> None:
        if not fut.cancelled() and fut.exception() is None:
            self.drop(fut.result())

    def pause(self) -> None:
        """Wait for the statement in flight, then hold the background work until ``resume``."""
        with self._cond:
            self._paused += 1
            self._cond.notify_all()
            while self._busy:
                self._cond.wait()

    def resume(self) -> None:
        with self._cond:
            self._paused = max(0, self._paused - 1)
            self._cond.notify_all()

    def close(self) -> None:
        """Stop: queued copies are not made, queued drops are done (Server.close sweeps up
        whatever is left)."""
        with self._cond:
            self._closed = True
            self._paused = 0
            for _, _, fut in self._creates:
                fut.cancel()
            self._creates.clear()
            self._cond.notify_all()
        self._thread.join(timeout=300)

    def _next(self) -> Job | None:
        """The next statement to run: a copy first (a test may be waiting for it), else a drop
        once ``DROP_BATCH`` have gathered, and the rest of them after it (all of them at close)."""
        with self._cond:
            while True:
                if self._paused:
                    self._cond.wait()
                    continue
                if self._creates:
                    job = self._creates.popleft()
                elif self._drops and (self._closed or self._dropping
                                      or len(self._drops) >= DROP_BATCH):
                    job = self._drops.popleft()
                    self._dropping = bool(self._drops)
                elif self._closed:
                    return None
                else:
                    self._cond.wait()
                    continue
                self._busy = True
                return job

    def _work(self) -> None:
        while (job := self._next()) is not None:
            statement, name, fut = job
            try:
                if fut.set_running_or_notify_cancel():
                    try:
                        anyio.run(self._server.admin, statement)
                    except Exception as exc:
                        fut.set_exception(exc)
                    else:
                        fut.set_result(name)
            finally:
                with self._cond:
                    self._busy = False
                    self._cond.notify_all()


@dataclass
class Server:
    admin_url: str
    prefix: str = field(default_factory=lambda: f"atlas_test_{os.getpid()}")
    _counter: Iterator[int] = field(default_factory=itertools.count)
    templates: dict[str, str] = field(default_factory=dict)
    _keep: Any = None
    # ATLAS_ORCH_TEST_PREFETCH=0: every copy and drop in the test's own setup and teardown
    prefetch: bool = field(
        default_factory=lambda: os.environ.get("ATLAS_ORCH_TEST_PREFETCH", "1") != "0")
    _bg: Prefetcher | None = None

    def url(self, dbname: str) -> str:
        return with_database(self.admin_url, dbname)

    async def admin(self, sql: str) -> None:
        """Run ``sql`` on the server's admin database (a CREATE or DROP DATABASE: under the
        workers' shared lock, see ``_server_lock``)."""
        with _server_lock(exclusive=False):
            conn = await asyncpg.connect(self.admin_url)
            try:
                await conn.execute(sql)
            finally:
                await conn.close()

    def new_name(self) -> str:
        return f"{self.prefix}_{next(self._counter)}"

    def create_sql(self, name: str, template: str | None) -> str:
        tpl = f" TEMPLATE {self.templates[template]}" if template else ""
        return f"CREATE DATABASE {name}{tpl}"

    @staticmethod
    def drop_sql(name: str) -> str:
        return f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"

    def create_now(self, template: str | None = None) -> str:
        """A fresh database made in this thread, now."""
        name = self.new_name()
        anyio.run(self.admin, self.create_sql(name, template))
        return name

    def create(self, template: str | None = None) -> str:
        """A fresh database (a copy of ``template`` when given); returns its name."""
        if not self.prefetch:
            return self.create_now(template)
        if self._bg is None:
            self._bg = Prefetcher(self)
        return self._bg.take(template)

    def drop(self, name: str) -> None:
        """Drop ``name``: in the background once the prefetcher runs, some time later."""
        if self._bg is None:
            self.drop_now(name)
        else:
            self._bg.drop(name)

    def drop_now(self, name: str) -> None:
        """Drop ``name`` before returning: for a test that needs the database gone."""
        anyio.run(self.admin, self.drop_sql(name))

    @contextmanager
    def quiet(self) -> Iterator[None]:
        """No CREATE or DROP DATABASE of the session's, nor of another xdist worker's, runs on
        the server meanwhile."""
        if self._bg is not None:
            self._bg.pause()
        try:
            # after the pause: this worker's prefetcher holds no shared lock now
            with _server_lock(exclusive=True):
                yield
        finally:
            if self._bg is not None:
                self._bg.resume()

    def build_template(self, key: str, mode: str) -> None:
        name = f"{self.prefix}_tpl_{key}"
        anyio.run(self.admin, self.drop_sql(name))
        anyio.run(self.admin, f"CREATE DATABASE {name}")

        async def install() -> None:
            conn = await asyncpg.connect(self.url(name))
            try:
                await migrations.install(conn, mode, progress=False)
            finally:
                await conn.close()

        anyio.run(install)
        self.templates[key] = name

    def add_template(self, key: str, name: str) -> None:
        """Make the database ``name`` (no one connected to it any more) a template: ``create(key)``
        copies it. It is the caller's; ``drop_template`` gives it back."""
        self.templates[key] = name

    def drop_template(self, key: str) -> None:
        """Drop the template ``key`` and the copies of it made ahead."""
        if self._bg is not None:
            self._bg.discard(key)
        self.drop(self.templates.pop(key))

    def close(self) -> None:
        """Stop the background work and drop every database of this session's prefix: the
        templates, the copies made ahead and any a test left (also after Ctrl-C)."""
        try:
            if self._bg is not None:
                self._bg.close()
            anyio.run(self._sweep)
        finally:
            if self._keep is not None:
                self._keep()

    async def _sweep(self) -> None:
        pattern = self.prefix.replace("_", r"\_") + r"\_%"
        conn = await asyncpg.connect(self.admin_url)
        try:
            with _server_lock(exclusive=False):
                for row in await conn.fetch(
                        "SELECT datname FROM pg_database WHERE datname LIKE $1", pattern):
                    await conn.execute(self.drop_sql(row["datname"]))
        finally:
            await conn.close()


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
