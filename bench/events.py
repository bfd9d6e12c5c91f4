"""The shadow layer's cost to the host and the listener's speed, in one run:

1. the host pipeline (ingest + process of the same small world) with the shadow layer
   against the same install without it (goal >= 0.95x): as installed (the engine's
   decisions and new entities captured by the listener's poll, everything else by trigger)
   and with every stream by its trigger (--capture-engine trigger), the loads taking turns,
   with a second install without it as the noise floor;
   plus the time spent inside the shadow trigger functions (pg_stat_user_functions: free of
   the run-to-run noise, which on these machines is ~10% for the same work);
2. 4 concurrent single-row writers to staged_records with the shadow layer in the
   configuration recommended for such hosts (poll capture of staged rows, notify off)
   against no triggers (goal >= 0.85x); also the statement trigger with notify off and on,
   and a naive per-row NOTIFY trigger;
3. events/s enriched into job-log rows by `atlas-orch listen` against a bare asyncpg LISTEN
   loop receiving plain per-row NOTIFYs from the same writers (goal >= 1.0x);
4. commit -> job-log row latency p50 / p99 at 2,000 events/s (goal p99 <= 50 ms);
5. identity decision -> job-log row latency during the pipeline, polled against by trigger
   (what the poll costs in freshness).

    .venv/bin/python bench/events.py [--rounds 3] [--pipeline-rounds 12] [--seconds 4]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import anyio
import asyncpg
from _db import fresh_database, median

from listener.ingest import staging as ingest
from listener.queue import worker as worker_mod
from listener.queue.worker import drain_queue
from synthetic.generate import generate

REPO = Path(__file__).resolve().parent.parent

DROP_SHADOW = """
DO $$
DECLARE t record;
BEGIN
    FOR t IN SELECT tgname, tgrelid::regclass AS rel FROM pg_trigger
             WHERE NOT tgisinternal AND tgname LIKE 'orchestrator\\_%'
               AND (tgrelid::regclass::text NOT LIKE 'trapper.orchestrator\\_%'
                    OR tgname = 'orchestrator_job_log_insert') LOOP
        EXECUTE format('DROP TRIGGER %I ON %s', t.tgname, t.rel);
    END LOOP;
END $$"""

NAIVE_NOTIFY = """
CREATE FUNCTION bench_naive_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('bench_naive', json_build_object('table', TG_TABLE_NAME, 'op', TG_OP,
        'id', NEW.id, 'source', NEW.source_system, 'ts', clock_timestamp())::text);
    RETURN NULL;
