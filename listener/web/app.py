"""The HTTP API, the live feed and the data-health page (aiohttp).

Every route calls listener.admin, as the CLI's commands do, so a command and its route agree;
the routes themselves parse input and shape answers. Answers are an envelope:
``{"success": true, "data": …}`` or ``{"success": false, "error": {"code", "message"}}``;
bad input is a 4xx in the API's own words, never a stack trace or a driver's message. The
statuses: 400 malformed (headers, query, path, JSON), 401 no or unknown token, 403 a read token
on an admin route, 404 a path naming nothing, 405 (with Allow) a method the path does not have,
409 valid input the database's state refuses, 413 too large, 415 not JSON, 422 JSON not of the
schema, 500 with an incident id, 503 the database unreachable. Everything but the liveness
route, the OpenAPI document and the page's static shell needs a bearer token: a read token or
an admin token (register, map, replay, redeliver, process). Tokens are compared in constant
time and never logged; error messages and log lines are redacted (listener.core.redact).

The page's websocket does not carry the token in its URL (issue 15): it redeems a single-use
ticket that lives a few seconds, got with its token from ``POST …/feed/tickets``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import re
import secrets
import socket
import struct
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import HttpVersion11, WSCloseCode, WSMsgType, web
from asyncpg.pool import PoolConnectionProxy
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from pydantic import BaseModel, ValidationError

from listener.admin import alerts as outbox
from listener.admin import explain, metrics, read, replay, review, routing
from listener.admin import feed as job_log
from listener.core.db import CONNECT_TIMEOUT_S, ConnectFailed
from listener.core.errors import UserError
from listener.core.logs import event, scrub
from listener.core.output import to_json
from listener.web import models as m
from listener.web.feed import FeedHub, Filter, Subscriber, is_replay, log_message
from listener.web.openapi import OBJECTS, Handler, Route, document
from listener.web.server import envelope_error

log = logging.getLogger("atlas_orch.api")

PREFIX = "/api/admin/orchestrator"
MAX_BODY = 256 * 1024
MAX_DEPTH = 32             # JSON nesting; our bodies are flat, so 32 is generous
TICKET_TTL_S = 10.0
# Seconds a feed client's socket may take nothing (not a byte of a message) before the
# client is dropped: two heartbeats, ample for a slow link, short for one that never reads.
FEED_SEND_TIMEOUT_S = 30.0
MAX_TICKETS = 10_000
STATIC = Path(__file__).parent / "static"
# RFC 9110 token68-ish credentials: printable ASCII without spaces
_CREDENTIALS = re.compile(r"[\x21-\x7e]+")

# refusals and failures by code since the process started (each is also a log line)
COUNTS: Counter[str] = Counter()


@dataclass(frozen=True)
class Tokens:
    """The API's bearer tokens by scope. ``metrics`` tokens open ``/metrics`` only (a
    Prometheus server's credentials should not read the decision log); read and admin
    tokens may scrape too. ``metrics_open``: ``/metrics`` without a token, for a scraper on
    a trusted network, only when ``ATLAS_ORCH_METRICS_OPEN=1`` says so."""

    admin: tuple[str, ...]
    read: tuple[str, ...]
    metrics: tuple[str, ...] = ()
    metrics_open: bool = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Tokens:
        """The tokens of ``ATLAS_ORCH_{ADMIN,READ,METRICS}_TOKEN`` (comma-separated lists)
        and ``ATLAS_ORCH_METRICS_OPEN``; a bad switch value is a one-line UserError."""
        env = dict(os.environ) if env is None else env

        def split(name: str) -> tuple[str, ...]:
            return tuple(t.strip() for t in env.get(name, "").split(",") if t.strip())

        raw = env.get("ATLAS_ORCH_METRICS_OPEN", "").strip().lower()
        if raw not in ("", "0", "1", "false", "true", "no", "yes"):
            raise UserError(f"ATLAS_ORCH_METRICS_OPEN must be 1 or 0, not {raw[:20]!r}")
        return cls(split("ATLAS_ORCH_ADMIN_TOKEN"), split("ATLAS_ORCH_READ_TOKEN"),
                   split("ATLAS_ORCH_METRICS_TOKEN"), raw in ("1", "true", "yes"))

    def scope(self, presented: str | None) -> str | None:
        """'admin', 'read', 'metrics' or None. Every token is compared, in constant time
        each, so the time taken says nothing about which matched."""
        if not presented:
            return None
        got = presented.encode("utf-8", "surrogateescape")
        admin = any([hmac.compare_digest(got, t.encode()) for t in self.admin])
        reader = any([hmac.compare_digest(got, t.encode()) for t in self.read])
        scraper = any([hmac.compare_digest(got, t.encode()) for t in self.metrics])
        return ("admin" if admin else "read" if reader else "metrics" if scraper
                else None)

    def name(self, presented: str | None) -> str:
        """A name for the token presented, for the decision log: its scope and its place in
        the list (``admin token 2``), never the token itself."""
        got = (presented or "").encode("utf-8", "surrogateescape")
        for scope, tokens in (("admin", self.admin), ("read", self.read)):
            for n, t in enumerate(tokens, 1):
                if hmac.compare_digest(got, t.encode()):
                    return f"{scope} token {n}"
        return "api"

    def all(self) -> tuple[str, ...]:
        """Every configured token (for the log's redaction)."""
        return self.admin + self.read + self.metrics


@dataclass
class Tickets:
    """Single-use feed tickets: a browser cannot set headers on a websocket, and a token in
    the URL ends up in logs and histories. A ticket is worth one connection within
    ``ttl_s`` seconds, with the scope of the token that asked for it."""

    ttl_s: float = TICKET_TTL_S
    cap: int = MAX_TICKETS
    issued: dict[str, tuple[str, float]] = field(default_factory=dict)

    def issue(self, scope: str) -> str:
        now = time.monotonic()
        if len(self.issued) >= self.cap:
            self.issued = {t: v for t, v in self.issued.items() if v[1] > now}
            if len(self.issued) >= self.cap:
                raise ApiError(429, "too_many_tickets",
                               "too many unredeemed tickets; try again in a few seconds")
        ticket = secrets.token_urlsafe(24)
        self.issued[ticket] = (scope, now + self.ttl_s)
        return ticket

    def redeem(self, ticket: str) -> str | None:
        """The ticket's scope if it is known and fresh; it is spent either way."""
        scope, expires = self.issued.pop(ticket, (None, 0.0))
        return scope if expires > time.monotonic() else None


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.headers = headers or {}


def ok(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=to_json({"success": True, "data": data}), status=status,
                        content_type="application/json")


def fail(status: int, code: str, message: str,
         headers: dict[str, str] | None = None) -> web.Response:
    """An error answer; its message is redacted (it may quote input), counted, and logged at
    debug level (refusals are the clients' business; the count is in every line)."""
    COUNTS[code] += 1
    event(log, "api_refused", level=logging.DEBUG, status=status, code=code,
          count=COUNTS[code])
    resp = envelope_error(status, code, scrub(message))
    resp.headers.update(headers or {})
    return resp


# -- routes, declared once for the router and the OpenAPI document -------------------------

ROUTES: list[Route] = []


def route(method: str, path: str, summary: str, **options: Any) -> Callable[[Handler], Handler]:
    """Declare a route (see listener.web.openapi.Route for the options)."""
    def deco(fn: Handler) -> Handler:
        ROUTES.append(Route(method, path, fn, summary, **options))
        return fn
    return deco


TOKEN_IN_URL = ("a token does not belong in the URL (logs and histories keep URLs): send it "
                "in the Authorization header, or use a feed ticket")


def _query(request: web.Request, model: type[Any]) -> Any:
    """The query string, validated by ``model``; a parameter given twice is refused."""
    args: dict[str, str] = {}
    for key, value in request.query.items():
        if key in args:
            raise ApiError(400, "bad_query", f"{key[:40]}: given more than once")
        args[key] = value
    if "token" in args:
        raise ApiError(400, "bad_query", TOKEN_IN_URL)
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        raise ApiError(400, "bad_query", _validation_message(exc)) from None


def _path(request: web.Request, model: type[Any]) -> Any:
    """The path parameters, validated by ``model``."""
    try:
        return model.model_validate(dict(request.match_info))
    except ValidationError as exc:
        raise ApiError(400, "bad_path", _validation_message(exc)) from None


async def _body(request: web.Request, model: type[BaseModel]) -> Any:
    """The JSON body, validated strictly by ``model``: 413 over 256 KiB (decompressed), 400
    when unreadable (a Content-Encoding it does not match, broken framing), 415 when not JSON
    in UTF-8, 400 when not JSON or nested over MAX_DEPTH, 422 when not of the schema. An empty
    body is ``{}``."""
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "too_large", f"the body is over {MAX_BODY} bytes") from None
    except web.RequestPayloadError:
        raise ApiError(400, "bad_body", "the body could not be read: it does not match its "
                                        "Content-Encoding or Content-Length") from None
    if not raw.strip():
        raw = b"{}"
    elif request.content_type != "application/json" or (
            request.charset or "utf-8").lower() not in ("utf-8", "utf8"):
        raise ApiError(415, "unsupported_media_type",
                       "the body must be application/json in UTF-8")
    if _depth(raw) > MAX_DEPTH:
        raise ApiError(400, "bad_json", f"the JSON nests deeper than {MAX_DEPTH} levels")
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        if any(e["type"] == "json_invalid" for e in exc.errors()):
            raise ApiError(400, "bad_json", "the body is not valid JSON in UTF-8") from None
        raise ApiError(422, "invalid", _validation_message(exc)) from None
    except RecursionError:   # MAX_DEPTH should make this impossible; refuse, never 500
        raise ApiError(400, "bad_json", "the JSON nests too deeply") from None


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKETS = re.compile(rb"[\[\]{}]")


