"""The address parser's cost a call: the vocabulary lookup against the four-table join.

    .venv/bin/python bench/address_key.py [--limit 100000] [--rounds 3]

Ingests the atlas world into a fresh database and takes every address its sources send
(the staged fields that hold a street address), then runs ``trapper.address_parts`` over
them with ``trapper.address_vocabulary`` (014: one primary-key lookup per word) and, in the
same process and database, with the vocabulary hidden inside a rolled-back transaction,
which makes the function fall back to the join of the four tables it used before 014. It
checks that both give the same parts for every address and prints the server's CPU time a
call for each (the backend's own user + system time from /proc, so other load on a shared
machine counts less than in wall time) and their ratio. The server must run on this machine.
"""

from __future__ import annotations

import argparse
import os
import time

import anyio
import asyncpg
from _db import atlas_world, fresh_database

from listener.ingest import staging as ingest

ADDRESS_FIELDS = ["Address", "Clean Address", "Outcome To Person Street Address 1",
                  "Owner Address", "Street", "Street Address - Address1", "Your address",
                  "address", "cats_address", "formatted_address", "query_address",
                  "requester_address"]


def backend_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a server process (None when it is not on this machine)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def timed(conn: asyncpg.Connection, pid: int) -> tuple[float, float, str]:
    """CPU and wall seconds of one pass over the sample, and a digest of its results."""
    cpu0, wall0 = backend_cpu(pid), time.perf_counter()
    digest = await conn.fetchval(
        "SELECT md5(string_agg(coalesce(trapper.address_parts(v)::text, '-'), E'\\n' ORDER BY n))"
        " FROM bench_addresses")
    cpu1, wall1 = backend_cpu(pid), time.perf_counter()
    cpu = (cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else wall1 - wall0
    return cpu, wall1 - wall0, digest


async def main(limit: int, rounds: int) -> None:
    world = atlas_world()
    async with fresh_database("with-core") as url:
        conn = await asyncpg.connect(url)
        for e in ingest.read_manifest(world / "manifest.json"):
            await ingest.ingest_file(conn, e.path, e.source_system, e.source_table, fmt=e.fmt)
        await conn.execute("""
            CREATE TEMP TABLE bench_addresses AS
            SELECT row_number() OVER () AS n, v FROM (
                SELECT e.value AS v FROM trapper.staged_records s,
                     jsonb_each_text(s.payload) e(key, value)
                WHERE e.key = ANY ($1::text[]) AND e.value <> '' LIMIT $2) x""",
                           ADDRESS_FIELDS, limit)
        n = await conn.fetchval("SELECT count(*) FROM bench_addresses")
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        on_machine = backend_cpu(pid) is not None
        await timed(conn, pid)   # warm both paths' caches once
        results: dict[str, list[tuple[float, float, str]]] = {"vocabulary": [], "join": []}
        for _ in range(rounds):
            results["vocabulary"].append(await timed(conn, pid))
            # the same function without the vocabulary: its fallback, the four-table join
            tr = conn.transaction()
            await tr.start()
            await conn.execute(
                "ALTER TABLE trapper.address_vocabulary RENAME TO address_vocabulary_hidden")
            results["join"].append(await timed(conn, pid))
            await tr.rollback()
        await conn.close()
    digests = {d for runs in results.values() for _, _, d in runs}
    best = {k: min(c for c, _, _ in runs) for k, runs in results.items()}
    wall = {k: min(w for _, w, _ in runs) for k, runs in results.items()}
    what = "server CPU" if on_machine else "wall (the server is not on this machine)"
    print(f"{n:,} addresses from the atlas world; same parts on both paths: "
          f"{'yes' if len(digests) == 1 else 'NO'}")
    for k in ("join", "vocabulary"):
        print(f"  {k:10s} {1e6 * best[k] / n:7.1f} us a call ({what}, best of {rounds}); "
              f"wall {1e6 * wall[k] / n:7.1f} us")
    print(f"vocabulary / join: {best['vocabulary'] / best['join']:.2f}x the cost")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limit", type=int, default=100_000)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    anyio.run(main, args.limit, args.rounds)
