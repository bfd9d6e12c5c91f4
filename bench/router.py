"""Router throughput: route >= 50,000 client_survey rows with the decision log on, against
the same router with logging switched off, in one run; then the latency of the seed's
"what happened to this record" and "where did this entity come from" queries with
10 million log rows present.

    .venv/bin/python bench/router.py [--rows 50000] [--log-rows 10000000]

Goals: logging on >= 0.8x logging off; each query <= 10 ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import anyio
import asyncpg
from _db import LOG_MONTHS, fresh_database

from listener.ingest import staging as ingest
from synthetic.survey import write_survey

ROUTE = "SELECT count(trapper.route_staged_record(id, NULL, $1)) FROM trapper.staged_records " \
        "WHERE id = ANY ($2::bigint[])"
FILL_LOG = """
INSERT INTO trapper.orchestrator_job_log (action, source_system, source_table,
    source_record_id, staged_record_id, target_surface, target_entity_id, decision_reason,
    decision_details, logged_at)
SELECT (ARRAY['routed', 'merged', 'skipped', 'rejected'])[1 + i % 4], 'bench', 'rows',
       'r' || i, i, 'sot_people', md5(i::text)::uuid, 'bench row', '{}',
       now() - (i || ' seconds')::interval
FROM generate_series($1::bigint, $2::bigint) i
"""


async def route_all(conn: asyncpg.Connection, ids: list[int], log: bool) -> float:
    """Route in batches of 500 per transaction, refreshing statistics every 10,000 records
    as the worker does."""
    t = time.perf_counter()
    for i in range(0, len(ids), 500):
        async with conn.transaction():
            await conn.fetchval(ROUTE, log, ids[i:i + 500])
        if i and i % 10_000 == 0:
            await conn.fetchval("SELECT trapper.refresh_planner_statistics()")
    return time.perf_counter() - t


async def timed(conn: asyncpg.Connection, query: str, args: list[tuple[object, ...]]) -> float:
    samples = []
    for a in args:
        t = time.perf_counter()
        await conn.fetch(query, *a)
        samples.append((time.perf_counter() - t) * 1000)
    return statistics.median(samples)


async def main(rows: int, log_rows: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "survey.csv"
        write_survey(csv_path, rows, seed=7)
        on: list[float] = []
        off: list[float] = []
        # Each run in a fresh database: a TRUNCATE between runs left the planner believing
        # the tables empty, and the second run slowed to a crawl.
        for _ in range(rounds):
            for log in (False, True):
                async with fresh_database("with-core") as url:
                    conn = await asyncpg.connect(url)
                    await ingest.ingest_file(conn, csv_path, "client_survey", "responses")
                    ids = [r["id"] for r in await conn.fetch(
                        "SELECT id FROM trapper.staged_records ORDER BY id")]
                    (on if log else off).append(await route_all(conn, ids, log))
                    if log:
                        decisions = await conn.fetchval(
                            "SELECT count(*) FROM trapper.orchestrator_job_log")
                        if len(on) == rounds:
                            await latency(conn, log_rows)
                    await conn.close()
        t_on, t_off = min(on), min(off)
        print(f"{len(ids):,} client_survey rows; router, log off: {len(ids) / t_off:,.0f} "
              f"records/s; log on: {len(ids) / t_on:,.0f} records/s "
              f"({decisions:,} decisions logged)")
        print(f"ratio log on / log off: {t_off / t_on:.2f}x  (goal >= 0.8x)")


async def latency(conn: asyncpg.Connection, log_rows: int) -> None:
    have = await conn.fetchval("SELECT count(*) FROM trapper.orchestrator_job_log")
    t = time.perf_counter()
    # the months the rows fall in, as the listener would have made them (orchestrator 018)
    await conn.fetchval(LOG_MONTHS, float(log_rows))
    step = 1_000_000
    for start in range(1, log_rows - have + 1, step):
        await conn.execute(FILL_LOG, start, min(start + step - 1, log_rows - have))
    await conn.execute("VACUUM ANALYZE trapper.orchestrator_job_log")
    total = await conn.fetchval("SELECT count(*) FROM trapper.orchestrator_job_log")
    print(f"log filled to {total:,} rows in {time.perf_counter() - t:.0f}s")
    sample = await conn.fetch(
        "SELECT source_record_id, target_entity_id FROM trapper.orchestrator_job_log "
        "WHERE source_system = 'client_survey' AND target_entity_id IS NOT NULL "
        "ORDER BY random() LIMIT 50")
    what = await timed(conn, (
        "SELECT * FROM trapper.orchestrator_job_log WHERE source_system = $1 "
        "AND source_table = $2 AND source_record_id = $3 ORDER BY logged_at"),
        [("client_survey", "responses", r["source_record_id"]) for r in sample])
    where = await timed(conn, (
        "SELECT * FROM trapper.orchestrator_job_log WHERE target_entity_id = $1 "
        "ORDER BY logged_at"), [(r["target_entity_id"],) for r in sample])
    print(f"'what happened to this record?' median {what:.2f} ms (goal <= 10 ms)")
    print(f"'where did this entity come from?' median {where:.2f} ms (goal <= 10 ms)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=50_000)
    ap.add_argument("--log-rows", type=int, default=10_000_000)
    ap.add_argument("--rounds", type=int, default=1)
    a = ap.parse_args()
    anyio.run(main, a.rows, a.log_rows, a.rounds)
