"""Small helpers shared by tests: run SQL, write files."""

from __future__ import annotations

from typing import Any

import anyio
import asyncpg


def sql(url: str, query: str, *args: Any) -> list[asyncpg.Record]:
    """Run one query on a new connection and return its rows (sync, for test bodies)."""

    async def go() -> list[asyncpg.Record]:
        conn = await asyncpg.connect(url)
        try:
            return list(await conn.fetch(query, *args))
        finally:
            await conn.close()

    return anyio.run(go)


def val(url: str, query: str, *args: Any) -> Any:
    rows = sql(url, query, *args)
    return rows[0][0] if rows else None


def execute(url: str, script: str) -> None:
    async def go() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(script)
        finally:
            await conn.close()

    anyio.run(go)


def assert_accounted(url: str, run: dict[str, Any]) -> None:
    """The accounting rule, as printed and as stored: every row read is staged new, a
    duplicate, a stored reject, or a merged continuation line."""
    assert run["rows_read"] == (run["rows_new"] + run["rows_duplicate"] + run["rows_rejected"]
                                + run["rows_merged"]), run
    assert sum(run["rejects_by_reason"].values()) == run["rows_rejected"]
    stored = sql(url, """
        SELECT r.status, r.rows_read, r.rows_new, r.rows_duplicate, r.rows_rejected,
               r.rows_merged,
               (SELECT count(*) FROM trapper.ingest_rejects j
                WHERE j.ingest_run_id = r.ingest_run_id) AS rejects_stored,
               (SELECT count(*) FROM trapper.staged_records s
                WHERE s.ingest_run_id = r.ingest_run_id) AS staged
        FROM trapper.ingest_runs r WHERE r.ingest_run_id = $1""", run["ingest_run_id"])[0]
    assert stored["status"] == run["status"] == "completed"
    for column in ("rows_read", "rows_new", "rows_duplicate", "rows_rejected", "rows_merged"):
        assert stored[column] == run[column], column
    assert stored["rejects_stored"] == run["rows_rejected"]
    assert stored["staged"] == run["rows_new"]


async def flood_log(url: str) -> None:
    """Write ~24 MB of job-log rows in 3 s: more than a feed client that does not read can be
    sent before the server cuts it off as ``lagged`` (docs/api.md)."""
    conn = await asyncpg.connect(url)
    try:
        for _ in range(60):
            await conn.execute(
                "INSERT INTO trapper.orchestrator_job_log (action, source_system, "
                "source_table, decision_details) SELECT 'routed', 'slow', 'c', "
                "jsonb_build_object('pad', repeat('x', 20000)) "
                "FROM generate_series(1, 20)")
            await anyio.sleep(0.05)
    finally:
        await conn.close()
