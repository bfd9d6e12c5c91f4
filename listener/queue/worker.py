"""The worker: claims jobs in batches, works their records in batched transactions, beats
for the jobs it holds, and on SIGTERM finishes the batch in hand and puts the rest back."""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

import anyio
import asyncpg

from listener.core import db, sql
from listener.core.logs import event

_SQL = sql.beside(__file__, "worker")

log = logging.getLogger("atlas_orch.worker")


@dataclass
class WorkerStats:
    """What a worker run did."""

    jobs_completed: int = 0
    jobs_retrying: int = 0
    jobs_dead_lettered: int = 0
    jobs_lost: int = 0
    records_processed: int = 0
    records_failed: int = 0
    transactions: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0
    # the signal that stopped the run before the queue was empty (SIGINT, SIGTERM), if one did
    interrupted: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


# The fewest records a transaction aims at, however slow its records (next_record_budget):
# each transaction costs its own commit and batch statements, ~2-4 ms.
MIN_RECORD_BUDGET = 20

# How long a worker draining the queue waits before its last look for work another worker
# holds (Worker._loop): longer than a claim's transaction.
LOOK_AGAIN_S = 0.25


def next_record_budget(previous: int, cap: int, target_s: float, records: int,
                       seconds: float) -> int:
    """The records for a worker's next transaction: as many as would have taken about
    ``target_s`` at the pace of the one just worked (``records`` in ``seconds``), from
    MIN_RECORD_BUDGET (or ``cap``, if smaller) to ``cap``; ``cap`` when there is no target,
    ``previous`` when nothing was worked. A record that must create a person, place or cat
    holds that key's lock until its transaction commits, and the other worker, meeting the
    key in another table, waits for the rest of it: slow records (people) make shorter
    transactions, fast ones (cats, appointments) keep ``cap`` and its fewer commits
    (docs/processing.md)."""
    if target_s <= 0:
        return cap
    if records <= 0 or seconds <= 0:
        return previous
    return max(min(MIN_RECORD_BUDGET, cap), min(cap, round(target_s * records / seconds)))