def _depth(raw: bytes) -> int:
    """How deep the JSON text nests, counted on its brackets outside strings, before any
    parser recurses into it (issue 15: 50,000 levels gave a 500)."""
    deepest = depth = 0
    for bracket in _BRACKETS.findall(_JSON_STRING.sub(b"", raw)):
        depth += 1 if bracket in (b"[", b"{") else -1
        deepest = max(deepest, depth)
    return deepest


def _validation_message(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: "
                     f"{e['msg'].removeprefix('Value error, ')}"
                     for e in exc.errors()[:10])


def _pool(request: web.Request, *, primary: bool = False) -> asyncpg.Pool:
    """The pool for this request: a GET's reads go to the read replica when one is set
    (``ATLAS_ORCH_READ_URL``, docs/SCALING.md), everything else (writes, and the live feed,
    whose watermark is the primary's) to the primary. Without a replica both are one pool."""
    reads = request.method in ("GET", "HEAD") and not primary
    pool: asyncpg.Pool = request.app[READ_POOL] if reads else request.app[POOL]
    return pool


class DatabaseUnavailable(Exception):
    """No connection could be had from the pool (the server is down, refuses connections,
    or is out of them): a 503, not an internal error."""


@contextlib.asynccontextmanager
async def _connection(request: web.Request, *,
                      primary: bool = False) -> AsyncIterator[PoolConnectionProxy]:
    """A pooled connection (from the replica for a GET unless ``primary``, see _pool);
    failing to get one is DatabaseUnavailable. Errors of the queries run on it are not
    touched."""
    pool = _pool(request, primary=primary)
    try:
        conn: PoolConnectionProxy = await pool.acquire(timeout=CONNECT_TIMEOUT_S)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise DatabaseUnavailable(str(exc)) from exc
    try:
        yield conn
    finally:
        await pool.release(conn)

async def _known_source(conn: PoolConnectionProxy,
                        spec: str | None) -> tuple[str | None, str | None]:
    """A ``?source=`` filter split into system and table, refused (409) when it names no
    source, registered or staged, as the CLI's ``--source`` is: a typo answered 200 with
    nothing, the same answer as a source with nothing to show, and on the feed it waited
    for ever."""
    system, table = read.source_filter(spec)
    await read.require_source(conn, system, table)
    return system, table


@route("GET", "/api/health/live", "Liveness: the process answers (no token).", scope=None,
       database=False, returns={"type": "object", "required": ["status"],
                                "properties": {"status": {"const": "ok"}}})
async def live(request: web.Request) -> Any:
    return {"status": "ok"}


READY_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["status", "reasons"],
    "properties": {
        "status": {"enum": ["ready", "not_ready"]},
        "reasons": {"type": "array", "items": {
            "type": "object", "additionalProperties": False, "required": ["code", "detail"],
            "properties": {"code": {"enum": list(metrics.REASONS)},
                           "detail": {"type": "string"}}}}}}
# what failing to read the database looks like, from the pool or from a query on it
# InternalClientError: asyncpg's own state error on a pooled connection whose backend was
# just terminated ("cannot switch to state 11"): the database going away, not our defect
_UNREADABLE = (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError,
               asyncpg.InternalClientError)


def _cause(exc: BaseException) -> str:
    """The first line of why a connection or a query failed, redacted."""
    cause = exc.__cause__ if isinstance(exc, DatabaseUnavailable) and exc.__cause__ else exc
    return scrub(str(cause).splitlines()[0])[:200] if str(cause) else type(cause).__name__


@route("GET", "/api/health/ready", "Readiness (no token): 503 with the reasons when the "
       "database is unreachable, the listener lags, a job is stuck or an alert is "
       "dead-lettered.", scope=None, database=False, enveloped=False, returns=READY_SCHEMA,
       answers={"503": ("not ready: the reasons say why", READY_SCHEMA)})
async def ready(request: web.Request) -> Any:
    limits = request.app[READY]
    try:
        # the primary: readiness is about the database the listener and writes use, and a
        # lagging replica would hide a lagging listener (docs/SCALING.md)
        async with _connection(request, primary=True) as conn:
            reasons = await metrics.not_ready(conn, limits)
    except (DatabaseUnavailable, *_UNREADABLE) as exc:
        reasons = [metrics.reason("database_unreachable",
                                  "the database cannot be read: " + _cause(exc))]
        reasons = [r for r in reasons if r["code"] not in limits.ignore]
    if request.app[READ_POOL] is not request.app[POOL] and \
            "database_unreachable" not in limits.ignore and \
            not any(r["code"] == "database_unreachable" for r in reasons):
        # with a read replica every GET route reads there: a replica that is gone made each
        # of them a 503 while this said ready (docs/SCALING.md)
        problem = None
        try:
            async with _connection(request) as conn:
                if not await metrics.replica_readable(conn):
                    problem = "it lacks trapper.orchestrator_job_log"
        except (DatabaseUnavailable, *_UNREADABLE) as exc:
            problem = _cause(exc)
        if problem is not None:
            reasons.append(metrics.reason("database_unreachable", "the read replica "
                                          "(ATLAS_ORCH_READ_URL) cannot be read: " + problem))
    if reasons:
        COUNTS["not_ready"] += 1
        event(log, "api_not_ready", level=logging.INFO,
              reasons=",".join(r["code"] for r in reasons), count=COUNTS["not_ready"])
    return web.json_response({"status": "not_ready" if reasons else "ready",
                              "reasons": reasons}, status=503 if reasons else 200,
                             headers={"Cache-Control": "no-store"})