END $$;
CREATE TRIGGER bench_naive_notify AFTER INSERT ON trapper.staged_records
    FOR EACH ROW EXECUTE FUNCTION bench_naive_notify();"""

INSERT_ONE = ("INSERT INTO trapper.staged_records (source_system, source_table, source_row_id, "
              "row_hash, payload) VALUES ('clinichq', 'owner_info', $1, md5($1), "
              "'{\"owner_first_name\": \"Ada\", \"owner_last_name\": \"Lovelace\"}') "
              "RETURNING id")


# rows whose staged event reached the job log (one event covers a statement, or in poll
# capture a batch of rows)
STAGED_ENRICHED = ("SELECT coalesce(sum((decision_details ->> 'count')::bigint), 0) "
                   "FROM trapper.orchestrator_job_log WHERE action = 'staged'")


# -- writers: separate processes, one connection each, as the research measured ----------

def _writer(args: tuple[str, str, float, float, float]) -> list[tuple[int, float]]:
    url, tag, start_at, seconds, rate = args

    async def go() -> list[tuple[int, float]]:
        conn = await asyncpg.connect(url)
        stmt = await conn.prepare(INSERT_ONE)
        acks: list[tuple[int, float]] = []
        while time.time() < start_at:
            await anyio.sleep(0.001)
        end = start_at + seconds
        i = 0
        while True:
            now = time.time()
            if now >= end:
                break
            if rate:
                due = start_at + i / rate
                if due > now:
                    await anyio.sleep(due - now)
            i += 1
            rid = await stmt.fetchval(f"{tag}-{i}")
            acks.append((rid, time.time()))
        await conn.close()
        return acks

    return anyio.run(go)


def run_writers(url: str, writers: int, seconds: float, rate_each: float = 0.0,
                tag: str = "w") -> tuple[float, list[tuple[int, float]]]:
    """Rows/s committed by ``writers`` processes (paced at ``rate_each`` when given)."""
    start_at = time.time() + 1.0
    with mp.get_context("spawn").Pool(writers) as pool:
        results = pool.map(_writer, [(url, f"{tag}{k}-{time.monotonic_ns()}", start_at, seconds,
                                      rate_each) for k in range(writers)])
    acks = [a for r in results for a in r]
    return len(acks) / seconds, acks


# -- 1. the host pipeline ------------------------------------------------------------------

async def pipeline(url: str, world: Path) -> float:
    conn = await asyncpg.connect(url)
    t = time.perf_counter()
    for e in ingest.read_manifest(world / "manifest.json"):
        await ingest.ingest_file(conn, e.path, e.source_system, e.source_table, fmt=e.fmt)
    await conn.close()
    await drain_queue(url, workers=2)
    return time.perf_counter() - t


async def prepare(url: str, config: str) -> None:
    """``bare`` and ``control``: no shadow triggers; ``poll``: the install as it comes (the
    engine's decisions and new entities captured by the listener's poll); ``trigger``: every
    stream captured by its trigger (``atlas-orch shadow set --capture-engine trigger``)."""
    c = await asyncpg.connect(url)
    if config in ("bare", "control"):
        await c.execute(DROP_SHADOW)
    elif config == "trigger":
        await c.fetchval("SELECT trapper.orchestrator_set_capture('engine', 'trigger')")
    await c.close()


SHADOW_OWN_TIME = """
SELECT coalesce(sum(self_time) FILTER (WHERE funcname LIKE 'orchestrator\\_on\\_%'
                                          OR funcname LIKE 'orchestrator\\_wake%'
                                          OR funcname LIKE 'orchestrator\\_notify%'), 0),
       coalesce(sum(total_time) FILTER (WHERE funcname = 'work_jobs'), 0)
