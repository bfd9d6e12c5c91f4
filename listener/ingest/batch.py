"""Several files in one command (``atlas-orch ingest SRC a.csv b.csv``, ``--manifest``): each
file stands alone.

A file that does not go in (unreadable, refused, or any other failure) is one failed entry of
the report and the next file proceeds; a connection that broke is opened again for the next
file. Before each file, runs whose session is gone are marked abandoned
(``listener/ingest/runs.py``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

from listener.core import db
from listener.core.errors import UserError
from listener.core.logs import event
from listener.ingest import runs as ingest_runs
from listener.ingest.runs import AbandonedRun
from listener.ingest.staging import IngestFailed, IngestResult

log = logging.getLogger("atlas_orch.ingest")

APPLICATION_NAME = "atlas-orch ingest"


@dataclass(frozen=True)
class PlannedFile:
    """One file to ingest into one source table."""

    path: Path
    source_system: str
    source_table: str
    fmt: str | None = None


IngestOne = Callable[[asyncpg.Connection, PlannedFile], Awaitable[IngestResult]]
Notify = Callable[[IngestResult], None]
NotifyAbandoned = Callable[[AbandonedRun], None]


@dataclass
class BatchReport:
    """Every file of the command with what became of it, and the runs marked abandoned."""

    results: list[IngestResult] = field(default_factory=list)
    abandoned: list[AbandonedRun] = field(default_factory=list)

    @property
    def failed(self) -> list[IngestResult]:
        return [r for r in self.results if r.status != "completed"]

    @property
    def ok(self) -> bool:
        return not self.failed

    def as_dict(self) -> dict[str, Any]:
        """The ``--json`` document (``runs`` and ``refused`` as before, one entry per file)."""
        return {
            "ok": self.ok,
            "files": len(self.results),
            "completed": len(self.results) - len(self.failed),
            "failed": len(self.failed),
            "runs": [r.as_dict() for r in self.results],
            "refused": [r.describe_failure() for r in self.failed],
            "abandoned_runs": [a.as_dict() for a in self.abandoned],
        }


def _not_ingested(item: PlannedFile, error: str) -> IngestResult:
    """A failed entry for a file that never got a run of its own."""
    return IngestResult(item.source_system, item.source_table, item.path.name,
                        path=str(item.path), status="failed", error=error)


async def _usable(conn: asyncpg.Connection, url: str) -> asyncpg.Connection:
    """The connection, or a new one when the last file's broke (raises ``UserError``)."""
    if not conn.is_closed():
        return conn
    event(log, "ingest_reconnecting", "the connection was lost; opening a new one",
          level=logging.WARNING)
    return await db.connect(url, application_name=APPLICATION_NAME)


async def _one(conn: asyncpg.Connection, item: PlannedFile, ingest_one: IngestOne,
               report: BatchReport, on_abandoned: NotifyAbandoned | None) -> IngestResult:
    """One file, whatever happens to it."""
    try:
        for run in await ingest_runs.mark_abandoned(conn):
            report.abandoned.append(run)
            if on_abandoned:
                on_abandoned(run)
        return await ingest_one(conn, item)
    except IngestFailed as exc:
        return exc.result
    except UserError as exc:
        return _not_ingested(item, str(exc))
    except Exception as exc:   # before its run began (the database went away, say)
        result = _not_ingested(item, f"{type(exc).__name__}: {exc}")
        event(log, "ingest_file_failed", result.describe_failure(), level=logging.ERROR,
              path=str(item.path), error_type=type(exc).__name__, error=str(exc))
        return result


async def ingest_files(
    url: str, plan: Sequence[PlannedFile], ingest_one: IngestOne, *,
    on_result: Notify | None = None, on_abandoned: NotifyAbandoned | None = None,
) -> BatchReport:
    """Ingest every file of ``plan`` in order, each on its own; ``on_result`` hears of each
    as it ends. Only a database unreachable at the start raises (``UserError``)."""
    report = BatchReport()
    conn = await db.connect(url, application_name=APPLICATION_NAME)
    try:
        for i, item in enumerate(plan):
            try:
                conn = await _usable(conn, url)
            except UserError as exc:
                for rest in plan[i:]:
                    report.results.append(_not_ingested(rest, f"not ingested: {exc}"))
                    if on_result:
                        on_result(report.results[-1])
                break
            result = await _one(conn, item, ingest_one, report, on_abandoned)
            report.results.append(result)
            if on_result:
                on_result(result)
    finally:
        if not conn.is_closed():
            await conn.close()
    return report