@route("GET", "/metrics", "Prometheus metrics (text format 0.0.4), read from the database "
       "at scrape time: a metrics, read or admin token (or none, with "
       "ATLAS_ORCH_METRICS_OPEN=1).", scope="metrics", database=False, enveloped=False,
       media_type="text/plain", returns={"type": "string"})
async def metrics_scrape(request: web.Request) -> Any:
    snap: metrics.Snapshot | None = None
    try:
        # the primary, for the same reason as readiness: lag and queue figures must be now's
        async with _connection(request, primary=True) as conn:
            snap = await metrics.snapshot(conn)
    except (DatabaseUnavailable, *_UNREADABLE) as exc:
        # still a 200: atlas_orch_database_up 0 is the series to alert on, and the
        # in-process families are still true
        COUNTS["metrics_unreadable"] += 1
        event(log, "metrics_database_unreadable", level=logging.WARNING,
              error=scrub(str(exc))[:300], count=COUNTS["metrics_unreadable"])
    return web.Response(body=metrics.exposition(snap, [FeedCollector(request.app)]),
                        headers={"Content-Type": metrics.CONTENT_TYPE,
                                 "Cache-Control": "no-store"})


class FeedCollector(Collector):
    """This process's live-feed clients: in-process, so not in the database."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    def collect(self) -> Iterator[Metric]:
        """Connected clients now, and clients cut off as too slow since start."""
        hub = self.app.get(HUB)
        clients = GaugeMetricFamily("atlas_orch_feed_clients",
                                    "Websocket clients of this process's live feed")
        clients.add_metric([], float(sum(1 for s in hub.subscribers if not s.lagged)
                                     if hub else 0))
        yield clients
        lagged = CounterMetricFamily("atlas_orch_feed_clients_lagged", "Feed clients this "
                                     "process cut off as too slow (sent 'lagged') since start")
        lagged.add_metric([], float(hub.lagged_total if hub else 0))
        yield lagged
        stalled = CounterMetricFamily("atlas_orch_feed_clients_stalled", "Feed clients "
                                      "this process dropped since start because their "
                                      "socket took nothing for the send timeout")
        stalled.add_metric([], float(hub.stalled_total if hub else 0))
        yield stalled


@route("GET", f"{PREFIX}/sources", "Registered sources with their health status.",
       returns=OBJECTS)
async def sources_list(request: web.Request) -> Any:
    async with _connection(request) as conn:
        return await read.sources(conn)


@route("GET", f"{PREFIX}/sources/{{system}}/{{table}}", "One source.", params=m.SourcePath)
async def sources_one(request: web.Request) -> Any:
    p = _path(request, m.SourcePath)
    async with _connection(request) as conn:
        return await read.source(conn, p.system, p.table)


@route("POST", f"{PREFIX}/sources", "Register or update a source. Its processor must be "
       "registered and its required fields among its expected ones.", scope="admin",
       body=m.RegisterSource, refusable=True)
async def sources_register(request: web.Request) -> Any:
    body = await _body(request, m.RegisterSource)
    async with _connection(request) as conn:
        return await read.register_source(conn, body.model_dump())


@route("GET", f"{PREFIX}/rules", "Routing rules, optionally of one source.",
       query=m.SourceQuery, returns=OBJECTS, refusable=True)
async def rules_list(request: web.Request) -> Any:
    q = _query(request, m.SourceQuery)
    async with _connection(request) as conn:
        return await read.rules(conn, *await _known_source(conn, q.source))


@route("POST", f"{PREFIX}/rules", "Map a source field to a target (a routing rule).",
       scope="admin", body=m.MapField, refusable=True)
async def rules_map(request: web.Request) -> Any:
    body = await _body(request, m.MapField)
    async with _connection(request) as conn:
        return await read.map_field(conn, body.model_dump())


@route("POST", f"{PREFIX}/rules/dry-run",
       "Route recent records with the current rules, rolled back: what would change.",
       body=m.DryRun, refusable=True)
async def rules_dry_run(request: web.Request) -> Any:
    body = await _body(request, m.DryRun)
    system, table = read.split_source(body.source)
    async with _connection(request) as conn:
        result = await routing.dry_run(conn, system, table, limit=body.limit,
                                       record_id=body.record)
    return result.as_dict()


@route("GET", f"{PREFIX}/health", "Each active source's health and its last 24 hours.",
       returns={"type": "object", "required": ["sources"],
                "properties": {"sources": OBJECTS}})
async def health(request: web.Request) -> Any:
    async with _connection(request) as conn:
        return await read.health(conn)


@route("GET", f"{PREFIX}/why-missing", "Why data is missing: counts by kind and rows.",
       query=m.WhyMissingQuery, refusable=True,
       returns={"type": "object", "required": ["counts", "total", "limit", "offset", "rows"],
                "properties": {"counts": {"type": "object",
                                          "additionalProperties": {"type": "integer"}},
                               "total": {"type": "integer"}, "limit": {"type": "integer"},
                               "offset": {"type": "integer"}, "rows": OBJECTS}})
async def why_missing(request: web.Request) -> Any:
    q = _query(request, m.WhyMissingQuery)
    async with _connection(request) as conn:
        system, table = await _known_source(conn, q.source)
        return await read.why_missing(conn, issue_type=q.type, system=system, table=table,
                                      limit=q.limit, offset=q.offset)


@route("GET", f"{PREFIX}/anomalies", "Open anomalies (all=true: resolved ones too).",
       query=m.AnomaliesQuery, returns=OBJECTS, refusable=True)
async def anomalies(request: web.Request) -> Any:
    q = _query(request, m.AnomaliesQuery)
    async with _connection(request) as conn:
        system, table = await _known_source(conn, q.source)
        return await read.anomalies(conn, system=system, table=table,
                                    include_resolved=q.all, limit=q.limit)


@route("GET", f"{PREFIX}/alerts", "The Slack alert outbox, newest first.", query=m.AlertsQuery,
       returns=OBJECTS)
async def alerts(request: web.Request) -> Any:
    q = _query(request, m.AlertsQuery)
    async with _connection(request) as conn:
        return await outbox.alerts(conn, status=q.status, limit=q.limit)


@route("POST", f"{PREFIX}/alerts/{{alert_id}}/redeliver", "Send an alert again.",
       scope="admin", params=m.AlertPath)
async def alerts_redeliver(request: web.Request) -> Any:
    p = _path(request, m.AlertPath)
    async with _connection(request) as conn:
        return await outbox.redeliver(conn, p.alert_id)


@route("GET", f"{PREFIX}/log", "The decision log by record, staged record, entity, action, "
       "time; page with after=<log_seq>.", query=m.LogQuery, returns=OBJECTS, refusable=True)
async def log_rows(request: web.Request) -> Any:
    q = _query(request, m.LogQuery)
    async with _connection(request) as conn:
        system, table = await _known_source(conn, q.source)
        return await read.log(conn, system=system, table=table, record_id=q.record,
                              staged_record_id=q.staged, entity_id=q.entity, action=q.action,
                              since=q.since, until=q.until, after=q.after, limit=q.limit)


@route("GET", f"{PREFIX}/entities/{{entity_type}}/{{entity_id}}/provenance",
       "Where an entity came from.", params=m.EntityPath)
async def provenance(request: web.Request) -> Any:
    p = _path(request, m.EntityPath)
    async with _connection(request) as conn:
        return await read.provenance(conn, p.entity_type, p.entity_id)


@route("GET", f"{PREFIX}/explain/{{entity_type}}/{{a}}",
       "How an entity was built: each source record and the decision that attached it, and "
       "every merge into it, in order (docs/identity.md, \"Explaining a match\").",
       params=m.ExplainPath)
async def explain_one(request: web.Request) -> Any:
    p = _path(request, m.ExplainPath)
    async with _connection(request) as conn:
        return await explain.build(conn, p.entity_type, p.a)


@route("GET", f"{PREFIX}/explain/{{entity_type}}/{{a}}/{{b}}",
       "Why / why-not: would two entities be one now, by what margin and which gate, each "
       "field's agreement and weight, what would change it, and the logged decisions.",
       params=m.ExplainPairPath)
async def explain_pair(request: web.Request) -> Any:
    p = _path(request, m.ExplainPairPath)
    async with _connection(request) as conn:
        return await explain.pair(conn, p.entity_type, p.a, p.b)


@route("GET", f"{PREFIX}/records/{{system}}/{{table}}/{{record_id}}/timeline",
       "A source record's whole timeline, in order.", params=m.RecordPath)
async def timeline(request: web.Request) -> Any:
    p = _path(request, m.RecordPath)
    async with _connection(request) as conn:
        return await read.timeline(conn, p.system, p.table, p.record_id)


@route("GET", f"{PREFIX}/records/{{system}}/{{table}}/{{record_id}}/why-missing",
       "Why one source record is missing, or what stands of it now: its rejects at ingest "
       "(open, or corrected by a later run), its newest version and its gaps.",
       params=m.RecordPath,
       returns={"type": "object", "required": ["source_system", "source_table",
                                               "source_record_id", "missing", "answer",
                                               "stands", "rejects", "gaps"],
                "properties": {"missing": {"type": "boolean"}, "answer": {"type": "string"},
                               "rejects": OBJECTS, "gaps": OBJECTS}})
async def why_missing_record(request: web.Request) -> Any:
    p = _path(request, m.RecordPath)
    async with _connection(request) as conn:
        return await read.why_missing_record(conn, p.system, p.table, p.record_id)


@route("POST", f"{PREFIX}/records/{{system}}/{{table}}/{{record_id}}/replay",
       "Reprocess a record (rolled back), apply it, or re-publish its timeline.",
       scope="admin", body=m.Replay, params=m.RecordPath, refusable=True)
async def replay_record(request: web.Request) -> Any:
    p = _path(request, m.RecordPath)
    body = await _body(request, m.Replay)
    async with _connection(request) as conn:
        if body.mode == "timeline":
            return await read.timeline(conn, p.system, p.table, p.record_id)
        if body.mode == "emit":
            return await replay.emit(conn, p.system, p.table, p.record_id)
        return await replay.reprocess(conn, p.system, p.table, p.record_id,
                                      apply=body.mode == "apply")


@route("GET", f"{PREFIX}/reviews", "Identity decisions waiting for review (deferred last).",
       query=m.ReviewQuery, returns=OBJECTS, refusable=True)
async def reviews_list(request: web.Request) -> Any:
    q = _query(request, m.ReviewQuery)
    async with _connection(request) as conn:
        system, table = await _known_source(conn, q.source)
        return await review.pending(conn, system=system, table=table, limit=q.limit)


@route("GET", f"{PREFIX}/reviews/{{decision_id}}", "One decision: the incoming record beside "
       "its candidate, and the score breakdown with each field's weight.", params=m.ReviewPath)
async def reviews_show(request: web.Request) -> Any:
    p = _path(request, m.ReviewPath)
    async with _connection(request) as conn:
        return await review.show(conn, p.decision_id)


@route("POST", f"{PREFIX}/reviews/{{decision_id}}/{{action}}", "Merge, keep separate or "
       "defer a pending decision (409 when it is no longer pending: another reviewer acted "
       "first).", scope="admin", body=m.ReviewAction, params=m.ReviewActionPath,
       refusable=True)
async def reviews_act(request: web.Request) -> Any:
    p = _path(request, m.ReviewActionPath)
    body = await _body(request, m.ReviewAction)
    who = body.by or request.app[TOKENS].name(_presented(request))
    async with _connection(request) as conn:
        return await review.act(conn, p.decision_id, p.action.replace("-", "_"), by=who,
                                note=body.note)


@route("POST", "/api/ingest/process", "Work the queue for a time budget (Atlas's cron route).",
       scope="admin", body=m.Process,
       returns={"type": "object", "required": ["jobs_processed", "duration_ms", "results",
                                               "queue_remaining"]})
async def ingest_process(request: web.Request) -> Any:
    from listener.queue.worker import drain_queue

    body = await _body(request, m.Process)
    started = time.monotonic()
    try:
        stats = await drain_queue(request.app[URL], workers=1, job_batch=body.job_batch,
                                  budget_s=body.budget_s, signals=False)
    except ExceptionGroup as group:
        # the workers run in a task group: their first error is answered as the routes'
        # own are (a database they could not reach, a statement_timeout or a terminated
        # backend is a 503, a bug a 500), not as a group, which was always a 500
        raise _first(group) from group
    async with _connection(request) as conn:
        remaining = await read.queue_remaining(conn)
    return {"jobs_processed": stats.jobs_completed + stats.jobs_retrying
            + stats.jobs_dead_lettered,
            "duration_ms": round((time.monotonic() - started) * 1000),
            "results": stats.errors, "records_processed": stats.records_processed,
            "queue_remaining": remaining}


@route("GET", "/api/health/processing", "Processing health in Atlas's shape, with each "
       "source's status and its worst open anomaly (sources).",
       returns={"type": "object", "required": ["status", "queue", "stuck_jobs",
                                               "recent_failures", "data_integrity",
                                               "recommendations", "sources"]})
async def health_processing(request: web.Request) -> Any:
    async with _connection(request) as conn:
        h = (await read.health(conn))["sources"]
        wm = await read.why_missing(conn, limit=1)
    unprocessed = sum(r["unprocessed_staged"] for r in h)
    queued = sum(r["queued_count"] for r in h)
    failures = sum(r["failed_24h"] for r in h)

    def metric(name: str, count: int, warn: int, crit: int) -> dict[str, Any]:
        status = "critical" if count >= crit else "warning" if count >= warn else "ok"
        return {"metric": name, "count": count, "threshold": warn, "status": status}

    integrity = [
        metric("unprocessed_staged_rows", unprocessed, 1000, 5000),
        metric("people_without_identifiers", wm["counts"].get("person_no_identifiers", 0),
               1000, 5000),
        metric("cats_without_place", wm["counts"].get("cat_no_place", 0), 10, 50),
    ]
    worst = {s["status"] for s in integrity}
    # a source with errors, or one that needs attention for a critical anomaly, is unhealthy
    status = "unhealthy" if "critical" in worst or any(
        r["health_status"] == "errors" or (r["health_status"] == "attention"
                                           and r["worst_anomaly_severity"] == "critical")
        for r in h) else \
        "degraded" if "warning" in worst or any(r["health_status"] != "healthy"
                                                 and r["health_status"] != "inactive"
                                                 for r in h) else "healthy"

    def source_status(r: dict[str, Any]) -> str:
        # the worst open anomaly beside the status: what to look at ("atlas-orch anomalies")
        anomaly = (f" ({r['worst_anomaly']}, {r['worst_anomaly_severity']})"
                   if r["worst_anomaly"] else "")
        return f"{r['source_system']}/{r['source_table']}: {r['health_status']}{anomaly}"

    recs = [source_status(r) for r in h if r["health_status"] not in ("healthy", "inactive")]
    return {"status": status,
            "sources": {f"{r['source_system']}/{r['source_table']}":
                        {"status": r["health_status"], "worst_anomaly": r["worst_anomaly"],
                         "worst_anomaly_severity": r["worst_anomaly_severity"]} for r in h},
            "queue": {"totals": {"queued": queued, "unprocessed_staged": unprocessed},
                      "by_source": {f"{r['source_system']}/{r['source_table']}":
                                    {"queued": r["queued_count"],
                                     "processing": r["processing_count"],
                                     "unprocessed_staged": r["unprocessed_staged"]}
                                    for r in h}},
            "stuck_jobs": sum(r["processing_count"] for r in h
                              if r["health_status"] == "processing_behind"),
            "recent_failures": failures, "data_integrity": integrity,
            "recommendations": recs}


@route("POST", f"{PREFIX}/feed/tickets", "A single-use ticket for the live feed's websocket "
       f"(…/feed?ticket=), valid for {TICKET_TTL_S:.0f} seconds: browsers cannot send a "
       "header with a websocket, and a token in a URL is logged.", database=False,
       extra={"429": "too many unredeemed tickets; try again in a few seconds"},
       returns={"type": "object", "additionalProperties": False,
                "required": ["ticket", "expires_in"],
                "properties": {"ticket": {"type": "string"},
                               "expires_in": {"type": "number"}}})
async def feed_ticket(request: web.Request) -> Any:
    scope = request[SCOPE]
    return {"ticket": request.app[TICKETS].issue(scope), "expires_in": TICKET_TTL_S}


@route("GET", "/api/openapi.json", "This document (raw, no token: it holds no data).",
       scope=None, database=False, enveloped=False,
       returns={"type": "object", "required": ["openapi", "info", "paths"]})
async def openapi_doc(request: web.Request) -> Any:
    return web.json_response(openapi(), headers={"Access-Control-Allow-Origin": "*"})


def _first(group: BaseExceptionGroup[Any]) -> BaseException:
    """The first exception of a (possibly nested) exception group."""
    first = group.exceptions[0]
    return _first(first) if isinstance(first, BaseExceptionGroup) else first


def openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document, from the route table and the pydantic models."""
    return document(ROUTES)


