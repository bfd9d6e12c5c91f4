"""The listener's consume pass while a long transaction holds its horizon (issue 20, the wide
feed): A/B in one run, alternating, so a shared machine's noise falls on both alike.

One transaction stays open for the whole run (on a shared server any session's long write
does this: the horizon is the cluster's oldest running xid), so every transaction the
writers commit meanwhile stays in the checkpoint's ``done``. Each round commits ``--events``
single-row staged inserts, four a transaction, then times the listener's pass over them
(``orchestrator_consume_events`` pages of ``--batch`` until the pass completes):

- A, "rescan": the checkpoint's ``last_snapshot`` cleared before the pass, so the pass reads
  every event since the horizon and drops the ones in ``done`` (the listener before
  triggers_shadow 007);
- B, "since last pass": the pass reads only what the last completed pass's snapshot did not
  show (sql/triggers_shadow/functions/events.sql).

    .venv/bin/python bench/consume_page.py [--rounds 30] [--events 1000] [--batch 1000]
                                           [--no-hold]

Prints, every few rounds, both passes' times, the size of ``done``, and their ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import anyio
import asyncpg
from _db import fresh_database

STAGE = """
CREATE FUNCTION pg_temp.stage_tx(p_from int, p_n int) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN p_from .. p_from + p_n - 1 LOOP
        INSERT INTO trapper.staged_records (source_system, source_table, source_row_id,
                                            row_hash, payload)
        VALUES ('clinichq', 'owner_info', 'c' || i, md5('c' || i), '{}');
    END LOOP;
END $$"""
CONSUME = "SELECT pass_complete FROM trapper.orchestrator_consume_events($1, $2)"


async def one_pass(conn: asyncpg.Connection, consumer: str, batch: int, rescan: bool) -> float:
    """Seconds for one pass; ``rescan`` forgets the last pass's snapshot first."""
    if rescan:
        await conn.execute("UPDATE trapper.orchestrator_listener_checkpoint "
                           "SET last_snapshot = NULL WHERE consumer = $1", consumer)
    t = time.perf_counter()
    while not await conn.fetchval(CONSUME, consumer, batch):
        pass
    return time.perf_counter() - t


async def main(rounds: int, events: int, batch: int, hold: bool) -> None:
    async with fresh_database() as url:
        conn = await asyncpg.connect(url)
        held = await asyncpg.connect(url)
        await conn.execute(STAGE)
        await held.execute("BEGIN")
        if hold:
            await held.fetchval("SELECT pg_current_xact_id()")   # holds the horizon
        n = 0
        a: list[float] = []
        b: list[float] = []
        try:
            for r in range(rounds):
                for rescan in ((True, False) if r % 2 == 0 else (False, True)):
                    for _ in range(0, events, 4):
                        await conn.execute("SELECT pg_temp.stage_tx($1, 4)", n)
                        n += 4
                    (a if rescan else b).append(await one_pass(conn, "listener", batch,
                                                               rescan))
                if r % 5 == 4 or r == rounds - 1:
                    done = await conn.fetchval(
                        "SELECT cardinality(done) FROM trapper.orchestrator_listener_checkpoint")
                    print(f"round {r + 1:3d}: done {done:6,d} xids; pass of {events:,} events: "
                          f"rescan {a[-1] * 1000:7.1f} ms, since last pass {b[-1] * 1000:6.1f}"
                          f" ms ({a[-1] / b[-1]:.1f}x)", flush=True)
        finally:
            await held.execute("ROLLBACK")
            await held.close()
            await conn.close()
    load = os.getloadavg()
    print(f"median over {rounds} rounds: rescan {statistics.median(a) * 1000:.1f} ms, since "
          f"last pass {statistics.median(b) * 1000:.1f} ms; ratio of medians "
          f"{statistics.median(a) / statistics.median(b):.1f}x (load average {load[0]:.1f})")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=30)
    p.add_argument("--events", type=int, default=1000)
    p.add_argument("--batch", type=int, default=1000)
    p.add_argument("--no-hold", dest="hold", action="store_false",
                   help="no long transaction: the horizon follows the writers (done stays small)")
    args = p.parse_args()
    anyio.run(main, args.rounds, args.events, args.batch, args.hold)
