"""Helpers for listener tests: run it in-process or as a real process, and audit its work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import anyio
import asyncpg

from listener.events.service import Listener, ListenerConfig, ListenerStats
from tests.conftest import REPO
from tests.helpers import sql, val


def listen_once(url: str, **cfg: Any) -> ListenerStats:
    """Run ``listen --once`` in this process and return what it did."""
    listener = Listener(ListenerConfig(url=url, once=True, **cfg))
    return anyio.run(listener.run)


def listen_once_while_open(url: str, statement: str, committed: str | None = None) -> int:
    """Run ``listen --once`` while a transaction that ran ``statement`` is still open (and
    after another one committed ``committed``), then commit it; the events it consumed."""

    async def go() -> int:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute("BEGIN")
            await conn.execute(statement)
            if committed is not None:
                other = await asyncpg.connect(url)
                await other.execute(committed)
                await other.close()
            stats = await Listener(ListenerConfig(url=url, once=True, once_wait=0)).run()
            await conn.execute("COMMIT")
            return stats.events
        finally:
            await conn.close()

    return anyio.run(go)


def stage_rows(url: str, system: str, table: str, n: int, tag: str = "t") -> None:
    """Stage ``n`` rows with one statement (one statement-level event)."""
    sql(url, """
        INSERT INTO trapper.staged_records (source_system, source_table, source_row_id,
                                            row_hash, payload)
        SELECT $1, $2, $3 || '-' || g, md5($3 || g), jsonb_build_object('n', g)
        FROM generate_series(1, $4) g""", system, table, f"{tag}{time.monotonic_ns()}", n)


def audit(url: str) -> dict[str, int]:
    """Events with no log row, events with more than one, and all events."""
    row = sql(url, """
        WITH c AS (SELECT e.event_id,
                          (SELECT count(*) FROM trapper.orchestrator_job_log l
                           WHERE l.event_id = e.event_id) AS n
                   FROM trapper.orchestrator_events e)
        SELECT count(*) FILTER (WHERE n = 0) AS missing,
               count(*) FILTER (WHERE n > 1) AS doubled,
               count(*) AS events
        FROM c""")[0]
    return dict(row)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    """Poll until ``predicate`` returns something truthy; fail the test with ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


class ListenerProcess:
    """``atlas-orch listen`` as a real process, its JSON log lines in a file."""

    def __init__(self, url: str, log_dir: Path, name: str, *args: str,
                 env: dict[str, str] | None = None) -> None:
        self.log_path = log_dir / f"{name}.log"
        extra_env = env
        env = {k: v for k, v in os.environ.items()
               if k not in ("DATABASE_URL", "ATLAS_ORCH_DATABASE_URL")}
        env["DATABASE_URL"] = url
        env.update(extra_env or {})
        self._log = self.log_path.open("w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "listener", "listen", "--poll-interval", "0.2", *args],
            stdout=subprocess.DEVNULL, stderr=self._log, env=env, cwd=REPO,
            stdin=subprocess.DEVNULL,
        )

    @property
    def identity_suffix(self) -> str:
        return f":{self.proc.pid}"

    def log(self) -> str:
        return self.log_path.read_text()

    def leads(self, url: str) -> bool:
        holder = val(url, "SELECT holder FROM trapper.orchestrator_listener_checkpoint "
                          "WHERE consumer = 'listener'")
        return bool(holder and holder.endswith(self.identity_suffix)
                    and '"leader_acquired"' in self.log())

    def signal(self, signum: int) -> None:
        self.proc.send_signal(signum)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)
        self._log.close()

    def stop(self, timeout: float = 20) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self._log.close()