# -- middleware: auth and the envelope -------------------------------------------------------

POOL: web.AppKey[asyncpg.Pool] = web.AppKey("pool", asyncpg.Pool)
READ_POOL: web.AppKey[asyncpg.Pool] = web.AppKey("read_pool", asyncpg.Pool)
URL: web.AppKey[str] = web.AppKey("url", str)
TOKENS: web.AppKey[Tokens] = web.AppKey("tokens", Tokens)
TICKETS: web.AppKey[Tickets] = web.AppKey("tickets", Tickets)
HUB: web.AppKey[FeedHub] = web.AppKey("hub", FeedHub)
READY: web.AppKey[metrics.ReadyLimits] = web.AppKey("ready", metrics.ReadyLimits)
SCOPES: web.AppKey[dict[tuple[str, str], str | None]] = web.AppKey("scopes", dict)
SCOPE = web.RequestKey("scope", str)
FEED_SEND_TIMEOUT: web.AppKey[float] = web.AppKey("feed_send_timeout", float)


def _presented(request: web.Request) -> str | None:
    """The bearer token of the Authorization header, if any. A header that is not printable
    ASCII (a NUL, a Latin-1 byte) is refused as malformed, and never quoted."""
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, credentials = header.strip().partition(" ")
    credentials = credentials.strip()
    if not header.isascii() or not _CREDENTIALS.fullmatch(scheme) or (
            credentials and not _CREDENTIALS.fullmatch(credentials)):
        raise ApiError(400, "bad_authorization", "the Authorization header must be "
                                                 "'Bearer <token>' in printable ASCII")
    return credentials if scheme.lower() == "bearer" and credentials else None


