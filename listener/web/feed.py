"""The live feed: job-log rows to websocket clients, in log_seq order, never a gap or a
duplicate, whether a client resumes from a cursor or watches live.

A log_seq is drawn before its transaction commits, so rows become visible out of order. The
hub therefore only publishes up to a watermark below which every row is final (Watermark:
from looks at the transactions writing the log, trapper.orchestrator_writers, and the
NOTIFYs of the ones that committed). Each process serves its own clients from its own LISTEN
on ``orchestrator_job_log``, with a short poll as the safety net.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import asyncpg

from listener.admin import feed as job_log
from listener.core.db import pin_session, session_settings
from listener.core.logs import event
from listener.core.output import to_json

log = logging.getLogger("atlas_orch.feed")

LOG_CHANNEL = "orchestrator_job_log"
# Bytes a live client's socket may hold unsent before its batches go back through its queue
# and handler (which waits for the socket): asyncio's own high-water mark for a transport.
LIVE_BUFFER = 64 * 1024


@dataclass(frozen=True)
class Filter:
    """What a feed client asked for: a source (system, or system and table), a kind of row
    (``action``), a source record. Hashable: clients with the same filter share the message
    a batch builds for them."""

    system: str | None = None
    table: str | None = None
    action: str | None = None
    record: str | None = None

    @classmethod
    def of(cls, source: str | None, action: str | None, record: str | None = None) -> Filter:
        """The filter for the feed's ``source`` (SYSTEM or SYSTEM/TABLE), ``action`` and
        ``record`` parameters."""
        system, _, table = (source or "").partition("/")
        return cls(system or None, table or None, action or None, record or None)

    def keep(self, row: dict[str, Any]) -> bool:
        """Whether ``row`` passes."""
        return ((self.system is None or row["source_system"] == self.system)
                and (self.table is None or row["source_table"] == self.table)
                and (self.action is None or row["action"] == self.action)
                and (self.record is None or row["source_record_id"] == self.record))


@dataclass
class Batch:
    lo: int                        # rows with lo < log_seq <= hi, all of them
    hi: int
    rows: list[dict[str, Any]]
    encoded: list[str] = field(default_factory=list)   # each row's JSON, encoded once
    # The fan-out's work is done once per batch and distinct filter, not once per client and
    # row: an index of the rows by each field a filter names, and each filter's message.
    _index: dict[tuple[str, Any], list[int]] | None = field(default=None, repr=False)
    _messages: dict[Filter, str | None] = field(default_factory=dict, repr=False)
    _frames: dict[Filter, bytes | None] = field(default_factory=dict, repr=False)

    replays: list[int] = field(default_factory=list)    # rows that carry a timeline

    def __post_init__(self) -> None:
        if not self.encoded and self.rows:
            self.encoded = [to_json(r) for r in self.rows]
        self.replays = [i for i, r in enumerate(self.rows) if is_replay(r)]

    def _candidates(self, f: Filter) -> range | list[int]:
        """Indexes of the rows that may pass ``f``: those of its most selective field."""
        if f == ALL:
            return range(len(self.rows))
        if self._index is None:
            index: dict[tuple[str, Any], list[int]] = {}
            for i, r in enumerate(self.rows):
                for key in (("record", r["source_record_id"]),
                            ("table", (r["source_system"], r["source_table"])),
                            ("system", r["source_system"]), ("action", r["action"])):
                    index.setdefault(key, []).append(i)
            self._index = index
        key = (("record", f.record) if f.record is not None
               else ("table", (f.system, f.table)) if f.table is not None
               else ("system", f.system) if f.system is not None
               else ("action", f.action))
        return self._index.get(key, [])

    def message(self, f: Filter) -> str | None:
        """The ``log`` message of this batch's rows that pass ``f`` (None when none does),
        built once for every client with the same filter."""
        if f in self._messages:
            return self._messages[f]
        kept = [i for i in self._candidates(f) if f.keep(self.rows[i])]
        text = (log_message([self.encoded[i] for i in kept], self.hi) if kept else None)
        self._messages[f] = text
        return text

    def frame(self, f: Filter) -> bytes | None:
        """``message(f)`` as a whole websocket frame, encoded once for every live client
        with the same filter (FeedHub writes it to each client's socket as it is)."""
        if f in self._frames:
            return self._frames[f]
        text = self.message(f)
        out = None if text is None else text_frame(text)
        self._frames[f] = out
        return out

    def wants_replay(self, f: Filter) -> bool:
        """Whether a row of ``replay --emit`` passes ``f``: its timeline follows it, which
        takes a query, so such a batch goes through the client's handler."""
        return any(f.keep(self.rows[i]) for i in self.replays)


ALL = Filter()
CLOSED = Batch(-1, -1, [])      # put in a subscriber's queue when its client has gone


def is_replay(row: dict[str, Any]) -> bool:
    """A row of ``replay --emit``: the feed follows it with the record's timeline."""
    details = row.get("decision_details") or {}
    return bool(row["action"] == "replayed" and details.get("mode") == "emit")


def log_message(encoded: list[str], cursor: int) -> str:
    """A ``log`` message from rows already encoded."""
    return '{"type": "log", "rows": [' + ", ".join(encoded) + f'], "cursor": {cursor}}}'


def text_frame(text: str) -> bytes:
    """``text`` as one websocket text frame (RFC 6455 5.2: final, unmasked as a server's
    frames are, no extension): header and payload in one piece, so that a client gets it in
    one write, not the header alone first (aiohttp writes a frame over 16 KiB in two)."""
    data = text.encode()
    n = len(data)
    head = (struct.pack("!BB", 0x81, n) if n < 126
            else struct.pack("!BBH", 0x81, 126, n) if n < 1 << 16
            else struct.pack("!BBQ", 0x81, 127, n))
    return head + data


class Socket(Protocol):
    """What the hub needs of a live client's websocket: whether it has closed (a frame
    written after the close frame would break the protocol)."""

    @property
    def closed(self) -> bool: ...


class Transport(Protocol):
    """What the hub needs of the connection under a live client's websocket."""

    def write(self, data: bytes) -> None: ...

    def is_closing(self) -> bool: ...

    def get_write_buffer_size(self) -> int: ...


MAX_HEARD = 10_000      # backends remembered by Watermark.hear before it forgets them all


@dataclass
class Watermark:
    """A log_seq below which every job-log row is final, moved without waiting for the
    transactions writing the log to finish.

    A writer takes the log's lock before it draws a log_seq, so a transaction that was not
    writing at one look at the writers (listener.admin.feed.writers) holds only values above
    the sequence's value at that look: each writer carries that bound from the look before
    the one that first saw it, and the mark is the least bound among the writers still there,
    or the sequence's value at the look when there are none. A NOTIFY on the log's channel
    says that a backend's transaction committed rows up to its payload, and that backend's
    next transaction draws above them: a writer from a backend heard from is bounded by what
    was heard too. So the listener's next page, writing while the hub reads the one it just
    announced, no longer holds that one back; before, the mark waited for every transaction
    writing at a look to end, and a page's rows waited for the next page's commit
    (docs/SCALING.md)."""

    mark: int = 0
    seq: int = 0                # the sequence's value at the last look
    bounds: dict[str, int] = field(default_factory=dict)   # writer (vxid): its rows are above
    heard: dict[int, int] = field(default_factory=dict)    # pid: the newest log_seq announced

    def hear(self, pid: int, payload: str) -> None:
        """A NOTIFY on the log's channel from backend ``pid``: its transaction has committed,
        its rows up to ``payload`` (trapper.orchestrator_notify_once) among them."""
        try:
            seq = int(payload)
        except ValueError:      # not ours: no bound from it
            return
        if len(self.heard) >= MAX_HEARD:
            self.heard.clear()      # forgetting costs a wait, never a row
        if seq > self.heard.get(pid, 0):
            self.heard[pid] = seq

    def advance(self, found: job_log.Writers) -> int:
        """The mark after a look at the writers (never lower than before)."""
        if not found.looked:
            # nothing drawn past the mark: no writer holds a value left to wait for, and
            # whatever one draws from now on lies above found.seq
            self.bounds, self.seq = {}, found.seq
            return self.mark
        bounds = {}
        for vxid, pid in found.writers:
            bound = self.bounds.get(vxid, self.seq)
            if pid is not None:
                bound = max(bound, self.heard.get(pid, bound))
            bounds[vxid] = bound
        self.bounds, self.seq = bounds, found.seq
        self.mark = max(self.mark, min([found.seq, *bounds.values()]))
        return self.mark

    @property
    def waiting(self) -> bool:
        """Whether a writer holds the mark below the sequence (the hub looks again soon)."""
        return self.mark < self.seq


@dataclass(eq=False)   # held in a set, by identity
class Subscriber:
    """One feed client. Its handler sends what precedes live rows (the rows from its cursor,
    timelines) and whatever the hub hands it through ``queue``; while the client keeps up
    (``live``), the hub writes each batch's frame to its socket itself, in ``publish``:
    no task to wake per client and batch, no encoding per client."""

    queue: asyncio.Queue[Batch]
    wanted: Filter = ALL
    lagged: bool = False
    pos: int = 0        # the client's cursor: every row up to here sent, or not wanted
    live: tuple[Socket, Transport] | None = None

    def close(self) -> None:
        """Wake whoever waits on the queue: the client has gone. A full queue needs no
        marker: its reader is not waiting."""
        self.live = None
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(CLOSED)

    def go_live(self, ws: Socket, transport: Transport | None, watermark: int) -> bool:
        """Let the hub write to this client from now on, if its handler has nothing left to
        send: its queue empty, its cursor at the hub's ``watermark``, its socket not backed
        up. The check and the switch happen with no await between them, so no batch falls
        between the handler's sends and the hub's."""
        if (self.lagged or not self.queue.empty() or self.pos != watermark or ws.closed
                or transport is None or transport.is_closing()
                or transport.get_write_buffer_size() > LIVE_BUFFER):
            return False
        self.live = (ws, transport)
        return True

    def write_live(self, batch: Batch) -> bool:
        """Write ``batch`` straight to the live client's socket; False (and no longer live)
        when the handler must take it instead: the socket closed or backed up (the handler
        waits for it, and the queue's bound cuts the client off if it never drains), a
        timeline to send after a row, or a batch that does not follow the cursor."""
        assert self.live is not None
        ws, transport = self.live
        if (ws.closed or transport.is_closing() or batch.lo != self.pos
                or transport.get_write_buffer_size() > LIVE_BUFFER
                or (batch.replays and batch.wants_replay(self.wanted))):
            self.live = None
            return False
        frame = batch.frame(self.wanted)
        if frame is not None:
            transport.write(frame)
        self.pos = batch.hi
        return True


@dataclass
class FeedHub:
    """One per server process: advances the watermark and fans batches out."""

    listen_url: str
    poll_s: float = 0.2
    # Rows that arrive with no NOTIFY (writers with atlas_orch.notify = off, docs/events.md)
    # make the hub look again within busy_s for busy_linger_s, as the listener does (its
    # StepPace): a flowing unannounced stream is followed closely, an idle hub costs nothing.
    busy_s: float = 0.01
    busy_linger_s: float = 0.25
    max_queue: int = 200
    watermark: int = 0
    subscribers: set[Subscriber] = field(default_factory=set)
    lagged_total: int = 0          # clients cut off as too slow since start (/metrics)
    stalled_total: int = 0         # clients dropped as not reading at all (/metrics)
    closing: bool = False          # the server is shutting down: every client is let go
    final: Watermark = field(default_factory=Watermark)    # rows up to here are final
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    _stop: asyncio.Event = field(default_factory=asyncio.Event)
    _conn: asyncpg.Connection | None = None

    async def start(self) -> None:
        """Connect, and start from the log as it is: once every transaction writing it at the
        first look has ended, the feed publishes what commits from there on."""
        self._conn = await self._connect()
        first = None
        while True:
            found = await job_log.writers(self._conn, self.final.mark)
            first = found.seq if first is None else first
            if self.final.advance(found) >= first:
                break
            await asyncio.sleep(0.05)
        self.watermark = self.final.mark
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        await self._task

    async def _connect(self) -> asyncpg.Connection:
        """The hub's one connection, to the primary: it LISTENs on the job log's channel and
        runs the hub's reads. A step is then its queries and nothing else; a pooled
        connection was reset with a round trip of its own at every release, a step or more
        between a row and its clients (bench/feed.py part 3)."""
        conn: asyncpg.Connection = await asyncpg.connect(
            self.listen_url, server_settings=session_settings("atlas-orch serve (feed)"))
        await pin_session(conn)
        await conn.add_listener(LOG_CHANNEL, self._notified)
        return conn

    def _notified(self, _conn: object, pid: int, _channel: str, payload: object) -> None:
        self.final.hear(pid, str(payload))
        self._wake.set()

    def subscribe(self, wanted: Filter | None = None) -> Subscriber:
        """A new client of the feed, for the rows that pass ``wanted`` (every row: None)."""
        sub = Subscriber(asyncio.Queue(self.max_queue), wanted or ALL)
        self.subscribers.add(sub)
        return sub

    def close_subscribers(self) -> None:
        """The server is shutting down: wake every client's handler so that it closes its
        websocket. aiohttp's shutdown waits for open handlers, and a feed handler otherwise
        waits for the next batch for as long as its client stays: a SIGTERM to `serve` (or
        `demo run`) with the page open took tens of seconds to exit."""
        self.closing = True
        for sub in list(self.subscribers):
            sub.close()

    def unsubscribe(self, sub: Subscriber) -> None:
        self.subscribers.discard(sub)

    async def _run(self) -> None:
        conn = self._conn
        woken = False           # whether a NOTIFY (or stop) started this step
        busy_until = 0.0
        loop = asyncio.get_running_loop()
        while not self._stop.is_set():
            published = False
            # Cleared before the step, not after it: a NOTIFY that arrives while the step
            # reads (for rows past the mark it took) must start the next step at once. Cleared
            # after, it was lost, and those rows waited for the next poll (up to poll_s; the
            # listener's pages come with a NOTIFY, so with nothing pending the hub waits poll_s).
            self._wake.clear()
            try:
                if conn is None or conn.is_closed():
                    conn = self._conn = await self._connect()
                mark = self.final.advance(await job_log.writers(conn, self.final.mark))
                while mark > self.watermark:
                    rows = await job_log.rows(conn, self.watermark, mark)
                    hi = rows[-1]["log_seq"] if len(rows) == job_log.PAGE else mark
                    self._publish(Batch(self.watermark, hi, rows))
                    self.watermark = hi
                    published = True
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                event(log, "feed_error", level=logging.WARNING, error=str(exc))
                if conn is not None:
                    conn.terminate()
                conn = None
                await asyncio.sleep(1.0)
            # the poll: NOTIFY is only a wake-up. While a writer holds the mark back, look
            # again soon: its commit is what lets the watermark move
            if published and not woken:
                busy_until = loop.time() + self.busy_linger_s
            wait = (0.005 if self.final.waiting
                    else self.busy_s if loop.time() < busy_until else self.poll_s)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), wait)
            woken = self._wake.is_set()
        if conn is not None and not conn.is_closed():
            await conn.close()

    def _publish(self, batch: Batch) -> None:
        for sub in list(self.subscribers):
            if sub.lagged:
                continue
            if sub.live is not None and sub.write_live(batch):
                continue
            try:
                sub.queue.put_nowait(batch)
            except asyncio.QueueFull:
                # a client too slow to keep up is cut off, not buffered without end
                sub.lagged = True
                sub.live = None
                self.lagged_total += 1
                sub.queue = asyncio.Queue(1)
                sub.queue.put_nowait(Batch(-1, -1, []))


def matcher(source: str | None, action: str | None,
            record: str | None = None) -> Callable[[dict[str, Any]], bool]:
    """A row filter for ``source`` (SYSTEM or SYSTEM/TABLE), ``action`` and ``record``."""
    return Filter.of(source, action, record).keep
