"""v_orchestrator_health at 10x the Atlas volumes: 1.72 million staged rows over the 15
sources (a few thousand still unprocessed), 10x the ingest runs and jobs, a 10-million-row
job log, a month of hourly buckets and 10,000 resolved anomalies per source beside three
open ones (the worst of which each row names); prints the view's median and worst latency over
repeated reads, against a plain `SELECT count(*)` of the sources table as the baseline.

    .venv/bin/python bench/health.py [--scale 10] [--log-rows 10000000]

Goal: v_orchestrator_health <= 200 ms.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import anyio
import asyncpg
from _db import LOG_MONTHS, deferred_indexes, fresh_database

ATLAS_STAGED = 172_313
FILL_STAGED = """
INSERT INTO trapper.staged_records (source_system, source_table, source_row_id, row_hash,
                                    payload, is_processed, processed_at, created_at)
SELECT $1, $2, 'r' || g, md5($1 || $2 || g), jsonb_build_object('n', g),
       g <= $4, CASE WHEN g <= $4 THEN now() END, now() - (g % 720 || ' hours')::interval
FROM generate_series(1, $3) g
"""
FILL_RUNS = """
INSERT INTO trapper.ingest_runs (source_system, source_table, source_file, rows_read, rows_new,
                                 status, started_at, finished_at)
SELECT source_system, source_table, 'bench.csv', 1000, 1000, 'completed',
       now() - (w || ' days')::interval, now() - (w || ' days')::interval
FROM trapper.orchestrator_sources, generate_series(1, $1) w
"""
FILL_JOBS = """
INSERT INTO trapper.processing_jobs (source_system, source_table, status, queued_at,
                                     started_at, completed_at)
SELECT source_system, source_table,
       (ARRAY['completed', 'completed', 'completed', 'failed', 'dead_letter'])[1 + j % 5],
       now() - (j || ' hours')::interval, now() - (j || ' hours')::interval,
       now() - (j || ' hours')::interval
FROM trapper.orchestrator_sources, generate_series(1, $1) j
"""
FILL_HOURLY = """
INSERT INTO trapper.orchestrator_source_hourly (source_system, source_table, hour, staged,
                                                routed, errors)
SELECT source_system, source_table, date_trunc('hour', now()) - (h || ' hours')::interval,
       100, 90, h % 3
FROM trapper.orchestrator_sources, generate_series(0, 24 * 30) h
"""
# The anomalies' history: many resolved ones (one row per key, reopened in place) and a few
# open per source, of each severity, that v_orchestrator_health ranks for worst_anomaly
FILL_ANOMALIES = """
INSERT INTO trapper.orchestrator_anomalies (anomaly_key, kind, severity, source_system,
    source_table, summary, first_seen, last_seen, resolved_at)
SELECT 'bench:' || source_system || '/' || source_table || ':' || a,
       (ARRAY['batch_volume', 'schema_drift', 'implausible_value'])[1 + a % 3],
       (ARRAY['info', 'warning', 'critical'])[1 + a % 3], source_system, source_table,
       'bench anomaly', now() - (a || ' hours')::interval, now() - (a || ' hours')::interval,
       CASE WHEN a > 3 THEN now() - (a || ' hours')::interval END
FROM trapper.orchestrator_sources, generate_series(1, $1) a
"""
FILL_LOG = """
INSERT INTO trapper.orchestrator_job_log (action, source_system, source_table,
    source_record_id, decision_reason, logged_at)
SELECT (ARRAY['routed', 'skipped', 'staged', 'entity_created'])[1 + i % 4], 'clinichq',
       'owner_info', 'r' || i, 'bench row', now() - (i || ' seconds')::interval
FROM generate_series($1::bigint, $2::bigint) i
"""


async def timed(conn: asyncpg.Connection, query: str, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t = time.perf_counter()
        await conn.fetch(query)
        out.append((time.perf_counter() - t) * 1000)
    return out


async def main(scale: int, log_rows: int, reads: int) -> None:
    async with fresh_database() as url:
        conn = await asyncpg.connect(url)
        t = time.perf_counter()
        sources = await conn.fetch("SELECT source_system, source_table FROM "
                                   "trapper.orchestrator_sources ORDER BY 1, 2")
        per = ATLAS_STAGED * scale // len(sources)
        for s in sources:
            # the last 300 rows of each source are still waiting to be processed
            await conn.execute(FILL_STAGED, s["source_system"], s["source_table"], per,
                               per - 300)
        await conn.execute(FILL_RUNS, 10 * scale)
        await conn.execute(FILL_JOBS, 20 * scale)
        await conn.execute(FILL_HOURLY)
        await conn.execute(FILL_ANOMALIES, 1000 * scale)
        # the months the rows fall in, as the listener would have made them (orchestrator 018)
        await conn.fetchval(LOG_MONTHS, float(log_rows))
        step = 1_000_000
        # the months' heaps first, their indexes after: the same log, in minutes
        # (bench/_db.py deferred_indexes)
        async with deferred_indexes(conn, "trapper.orchestrator_job_log"):
            for start in range(1, log_rows + 1, step):
                await conn.execute(FILL_LOG, start, min(start + step - 1, log_rows))
        await conn.execute("VACUUM ANALYZE")
        staged = await conn.fetchval("SELECT count(*) FROM trapper.staged_records")
        print(f"loaded {staged:,} staged rows, {log_rows:,} log rows and the rest in "
              f"{time.perf_counter() - t:.0f}s", file=sys.stderr)
        base = await timed(conn, "SELECT count(*) FROM trapper.orchestrator_sources", reads)
        health = await timed(conn, "SELECT * FROM trapper.v_orchestrator_health", reads)
        statuses = await conn.fetch("SELECT health_status, count(*) FROM "
                                    "trapper.v_orchestrator_health GROUP BY 1 ORDER BY 1")
        anomalies = await timed(conn, "SELECT * FROM trapper.v_routing_anomalies", 5)
        await conn.close()
    print(f"v_orchestrator_health at {scale}x Atlas ({staged:,} staged rows): median "
          f"{statistics.median(health):.1f} ms, worst {max(health):.1f} ms over {reads} reads "
          f"(baseline count(*) of the sources {statistics.median(base):.2f} ms; "
          f"ratio {statistics.median(health) / statistics.median(base):.0f}x)  "
          f"(goal <= 200 ms)")
    print("statuses: " + ", ".join(f"{r[0]} {r[1]}" for r in statuses))
    print(f"v_routing_anomalies: median {statistics.median(anomalies):.1f} ms")


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=int, default=10)
    ap.add_argument("--log-rows", type=int, default=10_000_000)
    ap.add_argument("--reads", type=int, default=30)
    a = ap.parse_args()
    anyio.run(main, a.scale, a.log_rows, a.reads)
