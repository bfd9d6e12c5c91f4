"""History on day one: write the decision-log rows the listener would have written for what
the host did before the shadow layer was installed (docs/operations.md, "Backfilling
history"; orchestrator migration 016 says what each stream reads and where it stops).

Each batch is one transaction that writes its rows and moves its stream's progress, so a
killed run continues where its last batch committed and a finished run adds nothing. The
rows stop below the first one the listener holds an event or a log row for, so the listener
and the backfill never write the same thing twice, whichever runs first.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

from listener.admin.read import Conn
from listener.core import sql
from listener.core.errors import UsageError, UserError
from listener.core.progress import Progress

_SQL = sql.beside(__file__, "backfill")

# One backfill at a time per database; a second waits for nothing and says so.
BACKFILL_LOCK_KEY = 0x6174_6C61_6266_696C  # "atlabfil"
# The streams cut by id, in the order the pipeline makes their rows; jobs and merges (no id
# to cut at) are written whole, after them.
ID_STREAMS = ("staged", "decisions", "entities")
WHOLE_STREAMS = ("jobs", "merges")
DEFAULT_BATCH = 5000


class BackfillBusy(UserError):
    """Another backfill holds the lock on this database."""


@dataclass
class BackfillResult:
    """What one run did: rows written by stream, source rows read, seconds, and each
    stream's state after it."""

    rows_written: dict[str, int] = field(default_factory=dict)
    source_rows: int = 0
    batches: int = 0
    seconds: float = 0.0
    streams: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total(self) -> int:
        """Log rows written by this run."""
        return sum(self.rows_written.values())

    def as_dict(self) -> dict[str, Any]:
        """For --json."""
        return {**asdict(self), "total": self.total}


async def _count(conn: Conn, query: str, *args: Any) -> int:
    """Rows an INSERT wrote (asyncpg's status line: 'INSERT 0 N')."""
    status = await conn.execute(query, *args)
    return int(status.rsplit(" ", 1)[-1])


async def _plan(conn: Conn) -> None:
    """Fix each id stream's end on its first run (later runs keep it: by then the listener
    has written rows of its own above it)."""
    for stream in ID_STREAMS:
        async with conn.transaction():
            row = await conn.fetchrow(_SQL["lock_stream"], stream)
            assert row is not None
            if row["upto"] is None:
                upto = await conn.fetchval(_SQL[f"plan_{stream}"])
                await conn.execute(_SQL["set_upto"], stream, max(int(upto or 0), 0))


async def status(conn: Conn) -> list[dict[str, Any]]:
    """Each stream's progress (empty before the first run)."""
    await _require(conn)
    return [dict(r) for r in await conn.fetch(_SQL["streams"])]


async def _require(conn: Conn) -> None:
    if not await conn.fetchval(_SQL["installed"]):
        raise UserError("the orchestrator is not installed here (or predates the backfill): "
                        "run `atlas-orch install` first")


async def run(conn: Conn, *, batch: int = DEFAULT_BATCH,
              progress: bool | None = None) -> BackfillResult:
    """Backfill every stream not yet finished; ``progress`` draws a bar on stderr (None:
    when stderr is a terminal)."""
    if batch < 1:
        raise UsageError("--batch must be at least 1")
    await _require(conn)
    if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", BACKFILL_LOCK_KEY):
        raise BackfillBusy("another `atlas-orch backfill` is running on this database; "
                           "it will finish the work (this one changed nothing)")
    try:
        return await _run(conn, batch, progress)
    finally:
        await conn.fetchval("SELECT pg_advisory_unlock($1)", BACKFILL_LOCK_KEY)


async def _run(conn: Conn, batch: int, progress: bool | None) -> BackfillResult:
    started = time.monotonic()
    result = BackfillResult(rows_written={s: 0 for s in (*ID_STREAMS, *WHOLE_STREAMS)})
    await conn.execute(_SQL["begin"])
    await _plan(conn)
    states = {r["stream"]: r for r in await conn.fetch(_SQL["streams"])}
    total = 0
    for stream in ID_STREAMS:
        st = states[stream]
        if st["finished_at"] is None:
            total += int(await conn.fetchval(_SQL[f"remaining_{stream}"], st["done_upto"],
                                             st["upto"]))
    bar = Progress("backfill", total, enabled=progress)
    try:
        for stream in ID_STREAMS:
            while True:
                async with conn.transaction():
                    s = await conn.fetchrow(_SQL["lock_stream"], stream)
                    assert s is not None
                    if s["finished_at"] is not None or s["done_upto"] >= s["upto"]:
                        if s["finished_at"] is None:
                            await conn.execute(_SQL["advance"], stream, s["upto"], 0)
                        break
                    nxt = await conn.fetchrow(_SQL[f"next_{stream}"], s["done_upto"],
                                              s["upto"], batch)
                    assert nxt is not None
                    n = int(nxt[1])
                    # a short batch is the last: it runs to the end, past any gap of ids
                    to = int(s["upto"]) if nxt[0] is None or n < batch else int(nxt[0])
                    written = await _count(conn, _SQL[f"write_{stream}"], s["done_upto"], to)
                    await conn.execute(_SQL["advance"], stream, to, written)
                result.rows_written[stream] += written
                result.source_rows += n
                result.batches += 1
                bar.update(result.source_rows)
        for stream in WHOLE_STREAMS:
            async with conn.transaction():
                s = await conn.fetchrow(_SQL["lock_stream"], stream)
                assert s is not None
                if s["finished_at"] is not None:
                    continue
                written = await _count(conn, _SQL[f"write_{stream}"])
                await conn.execute(_SQL["finish"], stream, written)
            result.rows_written[stream] += written
            result.batches += 1
    finally:
        bar.close()
    result.seconds = round(time.monotonic() - started, 3)
    result.streams = [dict(r) for r in await conn.fetch(_SQL["streams"])]
    return result