def _canonical(request: web.Request) -> str:
    resource = request.match_info.route.resource
    return resource.canonical if resource is not None else request.path


async def _authorize(request: web.Request) -> web.StreamResponse | None:
    """A refusal if the route needs a token the request lacks; records the scope."""
    needed = request.app[SCOPES].get((request.method, _canonical(request)), "read")
    if needed is None or not (request.path.startswith("/api/") or needed == "metrics"):
        return None
    if needed == "metrics" and request.app[TOKENS].metrics_open:
        return None         # ATLAS_ORCH_METRICS_OPEN=1: a scraper on a trusted network
    scope = request.app[TOKENS].scope(_presented(request))
    if scope is None:
        return fail(401, "unauthorized", "a bearer token is required",
                    {"WWW-Authenticate": 'Bearer realm="atlas-orchestrator"'})
    if needed != "metrics" and scope == "metrics":
        return fail(403, "forbidden", "a metrics token opens /metrics only")
    if needed == "admin" and scope != "admin":
        return fail(403, "forbidden", "this route needs the admin token")
    request[SCOPE] = scope
    return None


def _http_error(request: web.Request, exc: web.HTTPException) -> web.Response:
    """aiohttp's own HTTP exceptions (no route, a method the path lacks) in the envelope; a
    redirect as it is (it lost its Location before, so / did not lead to the page)."""
    if exc.status < 400:
        return web.Response(status=exc.status, headers=exc.headers)
    if exc.status == 404:
        return fail(404, "not_found", "no such route")
    if exc.status == 405:
        allow = exc.headers.get("Allow", "")
        return fail(405, "method_not_allowed",
                    f"{request.method[:20]} is not allowed here; allowed: {allow}",
                    {"Allow": allow})
    if exc.status == 413:
        return fail(413, "too_large", f"the body is over {MAX_BODY} bytes")
    if exc.status == 400 and request.path == f"{PREFIX}/feed":
        # aiohttp's text quotes the request's headers; ours does not
        return fail(400, "bad_handshake", "not a websocket handshake (version 13) for the feed")
    return fail(exc.status, "http_error", exc.reason)


