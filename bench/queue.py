"""Queue throughput: drain 50,000 no-op jobs with 2 workers through claim_jobs/work_jobs,
against the bare SKIP LOCKED claim-and-complete loop at the same batch size, in one run.

    .venv/bin/python bench/queue.py [--jobs 50000] [--batch 100] [--rounds 3]

Goal: >= 0.5x the bare loop (per-job commits cap near 1,600/s on this kind of machine).
The goal is the engine's queue, so the figure is taken on a core-only install; the same drain
with the orchestrator and its shadow triggers installed (a job_started and a job_completed event
per job, the dependency-aware claim) is printed beside it.
"""

from __future__ import annotations

import argparse
import time

import anyio
import asyncpg
from _db import fresh_database, median  # also moves this folder off the front of sys.path

from listener.queue.worker import Worker

SETUP_JOBS = """
INSERT INTO trapper.processing_jobs (source_system, source_table, trigger_type)
SELECT 'bench', 'noop', 'bench' FROM generate_series(1, $1)
"""
BARE_SETUP = """
DROP TABLE IF EXISTS bare_jobs;
CREATE TABLE bare_jobs (id bigserial PRIMARY KEY, status text NOT NULL DEFAULT 'queued',
                        priority int NOT NULL DEFAULT 0, queued_at timestamptz DEFAULT now());
CREATE INDEX ON bare_jobs (priority DESC, queued_at) WHERE status = 'queued';
"""
BARE_CLAIM = """
UPDATE bare_jobs SET status = 'running'
WHERE id IN (SELECT id FROM bare_jobs WHERE status = 'queued'
             ORDER BY priority DESC, queued_at LIMIT $1 FOR UPDATE SKIP LOCKED)
RETURNING id
"""
BARE_DONE = "UPDATE bare_jobs SET status = 'done' WHERE id = ANY($1::bigint[])"


async def bare_loop(url: str, batch: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        while True:
            ids = [r["id"] for r in await conn.fetch(BARE_CLAIM, batch)]
            if not ids:
                return
            await conn.execute(BARE_DONE, ids)
    finally:
        await conn.close()


async def drain(n_workers: int, fn: object) -> float:
    t = time.perf_counter()
    async with anyio.create_task_group() as tg:
        for _ in range(n_workers):
            tg.start_soon(fn)  # type: ignore[arg-type]
    return time.perf_counter() - t


async def measure(mode: str, jobs: int, batch: int, rounds: int) -> tuple[float, float]:
    async with fresh_database(mode) as url:
        conn = await asyncpg.connect(url)
        await conn.execute("""INSERT INTO trapper.data_engine_processors
            (processor_name, source_system, source_table, processor_function)
            VALUES ('bench_noop', 'bench', 'noop', 'trapper.processor_noop')""")
        ours_t, bare_t = [], []
        for _ in range(rounds):
            await conn.execute(BARE_SETUP)
            await conn.execute("INSERT INTO bare_jobs (status) SELECT 'queued' "
                               "FROM generate_series(1, $1)", jobs)
            await conn.execute("VACUUM ANALYZE bare_jobs")
            bare_t.append(await drain(2, lambda: bare_loop(url, batch)))
            assert await conn.fetchval("SELECT count(*) FROM bare_jobs "
                                       "WHERE status <> 'done'") == 0

            await conn.execute("TRUNCATE trapper.processing_jobs")
            await conn.execute(SETUP_JOBS, jobs)
            await conn.execute("VACUUM ANALYZE trapper.processing_jobs")

            async def ours() -> None:
                await Worker(url, job_batch=batch, record_budget=500).run(until_empty=True)

            ours_t.append(await drain(2, ours))
            left = await conn.fetchval("SELECT count(*) FROM trapper.processing_jobs "
                                       "WHERE status <> 'completed'")
            assert left == 0, left
        await conn.close()
    return median(bare_t), median(ours_t)


async def main(jobs: int, batch: int, rounds: int) -> None:
    print(f"{jobs:,} no-op jobs, 2 workers, batch {batch}, median of {rounds}")
    for mode, label in (("core-only", "the engine's queue (core-only install)"),
                        ("with-core", "with the orchestrator and shadow triggers")):
        b, o = await measure(mode, jobs, batch, rounds)
        print(f"{label}: bare SKIP LOCKED claim+complete {jobs / b:,.0f} jobs/s; "
              f"atlas-orch worker (claim + work_jobs) {jobs / o:,.0f} jobs/s -> "
              f"{b / o:.2f}x" + ("  (goal >= 0.5x)" if mode == "core-only" else ""))


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=50_000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    anyio.run(main, a.jobs, a.batch, a.rounds)
