"""The live feed: job-log rows to websocket clients, in log_seq order, never a gap or a
duplicate, whether a client resumes from a cursor or watches live.

A log_seq is drawn before its transaction commits, so rows become visible out of order. The
hub therefore only publishes up to a watermark below which every row is final: the sequence's
value once every transaction that was writing to the job log when it was read has ended
(trapper.orchestrator_watermark_step). Each process serves its own clients from its own LISTEN on
``orchestrator_job_log``, with a short poll as the safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from listener.admin import feed as job_log
from listener.admin.read import Conn
from listener.core.logs import event
from listener.core.output import to_json

log = logging.getLogger("atlas_orch.feed")

LOG_CHANNEL = "orchestrator_job_log"


@dataclass
class Batch:
    lo: int                        # rows with lo < log_seq <= hi, all of them
    hi: int
    rows: list[dict[str, Any]]
    encoded: list[str] = field(default_factory=list)   # each row's JSON, encoded once

    def __post_init__(self) -> None:
        if not self.encoded and self.rows:
            self.encoded = [to_json(r) for r in self.rows]


@dataclass(eq=False)   # held in a set, by identity
class Subscriber:
    queue: asyncio.Queue[Batch]
    lagged: bool = False


@dataclass
class FeedHub:
    """One per server process: advances the watermark and fans batches out."""

    pool: asyncpg.Pool
    listen_url: str
    poll_s: float = 0.2
    max_queue: int = 200
    watermark: int = 0
    subscribers: set[Subscriber] = field(default_factory=set)
    lagged_total: int = 0          # clients cut off as too slow since start (/metrics)
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _probe: tuple[int, list[str]] | None = None

    async def start(self) -> None:
        async with self.pool.acquire() as conn:
            self.watermark = await self._settle(conn, wait=True)
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        await self._task

    def subscribe(self) -> Subscriber:
        sub = Subscriber(asyncio.Queue(self.max_queue))
        self.subscribers.add(sub)
        return sub

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    async def _settle(self, conn: Conn, *, wait: bool = False) -> int:
        """The watermark now, one step of trapper.orchestrator_watermark_step (the probe in
        hand is kept here, per process). With ``wait``, step until no probe waits (startup)."""
        mark = self.watermark
        while True:
            step = await job_log.watermark_step(conn, mark, self._probe)
            mark, self._probe = step.mark, step.probe
            if not wait or self._probe is None:
                return mark
            await asyncio.sleep(0.05)

    async def _run(self) -> None:
        listen: asyncpg.Connection | None = None
        while not self._stop.is_set():
            try:
                if listen is None or listen.is_closed():
                    listen = await asyncpg.connect(
                        self.listen_url, server_settings={"application_name":
                                                          "atlas-orch serve (feed)"})
                    await listen.add_listener(LOG_CHANNEL, lambda *_: self._wake.set())
                async with self.pool.acquire() as conn:
                    mark = await self._settle(conn)
                    while mark > self.watermark:
                        rows = await job_log.rows(conn, self.watermark, mark)
                        hi = rows[-1]["log_seq"] if len(rows) == job_log.PAGE else mark
                        self._publish(Batch(self.watermark, hi, rows))
                        self.watermark = hi
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                event(log, "feed_error", level=logging.WARNING, error=str(exc))
                if listen is not None:
                    listen.terminate()
                listen = None
                await asyncio.sleep(1.0)
            self._wake.clear()
            # the poll: NOTIFY is only a wake-up. While a probe waits for writers to finish,
            # look again soon: their commit is what lets the watermark move
            wait = 0.005 if self._probe is not None else self.poll_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
        if listen is not None and not listen.is_closed():
            await listen.close()

    def _publish(self, batch: Batch) -> None:
        for sub in list(self.subscribers):
            if sub.lagged:
                continue
            try:
                sub.queue.put_nowait(batch)
            except asyncio.QueueFull:
                # a client too slow to keep up is cut off, not buffered without end
                sub.lagged = True
                self.lagged_total += 1
                sub.queue = asyncio.Queue(1)
                sub.queue.put_nowait(Batch(-1, -1, []))


def matcher(source: str | None, action: str | None) -> Callable[[dict[str, Any]], bool]:
    """A row filter for ``source`` (SYSTEM or SYSTEM/TABLE) and ``action``."""
    system, _, table = (source or "").partition("/")

    def ok(row: dict[str, Any]) -> bool:
        if system and row["source_system"] != system:
            return False
        if table and row["source_table"] != table:
            return False
        return not (action and row["action"] != action)

    return ok
