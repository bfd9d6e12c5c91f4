"""The live feed and the timeline, in one run:

1. commit -> websocket client latency, p50 / p99, at 2,000 staged rows/s (4 writer processes
   at 500/s each, one row per transaction) with 10 clients on `atlas-orch serve` (listener in
   the same process): the writer's commit acknowledgement to the client receiving the job-log
   row of that row's event (goal p99 <= 50 ms);
2. `atlas-orch replay`'s timeline query with 10 million job-log rows (goal <= 10 ms);
3. the wide feed (issue 20): 100 clients with mixed filters (none, by source system, by source
   table, by kind, by record) at 5,000 job-log rows/s, every writer's session with
   ``atlas_orch.notify = off``: commit -> client p50 / p99 (goal p99 <= 50 ms), every client's
   rows counted against the log afterwards (goal: none missing, none twice, none unasked-for),
   and the server's RSS and CPU sampled during the run;
   where the time accrues, per delivered row (p50 / p99 of each stage): commit -> the
   listener's page committed its job-log row (staged rows) -> the feed hub read it -> the
   server sent the frame -> the client got it (stamps by bench/_stamped_serve.py, which
   wraps `serve` without changing it: the listener's page times by log_seq, the hub's read
   time and each frame's send time appended to the frames); the server's listener and hub
   queries timed by name; CPU by party (`serve`, the clients' processes, the writers'
   processes, and PostgreSQL's backends by session, read from /proc);
4. the fan-out's own CPU per committed row for those 100 filters, per client and row against
   once per batch and distinct filter (a ratio measured in one process).

    .venv/bin/python bench/feed.py [--seconds 5] [--log-rows 10000000]
    .venv/bin/python bench/feed.py --parts 34 --seconds 10 [--clients 100] [--rate 5000]

What runs where in part 3 (all on this machine, sharing its cores with PostgreSQL):
- `serve` (one process: the API, the feed hub, and the listener), started through
  bench/_stamped_serve.py;
- the writers: 5 processes, one connection each, NOTIFY off in their sessions. 4 host
  writers commit transactions of 4 single-row staged inserts (one call of a pg_temp
  function: 4 statements, so 4 staged events and 4 job-log rows via the listener); 1 router
  writer commits 10 job-log rows a transaction straight into the log. Their Python does one
  call per transaction, so their CPU is the database's, not the bench's;
- the clients: CLIENT_PROCS processes, the 100 websockets spread over them; a client reads
  each frame's log_seqs and the stamps at its end by regular expression (no JSON parse),
  and the rest of each row is looked up in the log after the run;
- this process: samples the server's RSS and the backends' CPU, then checks exactly-once
  (every client's log_seqs against the log and its filter) and computes the latencies.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing as mp
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
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


@contextlib.asynccontextmanager
async def serving(url: str, stamps: str | None = None, *, listener_process: bool = False,
                  listen_poll: float | None = None
                  ) -> AsyncIterator[tuple[int, subprocess.Popen[bytes],
                                           subprocess.Popen[bytes] | None]]:
    """``atlas-orch serve`` (with its listener) on a free port of 127.0.0.1, up and leading,
    stopped on exit: its port and process, and the listener's process if it has its own.
    With ``stamps`` (a file), through bench/_stamped_serve.py: per-stage timestamps in the
    frames and in that file. With
    ``listener_process``, ``serve --no-listen`` and ``atlas-orch listen`` as two processes
    (docs/SCALING.md: the listener off the feed's event loop); the listener's stamps go to
    ``stamps`` + ".listen"; ``listen_poll``, that listener's ``--poll-interval``."""
    port = free_port()
    env = {**os.environ, "DATABASE_URL": url, "ATLAS_ORCH_READ_TOKEN": TOKEN,
           "ATLAS_ORCH_ADMIN_TOKEN": TOKEN + "-admin", "FEED_STAMPS": stamps or "",
           "FEED_SPANS": "1" if os.environ.get("FEED_DUMP") else ""}
    cmd = ([sys.executable, str(REPO / "bench" / "_stamped_serve.py")] if stamps
           else [sys.executable, "-m", "listener"])
    proc = subprocess.Popen([*cmd, "serve", "--port", str(port),
                             *(["--no-listen"] if listener_process else [])],
                            env=env, cwd=REPO, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    poll = ["--poll-interval", str(listen_poll)] if listen_poll is not None else []
    lproc = subprocess.Popen(
        [*cmd, "listen", *poll],
        env={**env, "FEED_STAMPS": (stamps + ".listen") if stamps else ""},
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    ) if listener_process else None
    try:
        for _ in range(200):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                await anyio.sleep(0.1)
        await anyio.sleep(1.0)          # the listener takes the lock
        yield port, proc, lproc
    finally:
        proc.terminate()
        proc.wait(30)
        if lproc is not None:
            lproc.terminate()
            lproc.wait(30)


async def latency(seconds: float) -> None:
    async with fresh_database() as url, serving(url) as (port, _proc, _lproc):
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


# -- 3. the wide feed ----------------------------------------------------------------------

SOURCES = [("clinichq", "owner_info"), ("clinichq", "appointment_info"),
           ("shelterluv", "animals"), ("airtable", "trapping_requests")]
ROUTER_SOURCE = ("clinichq", "owner_info")
ROUTER_ACTIONS = ("routed", "identity_decision", "skipped")
CLIENT_PROCS = 6                  # the clients' processes
WARMUP_S = 2.0                    # part 3: rows committed this early are the start transient
RECORDS = 25                      # the router's rows cycle over this many record ids
# A host transaction of single-row staged inserts, one statement each (so one staged event,
# one job-log row, each, as a host that inserts row by row), in one round trip: a function of
# the writer's own session (pg_temp), so the writer's Python does one call per transaction.
STAGE_TX = """
CREATE FUNCTION pg_temp.stage_rows(p_sources text[], p_ids text[]) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    FOR i IN 1 .. cardinality(p_ids) LOOP
        INSERT INTO trapper.staged_records (source_system, source_table, source_row_id,
                                            row_hash, payload)
        VALUES (split_part(p_sources[i], '/', 1), split_part(p_sources[i], '/', 2), p_ids[i],
                md5(p_ids[i]), '{}');
    END LOOP;
END $$"""
ROUTER_LOG = """
INSERT INTO trapper.orchestrator_job_log (action, source_system, source_table, source_record_id,
                                          decision_reason)
SELECT ($1::text[])[1 + i % 3], $2, $3, 'rec-' || (($4::int + i) % $5), 'bench router row'
FROM generate_series(0, $6 - 1) i
RETURNING log_seq"""
# the writers' own sessions turn NOTIFY off (docs/events.md: "the writers' own role or
# session"); the listener's job-log NOTIFY stays on and wakes the feed
QUIET_SETTINGS = {"atlas_orch.notify": "off", "application_name": "bench writer"}
LOG_SEQ = re.compile(r'\{"log_seq": (\d+)')
STAMPS = re.compile(r'"read_at": ([\d.]+), "sent_at": ([\d.]+)\}$')


def _wide_writer(args: tuple[str, str, int, float, float, float, int]) -> dict[str, Any]:
    """One writer process: ``host`` commits ``per_tx`` single-row staged inserts per
    transaction (one staged event, so one job-log row, each); ``router`` commits ``per_tx``
    job-log rows per transaction as the router does inside a processing transaction."""
    url, kind, k, start_at, seconds, tx_rate, per_tx = args

    async def go() -> dict[str, Any]:
        conn = await asyncpg.connect(url, server_settings=QUIET_SETTINGS)
        routed = await conn.prepare(ROUTER_LOG)
        await conn.execute(STAGE_TX)
        staged = await conn.prepare("SELECT pg_temp.stage_rows($1, $2)")
        sources = ["/".join(st) for st in SOURCES]
        staged_acks: list[tuple[str, float]] = []
        log_acks: list[tuple[int, float]] = []
        while time.time() < start_at:
            await anyio.sleep(0.001)
        cpu = time.process_time()
        end, i = start_at + seconds, 0
        while (now := time.time()) < end:
            due = start_at + i / tx_rate
            if due > now:
                await anyio.sleep(due - now)
            i += 1
            if kind == "host":
                await staged.fetchval(
                    [sources[(k + i + j) % len(sources)] for j in range(per_tx)],
                    [f"w{k}-{i}-{j}" for j in range(per_tx)])
                staged_acks.append((f"w{k}-{i}-", time.time()))
            else:
                ids = [r[0] for r in await routed.fetch(
                    list(ROUTER_ACTIONS), *ROUTER_SOURCE, i * per_tx, RECORDS, per_tx)]
                t = time.time()
                log_acks.extend((x, t) for x in ids)
        await conn.close()
        return {"staged": staged_acks, "log": log_acks, "late_s": now - end,
                "cpu_s": time.process_time() - cpu}

    out: dict[str, Any] = anyio.run(go)
    return out


def wide_filters(n: int) -> list[str]:
    """Query strings for ``n`` clients: a fifth each unfiltered, by source system, by source
    table, by kind (action), by record."""
    out = []
    for i in range(n):
        system, table = SOURCES[(i // 5) % len(SOURCES)]
        out.append(["", f"source={system}", f"source={system}/{table}",
                    f"action={(*ROUTER_ACTIONS, 'staged')[(i // 5) % 4]}",
                    f"source={'/'.join(ROUTER_SOURCE)}&record=rec-{(i // 5) % RECORDS}"][i % 5])
    return out


def _matches(query: str, row: dict[str, Any]) -> bool:
    """The expected set: the filter as the feed documents it (docs/api.md), in the bench."""
    for part in filter(None, query.split("&")):
        key, _, value = part.partition("=")
        if key == "action" and row["action"] != value:
            return False
        if key == "record" and row["source_record_id"] != value:
            return False
        if key == "source":
            system, _, table = value.partition("/")
            if row["source_system"] != system or (table and row["source_table"] != table):
                return False
    return True


def _wide_clients(args: tuple[str, list[str], str]) -> list[dict[str, Any]]:
    """One client process: a websocket per query string, until the time written in
    ``stop_file`` (once the hub has published every row, plus a grace for the sends); what
    each received (log_seq, arrival time, the server's stamps) and its hello cursor."""
    base, queries, stop_file = args

    async def one(q: str, out: dict[str, Any], stop: anyio.Event) -> None:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        async with aiohttp.ClientSession() as s, \
                s.ws_connect(f"{base}?{q}" if q else base, headers=headers,
                             max_msg_size=0) as ws, anyio.create_task_group() as tg:
            hello = json.loads((await ws.receive()).data)
            out["cursor"] = hello["cursor"]

            async def closer() -> None:
                # closing wakes the receive below (aiohttp feeds it a CLOSING message), so
                # no receive is ever cancelled half-way
                await stop.wait()
                await ws.close()

            tg.start_soon(closer)
            while True:
                msg = await ws.receive()
                if msg.type != aiohttp.WSMsgType.TEXT:
                    if not stop.is_set():
                        out["closed"] = str(msg.type)
                    tg.cancel_scope.cancel()
                    return
                now = time.time()
                text: str = msg.data
                if not text.startswith('{"type": "log"'):
                    out.setdefault("other", []).append(json.loads(text)["type"])
                    continue
                # only each row's log_seq, by regular expression, not a whole JSON
                # parse: 100 clients parsing every row in Python are the bench's own
                # bottleneck (the rows are the server's to_json, log_seq first); the
                # rest of a row is looked up in the log afterwards
                # the server's stamps (bench/_stamped_serve.py), at the frame's end
                tail = STAMPS.search(text, max(0, len(text) - 80))
                read_at, sent_at = ((float(tail.group(1)), float(tail.group(2)))
                                    if tail else (None, None))
                out["got"].extend((int(seq), now, read_at, sent_at)
                                  for seq in LOG_SEQ.findall(text))

    async def go() -> list[dict[str, Any]]:
        outs: list[dict[str, Any]] = [{"query": q, "got": []} for q in queries]
        cpu = time.process_time()
        stop = anyio.Event()

        async def watch_stop() -> None:
            while not os.path.getsize(stop_file):
                await anyio.sleep(0.25)
            await anyio.sleep(max(0.0, float(Path(stop_file).read_text()) - time.time()))
            stop.set()

        async with anyio.create_task_group() as tg:
            tg.start_soon(watch_stop)
            for q, o in zip(queries, outs, strict=True):
                tg.start_soon(one, q, o, stop)
        outs[0]["proc_cpu_s"] = time.process_time() - cpu
        return outs

    return anyio.run(go)


async def _all_published(url: str, base: str) -> float:
    """Wait (at most 5 minutes) until the listener has consumed every event and the hub
    has published the newest job-log row; seconds waited."""
    t = time.time()
    conn = await asyncpg.connect(url, server_settings={"application_name": "bench"})
    try:
        # twice a second: the count scans the unconsumed events, on the listener's cores
        while await conn.fetchval("SELECT trapper.orchestrator_events_pending('listener')"):
            await anyio.sleep(0.5)
        last = await conn.fetchval("SELECT max(log_seq) FROM trapper.orchestrator_job_log")
    finally:
        await conn.close()
    headers = {"Authorization": f"Bearer {TOKEN}"}
    with anyio.fail_after(300):
        async with aiohttp.ClientSession() as s, \
                s.ws_connect(f"{base}?after={last - 1}", headers=headers) as ws:
            while f'"log_seq": {last},' not in ((await ws.receive()).data or ""):
                pass
    return time.time() - t


def _rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def _cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Stages:
    """Where commit -> client time accrues, per delivered row (bench/_stamped_serve.py's
    stamps): commit -> the listener's page committed the job-log row (staged rows only) ->
    the feed hub read and published it -> the server sent the frame -> the client got it."""

    NAMES = ("commit -> listener wrote the log row", "listener -> hub read it",
             "commit -> hub read it", "hub read -> frame sent", "frame sent -> client got it")

    def __init__(self, pages: list[list[float]]) -> None:
        self.page_t = [p[0] for p in pages]
        self.page_seq = [int(p[1]) for p in pages]
        self.gaps: dict[bool, dict[str, list[float]]] = {
            staged: {n: [] for n in self.NAMES} for staged in (True, False)}
        self.after_next = [0, 0]     # staged rows the hub read after the next page, of all

    def add(self, seq: int, staged: bool, ack: float, read_at: float, sent_at: float,
            got: float) -> None:
        """One delivery's stages (ms)."""
        g = self.gaps[staged]
        if staged:
            k = bisect_left(self.page_seq, seq)
            if k < len(self.page_seq):
                g[self.NAMES[0]].append((self.page_t[k] - ack) * 1000)
                g[self.NAMES[1]].append((read_at - self.page_t[k]) * 1000)
                # the watermark waits for every transaction writing the log when it probes:
                # a row read only after the listener's next page committed waited for it
                if k + 1 < len(self.page_t):
                    self.after_next[0] += read_at >= self.page_t[k + 1]
                    self.after_next[1] += 1
        g[self.NAMES[2]].append((read_at - ack) * 1000)
        g[self.NAMES[3]].append((sent_at - read_at) * 1000)
        g[self.NAMES[4]].append((got - sent_at) * 1000)

    def report(self) -> None:
        """p50 / p99 of each stage, by path."""
        if self.after_next[1]:
            print(f"   staged rows the hub read only after the listener's next page had "
                  f"committed: {self.after_next[0] / self.after_next[1]:.0%} "
                  f"({len(self.page_t)} pages)")
        for staged, g in self.gaps.items():
            print(f"   stages, {'staged rows (via the listener)' if staged else 'router rows'}"
                  ":")
            for name, xs in g.items():
                if xs:
                    xs.sort()
                    print(f"     {name:<38} p50 {statistics.median(xs):8.1f} ms, "
                          f"p99 {xs[int(len(xs) * 0.99) - 1]:8.1f} ms")


def _read_stamps(path: str) -> dict[str, Any]:
    """The server's stamps file, with the listener's when it ran as its own process (its
    pages and queries, in ``path`` + ".listen"); both files removed."""
    empty = '{"pages": [], "queries": {}}'
    stamped: dict[str, Any] = json.loads(Path(path).read_text() or empty)
    os.unlink(path)
    listen_path = Path(path + ".listen")
    if listen_path.exists():
        other = json.loads(listen_path.read_text() or empty)
        stamped["pages"] += other["pages"]
        stamped["queries"].update(other["queries"])
        stamped.setdefault("spans", []).extend(other.get("spans", []))
        listen_path.unlink()
    return stamped


def _dump(path: str | None, outs: list[dict[str, Any]], stamped: dict[str, Any],
          min_ids: dict[int, int], staged_ack: dict[int, float],
          log_ack: dict[int, float]) -> None:
    """With FEED_DUMP=PATH: every delivery (client, log_seq, staged, commit, hub read, sent,
    received), the listener's pages, the server's spans (its timed queries and event-loop
    lags) and the clients' filters, as JSON, for a closer look than the percentiles."""
    if not path:
        return
    rows = []
    for ci, o in enumerate(outs):
        for s, t, read_at, sent_at in o.get("got", []):
            min_id = min_ids.get(s)
            ack = log_ack.get(s) if min_id is None else staged_ack.get(min_id)
            rows.append((ci, s, min_id is not None, ack, read_at, sent_at, t))
    Path(path).write_text(json.dumps({
        "deliveries": rows, "pages": stamped["pages"], "spans": stamped.get("spans", []),
        "queries": [o["query"] for o in outs]}))


def _print_queries(queries: dict[str, list[float]]) -> None:
    """The server's timed queries, and how many batches (x clients) the hub wrote to a
    client's socket itself and how many it handed to the client's handler."""
    counted = {k: v for k, v in queries.items()
               if k.startswith("hub batches") or k.startswith("hub steps")}
    print("   the server's queries (calls, mean, max ms): " + ", ".join(
        f"{name} {n} {tot / n * 1000:.1f} {mx * 1000:.0f}"
        for name, (n, tot, mx) in sorted(queries.items(), key=lambda x: -x[1][1])
        if name not in counted))
    if counted:
        print("   " + ", ".join(f"{name} {v[0]:,.0f}" for name, v in sorted(counted.items())))


def _print_steady(lat: list[float], acks: list[float], start: float) -> None:
    """The run's latencies without the rows committed in its first WARMUP_S. The first rows
    after idle wait for the idle listener's next poll (--poll-interval, 1 s: NOTIFY-off
    writers wake nothing, docs/events.md), so the whole run's p99 holds a start transient
    whose size depends on where in that second the writers began."""
    steady = sorted(x for x, ack in zip(lat, acks, strict=True) if ack >= start + WARMUP_S)
    if steady:
        print(f"   steady state (rows committed after the first {WARMUP_S:.0f} s): p50 "
              f"{statistics.median(steady):.1f} ms, p99 "
              f"{steady[int(len(steady) * 0.99) - 1]:.1f} ms, max {steady[-1]:.1f} ms over "
              f"{len(steady):,} deliveries")


async def wide(seconds: float, clients: int, rate: float, host_share: float = 0.8,
               listener_process: bool = False, listen_poll: float | None = None) -> None:
    """100 clients with mixed filters at 5,000 job-log rows/s, writers' NOTIFY off."""
    fd, stamps_path = tempfile.mkstemp(prefix="feed-stamps-", suffix=".json")
    os.close(fd)
    print("3. (serve --no-listen and atlas-orch listen, two processes)" if listener_process
          else "3. (serve with its listener, one process)")
    async with fresh_database() as url, serving(url, stamps_path,
                                                listener_process=listener_process,
                                                listen_poll=listen_poll) as (port, proc,
                                                                             lproc):
        base = f"ws://127.0.0.1:{port}/api/admin/orchestrator/feed"
        queries = wide_filters(clients)
        groups = [queries[g::CLIENT_PROCS] for g in range(CLIENT_PROCS)]
        rss: list[int] = []
        base_rss = _rss_kb(proc.pid)
        cpu0, t0 = _cpu_s(proc.pid), time.time()
        lcpu0 = _cpu_s(lproc.pid) if lproc else 0.0
        stop_at = time.time() + 3600.0

        backend_cpu: dict[int, tuple[str, float, float]] = {}   # pid: (name, first, last)
        watch = await asyncpg.connect(url, server_settings={"application_name": "bench"})

        async def sample() -> None:
            # the database's own CPU, by session (read from /proc: same machine): the
            # listener's pages, the feed's reads and the writers all run in backends
            while time.time() < stop_at:
                rss.append(_rss_kb(proc.pid))
                for r in await watch.fetch(
                        "SELECT pid, coalesce(nullif(application_name, ''), backend_type) "
                        "FROM pg_stat_activity WHERE datname = current_database() "
                        "AND pid <> pg_backend_pid()"):
                    with contextlib.suppress(OSError):
                        c = _cpu_s(r[0])
                        first = backend_cpu.get(r[0], (r[1], c, c))[1]
                        backend_cpu[r[0]] = (r[1], first, c)
                await anyio.sleep(0.25)

        fd, stop_path = tempfile.mkstemp(prefix="feed-stop-")
        os.close(fd)

        def run_all() -> tuple[list[dict[str, Any]], list[dict[str, Any]], float]:
            nonlocal stop_at
            ctx = mp.get_context("spawn")
            with ctx.Pool(CLIENT_PROCS) as cpool, ctx.Pool(5) as wpool:
                jobs: list[tuple[str, str, int, float, float, float, int]]
                # every process up (spawned and its imports done) before the clock starts
                cpool.map(abs, range(CLIENT_PROCS), chunksize=1)
                wpool.map(abs, range(5), chunksize=1)
                start_at = time.time() + 3.0    # the clients connect meanwhile
                # 4 host writers at 4 rows per transaction carry 4/5 of the rate, 1 router
                # writer at 10 rows per transaction the rest
                host_tx = rate * host_share / 4 / 4
                router_tx = rate * (1 - host_share) / 10
                jobs = [(url, "host", k, start_at, seconds, host_tx, 4)
                        for k in range(4) if host_tx > 0]
                if router_tx > 0:
                    jobs.append((url, "router", 4, start_at, seconds, router_tx, 10))
                cres = cpool.map_async(_wide_clients, [(base, g, stop_path)
                                                       for g in groups], chunksize=1)
                wres = wpool.map(_wide_writer, jobs, chunksize=1)
                # the clients stop once every row is out of the hub, plus a grace for the
                # sends: a late row is counted late, not missing
                published = anyio.from_thread.run(_all_published, url, base)
                stop_at = time.time() + 3.0
                Path(stop_path).write_text(repr(stop_at))
                return [o for r in cres.get() for o in r], wres, published

        async with anyio.create_task_group() as tg:
            tg.start_soon(sample)
            outs, writers, published_s = await anyio.to_thread.run_sync(run_all)
            os.unlink(stop_path)
        cpu, run_s = _cpu_s(proc.pid) - cpu0, time.time() - t0
        lcpu = _cpu_s(lproc.pid) - lcpu0 if lproc else None
        await watch.close()
        conn = await asyncpg.connect(url)
        log = [dict(r) for r in await conn.fetch(
            "SELECT log_seq, action, source_system, source_table, source_record_id, "
            "decision_details FROM trapper.orchestrator_job_log ORDER BY log_seq")]
        staged_rows = await conn.fetch("SELECT id, source_row_id FROM "
                                       "trapper.staged_records")
        await conn.close()
    tx_ack = dict(a for w in writers for a in w["staged"])
    staged_ack = {r["id"]: tx_ack[r["source_row_id"].rpartition("-")[0] + "-"]
                  for r in staged_rows}
    log_ack = dict(a for w in writers for a in w["log"])
    committed = len(staged_ack) + len(log_ack)
    lat: list[float] = []
    lat_all: list[float] = []       # lat in delivery order, beside each row's commit time
    acks_all: list[float] = []
    by_path: dict[str, list[float]] = {"staged (via the listener)": [],
                                       "router rows (written to the log)": []}
    wrong = dups = missing = extra = 0
    rows_sent = 0
    # a staged row's job-log row names it in its details (min_id = max_id: one row an event)
    min_ids = {r["log_seq"]: int(json.loads(r["decision_details"])["min_id"]) for r in log
               if r["action"] == "staged"}
    stamped = _read_stamps(stamps_path)
    stages = Stages(stamped["pages"])
    for o in outs:
        if "cursor" not in o:
            wrong += 1
            continue
        seen = Counter(g[0] for g in o["got"])
        dups += sum(c - 1 for c in seen.values())
        expected = {r["log_seq"] for r in log if r["log_seq"] > o["cursor"]
                    and _matches(o["query"], r)}
        missing += len(expected - seen.keys())
        extra += len(seen.keys() - expected)
        rows_sent += len(o["got"])
        for s, t, read_at, sent_at in o["got"]:
            min_id = min_ids.get(s)
            ack = log_ack.get(s) if min_id is None else staged_ack.get(min_id)
            if ack is not None:
                lat.append((t - ack) * 1000)
                lat_all.append(lat[-1])
                acks_all.append(ack)
                by_path["staged (via the listener)" if min_id is not None
                        else "router rows (written to the log)"].append(lat[-1])
                if read_at is not None and sent_at is not None:
                    stages.add(s, min_id is not None, ack, read_at, sent_at, t)
        wrong += bool(o.get("closed") or o.get("other"))
    _dump(os.environ.get("FEED_DUMP"), outs, stamped, min_ids, staged_ack, log_ack)
    lat.sort()
    print(f"   (writers: {[len(w['staged']) + len(w['log']) for w in writers]} transactions/"
          f"rows, ended {max(w['late_s'] for w in writers):.2f}s late; {len(log):,} log rows, "
          f"all published {published_s:.1f}s after the writers ended; "
          f"clients without a hello {sum('cursor' not in o for o in outs)}, closed "
          f"{sum(bool(o.get('closed')) for o in outs)}, other messages "
          f"{Counter(t for o in outs for t in o.get('other', []))})", file=sys.stderr)
    if not lat:
        print("3. wide feed: nothing delivered")
        return
    print(f"3. wide feed: {clients} clients (mixed filters), {committed / seconds:,.0f} rows/s "
          f"committed with the writers' NOTIFY off; commit -> client p50 "
          f"{statistics.median(lat):.1f} ms, p99 {lat[int(len(lat) * 0.99) - 1]:.1f} ms, "
          f"max {lat[-1]:.1f} ms over {len(lat):,} deliveries (goal p99 <= 50 ms)")
    print(f"   exactly once: {rows_sent:,} rows delivered, {missing} missing, {dups} "
          f"duplicated, {extra} unasked-for, {wrong} clients cut off or failed (goal 0 each)")
    _print_steady(lat_all, acks_all, min([*staged_ack.values(), *log_ack.values()]))
    for path, xs in by_path.items():
        xs.sort()
        if xs:
            print(f"   {path}: p50 {statistics.median(xs):.1f} ms, "
                  f"p99 {xs[int(len(xs) * 0.99) - 1]:.1f} ms")
    stages.report()
    _print_queries(stamped["queries"])
    print(f"   server CPU: {cpu:.1f} s over the run's {run_s:.0f} s "
          f"({cpu / run_s:.0%} of a core); the clients' {CLIENT_PROCS} processes "
          f"{sum(o.get('proc_cpu_s', 0.0) for o in outs):.1f} s, the writers' 5 "
          f"{sum(w['cpu_s'] for w in writers):.1f} s"
          + (f", the listener's process {lcpu:.1f} s" if lcpu is not None else ""))
    by_name: dict[str, float] = {}
    for name, first, last in backend_cpu.values():
        by_name.setdefault(name, 0.0)
        by_name[name] += last - first
    print("   PostgreSQL backends' CPU (s): " + ", ".join(
        f"{name} {c:.1f}" for name, c in sorted(by_name.items(), key=lambda x: -x[1])))
    print(f"   server RSS: {base_rss / 1024:.0f} MB before, max {max(rss) / 1024:.0f} MB, "
          f"last {rss[-1] / 1024:.0f} MB during the run")


# -- 4. the fan-out's own cost, in this process -----------------------------------------------

def fanout_cost(clients: int = 100, batch_rows: int = 50, batches: int = 200) -> None:
    """The server's work per batch for ``clients`` filtered clients: per client and row (the
    way before issue 20: each client filtered and joined every row itself) against once per
    batch and distinct filter (listener.web.feed.Batch.message). Same rows, same process, so
    the ratio holds on a noisy machine."""
    from listener.core.output import to_json
    from listener.web.feed import Batch, Filter, log_message

    queries = wide_filters(clients)
    filters = []
    for q in queries:
        kw = dict(p.split("=", 1) for p in q.split("&") if p)
        filters.append(Filter.of(kw.get("source"), kw.get("action"), kw.get("record")))
    rows: list[list[dict[str, Any]]] = []
    seq = 0
    for b in range(batches):
        batch = []
        for j in range(batch_rows):
            seq += 1
            system, table = SOURCES[(b + j) % len(SOURCES)] if j % 5 else ROUTER_SOURCE
            batch.append({"log_seq": seq, "logged_at": "2026-01-01T00:00:00Z",
                          "action": "staged" if j % 5 else ROUTER_ACTIONS[j % 3],
                          "source_system": system, "source_table": table,
                          "source_record_id": None if j % 5 else f"rec-{j % RECORDS}",
                          "decision_reason": "bench", "decision_details": {"min_id": seq}})
        rows.append(batch)

    def before() -> int:
        sent = 0
        for batch_rows_ in rows:
            encoded = [to_json(r) for r in batch_rows_]
            for f in filters:
                fresh = [(r, t) for r, t in zip(batch_rows_, encoded, strict=True)
                         if r["log_seq"] > 0]
                kept = [(r, t) for r, t in fresh if f.keep(r)]
                if kept:
                    sent += len(log_message([t for _, t in kept], 0))
        return sent

    def after() -> int:
        sent = 0
        for batch_rows_ in rows:
            batch = Batch(0, 0, batch_rows_)
            for f in filters:
                text = batch.message(f)
                if text is not None:
                    sent += len(text)
        return sent

    assert before() == after(), "the two fan-outs must send the same bytes"
    t_before = min(_timed(before) for _ in range(3))
    t_after = min(_timed(after) for _ in range(3))
    n = batches * batch_rows
    print(f"4. fan-out CPU per committed row for {clients} filtered clients: per client and "
          f"row {t_before / n * 1e6:.0f} us, once per batch and filter "
          f"{t_after / n * 1e6:.0f} us ({t_before / t_after:.1f}x less; batches of "
          f"{batch_rows} rows; JSON encoding included in both)")


def _timed(fn: Any) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


async def main(seconds: float, log_rows: int, parts: str, clients: int,
               rate: float, host_share: float, listener_process: bool,
               listen_poll: float | None) -> None:
    if "1" in parts:
        await latency(seconds)
    if "2" in parts:
        await timeline(log_rows)
    if "3" in parts:
        await wide(seconds, clients, rate, host_share, listener_process, listen_poll)
    if "4" in parts:
        fanout_cost(clients)


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--log-rows", type=int, default=10_000_000)
    ap.add_argument("--parts", default="12", help="1, 2, 3 (wide feed), 4 (its fan-out cost)")
    ap.add_argument("--clients", type=int, default=100, help="part 3's websocket clients")
    ap.add_argument("--rate", type=float, default=5000.0, help="part 3's job-log rows/s")
    ap.add_argument("--host-share", type=float, default=0.8,
                    help="part 3's share of rows from staged writers (through the listener); "
                         "the rest are router rows written to the log")
    ap.add_argument("--listener-process", action="store_true",
                    help="part 3 with the listener in its own process (serve --no-listen "
                         "beside atlas-orch listen) instead of inside serve")
    ap.add_argument("--listen-poll", type=float, default=None,
                    help="with --listener-process: the listener's --poll-interval (how soon an "
                         "idle listener sees the first NOTIFY-off rows; default 1 s)")
    a = ap.parse_args()
    anyio.run(main, a.seconds, a.log_rows, a.parts, a.clients, a.rate, a.host_share,
              a.listener_process, a.listen_poll)
