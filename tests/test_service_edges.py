"""The service's edges under hostile or unlucky conditions, as an operator and an API client
meet them in production: a Slack webhook that throttles absurdly or cannot be requested, a
database that cancels statements (statement_timeout) or terminates the server's backends,
a listener that reconnects. Each against real PostgreSQL and real HTTP servers."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import socket
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest

from listener.core.errors import UserError
from listener.events.service import Listener, ListenerConfig
from tests import fake_slack
from tests.conftest import run_cli
from tests.fake_slack import FakeSlack
from tests.helpers import execute, flood_log, sql, val
from tests.listening import wait_for
from tests.serving import ADMIN, READER, Server
from webhooks.config import Route, load_routes
from webhooks.sender import MAX_RETRY_AFTER_S, AlertSender, SendStats, retry_after_s

P = "/api/admin/orchestrator"


def raise_anomaly(url: str, key: str, system: str = "petlink", table: str = "owners") -> None:
    val(url, "SELECT trapper.orchestrator_raise_anomaly($1, $2, $3, $4, $5, $6, $7)",
        key, "job_dead_letter", "critical", system, table, f"summary of {key}", f"fix {key}")


def send(url: str, sender: AlertSender, within_s: float = 60) -> SendStats:
    """One round of the sender; a round that sleeps past ``within_s`` fails the test (the
    sender must never wait out a webhook's Retry-After in the process)."""
    async def go() -> SendStats:
        conn = await asyncpg.connect(url)
        try:
            with anyio.fail_after(within_s):
                return await sender.run_once(conn)
        finally:
            await conn.close()

    return anyio.run(go)


def outbox(url: str) -> list[dict[str, Any]]:
    return [dict(r) for r in sql(url, "SELECT *, extract(epoch FROM next_attempt_at - now()) "
                                      "AS wait_s FROM trapper.orchestrator_alert_outbox "
                                      "ORDER BY created_at")]


@pytest.fixture
def slack_b() -> Iterator[FakeSlack]:
    """A second fake webhook, for a second route."""
    with fake_slack.running() as server:
        yield server


# -- Slack: Retry-After, a throttled webhook, a URL that cannot be requested -----------------

@pytest.mark.parametrize("header,low,high", [
    ("7", 7, 7),
    ("inf", MAX_RETRY_AFTER_S, MAX_RETRY_AFTER_S),
    ("1e300", MAX_RETRY_AFTER_S, MAX_RETRY_AFTER_S),
    ("999999999", MAX_RETRY_AFTER_S, MAX_RETRY_AFTER_S),
    ("nan", 1, 1),
    ("-5", 1, 1),
    ("soon", 1, 1),
    ("", 1, 1),
    (None, 1, 1),
    ("Wed, 21 Oct 2015 07:28:00 GMT", 1, 1),           # a date in the past
    ("Wed, 21 Oct 2015 07:28:30 GMT", 30, 30),          # 30 s after "now" below
])
def test_retry_after_is_read_as_seconds_or_a_date_and_bounded(header: str | None,
                                                              low: float, high: float) -> None:
    now = 1445412480.0      # 2015-10-21 07:28:00 UTC
    assert low <= retry_after_s(header, now=now) <= high


@pytest.mark.parametrize("retry_after", ["inf", "1e300", "86400000"])
def test_an_absurd_retry_after_is_recorded_bounded_and_never_slept_on(
    alerts_db: str, slack: FakeSlack, retry_after: str
) -> None:
    raise_anomaly(alerts_db, "k1")
    raise_anomaly(alerts_db, "k2", table="pets")
    slack.mode, slack.retry_after = "429", retry_after      # type: ignore[assignment]
    stats = send(alerts_db, AlertSender([Route("default", slack.url)], timeout_s=2.0,
                                        min_interval_s=0.0))
    # the first message met the 429, the second was put off without a request
    assert stats.throttled == 2 and len(slack.received) == 1
    rows = outbox(alerts_db)
    assert all(r["status"] == "pending" and r["attempts"] == 0 for r in rows), rows
    assert all(0 < float(r["wait_s"]) <= MAX_RETRY_AFTER_S for r in rows), rows


def test_a_throttled_webhook_holds_up_no_other_route(
    alerts_db: str, slack: FakeSlack, slack_b: FakeSlack
) -> None:
    raise_anomaly(alerts_db, "a1", table="owners")
    raise_anomaly(alerts_db, "a2", table="pets")
    raise_anomaly(alerts_db, "b1", system="airtable", table="trappers")
    slack.mode, slack.retry_after = "429", 600
    sender = AlertSender([Route("a", slack.url, sources=("petlink/*",)),
                          Route("b", slack_b.url, sources=("airtable/*",))],
                         timeout_s=2.0, min_interval_s=0.0)
    stats = send(alerts_db, sender, within_s=30)
    assert stats.delivered == 1 and stats.throttled == 2
    assert len(slack_b.ids(200)) == 1 and len(slack.received) == 1
    waiting = [r for r in outbox(alerts_db) if r["route"] == "a"]
    assert all(r["attempts"] == 0 and float(r["wait_s"]) > 500 for r in waiting), waiting


UNUSABLE = ["http://127.0.0.1:99999/services/T/B/SECRETTOKEN",        # port out of range
            "http://\u2603..\u2603/services/T/B/SECRETTOKEN"]           # not a host name


@pytest.mark.parametrize("url", [*UNUSABLE, "http://exa mple.invalid/services/T/B/SECRETTOKEN"])
def test_a_webhook_url_that_cannot_be_requested_is_refused_when_routes_load(url: str) -> None:
    with pytest.raises(UserError, match="webhook URL") as refused:
        load_routes({"ATLAS_ORCH_SLACK_WEBHOOK_URL": url})
    assert "SECRETTOKEN" not in str(refused.value)


@pytest.mark.parametrize("url", UNUSABLE)
def test_a_webhook_url_that_cannot_be_requested_dead_letters_its_message(alerts_db: str,
                                                                         url: str) -> None:
    # a route built around it anyway: its message is dead at once, naming the route, where
    # the sender's round failed on every try and the message waited for ever
    raise_anomaly(alerts_db, "k1")
    stats = send(alerts_db, AlertSender([Route("default", url)], timeout_s=2.0,
                                        min_interval_s=0.0))
    assert stats.dead == 1, stats
    [row] = outbox(alerts_db)
    assert row["status"] == "dead" and "route 'default'" in row["last_error"]
    assert "SECRETTOKEN" not in row["last_error"]


def test_serve_refuses_a_webhook_url_it_could_never_request(loaded: str) -> None:
    done = run_cli("serve", "--port", "1", env={
        "DATABASE_URL": loaded, "ATLAS_ORCH_ADMIN_TOKEN": ADMIN,
        "ATLAS_ORCH_SLACK_WEBHOOK_URL": "https://hooks.example.invalid:99999/services/SECRET"},
        timeout=60)
    assert done.returncode == 1, done.stderr
    assert "alert route 'default'" in done.stderr and "SECRET" not in done.stderr
    assert "Traceback" not in done.stderr


def test_failing_alerts_are_counted_on_metrics(alerts_db: str, slack: FakeSlack,
                                               tmp_path: Path) -> None:
    raise_anomaly(alerts_db, "k1")
    slack.mode = "500"
    assert send(alerts_db, AlertSender([Route("default", slack.url)], timeout_s=2.0,
                                       min_interval_s=0.0)).retried == 1
    server = Server(alerts_db, tmp_path, "--no-listen")
    try:
        text = metrics(server)
    finally:
        assert server.stop() == 0, server.log()
    assert re.search(r"^atlas_orch_alerts_failing 1\.0$", text, re.M), text
    oldest = re.search(r"^atlas_orch_alert_oldest_pending_seconds (\S+)$", text, re.M)
    assert oldest is not None and float(oldest.group(1)) >= 0


def metrics(server: Server) -> str:
    import urllib.request

    req = urllib.request.Request(server.base + "/metrics",
                                 headers={"Authorization": f"Bearer {READER}"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        return str(resp.read().decode())


# -- the listener hands its sender its leadership as it is now --------------------------------

def test_the_alert_sender_follows_leadership_after_a_session_ends(db_url: str) -> None:
    handed: list[Any] = []

    async def alerts(_url: str, stop: anyio.Event, active: Any) -> None:
        handed.append(active)
        while not active():            # the listener leads: stop it, which ends the session
            await anyio.sleep(0.05)
        listener.stop()
        await stop.wait()

    listener = Listener(ListenerConfig(url=db_url, poll_interval=0.1), alerts=alerts)
    anyio.run(listener.run)
    # the session has ended: this process no longer leads, and its sender must not act as if
    # it did (it was handed the first session's Event, which stays set for good)
    [active] = handed
    assert not listener.leading.is_set() and not active()


# -- PostgreSQL trouble under the API: statement_timeout, a terminated backend ----------------

@contextlib.asynccontextmanager
async def locked(url: str, table: str) -> AsyncIterator[asyncpg.Connection]:
    """``table`` locked ACCESS EXCLUSIVE by another session while the block runs: whatever
    reads it waits, for as long as the test wants, with no timing involved."""
    conn = await asyncpg.connect(url)
    tx = conn.transaction()
    await tx.start()
    try:
        await conn.execute(f"LOCK TABLE {table} IN ACCESS EXCLUSIVE MODE")
        yield conn
    finally:
        await tx.rollback()
        await conn.close()


async def call(server: Server, method: str, path: str, token: str | None = READER,
               body: Any = None) -> tuple[int, dict[str, Any]]:
    return await anyio.to_thread.run_sync(lambda: server.call(method, path, token, body))


async def waiting_backend(url: str, application: str) -> int:
    """The pid of a backend of ``application`` waiting on a lock (polled until there is one)."""
    conn = await asyncpg.connect(url)
    try:
        with anyio.fail_after(60):
            while True:
                pid = await conn.fetchval(
                    "SELECT pid FROM pg_stat_activity WHERE application_name = $1 "
                    "AND wait_event_type = 'Lock' AND datname = current_database()",
                    application)
                if pid is not None:
                    return int(pid)
                await anyio.sleep(0.05)
    finally:
        await conn.close()


def set_statement_timeout(url: str, value: str) -> None:
    execute(url, "DO $$ BEGIN EXECUTE format('ALTER DATABASE %I SET statement_timeout = %L', "
                 f"current_database(), '{value}'); END $$")


@pytest.fixture
def timed_out(loaded: str, tmp_path: Path) -> Iterator[tuple[str, Server]]:
    """The small world served with a 1 s statement_timeout on its database."""
    set_statement_timeout(loaded, "1s")
    server = Server(loaded, tmp_path, "--no-listen")
    try:
        yield loaded, server
    finally:
        assert server.stop() == 0, server.log()


def test_a_statement_timeout_is_a_503_not_an_internal_error(
        timed_out: tuple[str, Server]) -> None:
    url, server = timed_out

    async def go() -> None:
        async with locked(url, "trapper.orchestrator_sources"):
            status, body = await call(server, "GET", f"{P}/sources")
        assert status == 503 and body["error"]["code"] == "cancelled", body
        assert "statement_timeout" in body["error"]["message"]
        async with locked(url, "trapper.processing_jobs"):
            status, body = await call(server, "POST", "/api/ingest/process", ADMIN,
                                      {"budget_s": 5})
        assert status == 503 and body["error"]["code"] == "cancelled", body
        # the lock gone, the same routes answer again
        assert (await call(server, "GET", f"{P}/sources"))[0] == 200

    anyio.run(go)
    assert "Traceback" not in server.log() and '"internal"' not in server.log()


def test_a_backend_terminated_mid_request_is_a_503_and_the_next_request_reconnects(
        loaded: str, tmp_path: Path) -> None:
    server = Server(loaded, tmp_path, "--no-listen")

    async def go() -> None:
        answer: list[tuple[int, dict[str, Any]]] = []

        async def request() -> None:
            answer.append(await call(server, "GET", f"{P}/sources"))

        async with locked(loaded, "trapper.orchestrator_sources") as conn, \
                anyio.create_task_group() as tg:
            tg.start_soon(request)
            pid = await waiting_backend(loaded, "atlas-orch serve")
            assert await conn.fetchval("SELECT pg_terminate_backend($1)", pid)
        [(status, body)] = answer
        assert status == 503 and body["error"]["code"] == "unavailable", body
        for _ in range(10):         # every pooled connection: none is handed out dead
            assert (await call(server, "GET", f"{P}/sources"))[0] == 200

    try:
        anyio.run(go)
    finally:
        assert server.stop() == 0, server.log()
    assert "Traceback" not in server.log()


# -- a filter naming a source that does not exist ---------------------------------------------

def test_a_filter_naming_no_source_or_an_unsendable_time_is_refused(
        loaded: str, tmp_path: Path) -> None:
    import aiohttp

    server = Server(loaded, tmp_path, "--no-listen")
    try:
        for query in ("log?source=nosuch", "log?source=clinichq/nosuch",
                      "rules?source=nosuch/x", "why-missing?source=nosuch",
                      "anomalies?source=nosuch", "reviews?source=nosuch"):
            status, body = server.call("GET", f"{P}/{query}", READER)
            assert status == 409 and body["error"]["code"] == "refused", (query, body)
            assert "no source" in body["error"]["message"], body
        # a time past year 9999 (or before year 1) once in UTC, as the driver sends it: the
        # model's refusal, not the driver's "invalid input for query argument $7"
        for since in ("9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00%2B23:59"):
            status, body = server.call("GET", f"{P}/log?since={since}", READER)
            assert status == 400 and body["error"]["code"] == "bad_query", body
            assert "out of range" in body["error"]["message"], body
        assert server.call("GET", f"{P}/log?since=0001-01-01T00:00:00-23:59",
                           READER)[0] == 200
        # a source that exists, with or without rows to show, still answers
        assert server.call("GET", f"{P}/log?source=clinichq/owner_info&limit=1",
                           READER)[0] == 200
        assert server.call("GET", f"{P}/anomalies?source=clinichq", READER)[0] == 200

        async def hello(source: str) -> dict[str, Any]:
            async with aiohttp.ClientSession() as session, session.ws_connect(
                    f"{server.base}{P}/feed?source={source}",
                    headers={"Authorization": f"Bearer {READER}"}) as ws:
                doc: dict[str, Any] = json.loads((await ws.receive(timeout=30)).data)
                return doc

        # the feed may watch for a source's first rows, so it is not refused, but its hello
        # says at once that the source is unknown (before, a typo was a feed that sent nothing)
        unknown = anyio.run(hello, "nosuch/table")
        assert unknown["type"] == "hello" and "no source 'nosuch/table'" in unknown["note"]
        assert "note" not in anyio.run(hello, "clinichq/owner_info")
    finally:
        assert server.stop() == 0, server.log()


# -- a feed client that reads nothing at all ---------------------------------------------------

def never_reading_client(port: int) -> socket.socket:
    """A websocket handshake over a raw socket with a tiny receive buffer, then no read."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {P}/feed HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  f"Sec-WebSocket-Version: 13\r\nAuthorization: Bearer {READER}\r\n\r\n")
                 .encode())
    head = sock.recv(1024)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def feed_counts(server: Server) -> dict[str, float]:
    return {m.group(1): float(m.group(2)) for m in re.finditer(
        r"^(atlas_orch_feed_clients\w*) (\S+)$", metrics(server), re.M)}


def test_a_feed_client_that_reads_nothing_is_dropped_not_held(loaded: str,
                                                               tmp_path: Path) -> None:
    server = Server(loaded, tmp_path, "--no-listen", "--feed-send-timeout", "2",
                    "--feed-max-queue", "3")
    sock = never_reading_client(server.port)
    try:
        wait_for(lambda: feed_counts(server)["atlas_orch_feed_clients"] == 1, 30,
                 "the client to be counted")
        anyio.run(flood_log, loaded)          # ~24 MB it does not read
        # it is cut off: counted as stalled, no longer a client, its connection reset
        # (before, its handler waited on the unsent bytes for as long as it stayed)
        wait_for(lambda: feed_counts(server)["atlas_orch_feed_clients_stalled_total"] == 1,
                 60, "the server to drop the client")
        assert feed_counts(server)["atlas_orch_feed_clients"] == 0
        sock.settimeout(30)
        with pytest.raises(ConnectionResetError):
            while sock.recv(1 << 16):
                pass
    finally:
        sock.close()
        assert server.stop() == 0, server.log()
    assert '"feed_client_stalled"' in server.log() and "Traceback" not in server.log()


def test_a_webhook_that_does_not_answer_holds_up_no_other_route(
    alerts_db: str, slack: FakeSlack, slack_b: FakeSlack
) -> None:
    for key, table in (("a1", "owners"), ("a2", "pets"), ("a3", "visits")):
        raise_anomaly(alerts_db, key, table=table)
    raise_anomaly(alerts_db, "b1", system="airtable", table="trappers")
    slack.mode, slack.hang_s = "hang", 3.0
    sender = AlertSender([Route("a", slack.url, sources=("petlink/*",)),
                          Route("b", slack_b.url, sources=("airtable/*",))],
                         timeout_s=0.5, min_interval_s=0.0)
    stats = send(alerts_db, sender)
    # one request met the silence; the others of its webhook were put off without one, at no
    # attempt's cost, and the other route's message went out in the same round
    assert len(slack.received) == 1 and len(slack_b.ids(200)) == 1, stats
    waiting = [r for r in outbox(alerts_db) if r["route"] == "a"]
    assert sorted(r["attempts"] for r in waiting) == [0, 0, 1], waiting
    assert all(r["status"] == "pending" for r in waiting), waiting


# -- connections that never send a whole request ------------------------------------------------

def test_a_connection_without_request_headers_is_answered_408_and_closed(
        loaded: str, tmp_path: Path) -> None:
    server = Server(loaded, tmp_path, "--no-listen", "--header-timeout", "1")
    silent = socket.create_connection(("127.0.0.1", server.port))
    loris = socket.create_connection(("127.0.0.1", server.port))
    loris.sendall(b"GET /api/health/live HTTP/1.1\r\nHost: x\r\n")     # never finished
    try:
        for sock in (silent, loris):
            sock.settimeout(60)
            answer = b""
            while chunk := sock.recv(4096):      # the server closes it (before: never)
                answer += chunk
            head, _, body = answer.partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 408"), answer
            assert json.loads(body)["error"]["code"] == "request_timeout"
        # a connection that sends its request in time is served as before
        assert server.call("GET", "/api/health/live")[0] == 200
    finally:
        silent.close()
        loris.close()
        assert server.stop() == 0, server.log()
    assert server.log().count('"action": "http_header_timeout"') == 2
