"""Deliver the alert outbox to Slack incoming webhooks.

The outbox is the truth (docs/ARCHITECTURE.md: "never lost because Slack was down"): a message is
claimed with a lease, sent, then marked delivered, retried later or dead-lettered, so a sender
that dies mid-request leaves it to be sent again (with the same alert id, which shows the
repeat). Retries wait by tenacity's exponential backoff with jitter, computed per attempt and
kept in the table; HTTP 429 waits as long as ``Retry-After`` asks; other 4xx are dead at once;
at most one message per second goes to each webhook.
"""

from __future__ import annotations

import json
import logging
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


def _retry_after(headers: Any) -> float:
    try:
        return max(1.0, float(headers.get("Retry-After", "1")))
    except (TypeError, ValueError):
        return 1.0


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
        while True:
            rows = await conn.fetch(self._q["claim"], batch, LEASE_S)
            if not rows:
                return attempted
            for row in rows:
                attempted += 1
                await self._send_one(conn, session, dict(row), max_attempts, stats)

    async def _pace(self, url: str) -> None:
        now = time.monotonic()
        wait = max(self._last_sent.get(url, -1e9) + self.min_interval_s,
                   self._blocked_until.get(url, 0.0)) - now
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
        alert["anomalies"] = json.loads(alert["anomalies"])
        payload = render(alert, self.dashboard)
        await self._pace(route.url)
        status: int | None = None
        try:
            async with session.post(route.url, json=payload,
                                    timeout=aiohttp.ClientTimeout(total=self.timeout_s)) as resp:
                status = resp.status
                body = (await resp.text())[:200]
                # Slack counts one message a second as it receives them: pacing from its answer,
                # not from our send, keeps the spacing when a request is slow to arrive
                self._last_sent[route.url] = time.monotonic()
                if 200 <= status < 300:
                    await conn.execute(self._q["delivered"], alert_id, status)
                    stats.delivered += 1
                    event(log, "alert_delivered", status=status, **fields)
                    return
                if status == 429:
                    wait = _retry_after(resp.headers)
                    self._blocked_until[route.url] = time.monotonic() + wait
                    await conn.execute(self._q["throttled"], alert_id, wait,
                                       f"429 from Slack; retry after {wait:g}s")
                    stats.throttled += 1
                    event(log, "alert_throttled", level=logging.WARNING, retry_after_s=wait,
                          **fields)
                    return
                error = f"HTTP {status}: {body}"
                permanent = 400 <= status < 500
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            # a timeout may come after Slack took the message: the retry carries the same
            # alert id, so a repeat is visible as one
            error = self._scrub(f"{type(exc).__name__}: {exc}") or type(exc).__name__
            permanent = False
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
