"""Explaining a job: its state, its processor, its retries, and what it waits for."""

from __future__ import annotations

import uuid
from typing import Any

import asyncpg

from listener.core import sql
from listener.core.errors import UsageError, UserError

_SQL = sql.beside(__file__, "worker")


async def explain(conn: asyncpg.Connection, job_id: str) -> dict[str, Any]:
    """Everything a person needs to know about why a job is where it is."""
    q = _SQL
    try:
        jid = uuid.UUID(job_id)
    except ValueError as exc:
        raise UsageError(f"{job_id!r} is not a job id (a UUID)") from exc
    row = await conn.fetchrow(q["explain_job"], jid)
    if row is None:
        raise UserError(f"no job {job_id}")
    job = dict(row)
    blockers: list[dict[str, Any]] = []
    if await conn.fetchval(q["has_orchestrator_claim"]):
        blockers = [dict(r) for r in await conn.fetch(q["job_blockers"], job["source_system"],
                                                       job["source_table"])]
    waiting = [b for b in blockers if b["pending_jobs"] or b["unprocessed_records"]]
    status = job["status"]
    if status in ("queued", "retry_pending") and waiting:
        why = "waits for " + ", ".join(
            f"{b['depends_on']} ({b['pending_jobs']} job(s), {b['unprocessed_records']} "
            f"unprocessed record(s)): {b['reason']}" for b in waiting)
    elif status == "retry_pending":
        why = f"retries at {job['next_retry_at']} after: {job['last_error']}"
    elif status == "dead_letter":
        why = f"dead-lettered after {job['attempt_count']} attempt(s): {job['last_error']}"
    elif status == "processing":
        why = f"held by {job['worker_id']}, last heartbeat {job['heartbeat_at']}"
    elif status == "queued" and job["processor_name"] is None:
        why = "no active processor is registered for this source table"
    elif status == "queued":
        why = "ready: the next free worker claims it"
    else:
        why = status
    return {"job": job, "dependencies": blockers, "explanation": why}