FROM pg_stat_user_functions"""


async def shadow_own_time(world: Path, config: str) -> tuple[float, float]:
    """Milliseconds spent inside the shadow trigger functions while the workers ran, and in
    work_jobs altogether: one run with track_functions on, a figure free of run-to-run noise
    (it leaves out the trigger machinery around the functions, so it is a floor)."""
    async with fresh_database() as url:
        c = await asyncpg.connect(url)
        name = await c.fetchval("SELECT current_database()")
        await c.execute(f'ALTER DATABASE "{name}" SET track_functions = \'pl\'')
        await c.close()
        await prepare(url, config)
        await pipeline(url, world)
        c = await asyncpg.connect(url)
        for _ in range(50):   # the workers' statistics arrive when their sessions end
            own, work = await c.fetchrow(SHADOW_OWN_TIME) or (0, 0)
            if work:
                break
            await anyio.sleep(0.1)
        await c.close()
        return float(own), float(work)


QUEUE_OPEN = ("SELECT EXISTS (SELECT 1 FROM trapper.processing_jobs "
              "WHERE status IN ('queued', 'processing'))")


def rotated(items: list[str], n: int) -> list[str]:
    """``items`` starting at position ``n`` (mod its length): who goes first takes turns."""
    k = n % len(items)
    return items[k:] + items[:k]


async def interleaved(world: Path, sides: dict[str, str], slice_s: float) -> dict[str, float]:
    """Ingest + process of the same files into each side's database, taking turns: one file
    each, then ``slice_s`` of the workers each, until every queue is empty, then the linking
    pass each. Returns each side's summed time. A CPU loop on these machines varies by ~13%
    from one second to the next, so runs one after another differ by that much; turns of
    half a second give every side the same machine."""
    spent = dict.fromkeys(sides, 0.0)
    order = list(sides)
    conns = {k: await asyncpg.connect(u) for k, u in sides.items()}
    try:
        for n, e in enumerate(ingest.read_manifest(world / "manifest.json")):
            for k in rotated(order, n):
                t = time.perf_counter()
                await ingest.ingest_file(conns[k], e.path, e.source_system, e.source_table,
                                         fmt=e.fmt)
                spent[k] += time.perf_counter() - t
        busy = list(order)
        n = 0
        while busy:
            n += 1
            for k in rotated(busy, n):
                t = time.perf_counter()
                await drain_queue(sides[k], workers=2, budget_s=slice_s, signals=False)
                spent[k] += time.perf_counter() - t
            busy = [k for k in busy if await conns[k].fetchval(QUEUE_OPEN)]
        for k in order:
            t = time.perf_counter()
            await conns[k].fetchval(worker_mod._SQL["run_linking"])
            spent[k] += time.perf_counter() - t
    finally:
        for c in conns.values():
            await c.close()
    return spent


async def part_pipeline(world: Path, rounds: int) -> None:
    """Each round: four databases (no shadow layer, a second one without it as the control,
    poll capture, trigger capture) loaded in turns (see ``interleaved``); each side's figure
    is the median of its per-round ratio against the first database without the shadow
    layer. The control's ratio is the noise floor: what the same install shows against
    itself."""
    configs = ["bare", "control", "poll", "trigger"]
    times: dict[str, list[float]] = {c: [] for c in configs}
    for r in range(rounds):
        async with AsyncExitStack() as stack:
            dbs = [await stack.enter_async_context(fresh_database()) for _ in configs]
            urls = dict(zip(rotated(configs, r), dbs, strict=True))
            for config, url in urls.items():
                await prepare(url, config)
            spent = await interleaved(world, urls, 0.5)
        for config in configs:
            times[config].append(spent[config])
    print(f"1. host pipeline (ingest + process, small world, four loads taking turns), "
          f"{rounds} rounds, medians: without shadow {median(times['bare']):.2f}s, poll "
          f"capture {median(times['poll']):.2f}s, trigger capture "
          f"{median(times['trigger']):.2f}s")
    for c, label in (("poll", "with the shadow layer as installed (decisions + entities "
                              "polled)"),
                     ("trigger", "with the shadow layer, every stream by trigger"),
                     ("control", "control: a second install without it (the noise floor)")):
        v = [b / t for b, t in zip(times["bare"], times[c], strict=True)]
        print(f"   {label}: median ratio {median(v):.2f}x [min {min(v):.2f}, max "
              f"{max(v):.2f}]" + ("" if c == "control" else "  (goal >= 0.95x)"))
    for c, label in (("poll", "poll capture"), ("trigger", "trigger capture")):
        own, work = await shadow_own_time(world, c)
        print(f"   {label}, time inside the shadow trigger functions: {own:,.0f} ms of "
              f"{work:,.0f} ms in work_jobs ({own / work:.1%}; pg_stat_user_functions, "
              f"one run: a floor, free of run-to-run noise)")


# -- 2. concurrent single-row writers ------------------------------------------------------

async def setup(url: str, config: str) -> None:
    c = await asyncpg.connect(url)
    if config in ("bare", "naive"):
        await c.execute(DROP_SHADOW)
    if config == "naive":
        await c.execute(NAIVE_NOTIFY)
    if config in ("shadow-notify-off", "shadow-poll"):
        # notify off as a database setting, read for free rather than a table lookup
        await c.execute("UPDATE trapper.orchestrator_settings SET value = 'off' "
                        "WHERE key = 'notify'")
        dbname = await c.fetchval("SELECT current_database()")
        await c.execute(f'ALTER DATABASE "{dbname}" SET atlas_orch.notify = \'off\'')
    if config == "shadow-poll":
        # what docs/events.md recommends for many small concurrent writers: no trigger on
        # staged_records at all; the listener finds new rows itself
        await c.fetchval("SELECT trapper.orchestrator_set_staged_capture('poll')")
    await c.close()


async def part_writers(rounds: int, seconds: float) -> None:
    configs = ["bare", "shadow-poll", "shadow-notify-off", "shadow-notify-on", "naive"]
    rates: dict[str, list[float]] = {c: [] for c in configs}
    for _ in range(rounds):
        for config in configs:
            async with fresh_database() as url:
                await setup(url, config)
                rate, _ = await anyio.to_thread.run_sync(run_writers, url, 4, seconds)
                rates[config].append(rate)
    m = {c: median(v) for c, v in rates.items()}
    print(f"2. 4 single-row writers, rows/s (median of {rounds}): " +
          ", ".join(f"{c} {m[c]:,.0f}" for c in configs))
    print(f"   shadow, poll capture + notify off (recommended for such hosts): "
          f"{m['shadow-poll'] / m['bare']:.2f}x  (goal >= 0.85x)")
    print(f"   shadow, statement trigger + notify off: "
          f"{m['shadow-notify-off'] / m['bare']:.2f}x;  with notify on: "
          f"{m['shadow-notify-on'] / m['bare']:.2f}x;  naive per-row NOTIFY trigger: "
          f"{m['naive'] / m['bare']:.2f}x")


# -- 3. consumer throughput ----------------------------------------------------------------

def start_listener(url: str, *args: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.Popen([sys.executable, "-m", "listener", "listen", *args], env=env,
                            cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


async def wait_leading(url: str) -> None:
    c = await asyncpg.connect(url)
    try:
        for _ in range(200):
            if await c.fetchval("SELECT count(*) FROM pg_stat_activity "
                                "WHERE application_name = 'atlas-orch listen (listen)'"):
                return
            await anyio.sleep(0.05)
        raise RuntimeError("the listener did not start")
    finally:
        await c.close()


async def listener_rate(url: str, seconds: float, poll: str) -> float:
    proc = start_listener(url, "--poll-interval", poll)
    try:
        await wait_leading(url)
        t0 = time.time() + 1.0
        _, acks = await anyio.to_thread.run_sync(run_writers, url, 4, seconds)
        c = await asyncpg.connect(url)
        while await c.fetchval(STAGED_ENRICHED) < len(acks):
            await anyio.sleep(0.01)
        done = time.time()
        await c.close()
        return len(acks) / (done - t0)
    finally:
        proc.terminate()
        proc.wait(30)


async def bare_listen_rate(url: str, seconds: float) -> float:
    got = 0
    last = 0.0

    def on(*_a: Any) -> None:
        nonlocal got, last
        got += 1
        last = time.time()

    c = await asyncpg.connect(url)
    await c.add_listener("bench_naive", on)
    t0 = time.time() + 1.0
    _, acks = await anyio.to_thread.run_sync(run_writers, url, 4, seconds)
    while got < len(acks):
        await anyio.sleep(0.01)
    await c.close()
    return got / (last - t0)


async def part_consumers(rounds: int, seconds: float) -> None:
    ours, ours_poll, bare = [], [], []
    for _ in range(rounds):
        async with fresh_database() as url:
            ours.append(await listener_rate(url, seconds, "1.0"))
        async with fresh_database() as url:
            await setup(url, "shadow-poll")
            ours_poll.append(await listener_rate(url, seconds, "1.0"))
        async with fresh_database() as url:
            await setup(url, "naive")
            bare.append(await bare_listen_rate(url, seconds))
    o, op, b = median(ours), median(ours_poll), median(bare)
    print(f"3. staged rows/s reaching the consumer, 4 writers: bare LISTEN loop on per-row "
          f"NOTIFY {b:,.0f}; "
          f"listener (notify on) {o:,.0f} -> {o / b:.2f}x; listener (poll capture, NOTIFY off) "
          f"{op:,.0f} -> {op / b:.2f}x  (goal >= 1.0x)")


# -- 4. latency at 2,000 events/s ---------------------------------------------------------

# The writers' own sessions turn NOTIFY off (a per-session setting: asyncpg passes unknown
# URL parameters as server settings), so the listener's job-log NOTIFY still reaches the
# LISTEN client that times the rows.
QUIET = "?atlas_orch.notify=off"


@asynccontextmanager
async def timed_listener(url: str) -> AsyncIterator[tuple[asyncpg.Connection,
                                                          list[tuple[int, float]]]]:
    """``atlas-orch listen`` at its defaults, and a connection LISTENing on the job log: each
    NOTIFY's newest log_seq with the time it arrived."""
    proc = start_listener(url)
    try:
        await wait_leading(url)
        seen: list[tuple[int, float]] = []
        c = await asyncpg.connect(url)
        try:
            await c.add_listener("orchestrator_job_log",
                                 lambda *a: seen.append((int(a[3]), time.time())))
            yield c, seen
        finally:
            await c.close()
    finally:
        proc.terminate()
        proc.wait(30)


