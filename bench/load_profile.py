"""Where the atlas load spends its time, per SQL function (work, not wall time).

    .venv/bin/python bench/load_profile.py [--workers 2] [--top 25]

The same load as bench/identity.py (ingest every file, process until the queue is empty,
link) on a fresh database with ``track_functions = 'all'``, then the functions with the
most self time from ``pg_stat_user_functions`` (time inside the function itself, not in the
functions it calls; SQL functions the planner inlines count in their caller), with their
calls and microseconds a call. On a shared machine the wall time is noise; the share each
function takes of the total self time, and its cost a call, are what to compare before and
after a change (docs/benchmarks.md, "Identity").
"""

from __future__ import annotations

import argparse

import anyio
import asyncpg
from _db import atlas_world, fresh_database, load_world

from listener.core import db

TOP_FUNCTIONS = """
SELECT schemaname || '.' || funcname AS fn, calls, self_time, total_time
FROM pg_stat_user_functions
ORDER BY self_time DESC
"""


async def main(workers: int, top: int) -> None:
    world = atlas_world()
    async with fresh_database("with-core") as url:
        admin = await asyncpg.connect(db.resolve_url(None, announce=False))
        name = url.rsplit("/", 1)[1]
        # every new session of this database counts its function calls
        await admin.execute(f"ALTER DATABASE {name} SET track_functions = 'all'")
        await admin.close()
        conn = await asyncpg.connect(url)
        times, stats = await load_world(conn, url, world, workers)
        await conn.close()
        # the workers' sessions have ended; their counts reach the statistics shortly after
        await anyio.sleep(1.5)
        conn = await asyncpg.connect(url)
        rows = await conn.fetch(TOP_FUNCTIONS)
        await conn.close()
    total_self = sum(r["self_time"] for r in rows) or 1.0
    print(f"records processed {stats.records_processed:,}, failed {stats.records_failed:,}")
    print("phases: " + ", ".join(f"{k} {v:.1f}s" for k, v in times.items())
          + f"; whole load {sum(times.values()):.1f}s (wall time: noisy on a shared machine)")
    print(f"self time in SQL functions: {total_self / 1000:.1f}s")
    print(f"{'function':48s} {'calls':>9s} {'self s':>8s} {'share':>6s} {'total s':>8s} "
          f"{'us/call':>8s}")
    for r in rows[:top]:
        print(f"{r['fn'][:48]:48s} {r['calls']:9,d} {r['self_time'] / 1000:8.2f} "
              f"{r['self_time'] / total_self:6.1%} {r['total_time'] / 1000:8.2f} "
              f"{1000 * r['self_time'] / max(r['calls'], 1):8.1f}")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--top", type=int, default=25)
    args = ap.parse_args()
    anyio.run(main, args.workers, args.top)
