"""``atlas-orch serve`` with per-stage timestamps for bench/feed.py part 3 (nothing here is in
the product; this launcher wraps three of its functions before the CLI starts):

- the listener: after each consume page that wrote job-log rows, the wall time and the
  newest log_seq its session drew (``currval``: the page is one transaction, committed when
  the call returns), so a row's "committed by the listener" time is that of the first page
  whose log_seq reaches it. Written to ``$FEED_STAMPS`` (JSON) when the process ends;
- the feed hub: each batch's publish time (right after it read the rows), appended to the
  batch's ``log`` messages as ``"read_at"`` (once per batch and filter, as the message is);
- the websocket: each ``log`` frame's send time, appended as ``"sent_at"`` (one string copy
  per frame; on the live path, where the hub writes one frame per batch and filter to every
  client's socket, the frame is built per client here, with its stamp).

Run as ``python bench/_stamped_serve.py serve --port N`` (the CLI's own arguments).
"""

from __future__ import annotations

import atexit
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

# this folder's queue.py and events.py would shadow the standard library's and the
# product's modules (as bench/_db.py says): out of the path, the repository in it
_HERE = str(Path(__file__).resolve().parent)
sys.path = [p for p in sys.path if str(Path(p or ".").resolve()) != _HERE]
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402
from aiohttp import web  # noqa: E402

from listener.events import service  # noqa: E402
from listener.web import feed  # noqa: E402

PAGES: list[tuple[float, int]] = []          # (wall time, newest log_seq) per listener page
CURRVAL = ("SELECT currval(pg_get_serial_sequence('trapper.orchestrator_job_log', "
           "'log_seq'))")


async def _drain(self: service.Listener, work: asyncpg.Connection) -> bool:
    """service.Listener._drain, plus a stamp per page that wrote log rows."""
    while True:
        row = await work.fetchrow(self._q["consume"], self.cfg.consumer, self.cfg.batch,
                                  timeout=self.cfg.query_timeout)
        assert row is not None
        if row["log_rows"]:
            t = time.time()
            PAGES.append((t, int(await work.fetchval(CURRVAL))))
        self.stats.pages += 1
        self.stats.events += row["events"]
        self.stats.log_rows += row["log_rows"]
        self.stats.horizon = row["horizon"]
        if row["pass_complete"]:
            return True
        if self._stop.is_set():
            return False


service.Listener._drain = _drain  # type: ignore[method-assign]

_publish = feed.FeedHub._publish


def _stamped_publish(self: feed.FeedHub, batch: feed.Batch) -> None:
    batch.read_at = time.time()  # type: ignore[attr-defined]
    _publish(self, batch)


feed.FeedHub._publish = _stamped_publish  # type: ignore[method-assign]
_message = feed.Batch.message


def _stamped_message(self: feed.Batch, f: feed.Filter) -> str | None:
    cached = f in self._messages
    text = _message(self, f)
    if text is not None and not cached and hasattr(self, "read_at"):
        text = text[:-1] + f', "read_at": {self.read_at:.6f}}}'
        self._messages[f] = text
    return text


feed.Batch.message = _stamped_message  # type: ignore[method-assign]


def _stamped_frame(self: feed.Batch, f: feed.Filter) -> bytes | None:
    """The live path's frame (the hub writes it to the client's socket as it is), with its
    send time: built per client here, where the product builds it once per filter."""
    text = self.message(f)
    return None if text is None else feed.text_frame(
        text[:-1] + f', "sent_at": {time.time():.6f}}}')


_write_live = getattr(feed.Subscriber, "write_live", None)   # absent before the live path


def _counted_write_live(self: feed.Subscriber, batch: feed.Batch) -> bool:
    assert _write_live is not None
    done: bool = _write_live(self, batch)
    q = QUERIES.setdefault("hub batches written live" if done else "hub batches handed back",
                           [0, 0.0, 0.0])
    q[0] += 1
    return done


if _write_live is not None:
    feed.Batch.frame = _stamped_frame  # type: ignore[method-assign]
    feed.Subscriber.write_live = _counted_write_live  # type: ignore[method-assign]
