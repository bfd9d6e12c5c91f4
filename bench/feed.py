"""The live feed and the timeline, in one run:

1. commit -> websocket client latency, p50 / p99, at 2,000 staged rows/s (4 writer processes
   at 500/s each, one row per transaction) with 10 clients on `atlas-orch serve` (listener in
   the same process): the writer's commit acknowledgement to the client receiving the job-log
   row of that row's event (goal p99 <= 50 ms);
2. `atlas-orch replay`'s timeline query with 10 million job-log rows (goal <= 10 ms).

    .venv/bin/python bench/feed.py [--seconds 5] [--log-rows 10000000]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

import aiohttp
import anyio
import asyncpg
from _db import LOG_MONTHS, fresh_database
from events import REPO, run_writers

from listener.admin import read

TOKEN = "bench-token"
FILL_LOG = """
INSERT INTO trapper.orchestrator_job_log (action, source_system, source_table,
    source_record_id, staged_record_id, decision_reason, logged_at)
SELECT (ARRAY['routed', 'skipped', 'identity_decision', 'entity_created'])[1 + i % 4],
       'clinichq', 'owner_info', 'r' || (i % 2000000), i, 'bench row',
       now() - (i || ' seconds')::interval
FROM generate_series($1::bigint, $2::bigint) i
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def client(url: str, got: list[tuple[int, float]], ready: anyio.Event,
                 stop: anyio.Event) -> None:
    # the token goes in a header: the feed refuses one in its URL (docs/api.md)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as s, s.ws_connect(url, headers=headers) as ws:
        await ws.receive()                  # hello
        ready.set()
        while not stop.is_set():
            with anyio.move_on_after(0.5):
                msg = await ws.receive()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    return
                now = time.time()
                doc = json.loads(msg.data)
                if doc["type"] == "log":
                    for r in doc["rows"]:
                        got.append((int(r["decision_details"]["min_id"]), now))


async def latency(seconds: float) -> None:
    async with fresh_database() as url:
        port = free_port()
        env = {**os.environ, "DATABASE_URL": url, "ATLAS_ORCH_READ_TOKEN": TOKEN,
               "ATLAS_ORCH_ADMIN_TOKEN": TOKEN + "-admin"}
        proc = subprocess.Popen([sys.executable, "-m", "listener", "serve", "--port",
                                 str(port)], env=env, cwd=REPO,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            for _ in range(200):
                try:
                    with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                        break
                except OSError:
                    await anyio.sleep(0.1)
            await anyio.sleep(1.0)          # the listener takes the lock
            ws_url = f"ws://127.0.0.1:{port}/api/admin/orchestrator/feed?action=staged"
            received: list[list[tuple[int, float]]] = [[] for _ in range(10)]
            stop = anyio.Event()
            async with anyio.create_task_group() as tg:
                for got in received:
                    ready = anyio.Event()
                    tg.start_soon(client, ws_url, got, ready, stop)
                    await ready.wait()
                _, acks = await anyio.to_thread.run_sync(run_writers, url, 4, seconds, 500.0)
                await anyio.sleep(2.0)
                stop.set()
        finally:
            proc.terminate()
            proc.wait(30)
    ack = dict(acks)
    lat = sorted((t - ack[i]) * 1000 for got in received for i, t in got if i in ack)
    delivered = len(lat) / max(1, len(received))
    print(f"1. commit -> websocket client at {len(acks) / seconds:,.0f} rows/s, 10 clients: "
          f"p50 {statistics.median(lat):.1f} ms, p99 {lat[int(len(lat) * 0.99) - 1]:.1f} ms "
          f"({delivered:,.0f} of {len(acks):,} rows per client)  (goal p99 <= 50 ms)")


async def timeline(log_rows: int) -> None:
    async with fresh_database() as url:
        conn = await asyncpg.connect(url)
        t = time.perf_counter()
        await conn.execute("""
            INSERT INTO trapper.staged_records (source_system, source_table, source_row_id,
                                                row_hash, payload)
            SELECT 'clinichq', 'owner_info', 'r' || g, md5(g::text), '{}'
            FROM generate_series(1, 200000) g""")
        step = 1_000_000
        # the months the rows fall in, as the listener would have made them (orchestrator 018)
        await conn.fetchval(LOG_MONTHS, float(log_rows))
        for start in range(1, log_rows + 1, step):
            await conn.execute(FILL_LOG, start, min(start + step - 1, log_rows))
        await conn.execute("VACUUM ANALYZE")
        print(f"   (filled {log_rows:,} log rows in {time.perf_counter() - t:.0f}s)",
              file=sys.stderr)
        samples: list[float] = []
        items: list[int] = []
        for k in range(50):
            rid = f"r{(k * 3989) % 200000 + 1}"
            t0 = time.perf_counter()
            doc: dict[str, Any] = await read.timeline(conn, "clinichq", "owner_info", rid)
            samples.append((time.perf_counter() - t0) * 1000)
            items.append(len(doc["items"]))
        await conn.close()
    print(f"2. record timeline at {log_rows:,} log rows: median "
          f"{statistics.median(samples):.2f} ms, worst {max(samples):.2f} ms over 50 records "
          f"({statistics.median(items):.0f} items each)  (goal <= 10 ms)")


async def main(seconds: float, log_rows: int, parts: str) -> None:
    if "1" in parts:
        await latency(seconds)
    if "2" in parts:
        await timeline(log_rows)


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--log-rows", type=int, default=10_000_000)
    ap.add_argument("--parts", default="12")
    a = ap.parse_args()
    anyio.run(main, a.seconds, a.log_rows, a.parts)
