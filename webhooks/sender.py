"""Deliver the alert outbox to Slack incoming webhooks.

The outbox is the truth (docs/ARCHITECTURE.md: "never lost because Slack was down"): a message is
claimed with a lease, sent, then marked delivered, retried later or dead-lettered, so a sender
that dies mid-request leaves it to be sent again (with the same alert id, which shows the
repeat). Retries wait by tenacity's exponential backoff with jitter, computed per attempt and
kept in the table; HTTP 429 waits as long as ``Retry-After`` asks (at most an hour), in the
table too: the webhook's other messages are put off, never slept on, so one throttled webhook
holds up no other; after a webhook gives no answer (a timeout, a refused connection), its
other messages of the round are put off too, not each left to wait out the timeout; other
4xx, and a webhook URL that cannot be requested at all, are dead at once; at most one
message per second goes to each webhook. Whatever goes wrong with one message is that
message's failed attempt, so no message can stop the others.
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import aiohttp
import anyio
import asyncpg
from tenacity import RetryCallState, wait_exponential_jitter

from listener.core import sql
from listener.core.logs import event
from webhooks.config import Route, load_routes, public_url
from webhooks.slack import render

_SQL = sql.beside(__file__, "outbox")

log = logging.getLogger("atlas_orch.alerts")

BACKOFF = wait_exponential_jitter(multiplier=2, max=600, jitter=2)
MIN_INTERVAL_S = 1.0        # Slack: "no more than one message per second" per webhook
LEASE_S = 120
# A Retry-After beyond this is taken as this: "inf" or 1e300 overflowed PostgreSQL's interval
# (and, slept on, stopped the sender for good); Slack's own limits are per minute.
MAX_RETRY_AFTER_S = 3600.0


@dataclass
class SendStats:
    planned: int = 0
    delivered: int = 0
    retried: int = 0
    throttled: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def backoff_s(attempt: int) -> float:
    """Seconds before attempt ``attempt + 1`` (exponential, with jitter)."""
    # tenacity's wait strategies read only attempt_number from the state
    state = RetryCallState(None, None, (), {})  # type: ignore[arg-type]
    state.attempt_number = max(1, attempt)
    return float(BACKOFF(state))


def retry_after_s(value: str | None, now: float | None = None) -> float:
    """Seconds a 429's ``Retry-After`` asks for: delay-seconds or an HTTP date (RFC 9110),
    between 1 s and MAX_RETRY_AFTER_S; 1 s when absent or unreadable (``inf``, ``nan``,
    ``-5``, words)."""
    text = (value or "").strip()
    try:
        wait = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return 1.0
        if when.tzinfo is None:
            return 1.0
        wait = when.timestamp() - (time.time() if now is None else now)
    if not math.isfinite(wait):
        return MAX_RETRY_AFTER_S if wait > 0 else 1.0
    return min(MAX_RETRY_AFTER_S, max(1.0, wait))


class AlertSender:
    """Plans due anomalies into the outbox and delivers what is due."""

    def __init__(self, routes: list[Route], *, timeout_s: float = 10.0,
                 min_interval_s: float = MIN_INTERVAL_S) -> None:
        self.routes = {r.name: r for r in routes}
        self.timeout_s = timeout_s
        self.min_interval_s = min_interval_s
        self.dashboard = public_url()
        self._q = _SQL
        self._last_sent: dict[str, float] = {}      # per webhook URL (in memory only)
        self._blocked_until: dict[str, float] = {}
        # webhooks that gave no answer (a timeout, a refused connection) in this round
        self._unanswered: set[str] = set()

    def _scrub(self, text: str) -> str:
        for r in self.routes.values():
            text = text.replace(r.url, f"<webhook {r.name}>")
        return text

    async def plan(self, conn: asyncpg.Connection, stats: SendStats) -> None:
        if not self.routes:
            return
        plan = json.dumps([r.as_plan() for r in self.routes.values()])
        for row in await conn.fetch(self._q["plan"], plan):
            stats.planned += 1
            event(log, "alert_planned", alert_id=str(row["alert_id"]), route=row["route"],
                  kind=row["kind"], source=f"{row['source_system']}/{row['source_table']}",
                  anomalies=row["anomalies"])

    async def deliver_due(self, conn: asyncpg.Connection, session: aiohttp.ClientSession,
                          stats: SendStats, *, batch: int = 20) -> int:
        """Send every message due now; returns how many were attempted."""
        max_attempts = int(await conn.fetchval(self._q["max_attempts"]) or 8)
        attempted = 0
        self._unanswered = set()
        while True:
            rows = await conn.fetch(self._q["claim"], batch, LEASE_S)
            if not rows:
                return attempted
            for row in rows:
                attempted += 1
                await self._send_one(conn, session, dict(row), max_attempts, stats)

    def blocked_s(self, url: str) -> float:
        """Seconds the webhook at ``url`` asked us (429) to wait still; 0 when it did not."""
        return max(0.0, self._blocked_until.get(url, 0.0) - time.monotonic())

    async def _pace(self, url: str) -> None:
        """Keep one message a second per webhook (a wait of at most min_interval_s)."""
        wait = self._last_sent.get(url, -1e9) + self.min_interval_s - time.monotonic()
        if wait > 0:
            await anyio.sleep(wait)
        self._last_sent[url] = time.monotonic()

    async def _send_one(self, conn: asyncpg.Connection, session: aiohttp.ClientSession,
                        alert: dict[str, Any], max_attempts: int, stats: SendStats) -> None:
        alert_id = alert["alert_id"]
        route = self.routes.get(alert["route"])
        fields = {"alert_id": str(alert_id), "route": alert["route"],
                  "attempt": alert["attempts"]}
        if route is None:
            await conn.execute(self._q["unroutable"], alert_id)
            event(log, "alert_unroutable", level=logging.WARNING, **fields)
            return
        blocked = self.blocked_s(route.url)
        if blocked > 0:
            # the webhook said 429 to an earlier message: this one waits in the table too,
            # costing no attempt. Slept on here, it held up every other route's messages
            # for as long as Retry-After asked.
            await conn.execute(self._q["throttled"], alert_id, blocked,
                               f"waiting {blocked:.0f}s: the webhook asked for a pause (429)")
            stats.throttled += 1
            event(log, "alert_deferred", retry_after_s=round(blocked, 1), **fields)
            return
        if route.url in self._unanswered:
            # the webhook did not answer this round: each of its messages would wait out
            # the timeout in turn, and every other route's messages behind them
            delay = backoff_s(1)
            await conn.execute(self._q["deferred"], alert_id, delay,
                               f"not sent: route {route.name!r} gave no answer to another "
                               "message just before; retried shortly")
            stats.retried += 1
            event(log, "alert_deferred", retry_after_s=round(delay, 1), **fields)
            return
        try:
            alert["anomalies"] = json.loads(alert["anomalies"])
            payload = render(alert, self.dashboard)
        except Exception as exc:  # a bug in rendering: this message's attempt, not the round's
            log.error("alert_render_failed", exc_info=exc, extra={"action": "alert_render_failed",
                                                                   **fields})
            await self._failed(conn, alert, max_attempts, stats, None,
                               f"cannot render the message ({type(exc).__name__}: "
                               f"{str(exc)[:200]}); this is a bug, please report it", False)
            return
        await self._pace(route.url)
        try:
            async with session.post(route.url, json=payload,
                                    timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as resp:
                status = resp.status
                # bytes, decoded leniently: an error page in another charset is still an
                # answer with a status, not a failure to reach the webhook
                body = (await resp.read())[:200].decode("utf-8", "replace")
                retry_after = resp.headers.get("Retry-After")
                # Slack counts one message a second as it receives them: pacing from its answer,
                # not from our send, keeps the spacing when a request is slow to arrive
                self._last_sent[route.url] = time.monotonic()
        except ValueError as exc:
            # the URL cannot be requested at all (a port out of range, a host that is not a
            # host name; aiohttp's InvalidURL is one too): no retry will change that, and
            # a dead letter is what readiness and /metrics show
            error = self._scrub(f"the webhook URL of route {route.name!r} cannot be "
                                f"requested ({type(exc).__name__}: {exc}); fix it, then "
                                "`atlas-orch alerts redeliver`")
            await self._failed(conn, alert, max_attempts, stats, None, error, True)
            return
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            # a timeout may come after Slack took the message: the retry carries the same
            # alert id, so a repeat is visible as one
            error = self._scrub(f"{type(exc).__name__}: {exc}") or type(exc).__name__
            self._unanswered.add(route.url)
            await self._failed(conn, alert, max_attempts, stats, None, error, False)
            return
        if 200 <= status < 300:
            await conn.execute(self._q["delivered"], alert_id, status)
            stats.delivered += 1
            event(log, "alert_delivered", status=status, **fields)
            return
        if status == 429:
            wait = retry_after_s(retry_after)
            self._blocked_until[route.url] = time.monotonic() + wait
            await conn.execute(self._q["throttled"], alert_id, wait,
                               f"429 from Slack; retry after {wait:g}s")
            stats.throttled += 1
            event(log, "alert_throttled", level=logging.WARNING, retry_after_s=wait,
                  **fields)
            return
        error = self._scrub(f"HTTP {status}: {body}")
        permanent = 400 <= status < 500
        await self._failed(conn, alert, max_attempts, stats, status, error, permanent)

    async def _failed(self, conn: asyncpg.Connection, alert: dict[str, Any], max_attempts: int,
                      stats: SendStats, status: int | None, error: str,
                      permanent: bool) -> None:
        """Record a failed attempt: dead when ``permanent`` or the last, else retried later."""
        alert_id = alert["alert_id"]
        fields = {"alert_id": str(alert_id), "route": alert["route"],
                  "attempt": alert["attempts"]}
        if permanent or alert["attempts"] >= max_attempts:
            await conn.execute(self._q["dead"], alert_id, status, error)
            stats.dead += 1
            event(log, "alert_dead_lettered", level=logging.ERROR, error=error,
                  status=status, **fields)
            return
        delay = backoff_s(alert["attempts"])
        await conn.execute(self._q["retry"], alert_id, delay, status, error)
        stats.retried += 1
        event(log, "alert_retry", level=logging.WARNING, error=error, status=status,
              retry_in_s=round(delay, 1), **fields)

    async def run_once(self, conn: asyncpg.Connection) -> SendStats:
        """Plan, then deliver everything due now."""
        stats = SendStats()
        await self.plan(conn, stats)
        if self.routes:
            async with aiohttp.ClientSession() as session:
                await self.deliver_due(conn, session, stats)
        return stats

    async def run(self, url: str, stop: anyio.Event, *, interval_s: float = 2.0,
                  active: Callable[[], bool] = lambda: True) -> None:
        """Plan and deliver until ``stop`` is set; a database or network failure is logged,
        counted and retried on the next round, never fatal to the listener."""
        from listener.core.db import connect

        stats = SendStats()
        conn: asyncpg.Connection | None = None
        async with aiohttp.ClientSession() as session:
            while not stop.is_set():
                if not active():   # only the consuming listener sends: one rate limiter
                    with anyio.move_on_after(interval_s):
                        await stop.wait()
                    continue
                try:
                    if conn is None or conn.is_closed():
                        conn = await connect(url, application_name="atlas-orch alerts")
                    await self.plan(conn, stats)
                    await self.deliver_due(conn, session, stats)
                except Exception as exc:  # counted and logged; the outbox keeps the work
                    stats.errors.append(self._scrub(f"{type(exc).__name__}: {exc}"))
                    del stats.errors[:-20]
                    event(log, "alerts_round_failed", level=logging.ERROR,
                          error=stats.errors[-1])
                    if conn is not None:
                        conn.terminate()
                    conn = None
                with anyio.move_on_after(interval_s):
                    await stop.wait()
        if conn is not None and not conn.is_closed():
            await conn.close()


async def run_configured(url: str, stop: anyio.Event, active: Callable[[], bool]) -> None:
    """Send alerts until ``stop``, to the routes the environment configures, while ``active()``
    (the listener hands this its leadership); with no route configured, say so and return."""
    routes = load_routes()
    if not routes:
        event(log, "alerts_off", reason="no route configured (ATLAS_ORCH_SLACK_WEBHOOK_URL "
                                        "or ATLAS_ORCH_ALERT_ROUTES)")
        return
    event(log, "alerts_on", routes=[f"{r.name} -> {r.host}" for r in routes])
    await AlertSender(routes).run(url, stop, active=active)
