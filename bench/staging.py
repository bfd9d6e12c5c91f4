"""Staging throughput: the --scale atlas ClinicHQ files through our staging path (hash
dedup check, COPY into staged_records with its indexes and the shadow trigger, run record,
enqueue) against a plain COPY of the same rows into a bare table, in the same run.

    .venv/bin/python bench/staging.py [--rounds 3]

Goal: staging >= 0.8x the plain COPY. Parsing (XLSX) is timed and printed apart, since the
baseline does not parse. Also printed: the same COPY into the bare table with only the unique
(source_system, source_table, row_hash) key the design requires, the ceiling for any staging
path that keeps that key.
"""

from __future__ import annotations

import argparse
import time

import anyio
import asyncpg
from _db import atlas_world, fresh_database, median

from listener.ingest import runs as ingest_runs
from listener.ingest import staging as ingest
from listener.ingest.readers import read_rows
from listener.ingest.source_profiles import ServiceLineMerger, profile_for

FILES = ("appointment_info", "cat_info", "owner_info")


async def main(rounds: int) -> None:
    world = atlas_world()
    prepared = {}
    parse_s = 0.0
    for table in FILES:
        t = time.perf_counter()
        rows = read_rows((world / "clinichq" / f"{table}.xlsx").read_bytes(), "xlsx")
        profile = profile_for("clinichq", table)
        merger = ServiceLineMerger()
        stream = merger(rows) if profile.merge_service_lines else iter(rows)
        tally = ingest._Tally(read=len(rows))
        batches = list(ingest._prepare(stream, profile, 1 << 20, tally))
        prepared[table] = (batches, tally, merger.merged)
        parse_s += time.perf_counter() - t
    total = sum(len(b.staged) for batches, _, _ in prepared.values() for b in batches)
    print(f"rows: {total:,} staged rows from {len(FILES)} ClinicHQ files; "
          f"parse + hash in Python: {parse_s:.2f}s ({total / parse_s:,.0f} rows/s)")

    async with fresh_database("with-core") as url:
        conn = await asyncpg.connect(url)
        await conn.execute("""CREATE TABLE bare (source_system text, source_table text,
            source_row_id text, source_file text, ingest_run_id bigint, row_hash text,
            payload jsonb)""")
        # The ceiling: the bare table with nothing but the unique content key the issue
        # requires, (source_system, source_table, row_hash).
        await conn.execute("""CREATE TABLE bare_keyed (LIKE bare);
            ALTER TABLE bare_keyed ADD UNIQUE (source_system, source_table, row_hash)""")

        async def copy_bare(name: str) -> float:
            t = time.perf_counter()
            for table, (batches, _, _) in prepared.items():
                await conn.copy_records_to_table(
                    name, columns=ingest.STAGED_COLUMNS,
                    records=[("clinichq", table, rid, f"{table}.xlsx", 1, h, text)
                             for b in batches for rid, h, text in b.staged])
            return time.perf_counter() - t

        ours_t, base_t, keyed_t = [], [], []
        for _ in range(rounds):
            await conn.execute("TRUNCATE bare, bare_keyed; TRUNCATE trapper.staged_records, "
                               "trapper.ingest_runs, trapper.processing_jobs CASCADE")
            base_t.append(await copy_bare("bare"))
            keyed_t.append(await copy_bare("bare_keyed"))

            t = time.perf_counter()
            for table, (batches, tally, merged) in prepared.items():
                result = ingest.IngestResult("clinichq", table, f"{table}.xlsx")
                run_id = await ingest_runs.start(conn, "clinichq", table, f"{table}.xlsx", 0,
                                                 "", "bench/staging.py")
                async with conn.transaction():
                    new = offered = rejected = 0
                    for b in batches:
                        new += await ingest._stage(conn, b.staged, result, run_id)
                        await ingest._store_rejects(conn, b.rejects, result, run_id)
                        offered += len(b.staged)
                        rejected += len(b.rejects)
                    await ingest_runs.finish(
                        conn, run_id, read=tally.read, new=new, rejected=rejected,
                        duplicate=tally.duplicates_in_file + offered - new, merged=merged)
                    await conn.fetchval(ingest._SQL["enqueue"], "clinichq",
                                        table, str(run_id))
                await ingest_runs.release(conn, run_id)
            ours_t.append(time.perf_counter() - t)
            assert await conn.fetchval("SELECT count(*) FROM trapper.staged_records") == total
        await conn.close()
    base, ours, keyed = median(base_t), median(ours_t), median(keyed_t)
    print(f"plain COPY into a bare table: {total / base:,.0f} rows/s (median of {rounds})")
    print(f"our staging:                  {total / ours:,.0f} rows/s (median of {rounds})")
    print(f"ratio staging / plain COPY:   {base / ours:.2f}x  (goal >= 0.8x)")
    print(f"ceiling: the bare table with only the required unique content key: "
          f"{base / keyed:.2f}x the plain COPY")
    print(f"end to end incl. XLSX parse:  {total / (ours + parse_s):,.0f} rows/s")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    anyio.run(main, args.rounds)