def new_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Worker:
    """One worker process's loop over the queue."""

    def __init__(
        self,
        url: str,
        *,
        worker_id: str | None = None,
        job_batch: int = 10,
        record_budget: int | None = None,
        poll_interval: float = 1.0,
    ) -> None:
        self.url = url
        self.worker_id = worker_id or new_worker_id()
        self.job_batch = job_batch
        self.record_budget = record_budget
        self.poll_interval = poll_interval
        self.stats = WorkerStats()
        self.stopping = anyio.Event()
        self._held: set[uuid.UUID] = set()
        self._unlinked = False
        self._claim = _SQL["claim"]
        self._analyze_every = 0
        self._analyzed_at = 0

    def stop(self) -> None:
        """Ask the loop to finish the batch in hand and exit."""
        self.stopping.set()

    async def run(self, *, until_empty: bool = False, budget_s: float | None = None,
                  signals: bool = True) -> WorkerStats:
        """Work until stopped, or until the queue is empty / the time budget is spent."""
        q = _SQL
        started = time.monotonic()
        async with db.connection(self.url) as conn, db.connection(self.url) as beat_conn:
            settings = {r["key"]: float(r["value"]) for r in await conn.fetch(q["settings"])}
            budget = self.record_budget or int(settings.get("record_batch", 100))
            # a budget given by the caller (--record-batch) is kept as given
            target_s = 0.0 if self.record_budget else float(
                settings.get("transaction_target_ms", 0)) / 1000
            self._analyze_every = int(settings.get("analyze_every_records", 0))
            interval = settings.get("heartbeat_interval_s", 10.0)
            linking = bool(await conn.fetchval(q["has_linking"]))
            # With the orchestrator installed, claim in its dependency order (ORCH_005).
            self._claim = q["claim_orchestrated"] if await conn.fetchval(
                q["has_orchestrator_claim"]) else q["claim"]
            event(log, "worker_started", worker_id=self.worker_id, record_budget=budget)
            async with anyio.create_task_group() as tg:
                tg.start_soon(self._beat, beat_conn, interval)
                if signals:   # not inside a server: its own handlers must stay in place
                    tg.start_soon(self._watch_signals)
                try:
                    await self._loop(conn, budget, target_s, linking, until_empty, budget_s,
                                     started)
                finally:
                    if self._held:
                        await conn.fetchval(q["release"], self.worker_id, list(self._held))
                        event(log, "jobs_released", jobs=len(self._held))
                        self._held.clear()
                    tg.cancel_scope.cancel()
        self.stats.seconds = round(time.monotonic() - started, 3)
        event(log, "worker_stopped", worker_id=self.worker_id, **self.stats.as_dict())
        return self.stats

    def _out_of_time(self, budget_s: float | None, started: float) -> bool:
        return budget_s is not None and time.monotonic() - started >= budget_s

    async def _loop(
        self, conn: asyncpg.Connection, budget: int, target_s: float, linking: bool,
        until_empty: bool, budget_s: float | None, started: float,
    ) -> None:
        q = _SQL
        records = budget   # this transaction's records: next_record_budget
        looked_again = False
        while not self.stopping.is_set() and not self._out_of_time(budget_s, started):
            jobs = await conn.fetch(self._claim, self.worker_id, self.job_batch)
            self.stats.transactions += 1
            if not jobs and until_empty and not looked_again and await conn.fetchval(
                    q["others_working"], self.worker_id):
                # A job another worker was claiming at that moment was skipped (its row
                # locked) and not yet seen as running, so the claim could not share it
                # (claim_share): look once more before leaving the rest to that worker.
                looked_again = True
                await anyio.sleep(LOOK_AGAIN_S)
                continue
            if not jobs:
                # Link once the queue has drained, not after every job: linking reads
                # whole tables and a burst of jobs would run it again and again.
                if linking and self._unlinked:
                    await self._link(conn)
                if until_empty:
                    return
                with anyio.move_on_after(self.poll_interval):
                    await self.stopping.wait()
                continue
            looked_again = False
            self._held = {j["job_id"] for j in jobs}
            event(log, "jobs_claimed", jobs=len(jobs),
                  sources=sorted({f"{j['source_system']}/{j['source_table']}" for j in jobs}))
            while self._held and not self.stopping.is_set():
                order = [j["job_id"] for j in jobs if j["job_id"] in self._held]
                t0 = time.monotonic()
                rows = await conn.fetch(q["work"], order, self.worker_id, records)
                records = next_record_budget(
                    records, budget, target_s,
                    sum((r["processed"] or 0) + (r["failed"] or 0) for r in rows),
                    time.monotonic() - t0)
                self.stats.transactions += 1
                self._unlinked |= self._account(rows)
                await self._maybe_analyze(conn)
                if self._out_of_time(budget_s, started):
                    break
        if linking and self._unlinked and not self.stopping.is_set():
            await self._link(conn)

    async def _maybe_analyze(self, conn: asyncpg.Connection) -> None:
        # Plans cached while the tables were small turn into scans as a load fills them.
        if self._analyze_every <= 0:
            return
        done = self.stats.records_processed + self.stats.records_failed
        if done - self._analyzed_at >= self._analyze_every:
            self._analyzed_at = done
            started = time.monotonic()
            await conn.fetchval(_SQL["refresh_statistics"])
            event(log, "statistics_refreshed", records=done,
                  seconds=round(time.monotonic() - started, 3))

    async def _link(self, conn: asyncpg.Connection) -> None:
        started = time.monotonic()
        result = await conn.fetchval(_SQL["run_linking"])
        self._unlinked = False
        event(log, "entity_linking", seconds=round(time.monotonic() - started, 3),
              result=result)

    def _account(self, rows: list[asyncpg.Record]) -> bool:
        """Update the counters from one work_jobs round; True when a job completed."""
        returned = {r["job_id"] for r in rows}
        for lost in self._held - returned:
            self.stats.jobs_lost += 1
            event(log, "job_lost", level=logging.WARNING, job_id=str(lost),
                  message="job was reclaimed by another worker; leaving it")
        self._held &= returned
        completed = False
        for r in rows:
            self.stats.records_processed += r["processed"] or 0
            self.stats.records_failed += r["failed"] or 0
            status = r["status"]
            if status == "processing":
                continue
            self._held.discard(r["job_id"])
            if status == "completed":
                completed = True
                self.stats.jobs_completed += 1
                event(log, "job_completed", job_id=str(r["job_id"]))
            else:
                if status == "dead_letter":
                    self.stats.jobs_dead_lettered += 1
                else:
                    self.stats.jobs_retrying += 1
                self.stats.errors.append({"job_id": str(r["job_id"]), "status": status,
                                          "error": r["error"]})
                event(log, "job_failed", level=logging.WARNING, job_id=str(r["job_id"]),
                      status=status, error=r["error"])
        return completed

    async def _beat(self, conn: asyncpg.Connection, interval: float) -> None:
        q = _SQL
        while True:
            await anyio.sleep(interval)
            if self._held:
                try:
                    await conn.fetchval(q["heartbeat"], self.worker_id, list(self._held))
                except (asyncpg.PostgresError, OSError) as exc:
                    # The next work_jobs call beats too; a missed beat is survivable.
                    event(log, "heartbeat_failed", level=logging.WARNING, error=str(exc))

    async def _watch_signals(self) -> None:
        await watch_signals([self])


async def watch_signals(workers: list[Worker]) -> None:
    """Stop every worker on the first SIGTERM or SIGINT (each finishes the batch in hand),
    once: a second one finds Python's own handlers again and ends the process at once.

    One watcher for all the workers of a process: a receiver per worker would each replace
    the last one's handler, and only one worker would hear the signal."""
    with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async for signum in signals:
            name = signal.Signals(signum).name
            for w in workers:
                event(log, "worker_stopping", worker_id=w.worker_id, signal=name)
                w.stats.interrupted = name
                w.stop()
            return


async def drain_queue(
    url: str, *, workers: int = 1, job_batch: int = 10, record_budget: int | None = None,
    budget_s: float | None = None, signals: bool = True,
) -> WorkerStats:
    """Run ``workers`` workers until the queue is empty (or the budget ends); summed stats."""
    started = time.monotonic()
    pool = [Worker(url, job_batch=job_batch, record_budget=record_budget)
            for _ in range(workers)]
    async def one(w: Worker) -> None:
        await w.run(until_empty=True, budget_s=budget_s, signals=False)

    async with anyio.create_task_group() as outer:
        if signals:
            outer.start_soon(watch_signals, pool)
        async with anyio.create_task_group() as tg:
            for w in pool:
                tg.start_soon(one, w)
        outer.cancel_scope.cancel()
    total = WorkerStats()
    for w in pool:
        for key, value in w.stats.as_dict().items():
            if key in ("errors",):
                total.errors += value
            elif key == "interrupted":
                total.interrupted = total.interrupted or value
            elif key != "seconds":
                setattr(total, key, getattr(total, key) + value)
    total.seconds = round(time.monotonic() - started, 3)
    return total