_send_str = web.WebSocketResponse.send_str


async def _stamped_send_str(self: web.WebSocketResponse, data: str,
                            compress: Any = None) -> None:
    if data.startswith('{"type": "log"'):
        data = data[:-1] + f', "sent_at": {time.time():.6f}}}'
    await _send_str(self, data, compress)


web.WebSocketResponse.send_str = _stamped_send_str  # type: ignore[method-assign,assignment]


# the listener's and the hub's queries, timed by name: where their steps spend the time
_NAMES = {service._SQL[n]: f"listener {n}" for n in service._SQL.names()}
_NAMES.update({feed.job_log._SQL[n]: f"hub {n}" for n in feed.job_log._SQL.names()})
QUERIES: dict[str, list[float]] = {}       # name: [calls, total s, max s]
# with FEED_SPANS set: each timed query's (name, wall start, seconds), the event loop's lag
# (a 5 ms sleep's overshoot, when over 2 ms) and each garbage collection: what a stalled row
# was waiting behind
SPANS: list[tuple[str, float, float]] = []
KEEP_SPANS = bool(os.environ.get("FEED_SPANS"))


def _timed(method: Any) -> Any:
    async def run(self: asyncpg.Connection, query: str, *args: Any, **kw: Any) -> Any:
        name = _NAMES.get(query)
        if name is None:
            return await method(self, query, *args, **kw)
        t = time.perf_counter()
        try:
            return await method(self, query, *args, **kw)
        finally:
            d = time.perf_counter() - t
            q = QUERIES.setdefault(name, [0, 0.0, 0.0])
            q[0] += 1
            q[1] += d
            q[2] = max(q[2], d)
            if KEEP_SPANS:
                SPANS.append((name, time.time() - d, d))
    return run


_advance = getattr(getattr(feed, "Watermark", None), "advance", None)   # absent before it


def _counted_advance(self: Any, found: Any) -> int:
    """feed.Watermark.advance, counting the hub's looks that leave a writer holding the mark
    below the sequence (the hub then looks again shortly)."""
    assert _advance is not None
    mark: int = _advance(self, found)
    name = "hub steps leaving the mark held back" if self.waiting else "hub steps settled"
    QUERIES.setdefault(name, [0, 0.0, 0.0])[0] += 1
    return mark


if _advance is not None:
    feed.Watermark.advance = _counted_advance  # type: ignore[method-assign]

for _m in ("fetch", "fetchrow", "fetchval", "execute"):
    setattr(asyncpg.Connection, _m, _timed(getattr(asyncpg.Connection, _m)))


async def _loop_lag() -> None:
    import asyncio
    while True:
        t = time.perf_counter()
        await asyncio.sleep(0.005)
        late = time.perf_counter() - t - 0.005
        if late > 0.002:
            SPANS.append(("loop lag", time.time() - late, late))


_gc_start: list[float] = [0.0]


def _gc_timed(phase: str, info: dict[str, Any]) -> None:
    if phase == "start":
        _gc_start[0] = time.perf_counter()
    elif _gc_start[0]:
        d = time.perf_counter() - _gc_start[0]
        SPANS.append((f"{sys.argv[1]} gc gen{info['generation']}", time.time() - d, d))


if KEEP_SPANS:
    import gc
    gc.callbacks.append(_gc_timed)
    _start = feed.FeedHub.start

    async def _start_with_lag(self: feed.FeedHub) -> None:
        import asyncio
        await _start(self)
        self._lag_task = asyncio.create_task(_loop_lag())  # type: ignore[attr-defined]

    feed.FeedHub.start = _start_with_lag  # type: ignore[method-assign]


@atexit.register
def _dump() -> None:
    path = os.environ.get("FEED_STAMPS")
    if path:
        Path(path).write_text(json.dumps({"pages": PAGES, "queries": QUERIES,
                                          "spans": SPANS}))


if __name__ == "__main__":
    from listener.cli.main import main

    sys.argv[0] = "atlas-orch"
    main()
