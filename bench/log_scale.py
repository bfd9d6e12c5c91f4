"""The decision log at scale, partitioned by month (orchestrator 018): fill N log rows spread
over 36 months, then time the readers that filter by record or entity with no time bound, so
they probe every month's index: "what happened to this record" (the API's log query by
source record, log_by_record), "where did this entity come from" (provenance: entity_log)
and the record timeline (record_log + entity_log), against the same rows in an unpartitioned
copy of the seed's table with the seed's indexes, in the same process (the machine is shared
and noisy: compare the ratio, not the absolute times). Each runs as listener/admin/read.py
runs it: with a generic plan (trapper.orchestrator_record_log / _entity_log, and
read.fetch_generic), since planning over every month costs more than the probes.

    .venv/bin/python bench/log_scale.py [--rows 3000000] [--months 36] [--no-baseline]
    .venv/bin/python bench/log_scale.py --rows 100000000 --no-baseline   # the issue's 100 M

Goal: each query <= 10 ms at 100 M rows over 36 months (issue 20). The fill writes the
months' heaps without indexes and builds each index once after (bench/_db.py
deferred_indexes, which checks the partitions end with the product's indexes): 100 M rows in
~37 min and ~27 GB on the shared 2-core machine (docs/benchmarks.md), one connection.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import time
from collections.abc import Sequence

import anyio
import asyncpg
from _db import deferred_indexes, fresh_database

import listener.admin.read as read_module
from listener.admin.read import fetch_generic
from listener.core import sql

READ = sql.beside(read_module.__file__, "read")
LOG = "trapper.orchestrator_job_log"
FLAT = "bench_flat.orchestrator_job_log"

# Three rows per record (routed, merged, entity_created) a few seconds apart, records spread
# evenly over the months; each record's entity is md5(record)::uuid.
FILL = f"""
INSERT INTO {LOG} (action, source_system, source_table, source_record_id, staged_record_id,
    target_surface, target_entity_id, decision_reason, decision_details, logged_at)
SELECT (ARRAY['routed', 'merged', 'entity_created'])[1 + i % 3], 'bench', 'rows',
       'r' || (i / 3), i / 3, 'sot_people', md5((i / 3)::text)::uuid, 'bench row', '{{}}',
       $3::timestamptz + ((i::float8 / $4) * ($5::timestamptz - $3::timestamptz))