async def wait_logged(c: asyncpg.Connection, count_sql: str, target: int,
                      timeout: float) -> None:
    """Until ``count_sql`` reaches ``target`` (or ``timeout``), then a moment for the last
    NOTIFYs to arrive."""
    deadline = time.time() + timeout
    while time.time() < deadline and await c.fetchval(count_sql) < target:
        await anyio.sleep(0.05)
    await anyio.sleep(0.2)


async def latency(seconds: float, capture: str,
                  quiet: bool) -> tuple[float, list[float], float]:
    """Commit -> job-log row latencies (ms) of 4 writers paced at 2,000 rows/s in all, seen
    by a LISTEN client on the job log's own NOTIFY: the rate the writers reached, the
    latencies after the first second, and the worst one in the first second (unannounced
    events wait for the listener's poll until it starts stepping fast)."""
    async with fresh_database() as url:
        if capture == "poll":
            c = await asyncpg.connect(url)
            await c.fetchval("SELECT trapper.orchestrator_set_staged_capture('poll')")
            await c.close()
        async with timed_listener(url) as (c, seen):
            _, acks = await anyio.to_thread.run_sync(
                run_writers, url + (QUIET if quiet else ""), 4, seconds, 500.0)
            await wait_logged(c, "SELECT coalesce(sum((decision_details ->> 'count')::int), "
                                 "count(*)) FROM trapper.orchestrator_job_log "
                                 "WHERE action = 'staged'", len(acks), 30)
            rows = await c.fetch("SELECT log_seq, (decision_details ->> 'min_id')::bigint AS id "
                                 "FROM trapper.orchestrator_job_log WHERE action = 'staged'")
    ack = dict(acks)
    began = min(ack.values())
    timed = [(r["log_seq"], ack[r["id"]]) for r in rows if r["id"] in ack]
    steady = latencies([(q, t) for q, t in timed if t >= began + 1.0], seen)
    first = latencies([(q, t) for q, t in timed if t < began + 1.0], seen)
    return len(acks) / seconds, steady, max(first, default=0.0)


