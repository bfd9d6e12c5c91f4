"""The feed hub's wake-ups (listener/web/feed.py), against the real server: a NOTIFY that
arrives while the hub is reading must start its next step. The polls are set to an hour, so
a lost wake-up shows as a row that never comes, not as a slow one."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import pytest

from listener.web import feed
from listener.web.feed import Batch, FeedHub

LOG_ONE = ("INSERT INTO trapper.orchestrator_job_log (action, source_system, source_table, "
           "source_record_id) VALUES ('routed', 'clinichq', 'owner_info', $1) RETURNING log_seq")
HOUR = 3600.0


async def _published(hub: FeedHub, queue: asyncio.Queue[Batch], upto: int) -> list[int]:
    """The log_seqs the hub publishes until it has published ``upto`` (at most 30 s: with
    hour-long polls, only a wake-up gets it there)."""
    seqs: list[int] = []
    while not seqs or seqs[-1] < upto:
        batch = await asyncio.wait_for(queue.get(), 30)
        seqs.extend(r["log_seq"] for r in batch.rows)
    return seqs


def test_a_notify_during_the_hubs_read_is_not_lost(db_url: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    async def go() -> None:
        writer = await asyncpg.connect(db_url)
        hub = FeedHub(db_url, poll_s=HOUR, busy_s=HOUR, busy_linger_s=0.0)
        await hub.start()
        sub = hub.subscribe()
        second: list[int] = []
        rows = feed.job_log.rows

        async def rows_then_write(*args: Any, **kw: Any) -> list[dict[str, Any]]:
            # while the hub reads the first row, another commits (its NOTIFY arrives now)
            got = await rows(*args, **kw)
            if not second:
                second.append(await writer.fetchval(LOG_ONE, "r2"))
                while not hub._wake.is_set():
                    await asyncio.sleep(0.01)
            return got

        monkeypatch.setattr(feed.job_log, "rows", rows_then_write)
        try:
            first = await writer.fetchval(LOG_ONE, "r1")
            assert await _published(hub, sub.queue, first + 1) == [first, second[0]]
        finally:
            await hub.stop()
            await writer.close()

    asyncio.run(go())


def test_rows_written_with_notify_off_are_found_by_the_poll(db_url: str) -> None:
    """The safety net the wake-up fix must keep: with no NOTIFY at all, the poll finds them."""
    async def go() -> None:
        writer = await asyncpg.connect(db_url, server_settings={"atlas_orch.notify": "off"})
        hub = FeedHub(db_url, poll_s=0.05)
        await hub.start()
        sub = hub.subscribe()
        try:
            seqs = [await writer.fetchval(LOG_ONE, f"q{i}") for i in range(3)]
            assert await _published(hub, sub.queue, seqs[-1]) == seqs
        finally:
            await hub.stop()
            await writer.close()

    asyncio.run(go())