FROM generate_series($1::bigint, $2::bigint) i
"""

# The seed's table before 018, with its indexes (sql/orchestrator/001_backbone.sql).
FLAT_DDL = f"""
CREATE SCHEMA bench_flat;
CREATE TABLE {FLAT} (LIKE {LOG} INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
CREATE INDEX ON {FLAT} (source_system, source_table, source_record_id);
CREATE INDEX ON {FLAT} (target_entity_id) WHERE target_entity_id IS NOT NULL;
CREATE INDEX ON {FLAT} (staged_record_id) WHERE staged_record_id IS NOT NULL;
CREATE UNIQUE INDEX ON {FLAT} (log_seq);
"""


# The unpartitioned copy has no reader functions: the queries inside them, run as plain
# statements (its custom plans cost little: one table's indexes).
FLAT_READERS = {
    "record_log": READ["record_log"].replace(
        "trapper.orchestrator_record_log($1, $2, $3, $4::bigint[])",
        f"{FLAT} WHERE (source_system = $1 AND source_table = $2 AND source_record_id = $3) "
        "OR staged_record_id = ANY ($4::bigint[])"),
    "entity_log": READ["entity_log"].replace(
        "trapper.orchestrator_entity_log($1::uuid[])",
        f"{FLAT} WHERE target_entity_id = ANY ($1::uuid[])"),
}


def _queries(table: str) -> dict[str, str]:
    if table == FLAT:
        return {"log_by_record": READ["log_by_record"].replace(LOG, FLAT), **FLAT_READERS}
    return {name: READ[name] for name in ("log_by_record", "record_log", "entity_log")}


async def _time(conn: asyncpg.Connection, table: str, records: Sequence[int],
                rounds: int) -> dict[str, float]:
    """Median latency (ms) of each reader over the sample records, after a warm-up pass."""
    q = _queries(table)
    samples: dict[str, list[float]] = {"what": [], "where": [], "timeline": []}
    for round_ in range(rounds + 1):
        for rec in records:
            rid, entity = f"r{rec}", await conn.fetchval("SELECT md5($1::text)::uuid", str(rec))
            t = time.perf_counter()
            await fetch_generic(conn, q["log_by_record"], "bench", "rows", rid, None, None, None,
                                None, None, 0, 100)
            what = time.perf_counter() - t
            t = time.perf_counter()
            await conn.fetch(q["entity_log"], [entity])
            where = time.perf_counter() - t
            t = time.perf_counter()
            await conn.fetch(q["record_log"], "bench", "rows", rid, [rec])
            await conn.fetch(q["entity_log"], [entity])
            timeline = time.perf_counter() - t
            if round_:  # the first round warms the caches
                samples["what"].append(what * 1000)
                samples["where"].append(where * 1000)
                samples["timeline"].append(timeline * 1000)
    return {k: statistics.median(v) for k, v in samples.items()}


async def main(rows: int, months: int, baseline: bool, sample: int, rounds: int) -> None:
    async with fresh_database("with-core") as url:
        conn = await asyncpg.connect(url)
        try:
            start = await conn.fetchval(
                "SELECT trapper.orchestrator_month_start(now()) - make_interval(months => $1)",
                months - 1)
            end = await conn.fetchval("SELECT now()")
            await conn.fetchval(f"SELECT trapper.orchestrator_ensure_partitions('{LOG}', $1)",
                                start)
            parts = await conn.fetchval(
                f"SELECT count(*) FROM trapper.orchestrator_partitions('{LOG}')")
            t = time.perf_counter()
            step = 1_000_000
            # the months' heaps first, their indexes after (bench/_db.py deferred_indexes):
            # the same rows, partitions and indexes as filling the indexed log, in minutes
            async with deferred_indexes(conn, LOG):
                for first in range(0, rows, step):
                    last = min(first + step, rows) - 1
                    await conn.execute(FILL, first, last, start, rows, end)
                    done = last + 1
                    rate = done / (time.perf_counter() - t)
                    print(f"  filled {done:,}/{rows:,} log rows ({rate:,.0f} rows/s, "
                          f"{time.perf_counter() - t:.0f}s)", file=sys.stderr)
                # hint bits and the visibility map while the heaps have no indexes to scan
                await conn.execute(f"VACUUM {LOG}")
                print(f"  vacuumed at {time.perf_counter() - t:.0f}s", file=sys.stderr)
            await conn.execute(f"VACUUM ANALYZE {LOG}")
            fill_s = time.perf_counter() - t
            size = await conn.fetchval(
                "SELECT pg_size_pretty(sum(pg_total_relation_size(partition))) "
                f"FROM trapper.orchestrator_partitions('{LOG}')")
            print(f"partitioned log: {rows:,} rows over {months} months in {parts} partitions "
                  f"(incl. default), {size}, filled in {fill_s:.0f}s")
            if baseline:
                t = time.perf_counter()
                await conn.execute(FLAT_DDL)
                await conn.execute(f"INSERT INTO {FLAT} SELECT * FROM {LOG}")
                await conn.execute(f"VACUUM ANALYZE {FLAT}")
                print(f"unpartitioned copy made in {time.perf_counter() - t:.0f}s")

            rng = random.Random(7)
            records = [rng.randrange(rows // 3) for _ in range(sample)]
            part = await _time(conn, LOG, records, rounds)
            flat = await _time(conn, FLAT, records, rounds) if baseline else None
            labels = {"what": "what happened to this record?",
                      "where": "where did this entity come from?",
                      "timeline": "record timeline (record_log + entity_log)"}
            for key, label in labels.items():
                line = f"{label:45s} partitioned median {part[key]:6.2f} ms (goal <= 10 ms)"
                if flat:
                    line += (f" | unpartitioned {flat[key]:6.2f} ms | ratio "
                             f"{part[key] / flat[key]:.2f}x")
                print(line)
        finally:
            await conn.close()


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=3_000_000)
    ap.add_argument("--months", type=int, default=36)
    ap.add_argument("--no-baseline", action="store_true",
                    help="skip the unpartitioned copy (it doubles the disk and fill time)")
    ap.add_argument("--sample", type=int, default=50, help="records timed per round")
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    anyio.run(main, a.rows, a.months, not a.no_baseline, a.sample, a.rounds)