async def part_latency(seconds: float) -> None:
    print("4. commit -> job-log row (seen by a LISTEN client), 4 writers paced at 2,000 "
          "rows/s in all  (goal p99 <= 50 ms at 2,000 events/s):")
    for capture, quiet, label in (
            ("trigger", False, "as installed (statement trigger, NOTIFY on)"),
            ("trigger", True, "statement trigger, the writers' sessions NOTIFY off"),
            ("poll", True, "poll capture, NOTIFY off (recommended for many small writers)")):
        rate, lat, first = await latency(seconds, capture, quiet)
        p50, p99 = percentiles(lat)
        print(f"   {label}: {rate:,.0f} events/s, p50 {p50:.1f} ms, p99 {p99:.1f} ms over "
              f"{len(lat):,} events after the first second (in it, at worst {first:.0f} ms)")


def latencies(rows: list[tuple[int, float]], seen: list[tuple[int, float]]) -> list[float]:
    """Milliseconds from each row's start time to the first job-log NOTIFY (whose payload is
    the newest log_seq) that covers the row's log_seq; ``rows`` are (log_seq, start)."""
    seen = sorted(seen)
    lat = []
    j = 0
    for seq, start in sorted(rows):
        while j < len(seen) and seen[j][0] < seq:
            j += 1
        if j < len(seen):
            lat.append((seen[j][1] - start) * 1000)
    return sorted(lat)