def _database_refusal(request: web.Request, exc: Exception) -> web.Response:
    """A refusal by PostgreSQL or the driver, in the API's words where the text is not ours."""
    if isinstance(exc, asyncpg.InterfaceError) and isinstance(exc, ValueError):
        # the driver refused an argument ("invalid input for query argument $9"): a bound
        # the request models should have had. Say it plainly and log it to be fixed.
        event(log, "api_unchecked_value", level=logging.WARNING, path=_canonical(request),
              error=str(exc)[:300], count=COUNTS["bad_value"] + 1)
        return fail(400, "bad_value", "a value is out of range or of the wrong type")
    if isinstance(exc, asyncpg.DataError) and not isinstance(exc, _OUR_REFUSALS):
        event(log, "api_unchecked_value", level=logging.WARNING, path=_canonical(request),
              error=str(exc)[:300], count=COUNTS["bad_value"] + 1)
        return fail(400, "bad_value", "a value was refused by the database: "
                                      + str(exc).splitlines()[0][:300])
    # our own SQL's refusals (the allowlist, the processor registry, an unknown source)
    return fail(409, "refused", str(exc).splitlines()[0][:500])


# what our own SQL raises when it refuses (ERRCODE invalid_parameter_value is a data
# exception too, so these are told apart from the driver's and PostgreSQL's DataErrors)
_OUR_REFUSALS = (asyncpg.RaiseError, asyncpg.InvalidParameterValueError)
_DB_DOWN = (OSError, asyncpg.PostgresConnectionError, asyncpg.CannotConnectNowError,
            asyncpg.TooManyConnectionsError, asyncpg.ConnectionDoesNotExistError,
            asyncpg.InternalClientError)
# the database stopped the statement or its connection: not the request's fault (503)
_DB_INTERRUPTED = (asyncpg.exceptions.OperatorInterventionError,
                   asyncpg.TransactionRollbackError)
_NOT_INSTALLED = (asyncpg.UndefinedTableError, asyncpg.InvalidSchemaNameError)
_DB_REFUSED = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError,
               asyncpg.RaiseError, asyncpg.InvalidParameterValueError,
               asyncpg.UndefinedFunctionError)


