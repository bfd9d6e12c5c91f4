"""Faults against a private PostgreSQL this test may restart: the listener SIGKILLed mid-batch,
its connections terminated by the server, and the server restarted, all while writers keep
committing. Afterwards every event has exactly one log row."""

from __future__ import annotations

import shutil
import signal
import tempfile
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import anyio
import asyncpg
import pytest

from listener.schema import migrations
from tests.helpers import sql
from tests.listening import ListenerProcess, audit, wait_for

pytestmark = pytest.mark.slow


@pytest.fixture
def private_pg() -> Iterator[tuple[str, object]]:
    """A PostgreSQL of this test's own (embedded pgserver), with everything installed."""
    import pgserver

    tmp = Path(tempfile.mkdtemp(prefix="atlas-orch-faults-"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        server = pgserver.get_server(tmp, cleanup_mode="stop")
    url = str(server.get_uri("postgres"))

    async def install() -> None:
        conn = await asyncpg.connect(url)
        try:
            await migrations.install(conn, "with-core", progress=False)
        finally:
            await conn.close()

    anyio.run(install)
    try:
        yield url, server
    finally:
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


class Writers:
    """Threads committing small staged batches until stopped, riding out outages."""

    def __init__(self, url: str, threads: int = 2) -> None:
        self.url = url
        self.committed = 0
        self.failed = 0
        self.errors: set[str] = set()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                         for i in range(threads)]

    def __enter__(self) -> Writers:
        for t in self._threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(30)

    def _run(self, n: int) -> None:
        async def go() -> None:
            i = 0
            conn: asyncpg.Connection | None = None
            while not self._stop.is_set():
                try:
                    if conn is None or conn.is_closed():
                        conn = await asyncpg.connect(self.url, timeout=5)
                    i += 1
                    await conn.execute(
                        "INSERT INTO trapper.staged_records (source_system, source_table, "
                        "source_row_id, row_hash, payload) SELECT 'clinichq', 'owner_info', "
                        f"'w{n}-{i}-' || g, md5('w{n}-{i}-' || g), '{{}}' "
                        "FROM generate_series(1, 3) g")
                    with self._lock:
                        self.committed += 1
                except Exception as exc:  # an outage is what this test makes; count it
                    with self._lock:
                        self.failed += 1
                        self.errors.add(type(exc).__name__)
                    conn = None
                    await anyio.sleep(0.2)
                await anyio.sleep(0.005)
            if conn is not None and not conn.is_closed():
                await conn.close()

        anyio.run(go)


def _listener_backends(url: str) -> list[int]:
    return [r["pid"] for r in sql(url, "SELECT pid FROM pg_stat_activity "
                                       "WHERE application_name LIKE 'atlas-orch listen%'")]


def test_no_event_lost_or_doubled_through_kill_terminate_and_restart(
    private_pg: tuple[str, object], tmp_path: Path
) -> None:
    url, server = private_pg
    from pgserver._commands import pg_ctl

    first = ListenerProcess(url, tmp_path, "first", "--batch", "5")
    second: ListenerProcess | None = None
    try:
        wait_for(lambda: first.leads(url), 20, "the first listener to lead")
        with Writers(url) as writers:
            wait_for(lambda: audit(url)["events"] > 200, 30, "a backlog of events")
            # 1. SIGKILL in the middle of its pages
            first.kill()
            second = ListenerProcess(url, tmp_path, "second", "--batch", "5")
            wait_for(lambda: second is not None and second.leads(url), 20, "a new leader")
            wait_for(lambda: writers.committed > 400, 30, "more writes")

            # 2. the server terminates both of its connections
            killed = _listener_backends(url)
            assert len(killed) == 2
            sql(url, "SELECT pg_terminate_backend(pid) FROM unnest($1::int[]) AS pid", killed)
            wait_for(lambda: set(_listener_backends(url)) - set(killed), 30,
                     "the listener to reconnect")
            before_restart = writers.committed
            wait_for(lambda: writers.committed > before_restart + 100, 30, "more writes")

            # 3. the server restarts under everyone
            pg_ctl(["-w", "-m", "fast", "restart"], pgdata=server.pgdata,  # type: ignore[attr-defined]
                   user=server.system_user, timeout=60)  # type: ignore[attr-defined]
            after_restart = writers.committed
            wait_for(lambda: writers.committed > after_restart + 100, 60,
                     f"writes after the restart (writers saw {writers.errors})")
        assert second.proc.poll() is None, "the listener died instead of reconnecting"
        events = sql(url, "SELECT count(*) FROM trapper.orchestrator_events")[0][0]
        assert events >= writers.committed
        wait_for(lambda: audit(url)["missing"] == 0, 60, "the listener to catch up")
        assert audit(url) == {"missing": 0, "doubled": 0, "events": events}
        assert '"reconnecting"' in second.log()
        # the counters saw each staged row once
        staged = sql(url, "SELECT count(*) FROM trapper.staged_records")[0][0]
        wait_for(lambda: sql(url, "SELECT total_records_ingested FROM "
                                  "trapper.orchestrator_sources WHERE source_system = "
                                  "'clinichq' AND source_table = 'owner_info'")[0][0] == staged,
                 30, "the counters to settle")
    finally:
        first.kill()
        if second is not None:
            second.signal(signal.SIGTERM)
            assert second.stop() == 0