def percentiles(lat: list[float]) -> tuple[float, float]:
    return statistics.median(lat), lat[max(0, int(len(lat) * 0.99) - 1)]


DECISIONS_LOGGED = """
SELECT l.log_seq, extract(epoch FROM d.created_at)::float8 AS made
FROM trapper.orchestrator_job_log l
JOIN trapper.data_engine_match_decisions d
  ON d.decision_id = (l.decision_details ->> 'decision_id')::bigint
WHERE l.action = 'identity_decision'"""


async def decision_latency(world: Path, config: str) -> tuple[list[float], int]:
    """The pipeline with a listener running: for each identity decision, the time from its
    transaction's start (the decision's created_at) to its job-log row's NOTIFY."""
    async with fresh_database() as url:
        await prepare(url, config)
        async with timed_listener(url) as (c, seen):
            await pipeline(url, world)
            decisions = await c.fetchval(
                "SELECT count(*) FROM trapper.data_engine_match_decisions")
            await wait_logged(c, "SELECT count(*) FROM trapper.orchestrator_job_log "
                                 "WHERE action = 'identity_decision'", decisions, 60)
            rows = await c.fetch(DECISIONS_LOGGED)
    return latencies([(r["log_seq"], r["made"]) for r in rows], seen), decisions


async def part_decision_latency(world: Path) -> None:
    """What polling the engine streams costs in freshness: decision -> job-log row during a
    pipeline, polled (as installed) against trigger capture."""
    print("5. identity decision -> job-log row during the pipeline (from the start of the "
          "deciding transaction, a batch of records, so both include its length):")
    for config, label in (("poll", "polled (as installed)"), ("trigger", "by trigger")):
        lat, decisions = await decision_latency(world, config)
        p50, p99 = percentiles(lat)
        print(f"   {label}: p50 {p50:.0f} ms, p99 {p99:.0f} ms over {len(lat):,} of "
              f"{decisions:,} decisions")


async def main(rounds: int, seconds: float, parts: str, pipeline_rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        world = Path(tmp)
        if "1" in parts or "5" in parts:
            generate(world, scale="small", seed=1)
        if "1" in parts:
            await part_pipeline(world, pipeline_rounds)
        if "2" in parts:
            await part_writers(rounds, seconds)
        if "3" in parts:
            await part_consumers(rounds, seconds)
        if "4" in parts:
            await part_latency(seconds)
        if "5" in parts:
            await part_decision_latency(world)


if __name__ == "__main__":
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=4.0)
    ap.add_argument("--pipeline-rounds", type=int, default=12,
                    help="rounds of part 1; a run varies by ~10%% on these machines, so the "
                         "median needs more of them than the other parts")
    ap.add_argument("--parts", default="12345", help="which parts to run, e.g. 24")
    a = ap.parse_args()
    anyio.run(main, a.rounds, a.seconds, a.parts, a.pipeline_rounds)
