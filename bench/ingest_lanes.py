"""The whole load's ingest phase alone (bench/_db.py ``ingest_world``: every file of the atlas
world's manifest and the onboarded source), in one lane and in two (``atlas-orch ingest
--jobs``), alternately, each into a fresh database, in the same run:

    .venv/bin/python bench/ingest_lanes.py [--rounds 2] [--lanes 2]

Prints each round's wall time, the medians, their ratio and the load average (the machine is
shared: read the ratio), and checks that both give the same staged rows, runs and counts.
"""

from __future__ import annotations

import argparse
import os
import time

import anyio
import asyncpg
from _db import atlas_world, fresh_database, ingest_world, median

# What a load staged, without its ids: (source, row id, hash) of every staged row, and each
# run's file with its counts.
STAGED = """SELECT source_system, source_table, source_row_id, row_hash, source_file
            FROM trapper.staged_records"""
RUNS = """SELECT source_system, source_table, source_file, status, rows_read, rows_new,
                 rows_duplicate, rows_rejected, rows_merged FROM trapper.ingest_runs"""


async def one(world: object, lanes: int) -> tuple[float, tuple[frozenset, frozenset]]:
    async with fresh_database("with-core") as url:
        conn = await asyncpg.connect(url)
        try:
            t = time.perf_counter()
            await ingest_world(conn, url, world, lanes)   # type: ignore[arg-type]
            seconds = time.perf_counter() - t
            staged = frozenset(tuple(r) for r in await conn.fetch(STAGED))
            runs = frozenset(tuple(r) for r in await conn.fetch(RUNS))
        finally:
            await conn.close()
    return seconds, (staged, runs)


async def main(rounds: int, lanes: int) -> None:
    world = atlas_world()
    times: dict[int, list[float]] = {1: [], lanes: []}
    seen: dict[int, tuple[frozenset, frozenset]] = {}
    for r in range(rounds):
        for n in (1, lanes) if r % 2 == 0 else (lanes, 1):
            seconds, state = await one(world, n)
            times[n].append(seconds)
            seen.setdefault(n, state)
            assert seen[n] == state, f"{n} lane(s): another round staged something else"
            print(f"round {r + 1}: {n} lane(s) {seconds:6.1f} s   load average "
                  f"{os.getloadavg()[0]:.1f}", flush=True)
    one_lane, many = median(times[1]), median(times[lanes])
    same = seen[1] == seen[lanes]
    print(f"ingest phase: 1 lane {one_lane:.1f} s, {lanes} lanes {many:.1f} s "
          f"({one_lane / many:.2f}x); staged rows {len(seen[1][0]):,}, runs "
          f"{len(seen[1][1])}, the same in both: {same}; load average "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} on {os.cpu_count()} cores")
    if not same:
        raise SystemExit("the lanes staged something else than one lane")


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--lanes", type=int, default=2)
    args = ap.parse_args()
    anyio.run(main, args.rounds, args.lanes)
