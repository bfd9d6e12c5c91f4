"""History on day one, at Atlas scale: the atlas world loaded into the engines alone, then
the shadow install, then `atlas-orch backfill`, timed.

    ATLAS_ORCH_BENCH_WORLD=/tmp/w18backfill-bench .venv/bin/python bench/backfill.py [--batch N]

Prints the log rows written by stream, the source rows read per second, and the ratio to a
baseline measured in the same process on the same database: copying the same source rows
into a scratch table (what reading and writing them costs at the least). The machine is
shared and noisy, so read the ratio, not the seconds.
"""

from __future__ import annotations

import argparse
import time

import anyio
import asyncpg
from _db import atlas_world, fresh_database

from listener.admin import backfill
from listener.ingest import staging as ingest
from listener.queue.worker import drain_queue
from listener.schema import migrations

BASELINE = """
    CREATE TEMP TABLE scratch_decisions AS SELECT * FROM trapper.data_engine_match_decisions;
    CREATE TEMP TABLE scratch_sources AS SELECT * FROM trapper.entity_sources
        WHERE action = 'created';
    CREATE TEMP TABLE scratch_staged AS SELECT id, source_system, source_table, created_at
        FROM trapper.staged_records;
    DROP TABLE scratch_decisions, scratch_sources, scratch_staged;
"""


async def main(batch: int, workers: int) -> None:
    world = atlas_world()
    async with fresh_database("core-only") as url:
        conn = await asyncpg.connect(url)
        t = time.perf_counter()
        for e in ingest.read_manifest(world / "manifest.json"):
            await ingest.ingest_file(conn, e.path, e.source_system, e.source_table, fmt=e.fmt)
        await drain_queue(url, workers=workers, job_batch=1)
        load = time.perf_counter() - t
        counts = await conn.fetchrow("""
            SELECT (SELECT count(*) FROM trapper.staged_records) AS staged,
                   (SELECT count(*) FROM trapper.data_engine_match_decisions) AS decisions,
                   (SELECT count(*) FROM trapper.entity_sources) AS entity_sources,
                   (SELECT count(*) FROM trapper.processing_jobs) AS jobs""")
        assert counts is not None
        print(f"core-only load {load:.1f}s: " + ", ".join(f"{k} {v:,}"
                                                        for k, v in counts.items()))
        await migrations.install(conn, "shadow", progress=False)
        t = time.perf_counter()
        await conn.execute(BASELINE)
        base = time.perf_counter() - t
        result = await backfill.run(conn, batch=batch, progress=False)
        again = await backfill.run(conn, batch=batch, progress=False)
        await conn.close()
    rate = result.source_rows / result.seconds if result.seconds else 0.0
    print("backfill: " + ", ".join(f"{s} {n:,}" for s, n in result.rows_written.items())
          + f"; {result.total:,} log rows from {result.source_rows:,} source rows in "
          f"{result.seconds:.2f}s ({rate:,.0f} source rows/s, "
          f"{result.total / result.seconds if result.seconds else 0:,.0f} log rows/s), "
          f"{result.batches} batches of {batch}")
    print(f"baseline (copy the same rows) {base:.2f}s; backfill / baseline "
          f"{result.seconds / base if base else 0:.1f}x")
    print(f"second run: {again.total} rows written in {again.seconds:.2f}s")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=backfill.DEFAULT_BATCH)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    anyio.run(main, args.batch, args.workers)
