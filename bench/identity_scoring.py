"""The engine's person scoring before and after a change, as a ratio in one process.

    .venv/bin/python bench/identity_scoring.py [--base main] [--rounds 7]

Loads the small synthetic world (seed 3) into a fresh database and processes it, then
installs the ``--base`` revision's ``data_engine_resolve_identity`` beside the current one
(as ``data_engine_resolve_identity_base``) and presents every person record the engine
decided on again to each, alternately, each round in a transaction that is rolled back.
Most re-presented records match the person they made (the hot path: candidates scored,
auto-match). Prints the median server time of each and the ratio current / base: on a shared
machine absolute times are noise, the ratio is what to read (docs/benchmarks.md). Also
shows whether the planner inlines the shared scoring functions of
sql/core/functions/identity_scoring.sql (no "Function Scan" on them).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path

import anyio
import asyncpg
from _db import fresh_database, median

from listener.ingest import staging as ingest
from listener.queue.worker import drain_queue
from synthetic.generate import generate

REPO = Path(__file__).resolve().parent.parent

INPUTS = """
CREATE TEMP TABLE bench_inputs AS
SELECT d.incoming_email AS email, split_part(d.incoming_phone, ' / ', 1) AS phone,
       nullif(split_part(d.incoming_phone, ' / ', 2), '') AS cell,
       split_part(d.incoming_name, ' ', 1) AS first,
       nullif(substr(d.incoming_name, length(split_part(d.incoming_name, ' ', 1)) + 2), '')
           AS last,
       d.incoming_address AS address, d.source_system, d.staged_record_id
FROM trapper.data_engine_match_decisions d
WHERE d.decision_type <> 'rejected'
ORDER BY d.decision_id
"""

RUN = """
SELECT count(r.decision_type) FROM bench_inputs i
CROSS JOIN LATERAL trapper.{fn}(i.email, i.phone, i.first, i.last, i.address,
                                i.source_system, i.staged_record_id, i.cell) r
"""

# The shared functions as the engine calls them (its PL/pgSQL variables are parameters).
INLINE_CHECKS = [
    "SELECT * FROM trapper.identity_weights() w",
    "SELECT s.x, fw.* FROM (VALUES (0.9::numeric, 1::bigint, 'close'::text)) s (x, h, lvl) "
    "CROSS JOIN LATERAL trapper.identity_field_weights(s.x, false, s.x, s.h, s.lvl, true, "
    "$1::float8, 1, 2, 3, 4, 2, 5, 6, 7, 8, 9) fw",
    "SELECT trapper.identity_outcome($1::float8, 'close', true, 12, 4)",
]


def backend_cpu(pid: int) -> float | None:
    """The server process's CPU seconds so far (user + system), when it runs on this
    machine: far steadier than wall time on a busy one."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def base_engine(base: str) -> str:
    """The base revision's data_engine_resolve_identity, renamed ..._base."""
    text = subprocess.run(["git", "show", f"{base}:sql/core/functions/identity.sql"],
                          cwd=REPO, check=True, capture_output=True, text=True).stdout
    m = re.search(r"CREATE OR REPLACE FUNCTION trapper\.data_engine_resolve_identity\(.*?"
                  r"\nEND \$\$;", text, re.S)
    assert m, "no data_engine_resolve_identity in the base revision"
    # the function's name also qualifies its OUT columns in its body
    return re.sub(r"\bdata_engine_resolve_identity\b", "data_engine_resolve_identity_base",
                  m.group(0))


async def main(base: str, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        world = Path(tmp) / "world"
        generate(world, scale="small", seed=3)
        async with fresh_database("with-core") as url:
            conn = await asyncpg.connect(url)
            for e in ingest.read_manifest(world / "manifest.json"):
                await ingest.ingest_file(conn, e.path, e.source_system, e.source_table,
                                         fmt=e.fmt)
            await drain_queue(url, workers=1, job_batch=1)
            await conn.execute(base_engine(base))
            await conn.execute(INPUTS)
            n = await conn.fetchval("SELECT count(*) FROM bench_inputs")
            for q in INLINE_CHECKS:
                # as a generic plan, the way the engine's statements run (identity.sql)
                await conn.execute("SET plan_cache_mode = force_generic_plan")
                stmt = await conn.prepare("EXPLAIN VERBOSE " + q)
                plan = "\n".join(r[0] for r in await stmt.fetch(
                    *([12.5] if "$1" in q else [])))
                inlined = "Function Scan on trapper.identity" not in plan and \
                    "trapper.identity_outcome(" not in plan
                print(f"inlined: {inlined}  {q[:70]}")
            pid = await conn.fetchval("SELECT pg_backend_pid()")
            times: dict[str, list[float]] = {"current": [], "base": []}
            cpu: dict[str, list[float]] = {"current": [], "base": []}
            fns = {"current": "data_engine_resolve_identity",
                   "base": "data_engine_resolve_identity_base"}
            for r in range(rounds):
                order = ["current", "base"] if r % 2 == 0 else ["base", "current"]
                for which in order:
                    tr = conn.transaction()
                    await tr.start()
                    c, t = backend_cpu(pid), time.perf_counter()
                    await conn.fetchval(RUN.format(fn=fns[which]))
                    times[which].append(time.perf_counter() - t)
                    c2 = backend_cpu(pid)
                    if c is not None and c2 is not None:
                        cpu[which].append(c2 - c)
                    await tr.rollback()
            await conn.close()
    cur, old = median(times["current"]), median(times["base"])
    print(f"{n} person records re-presented, {rounds} rounds each, alternating")
    print(f"base    ({base}): median {old:.3f} s  ({old / n * 1e6:.0f} us a record)")
    print(f"current         : median {cur:.3f} s  ({cur / n * 1e6:.0f} us a record)")
    print(f"ratio current / base (wall): {cur / old:.3f}")
    if cpu["base"] and median(cpu["base"]) > 0:
        ccur, cold = median(cpu["current"]), median(cpu["base"])
        print(f"server CPU: base median {cold:.3f} s, current {ccur:.3f} s, "
              f"ratio current / base (CPU): {ccur / cold:.3f}")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--base", default="main", help="git revision to compare against")
    p.add_argument("--rounds", type=int, default=7)
    a = p.parse_args()
    anyio.run(main, a.base, a.rounds)
