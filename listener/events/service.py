"""``atlas-orch listen``: the one consumer of ``orchestrator_events``.

NOTIFY is only a wake-up (docs/ARCHITECTURE.md contract 3); the work is server-side in
``orchestrator_consume_events`` and ``orchestrator_tally_log``, each page one transaction
that also moves the checkpoint, so a crash at any point loses nothing and enriches nothing
twice. This module holds leadership, listens, probes, reconnects and stops cleanly.

Two connections per leader: the *work* connection holds the session advisory lock (so the
lock dies with the work) and runs every query; the *listen* connection only LISTENs and
answers a timed probe, because notifications reach a session only between its transactions
and asyncpg notices a dead peer only when TCP gives up (asyncpg #519).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import anyio
import asyncpg
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    stop_never,
    wait_exponential_jitter,
)

from listener.core import locks, sql
from listener.core.db import connect, redact
from listener.core.errors import UserError
from listener.core.logs import event
from listener.ingest import runs as ingest_runs

_SQL = sql.beside(__file__, "listener")

# --once: connection attempts before giving up (backoff 0.2 s doubling: ~13 s in all)
ONCE_ATTEMPTS = 7
log = logging.getLogger("atlas_orch.listener")

# One consumer per database: the key is fixed so every listener build agrees on it (and
# the metrics read who holds it).
LEADER_LOCK_KEY = locks.LISTENER_LEADER
EVENTS_CHANNEL = "orchestrator_events"
QUEUE_ANOMALY_KEY = "orchestrator:notify_queue"


class AlertLoop(Protocol):
    """What sends alerts while the listener runs: called with the database URL, the event
    that stops the listener, and a test for whether this process leads (only the leader
    sends)."""

    async def __call__(self, url: str, stop: anyio.Event,
                       active: Callable[[], bool]) -> None: ...


class ConnectionLost(Exception):
    """The listen or work connection stopped answering; reconnect and catch up."""


class AnotherLeader(UserError):
    """``--once`` found another listener consuming."""


class PoolerRefused(UserError):
    """The listen connection cannot carry LISTEN (a transaction-mode pooler)."""


@dataclass
class ListenerConfig:
    url: str
    listen_url: str | None = None      # a direct connection for LISTEN when url is pooled
    consumer: str = "listener"
    batch: int = 1000                  # events per page (one transaction)
    poll_interval: float = 1.0         # catch-up poll when no NOTIFY arrives
    # Unannounced events (see StepPace) bring the next step within busy_interval; after
    # events written with NOTIFY off the short steps go on for busy_linger seconds.
    busy_interval: float = 0.01
    busy_linger: float = 0.25
    # While steps keep finding events, the job-log tally (counters only, nobody waits on it)
    # runs at most this often: it was a third of each busy step, and every row that commits
    # during it waits for it (bench/feed.py part 3). A step that finds no event, and --once,
    # always tally.
    tally_interval: float = 0.25
    # While waiting for a NOTIFY, look this often whether anything was written at all (one
    # sequence read, change_mark): with NOTIFY off nothing else wakes an idle listener before
    # its poll, and the first rows of a stream waited for it (bench/feed.py part 3). 0: off.
    idle_check_interval: float = 0.1
    probe_interval: float = 5.0        # timed query on the listen connection
    probe_timeout: float = 3.0
    standby_interval: float = 1.0      # how often a standby tries to take over
    housekeeping_interval: float = 10.0  # NOTIFY queue check and event pruning
    detect_interval: float = 30.0      # anomaly detectors (0: off)
    query_timeout: float = 120.0
    once: bool = False
    once_wait: float = 0.0             # --once: seconds to wait for a running leader
    once_settle: float = 2.0           # --once: seconds to wait for open writers to finish
    alerts: bool = True                # run the alert sender, when one is handed in


@dataclass
class ListenerStats:
    events: int = 0
    log_rows: int = 0
    tallied: int = 0
    pages: int = 0
    notifications: int = 0
    reconnects: int = 0
    anomalies_changed: int = 0
    ingest_runs_abandoned: int = 0
    housekeeping_refused: int = 0   # ticks whose partition upkeep the database refused
    horizon: str | None = None
    tallied_upto: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _transient(exc: BaseException) -> bool:
    return isinstance(exc, (
        ConnectionLost, OSError, TimeoutError, asyncpg.PostgresConnectionError,
        asyncpg.InterfaceError, asyncpg.exceptions.OperatorInterventionError,
        asyncpg.exceptions.InternalClientError,
    ))


def _keepalive(conn: asyncpg.Connection) -> None:
    """TCP keepalives on our end, so a vanished server is noticed in seconds, not hours."""
    transport = getattr(conn, "_transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None or sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    for opt, value in (("TCP_KEEPIDLE", 10), ("TCP_KEEPINTVL", 5), ("TCP_KEEPCNT", 3)):
        if hasattr(socket, opt):
            sock.setsockopt(socket.IPPROTO_TCP, getattr(socket, opt), value)


# A capture watermark still waiting for writers in flight is looked at again this soon.
WATERMARK_RECHECK = 0.1


@dataclass
class StepPace:
    """How long the consume loop waits for a NOTIFY before it steps anyway.

    Events that arrive with no NOTIFY (captured by the poll, or written by a trigger with
    NOTIFY off) bring the next step within ``busy_interval``; small writers with NOTIFY off
    want theirs fast, so after those the short steps go on for ``busy_linger``. Each step
    that finds none doubles the wait back up to ``poll_interval``, or to WATERMARK_RECHECK
    while a watermark is unsettled. A fast poll kept up while idle would cost a quarter of a
    core (10 ms, measured), and announced events need none of it.
    """

    cfg: ListenerConfig
    wait: float = 0.0
    found_at: float = float("-inf")   # when a step last consumed NOTIFY-off events

    def __post_init__(self) -> None:
        self.wait = self.cfg.poll_interval

    def after_step(self, *, unannounced: bool, captured: bool, settled: bool) -> float:
        """The wait after a step: ``unannounced``, it consumed events no NOTIFY woke it
        for (beyond what it captured); ``captured``, the poll wrote events; ``settled``, no
        watermark waits for writers."""
        now = time.monotonic()
        if unannounced:
            self.found_at = now
        if captured or now - self.found_at < self.cfg.busy_linger:
            self.wait = self.cfg.busy_interval
        else:
            self.wait = min(self.wait * 2,
                            self.cfg.poll_interval if settled else WATERMARK_RECHECK)
        return self.wait

    def next_wait_at_most(self) -> float:
        """The longest wait the next ``after_step`` can return."""
        return max(self.cfg.busy_interval, self.wait * 2)


class Listener:
    """One listener process: standby until it holds the consumer lock, then consume."""

    def __init__(self, cfg: ListenerConfig, *, alerts: AlertLoop | None = None) -> None:
        """``alerts``, when given, runs beside the consumer for as long as the listener runs
        (whoever starts the listener hands in the Slack sender, webhooks.sender.run_configured);
        without it the listener sends no alerts."""
        self.cfg = cfg
        self._alerts = alerts
        self.stats = ListenerStats()
        self.identity = f"{socket.gethostname()}:{os.getpid()}"
        self._q = _SQL
        self._stop = anyio.Event()
        self._wake = anyio.Event()
        self._lost: str | None = None
        self._ever_connected = False
        self.leading = anyio.Event()   # set while this process is the consumer (for tests)

    # -- lifecycle -------------------------------------------------------------------------

    def is_leading(self) -> bool:
        """Whether this process consumes now (the alert sender sends only then)."""
        return self.leading.is_set()

    def stop(self) -> None:
        """Ask the listener to finish its page, store the checkpoint and return."""
        self._stop.set()
        self._wake.set()

    async def run(self) -> ListenerStats:
        """Run until stopped (or, with ``once``, until caught up). Returns what it did."""
        event(log, "listener_started", consumer=self.cfg.consumer, identity=self.identity,
              database=redact(self.cfg.url), once=self.cfg.once)
        failure: Exception | None = None
        async with anyio.create_task_group() as tg:
            tg.start_soon(self._watch_signals)
            if self._alerts is not None and self.cfg.alerts and not self.cfg.once:
                # is_leading, not self.leading.is_set: each session makes a new Event, and
                # the first one's method said "leading" for good after the first reconnect
                tg.start_soon(self._alerts, self.cfg.url, self._stop, self.is_leading)
            try:
                await self._run_with_reconnect()
            except Exception as exc:  # raised below, outside the group, not as a group
                failure = exc
            finally:
                tg.cancel_scope.cancel()
        if failure is not None:
            event(log, "listener_failed", level=logging.ERROR, error=str(failure),
                  error_type=type(failure).__name__)
            raise failure
        event(log, "listener_stopped", **self.stats.as_dict())
        return self.stats

    async def _watch_signals(self) -> None:
        with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
            async for signum in signals:
                event(log, "listener_stopping", signal=signal.Signals(signum).name)
                self.stop()

    async def _run_with_reconnect(self) -> None:
        def before_sleep(state: RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            self.stats.reconnects += 1
            self.stats.errors.append(f"{type(exc).__name__}: {exc}")
            del self.stats.errors[:-20]
            wait = state.next_action.sleep if state.next_action else 0.0
            event(log, "reconnecting", level=logging.WARNING, error=str(exc),
                  error_type=type(exc).__name__, attempt=state.attempt_number,
                  wait_s=round(wait, 2))

        def retryable(exc: BaseException) -> bool:
            # a bad URL at start is the user's to fix; once we have run, the same error
            # means the server went away, and a service waits for it to come back
            return _transient(exc) or (self._ever_connected and isinstance(exc, UserError)
                                       and not isinstance(exc, AnotherLeader | PoolerRefused))

        retrying = AsyncRetrying(
            retry=retry_if_exception(retryable),
            wait=wait_exponential_jitter(multiplier=0.2, max=10.0, jitter=0.5),
            # a service waits for the server to come back; --once (cron, a script) gives up
            # after a few tries (~15 s) and says why, rather than hanging its caller
            stop=stop_after_attempt(ONCE_ATTEMPTS) if self.cfg.once else stop_never,
            before_sleep=before_sleep,
            reraise=True,
        )
        async for attempt in retrying:
            with attempt:
                if self._stop.is_set():
                    return
                await self._session()

    # -- one connected session -------------------------------------------------------------

    async def _connect(self, url: str, role: str) -> asyncpg.Connection:
        conn = await connect(url, application_name=f"atlas-orch listen ({role})")
        self._ever_connected = True
        _keepalive(conn)
        return conn

    async def _session(self) -> None:
        work = await self._connect(self.cfg.url, "work")
        try:
            if not await self._lead(work):
                return
            listen = await self._connect(self.cfg.listen_url or self.cfg.url, "listen")
            try:
                await self._start_listening(listen, work)
                await self._consume_loop(work, listen)
            finally:
                self.leading = anyio.Event()
                await _close(listen)
            if not work.is_closed():
                await work.fetchval(self._q["unlead"], LEADER_LOCK_KEY)
        finally:
            await _close(work)

    async def _lead(self, work: asyncpg.Connection) -> bool:
        """Wait as a standby until this process holds the consumer lock."""
        announced = False
        deadline = time.monotonic() + self.cfg.once_wait
        while not self._stop.is_set():
            if await work.fetchval(self._q["try_lead"], LEADER_LOCK_KEY,
                                   timeout=self.cfg.query_timeout):
                await work.execute(self._q["claim_checkpoint"], self.cfg.consumer,
                                   self.identity, timeout=self.cfg.query_timeout)
                event(log, "leader_acquired", consumer=self.cfg.consumer,
                      identity=self.identity)
                self.leading.set()
                return True
            holder = await work.fetchval(self._q["holder"], self.cfg.consumer)
            if self.cfg.once and time.monotonic() >= deadline:
                raise AnotherLeader(
                    f"another listener ({holder or 'unknown'}) is consuming events; it will "
                    "process them, or stop it first (or pass --wait SECONDS)"
                )
            if not announced:
                event(log, "standby", holder=holder, consumer=self.cfg.consumer)
                announced = True
            with anyio.move_on_after(self.cfg.standby_interval):
                await self._stop.wait()
        return False

    async def _start_listening(self, listen: asyncpg.Connection,
                               work: asyncpg.Connection) -> None:
        self._lost = None

        def on_notify(_c: Any, _pid: int, _channel: str, _payload: object) -> None:
            self.stats.notifications += 1
            self._wake.set()

        def on_terminated(_c: Any) -> None:
            self._lost = "the listen connection was closed by the server"
            self._wake.set()

        await listen.add_listener(EVENTS_CHANNEL, on_notify)
        listen.add_termination_listener(on_terminated)
        # Prove the path end to end: a NOTIFY sent from the work connection must arrive here.
        # Through a transaction-mode pooler the LISTEN lands on a server session that goes
        # back to the pool, and the notification never comes.
        probe_channel = f"atlas_orch_probe_{os.getpid()}"
        arrived = anyio.Event()

        def on_probe(*_: Any) -> None:
            arrived.set()

        await listen.add_listener(probe_channel, on_probe)
        await work.execute("SELECT pg_notify($1, 'probe')", probe_channel)
        with anyio.move_on_after(self.cfg.probe_timeout):
            await arrived.wait()
        await listen.remove_listener(probe_channel, on_probe)
        sticks = arrived.is_set() and await listen.fetchval(
            self._q["listening"], EVENTS_CHANNEL, timeout=self.cfg.probe_timeout)
        if not sticks:
            raise PoolerRefused(
                "LISTEN did not work on this connection (a test notification never arrived): "
                "it looks like a transaction-mode pooler (PgBouncer pool_mode=transaction, "
                "Supavisor port 6543), which cannot carry LISTEN. Point the listener at the "
                "server directly or at a session-mode pool with ATLAS_ORCH_LISTEN_URL "
                "(the triggers' NOTIFY works through any pooler)."
            )
        event(log, "listening", channel=EVENTS_CHANNEL)

    async def _consume_loop(self, work: asyncpg.Connection, listen: asyncpg.Connection) -> None:
        next_probe = time.monotonic() + self.cfg.probe_interval
        next_housekeeping = 0.0
        next_detect = 0.0
        settle_by = time.monotonic() + self.cfg.once_settle
        pace = StepPace(self.cfg)
        woken = False   # whether a NOTIFY started this step
        next_tally = 0.0
        log_settled = False     # what the last tally said
        while True:
            self._wake = anyio.Event()   # a NOTIFY during the drain wakes the next round
            step_at = time.monotonic()
            # read before the step, so a write during it counts as a change after it; only
            # when the wait after it can be long enough to look (_wait_for_change): a busy
            # step's wait is shorter than one look, and a read per step was a round trip
            # more on the path of every row (bench/feed.py part 3)
            mark = (await work.fetchval(self._q["change_mark"], timeout=self.cfg.query_timeout)
                    if (self.cfg.idle_check_interval > 0 and not self.cfg.once
                        and pace.next_wait_at_most() > self.cfg.idle_check_interval)
                    else None)
            consumed = self.stats.events
            captured = await work.fetchrow(self._q["capture"], self.cfg.consumer,
                                           timeout=self.cfg.query_timeout)
            assert captured is not None
            caught_up = await self._drain(work)
            if (self.cfg.once or self.stats.events == consumed
                    or time.monotonic() >= next_tally):
                log_settled = await self._tally(work)
                next_tally = time.monotonic() + self.cfg.tally_interval
            # rows still being written under a capture watermark are not settled either
            tally_settled = log_settled and not captured["pending"]
            backoff = pace.after_step(
                unannounced=not woken and self.stats.events - consumed > captured["events"],
                captured=bool(captured["events"]), settled=tally_settled)
            if self._stop.is_set():
                return
            now = time.monotonic()
            if now >= next_housekeeping:
                await self._housekeeping(work)
                next_housekeeping = now + self.cfg.housekeeping_interval
            if self.cfg.detect_interval > 0 and now >= next_detect:
                await self._detect(work)
                next_detect = now + self.cfg.detect_interval
            if self.cfg.once and caught_up and tally_settled:
                return
            if self.cfg.once and caught_up:
                # rows of transactions still writing are counted once they end; --once waits
                # a little for them, then leaves them to the next run
                if time.monotonic() >= settle_by:
                    event(log, "once_left_pending", level=logging.INFO,
                          reason="transactions still writing; the next run counts them")
                    return
                await anyio.sleep(0.05)
                continue
            if not caught_up:
                continue
            # the pace counts from the step's start: while events flow, a step begins every
            # busy_interval (or right after the last, when it took longer), not a
            # busy_interval after it ended
            now = time.monotonic()
            wait = min(backoff - (now - step_at), next_probe - now)
            if await self._wait_for_change(work, max(0.0, wait), mark):
                pace.found_at = time.monotonic()   # a write no NOTIFY announced: step closely
            woken = self._wake.is_set()
            if self._lost:
                raise ConnectionLost(self._lost)
            if time.monotonic() >= next_probe:
                await self._probe(listen)
                next_probe = time.monotonic() + self.cfg.probe_interval

    async def _wait_for_change(self, work: asyncpg.Connection, wait: float,
                               mark: int | None) -> bool:
        """Wait up to ``wait`` for a NOTIFY; in slices of idle_check_interval, end early when
        change_mark has moved from ``mark``. True when it ended on a change no NOTIFY
        announced."""
        deadline = time.monotonic() + wait
        slice_s = self.cfg.idle_check_interval
        while True:
            left = deadline - time.monotonic()
            step = left if mark is None else min(left, slice_s)
            with anyio.move_on_after(max(0.0, step)):
                await self._wake.wait()
            if self._wake.is_set() or left <= step:
                return False
            now_mark = await work.fetchval(self._q["change_mark"],
                                           timeout=self.cfg.query_timeout)
            if now_mark != mark:
                return True

    async def _drain(self, work: asyncpg.Connection) -> bool:
        """Consume pages until a pass completes; False if stopped between pages."""
        while True:
            row = await work.fetchrow(self._q["consume"], self.cfg.consumer, self.cfg.batch,
                                      timeout=self.cfg.query_timeout)
            assert row is not None
            self.stats.pages += 1
            self.stats.events += row["events"]
            self.stats.log_rows += row["log_rows"]
            self.stats.horizon = row["horizon"]
            if row["events"]:
                event(log, "events_enriched", level=logging.DEBUG, events=row["events"],
                      log_rows=row["log_rows"], horizon=row["horizon"])
            if row["pass_complete"]:
                return True
            if self._stop.is_set():
                return False

    async def _tally(self, work: asyncpg.Connection) -> bool:
        """Fold new job-log rows into counters; True when nothing is left pending."""
        row = await work.fetchrow(self._q["tally"], self.cfg.consumer,
                                  timeout=self.cfg.query_timeout)
        assert row is not None
        self.stats.tallied += row["tallied"]
        self.stats.tallied_upto = row["upto"]
        return not row["pending"]

    async def _probe(self, listen: asyncpg.Connection) -> None:
        try:
            still = await listen.fetchval(self._q["listening"], EVENTS_CHANNEL,
                                          timeout=self.cfg.probe_timeout)
        except (TimeoutError, OSError, asyncpg.InterfaceError) as exc:
            raise ConnectionLost(f"the listen connection did not answer its probe: {exc}") \
                from exc
        if not still:
            raise ConnectionLost("the listen connection is no longer listening")

    async def _detect(self, work: asyncpg.Connection) -> None:
        # Runs whose ingest died are marked first, so this pass raises their ingest_failed.
        self.stats.ingest_runs_abandoned += len(await ingest_runs.mark_abandoned(work))
        for row in await work.fetch(self._q["detect_anomalies"],
                                    timeout=self.cfg.query_timeout):
            self.stats.anomalies_changed += 1
            event(log, f"anomaly_{row['change']}",
                  level=logging.WARNING if row["change"] == "raised" else logging.INFO,
                  anomaly_key=row["anomaly_key"], kind=row["kind"])

    async def _housekeeping(self, work: asyncpg.Connection) -> None:
        row = await work.fetchrow(self._q["queue_usage"])
        assert row is not None
        usage, alert_at = float(row[0]), float(row[1])
        if usage >= alert_at:
            event(log, "notify_queue_high", level=logging.WARNING, usage=usage,
                  alert_at=alert_at)
            await work.fetchval(
                self._q["raise_anomaly"], QUEUE_ANOMALY_KEY, "notify_queue", "critical",
                "orchestrator", "notify_queue",
                f"the NOTIFY queue is {usage:.0%} full (alert at {alert_at:.0%}); when it "
                "fills, every notifying transaction fails at commit",
                "find the session that LISTENs but never reads (often one idle in a "
                "transaction: pg_stat_activity), or set orchestrator_settings.notify = 'off'",
                f'{{"usage": {usage}}}',
            )
        else:
            await work.fetchval(self._q["resolve_anomaly"], QUEUE_ANOMALY_KEY,
                                f"the NOTIFY queue is back to {usage:.1%}")
        try:
            done = await work.fetchrow(self._q["housekeep"], self.cfg.consumer,
                                       timeout=self.cfg.query_timeout)
        except asyncpg.InsufficientPrivilegeError as exc:
            # the rows still land (the DEFAULT partition takes any month not made), so the
            # listener keeps consuming; the line says what to fix, every tick until it is
            self.stats.housekeeping_refused += 1
            event(log, "housekeeping_refused", level=logging.WARNING,
                  error=str(exc).splitlines()[0][:300], count=self.stats.housekeeping_refused,
                  fix="trapper.orchestrator_housekeep runs as the role that installed the "
                      "orchestrator: give this role EXECUTE on it, and that role back its "
                      "ownership of the orchestrator's tables (docs/operations.md, \"Roles "
                      "and rights\")")
            return
        assert done is not None
        if done["pruned"]:
            event(log, "events_pruned", count=done["pruned"])
        if done["made"]:
            event(log, "partitions_made", count=done["made"])
        if done["log_dropped"]:
            event(log, "log_partitions_dropped", rows=done["log_dropped"])

async def _close(conn: asyncpg.Connection) -> None:
    if conn.is_closed():
        return
    try:
        with anyio.fail_after(2):
            await conn.close()
    except Exception as exc:  # a dead peer: closing can only fail; drop the socket
        event(log, "close_failed", level=logging.DEBUG, error=str(exc))
        conn.terminate()