@web.middleware
async def envelope(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        if "token" in request.query:
            # on every route, not only those with query parameters: /api/health/ready and
            # /metrics answered 200 with ?token= (docs/api.md, "Tokens")
            raise ApiError(400, "bad_query", TOKEN_IN_URL)
        refused = await _authorize(request)
        if refused is not None:
            return refused
        response = await handler(request)
        if isinstance(response, web.StreamResponse):
            return response
        return ok(response)
    except ApiError as exc:
        return fail(exc.status, exc.code, exc.message, exc.headers)
    except read.NotFound as exc:
        return fail(404, "not_found", str(exc))
    except (ConnectFailed, DatabaseUnavailable) as exc:
        return _unavailable(exc)
    except UserError as exc:      # valid input the data refuses ("no staged records of …")
        return fail(409, "refused", str(exc))
    except (*_DB_DOWN, *_DB_INTERRUPTED, *_NOT_INSTALLED) as exc:
        # a statement_timeout, a terminated backend or a missing schema was a 500
        return _database_trouble(request, exc)
    except _DB_REFUSED as exc:
        return _database_refusal(request, exc)
    except _DB_FORBIDDEN as exc:
        return _forbidden(request, exc)
    except asyncpg.InterfaceError as exc:
        if isinstance(exc, ValueError):
            return _database_refusal(request, exc)
        return _internal(request, exc)
    except web.HTTPException as exc:
        return _http_error(request, exc)
    except Exception as exc:  # logged with an id; the client gets the id, never the trace
        return _internal(request, exc)


# the server's database role may not do what the request needs: a read-only role behind a
# write route (docs/operations.md, "Roles and rights"), or a read-only server
_DB_FORBIDDEN = (asyncpg.InsufficientPrivilegeError, asyncpg.ReadOnlySQLTransactionError)


def _forbidden(request: web.Request, exc: Exception) -> web.Response:
    """A 403 that says which right is missing; the operator's to fix, so logged and counted."""
    cause = str(exc).splitlines()[0][:300]
    event(log, "api_database_forbidden", level=logging.WARNING, path=_canonical(request),
          error=cause, count=COUNTS["database_forbidden"] + 1)
    return fail(403, "database_forbidden",
                f"this server's database role may not do this ({cause}); it serves what its "
                "grants allow (docs/operations.md, \"Roles and rights\")")


def _unavailable(exc: Exception) -> web.Response:
    event(log, "api_database_unavailable", level=logging.WARNING, error=_cause(exc),
          error_type=type(exc).__name__, count=COUNTS["unavailable"] + 1)
    return fail(503, "unavailable", "the database cannot be reached; try again",
                {"Retry-After": "5"})


def _interrupted(request: web.Request, exc: Exception) -> web.Response:
    """The database stopped the request's statement: its ``statement_timeout`` (or the
    role's, or an operator's pg_cancel_backend) as a 503 ``cancelled``; the backend
    terminated (pg_terminate_backend, a shutdown) or a transaction rolled back for a
    conflict (a deadlock, a serialization failure) as a 503 ``unavailable``. Neither is the
    client's mistake nor a bug: they were 500s with a traceback in the log."""
    cancelled = isinstance(exc, asyncpg.QueryCanceledError)
    code = "cancelled" if cancelled else "unavailable"
    COUNTS[f"database_{code}"] += 1
    event(log, f"api_database_{code}", level=logging.WARNING, path=_canonical(request),
          error=_cause(exc), error_type=type(exc).__name__,
          count=COUNTS[f"database_{code}"])
    if cancelled:
        return fail(503, code, "the database cancelled the query (its statement_timeout, or "
                               "an operator); try again, or raise the timeout for this "
                               "server's role", {"Retry-After": "5"})
    return fail(503, code, "the database ended the request's connection or transaction "
                           "(a terminated backend, a restart, a conflict); try again",
                {"Retry-After": "5"})


def _database_trouble(request: web.Request, exc: Exception) -> web.Response:
    """The 503 for a database that is down, stopped the statement, or lacks the schema."""
    if isinstance(exc, _NOT_INSTALLED):
        return _not_installed(request, exc)
    if isinstance(exc, _DB_INTERRUPTED) and not isinstance(exc, asyncpg.CannotConnectNowError):
        return _interrupted(request, exc)
    return _unavailable(exc)


def _not_installed(request: web.Request, exc: Exception) -> web.Response:
    """The database lacks a table or schema the route reads: an install, or a DATABASE_URL
    pointing at another database; the operator's to fix, so logged and counted (was a 500)."""
    COUNTS["not_installed"] += 1
    event(log, "api_not_installed", level=logging.ERROR, path=_canonical(request),
          error=_cause(exc), count=COUNTS["not_installed"])
    return fail(503, "not_installed", "the database lacks the orchestrator's tables: run "
                                      "`atlas-orch install` on it, or point DATABASE_URL at "
                                      "the database that has them", {"Retry-After": "30"})


def _internal(request: web.Request, exc: BaseException) -> web.Response:
    incident = uuid.uuid4().hex[:12]
    log.error("api_error", exc_info=exc, extra={"action": "api_error", "incident": incident,
                                                "path": _canonical(request),
                                                "count": COUNTS["internal"] + 1})
    return fail(500, "internal", f"internal error (incident {incident}); see the log")


async def _expect(request: web.Request) -> None:
    """``Expect: 100-continue`` as aiohttp does; any other expectation is ignored, which RFC
    9110 allows (aiohttp's own 417 quoted the header back in plain text)."""
    if request.version != HttpVersion11 or \
            request.headers.get("Expect", "").lower() != "100-continue":
        return
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0          # the answer's own body has not started


# -- the live feed ---------------------------------------------------------------------------

async def _feed_scope(request: web.Request, q: m.FeedQuery) -> str | None:
    """Who is watching: a ticket's scope, else the Authorization header's."""
    if q.ticket is not None:
        return request.app[TICKETS].redeem(q.ticket)
    return request.app[TOKENS].scope(_presented(request))


async def _check_cursor(request: web.Request, after: int | None) -> None:
    """Refuse a cursor ahead of every log_seq ever drawn: no row could ever pass it, so the
    feed would wait for ever without a word (issue 15)."""
    if after is None or after <= request.app[HUB].watermark:
        return
    async with _connection(request, primary=True) as conn:
        newest = await job_log.newest_log_seq(conn)
    if after > newest:
        raise ApiError(400, "bad_cursor", f"after={after} is ahead of the log (its newest "
                                          f"log_seq is {newest}); resume from a cursor the "
                                          "feed sent")


async def _unknown_source_note(request: web.Request, source: str | None) -> str | None:
    """For the feed's hello, when its ``source=`` names no source registered or staged: the
    feed is not refused (a client may watch for a source's first rows before they come),
    but a typo is said at once instead of showing as a feed that never sends a row."""
    if source is None:
        return None
    async with _connection(request, primary=True) as conn:
        try:
            await _known_source(conn, source)
        except UserError as exc:
            return f"{exc}; this feed shows its rows if they come"
    return None


async def feed(request: web.Request) -> web.StreamResponse:
    """The live feed (websocket): refusals are HTTP answers before the upgrade."""
    try:
        q = _query(request, m.FeedQuery)
        if await _feed_scope(request, q) not in ("read", "admin"):
            return fail(401, "unauthorized", "a bearer token or a fresh ticket is required",
                        {"WWW-Authenticate": 'Bearer realm="atlas-orchestrator"'})
        await _check_cursor(request, q.after)
        note = await _unknown_source_note(request, q.source)
    except ApiError as exc:
        return fail(exc.status, exc.code, exc.message, exc.headers)
    hub = request.app[HUB]
    # compress=False: per-message deflate interleaved with heartbeat pings corrupted frames
    # (the client saw "non-zero reserved bits"); the rows are small JSON anyway. The hub
    # writes a live client's frames itself (listener/web/feed.py), uncompressed too.
    ws = web.WebSocketResponse(heartbeat=15.0, max_msg_size=64 * 1024, compress=False)
    await ws.prepare(request)
    wanted = Filter.of(q.source, q.action, q.record)
    sub = hub.subscribe(wanted)
    keep = wanted.keep
    sub.pos = hub.watermark if q.after is None else q.after
    try:
        hello: dict[str, Any] = {"type": "hello", "cursor": sub.pos,
                                 "watermark": hub.watermark}
        if note is not None:
            hello["note"] = note
        await _send(request, ws, to_json(hello))
        reader = asyncio.create_task(_drain_client(ws))
        # the client going away wakes the loop below (no task per batch to watch for it)
        reader.add_done_callback(lambda _t: sub.close())
        sub.pos = await _send_range(request, ws, sub, keep, sub.pos, hub.watermark)
        while not ws.closed and not reader.done() and not hub.closing:
            # caught up: the hub writes the next batches to the socket itself, and hands
            # this loop a batch again only when the client falls behind or a timeline
            # must follow a row
            sub.go_live(ws, request.transport, hub.watermark)
            batch = await sub.queue.get()
            if batch.hi < 0 and not sub.lagged:     # the close marker
                break
            if sub.lagged:
                await _send(request, ws, to_json({"type": "lagged", "cursor": sub.pos,
                                         "message": "too slow to keep up; reconnect with "
                                                    f"after={sub.pos}"}))
                break
            if batch.hi <= sub.pos:
                continue
            if batch.lo > sub.pos:        # joined between batches: fetch what lies between
                sub.pos = await _send_range(request, ws, sub, keep, sub.pos, batch.lo)
            if batch.lo == sub.pos:
                # the whole batch is new to this client, and its message is built once for
                # every client with the same filter (listener/web/feed.py)
                text = batch.message(wanted)
                if text is not None:
                    await _send(request, ws, text)
                    await _send_replays(request, ws, [batch.rows[i] for i in batch.replays
                                                      if keep(batch.rows[i])])
            else:
                fresh = [(r, t) for r, t in zip(batch.rows, batch.encoded, strict=True)
                         if r["log_seq"] > sub.pos]
                await _send_rows(request, ws, keep, [r for r, _ in fresh], batch.hi,
                                 [t for _, t in fresh])
            sub.pos = batch.hi
        reader.cancel()
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    except Stalled:
        # a client that reads nothing at all: its socket is dropped, not closed politely
        # (a close frame would wait behind the unsent bytes for as long as the client lives)
        hub.stalled_total += 1
        event(log, "feed_client_stalled", level=logging.INFO, cursor=sub.pos,
              timeout_s=request.app[FEED_SEND_TIMEOUT], count=hub.stalled_total)
        _drop(request)
    except (DatabaseUnavailable, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        # the upgrade is done: no HTTP answer can follow, so say it on the socket and close
        COUNTS["feed_database_error"] += 1
        event(log, "feed_client_dropped", level=logging.WARNING, error=str(exc)[:300],
              count=COUNTS["feed_database_error"])
        with contextlib.suppress(ConnectionResetError, Stalled):
            await _send(request, ws, to_json({"type": "error", "cursor": sub.pos,
                                              "message": "the database is unavailable; "
                                                         f"reconnect with after={sub.pos}"}))
    finally:
        sub.live = None
        hub.unsubscribe(sub)
        await _close(request, ws, hub.closing)
    return ws


class Stalled(Exception):
    """A feed client's socket took nothing for the send timeout: it does not read."""


async def _send(request: web.Request, ws: web.WebSocketResponse, text: str) -> None:
    """Send one message to a feed client, giving up (Stalled) when its socket takes nothing
    for ``serve --feed-send-timeout`` seconds. Without a bound, a client that never read
    held its handler, its socket and megabytes of unsent bytes for as long as it lived,
    'lagged' or not: the heartbeat's close waits for the same unsent bytes."""
    try:
        await asyncio.wait_for(ws.send_str(text), request.app[FEED_SEND_TIMEOUT])
    except TimeoutError:
        raise Stalled from None


async def _close(request: web.Request, ws: web.WebSocketResponse, going_away: bool) -> None:
    """Close the feed's websocket (1001 when the server is shutting down: the client should
    reconnect, to the next server); a socket that takes not even the close frame within the
    send timeout is dropped."""
    try:
        if going_away:
            await asyncio.wait_for(ws.close(code=WSCloseCode.GOING_AWAY,
                                            message=b"server shutting down"),
                                   request.app[FEED_SEND_TIMEOUT])
        else:
            await asyncio.wait_for(ws.close(), request.app[FEED_SEND_TIMEOUT])
    except (TimeoutError, ConnectionResetError):
        _drop(request)


def _drop(request: web.Request) -> None:
    """Drop a feed client's connection at once, its unsent bytes discarded (a reset): closed
    the usual way, the kernel kept the socket and its megabytes trying to deliver them to a
    client that reads nothing."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def _drain_client(ws: web.WebSocketResponse) -> None:
    async for msg in ws:
        if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            break


async def _send_range(request: web.Request, ws: web.WebSocketResponse, sub: Subscriber,
                      keep: Callable[[dict[str, Any]], bool], lo: int, hi: int) -> int:
    """Send the durable rows (lo, hi] page by page; returns the new cursor."""
    pos = lo
    while pos < hi:
        async with _connection(request, primary=True) as conn:
            rows = await job_log.rows(conn, pos, hi)
        top = rows[-1]["log_seq"] if len(rows) == job_log.PAGE else hi
        await _send_rows(request, ws, keep, rows, top)
        pos = top
    return pos


async def _send_rows(request: web.Request, ws: web.WebSocketResponse,
                     keep: Callable[[dict[str, Any]], bool], rows: list[dict[str, Any]],
                     cursor: int, encoded: list[str] | None = None) -> None:
    """Send the rows that pass the filter; ``encoded`` (the rows' JSON, made once per batch
    for every client) saves encoding the same row for each of them."""
    texts = encoded if encoded is not None else [to_json(r) for r in rows]
    kept = [(r, t) for r, t in zip(rows, texts, strict=True) if keep(r)]
    if kept:
        await _send(request, ws, log_message([t for _, t in kept], cursor))
    await _send_replays(request, ws, [r for r, _ in kept if is_replay(r)])


async def _send_replays(request: web.Request, ws: web.WebSocketResponse,
                        rows: list[dict[str, Any]]) -> None:
    """For each ``replayed`` row of ``replay --emit``, the record's timeline."""
    for r in rows:
        async with _connection(request, primary=True) as conn:
            tl = await read.timeline(conn, r["source_system"], r["source_table"],
                                     r["source_record_id"])
        await _send(request, ws, to_json({"type": "replay", "replay": True, "log_seq": r["log_seq"],
                                 "record": f"{r['source_system']}/{r['source_table']}/"
                                           f"{r['source_record_id']}",
                                 "items": tl["items"]}))


# -- the page --------------------------------------------------------------------------------

async def page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "data-health.html",
                            headers={"Cache-Control": "no-store"})


# -- the app ---------------------------------------------------------------------------------

def _no_query(handler: Handler) -> Handler:
    """A data route that takes no query parameters refuses any (400 bad_query) rather than
    ignore it: ``GET /sources?system=clinichq`` answered with every source, and a script could
    not tell its filter was never applied. The health, metrics and page routes are left
    lenient: probes and scrapers may add parameters of their own."""
    async def checked(request: web.Request) -> Any:
        if request.query:
            names = ", ".join(sorted({k[:40] for k in request.query}))[:200]
            raise ApiError(400, "bad_query", f"this route takes no query parameters: {names}")
        return await handler(request)
    return checked


def create_app(url: str, tokens: Tokens, *, listen_url: str | None = None,
               read_url: str | None = None, feed_max_queue: int = 200,
               feed_send_timeout_s: float = FEED_SEND_TIMEOUT_S,
               ready: metrics.ReadyLimits | None = None) -> web.Application:
    """The aiohttp application; its pools and feed start with it and stop with it.
    ``read_url``: a read replica for the GET routes' reads (`serve --read-url`,
    docs/SCALING.md); the primary when None. ``feed_max_queue``: batches a feed client may
    have queued before it is cut off as too slow (`serve --feed-max-queue`);
    ``feed_send_timeout_s``: how long a feed client's socket may take nothing before it is
    dropped (`serve --feed-send-timeout`); ``ready``: when
    /api/health/ready says 503 (default: the ATLAS_ORCH_READY_LISTENER_LAG_S, …_STUCK_JOB_S
    and …_IGNORE variables)."""
    app = web.Application(middlewares=[envelope], client_max_size=MAX_BODY)
    app[URL] = url
    app[TOKENS] = tokens
    app[READY] = ready if ready is not None else metrics.ReadyLimits.from_env()
    app[TICKETS] = Tickets()
    app[FEED_SEND_TIMEOUT] = feed_send_timeout_s
    app[SCOPES] = {}
    for r in ROUTES:
        handler = r.handler
        if r.query is None and r.path.startswith(PREFIX):
            handler = _no_query(handler)
        app.router.add_route(r.method, r.path, handler, expect_handler=_expect)
        app[SCOPES][(r.method, r.path)] = r.scope
        if r.method == "GET":
            # HEAD answers as GET does, without the body: uptime checkers and load
            # balancers' health checks send it (docs/health-and-alerts.md)
            app.router.add_route("HEAD", r.path, handler, expect_handler=_expect)
            app[SCOPES][("HEAD", r.path)] = r.scope
    app.router.add_get(f"{PREFIX}/feed", feed, allow_head=False)
    app[SCOPES][("GET", f"{PREFIX}/feed")] = None      # checks its own (ticket or header)
    app.router.add_get("/admin/data-health", page)
    app[SCOPES][("GET", "/admin/data-health")] = None
    app.router.add_get("/", lambda _r: _redirect())
    app[SCOPES][("GET", "/")] = None

    async def startup(app: web.Application) -> None:
        from listener.core.db import connect, session_settings

        probe = await connect(url)          # one readable error for a bad URL
        await probe.close()
        app[POOL] = await asyncpg.create_pool(
            url, min_size=1, max_size=8,
            server_settings=session_settings("atlas-orch serve"))
        app[READ_POOL] = app[POOL]
        if read_url:
            probe = await connect(read_url)  # the same readable error for the replica's URL
            try:
                # a replica of another database, or an empty one, answered every GET with
                # a 500 (relation does not exist): refuse to start instead
                missing = await read.lacks_orchestrator(probe)
            finally:
                await probe.close()
            if missing:
                raise UserError(f"the read replica (--read-url / ATLAS_ORCH_READ_URL) lacks "
                                f"{', '.join(missing)}: is it a standby of DATABASE_URL, with "
                                f"the orchestrator installed there?")
            app[READ_POOL] = await asyncpg.create_pool(
                read_url, min_size=1, max_size=8,
                server_settings=session_settings("atlas-orch serve (reads)"))
        app[HUB] = FeedHub(listen_url or url, max_queue=max(1, feed_max_queue))
        await app[HUB].start()
        event(log, "api_started", routes=len(ROUTES))

    async def cleanup(app: web.Application) -> None:
        await app[HUB].stop()
        if app[READ_POOL] is not app[POOL]:
            await app[READ_POOL].close()
        await app[POOL].close()

    async def shutdown(app: web.Application) -> None:
        # before aiohttp waits for the open handlers: the feed's would wait for their clients
        if HUB in app:
            app[HUB].close_subscribers()

    app.on_startup.append(startup)
    app.on_shutdown.append(shutdown)
    app.on_cleanup.append(cleanup)
    return app


async def _redirect() -> web.StreamResponse:
    raise web.HTTPFound("/admin/data-health")
