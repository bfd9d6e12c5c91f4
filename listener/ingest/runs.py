"""The life of an ingest run: running, then completed, failed or abandoned.

A run is created with its session advisory lock held (``trapper.ingest_begin_run``, core
011) and keeps it until it ends. A run whose process died, or whose connection was cut, is
left ``running`` with its lock free: ``trapper.ingest_mark_abandoned()`` marks it
``abandoned``. The next ingest, the listener and ``atlas-orch verify`` call it
(:func:`mark_abandoned`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from listener.core import sql
from listener.core.logs import event

_SQL = sql.beside(__file__, "ingest")

log = logging.getLogger("atlas_orch.ingest")

Conn = asyncpg.Connection | PoolConnectionProxy

# What a dead connection raises; anything else from the database is a real answer.
CONNECTION_LOST = (asyncpg.InterfaceError, asyncpg.PostgresConnectionError,
                   asyncpg.AdminShutdownError, ConnectionError, OSError)


class AccountingError(Exception):
    """A run's counts do not add up: it must not complete."""


@dataclass(frozen=True)
class AbandonedRun:
    """A run found running with its session gone, now marked ``abandoned``."""

    ingest_run_id: int
    source_system: str
    source_table: str
    source_file: str | None
    started_at: Any
    backend_pid: int | None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)

    def describe(self) -> str:
        """One line for a person."""
        return (f"ingest run {self.ingest_run_id} ({self.source_system}/{self.source_table} "
                f"{self.source_file or '?'}) marked abandoned: its session ended before it "
                "finished")


async def start(conn: Conn, system: str, table: str, file: str, size: int, sha256: str,
                tool: str) -> int:
    """Create a running run, its lock held by this session; returns its id."""
    run_id: int = await conn.fetchval(_SQL["start_run"], system, table, file,
                                      size, sha256, tool)
    return run_id


async def finish(conn: Conn, run_id: int, *, read: int, new: int, duplicate: int,
                 rejected: int, merged: int) -> None:
    """Complete a run inside its staging transaction, or raise ``AccountingError``."""
    if read != new + duplicate + rejected + merged:
        raise AccountingError(
            f"ingest run {run_id}: read {read} != new {new} + duplicate {duplicate} + "
            f"rejected {rejected} + merged {merged}")
    done = await conn.fetchval(_SQL["finish_run"], run_id, read, new,
                               duplicate, rejected, merged)
    if done is None:
        raise AccountingError(
            f"ingest run {run_id}: its stored rejects are not the {rejected} counted, or it is "
            "no longer running")


async def fail(conn: Conn, run_id: int, error: str) -> bool:
    """Mark a running run failed with ``error``; False when that could not be written.

    A connection that is gone cannot write it: the run keeps ``running`` until a marker
    finds its lock free and marks it abandoned, which is logged here.
    """
    try:
        if conn.is_closed():
            raise ConnectionError("the connection is closed")
        await conn.fetchval(_SQL["fail_run"], run_id, error)
    except CONNECTION_LOST as exc:
        event(log, "ingest_run_left_running",
              f"ingest run {run_id} could not be marked failed ({type(exc).__name__}: {exc}); "
              "it will be marked abandoned once its session is gone",
              level=logging.WARNING, ingest_run_id=run_id, error=error)
        return False
    return True


async def release(conn: Conn, run_id: int) -> None:
    """Let go of the run's lock (a closed connection has already let go of it)."""
    if conn.is_closed():
        return
    try:
        await conn.fetchval(_SQL["release_run"], run_id)
    except CONNECTION_LOST as exc:   # the session is going: its locks go with it
        event(log, "ingest_run_release_failed",
              f"ingest run {run_id}: its lock was not released ({type(exc).__name__}: {exc})",
              level=logging.WARNING, ingest_run_id=run_id)


async def has_staging(conn: Conn) -> bool:
    """True when the database has the engines' staging table (``install --with-core`` or a
    host with the engines): where it is missing no file can be ingested."""
    return bool(await conn.fetchval(_SQL["has_staging"]))


async def mark_abandoned(conn: Conn) -> list[AbandonedRun]:
    """Mark every running run whose session is gone; returns those marked.

    Each is logged at INFO (callers tell the person; the ``ingest_failed`` anomaly alerts).
    A database without the engines' marker (a shadow host whose runs are its own) has
    nothing to mark.
    """
    q = _SQL
    if not await conn.fetchval(q["has_abandon_marker"]):
        return []
    marked = [AbandonedRun(**dict(r)) for r in await conn.fetch(q["mark_abandoned"])]
    for run in marked:
        event(log, "ingest_run_abandoned", run.describe(),
              ingest_run_id=run.ingest_run_id, source_system=run.source_system,
              source_table=run.source_table, source_file=run.source_file,
              backend_pid=run.backend_pid)
    return marked
