"""The HTTP API, the live feed and the data-health page (aiohttp).

Every route reads through listener.read (the CLI's functions). Answers are an envelope:
``{"success": true, "data": …}`` or ``{"success": false, "error": {"code", "message"}}``;
bad input is a 4xx with the reason, never a stack trace. Everything but the liveness route and
the page's static shell needs a bearer token: a read token or an admin token (register, map,
replay, redeliver, process). Tokens are compared in constant time and never logged.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
from aiohttp import WSMsgType, web
from pydantic import BaseModel, ValidationError

from listener import api_models as m
from listener import read, replay, routing
from listener.errors import UserError
from listener.feed import PAGE, ROWS, FeedHub, Subscriber, matcher, row_json
from listener.logs import event
from listener.output import to_json

log = logging.getLogger("atlas_orch.api")

PREFIX = "/api/admin/orchestrator"
MAX_BODY = 256 * 1024
STATIC = Path(__file__).parent / "static"
Handler = Callable[[web.Request], Awaitable[Any]]


@dataclass(frozen=True)
class Tokens:
    admin: tuple[str, ...]
    read: tuple[str, ...]

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Tokens:
        env = dict(os.environ) if env is None else env

        def split(name: str) -> tuple[str, ...]:
            return tuple(t.strip() for t in env.get(name, "").split(",") if t.strip())

        return cls(split("ATLAS_ORCH_ADMIN_TOKEN"), split("ATLAS_ORCH_READ_TOKEN"))

    def scope(self, presented: str | None) -> str | None:
        """'admin', 'read' or None. Every token is compared, in constant time each, so the
        time taken says nothing about which matched."""
        if not presented:
            return None
        got = presented.encode()
        admin = any([hmac.compare_digest(got, t.encode()) for t in self.admin])
        reader = any([hmac.compare_digest(got, t.encode()) for t in self.read])
        return "admin" if admin else "read" if reader else None


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def ok(data: Any, status: int = 200) -> web.Response:
    return web.Response(text=to_json({"success": True, "data": data}), status=status,
                        content_type="application/json")


def fail(status: int, code: str, message: str) -> web.Response:
    return web.Response(text=to_json({"success": False, "error": {"code": code,
                                                                "message": message}}),
                        status=status, content_type="application/json")


# -- routes, declared once for the router and the OpenAPI document -------------------------

@dataclass
class Route:
    method: str
    path: str
    handler: Handler
    summary: str
    scope: str | None = "read"                  # None: no token needed
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None


ROUTES: list[Route] = []


def route(method: str, path: str, summary: str, *, scope: str | None = "read",
          query: type[BaseModel] | None = None,
          body: type[BaseModel] | None = None) -> Callable[[Handler], Handler]:
    def deco(fn: Handler) -> Handler:
        ROUTES.append(Route(method, path, fn, summary, scope, query, body))
        return fn
    return deco


def _query(request: web.Request, model: type[Any]) -> Any:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        raise ApiError(400, "bad_query", _validation_message(exc)) from None


async def _body(request: web.Request, model: type[Any]) -> Any:
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise ApiError(413, "too_large", f"the body is over {MAX_BODY} bytes") from None
    try:
        data = json.loads(raw or b"{}")
    except ValueError:
        raise ApiError(400, "bad_json", "the body is not JSON") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, "invalid", _validation_message(exc)) from None


def _validation_message(exc: ValidationError) -> str:
    return "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                     for e in exc.errors()[:10])


def _pool(request: web.Request) -> asyncpg.Pool:
    pool: asyncpg.Pool = request.app[POOL]
    return pool


def _uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise ApiError(400, "bad_id", f"{what} must be a UUID, not {value[:60]!r}") from None


@route("GET", "/api/health/live", "Liveness: the process answers (no token).", scope=None)
async def live(request: web.Request) -> Any:
    return {"status": "ok"}


@route("GET", f"{PREFIX}/sources", "Registered sources with their health status.")
async def sources_list(request: web.Request) -> Any:
    async with _pool(request).acquire() as conn:
        return await read.sources(conn)


@route("GET", f"{PREFIX}/sources/{{system}}/{{table}}", "One source.")
async def sources_one(request: web.Request) -> Any:
    async with _pool(request).acquire() as conn:
        return await read.source(conn, request.match_info["system"],
                                 request.match_info["table"])


@route("POST", f"{PREFIX}/sources", "Register or update a source.", scope="admin",
       body=m.RegisterSource)
async def sources_register(request: web.Request) -> Any:
    body = await _body(request, m.RegisterSource)
    async with _pool(request).acquire() as conn:
        return await read.register_source(conn, body.model_dump())


@route("GET", f"{PREFIX}/rules", "Routing rules, optionally of one source.",
       query=m.SourceQuery)
async def rules_list(request: web.Request) -> Any:
    q = _query(request, m.SourceQuery)
    async with _pool(request).acquire() as conn:
        return await read.rules(conn, *read.source_filter(q.source))


@route("POST", f"{PREFIX}/rules", "Map a source field to a target (a routing rule).",
       scope="admin", body=m.MapField)
async def rules_map(request: web.Request) -> Any:
    body = await _body(request, m.MapField)
    async with _pool(request).acquire() as conn:
        return await read.map_field(conn, body.model_dump())


@route("POST", f"{PREFIX}/rules/dry-run",
       "Route recent records with the current rules, rolled back: what would change.",
       body=m.DryRun)
async def rules_dry_run(request: web.Request) -> Any:
    body = await _body(request, m.DryRun)
    system, table = read.split_source(body.source)
    async with _pool(request).acquire() as conn:
        result = await routing.dry_run(conn, system, table, limit=body.limit,
                                       record_id=body.record)
    return result.as_dict()


@route("GET", f"{PREFIX}/health", "Each active source's health and its last 24 hours.")
async def health(request: web.Request) -> Any:
    async with _pool(request).acquire() as conn:
        return await read.health(conn)


@route("GET", f"{PREFIX}/why-missing", "Why data is missing: counts by kind and rows.",
       query=m.WhyMissingQuery)
async def why_missing(request: web.Request) -> Any:
    q = _query(request, m.WhyMissingQuery)
    system, table = read.source_filter(q.source)
    async with _pool(request).acquire() as conn:
        return await read.why_missing(conn, issue_type=q.type, system=system, table=table,
                                      limit=q.limit, offset=q.offset)


@route("GET", f"{PREFIX}/anomalies", "Open anomalies (all=true: resolved ones too).",
       query=m.AnomaliesQuery)
async def anomalies(request: web.Request) -> Any:
    q = _query(request, m.AnomaliesQuery)
    system, table = read.source_filter(q.source)
    async with _pool(request).acquire() as conn:
        return await read.anomalies(conn, system=system, table=table,
                                    include_resolved=q.all, limit=q.limit)


@route("GET", f"{PREFIX}/alerts", "The Slack alert outbox, newest first.", query=m.AlertsQuery)
async def alerts(request: web.Request) -> Any:
    q = _query(request, m.AlertsQuery)
    async with _pool(request).acquire() as conn:
        return await read.alerts(conn, status=q.status, limit=q.limit)


@route("POST", f"{PREFIX}/alerts/{{alert_id}}/redeliver", "Send an alert again.",
       scope="admin")
async def alerts_redeliver(request: web.Request) -> Any:
    alert_id = _uuid(request.match_info["alert_id"], "the alert id")
    async with _pool(request).acquire() as conn:
        return await read.redeliver_alert(conn, alert_id)


@route("GET", f"{PREFIX}/log", "The decision log by record, staged record, entity, action, "
       "time; page with after=<log_seq>.", query=m.LogQuery)
async def log_rows(request: web.Request) -> Any:
    q = _query(request, m.LogQuery)
    system, table = read.source_filter(q.source)
    async with _pool(request).acquire() as conn:
        return await read.log(conn, system=system, table=table, record_id=q.record,
                              staged_record_id=q.staged, entity_id=q.entity, action=q.action,
                              since=q.since, until=q.until, after=q.after, limit=q.limit)


@route("GET", f"{PREFIX}/entities/{{entity_type}}/{{entity_id}}/provenance",
       "Where an entity came from.")
async def provenance(request: web.Request) -> Any:
    kind = request.match_info["entity_type"]
    if kind not in read.ENTITY_TYPES:
        raise ApiError(400, "bad_type", f"entity type must be one of "
                                        f"{', '.join(read.ENTITY_TYPES)}")
    ident = _uuid(request.match_info["entity_id"], "the entity id")
    async with _pool(request).acquire() as conn:
        return await read.provenance(conn, kind, ident)


@route("GET", f"{PREFIX}/records/{{system}}/{{table}}/{{record_id}}/timeline",
       "A source record's whole timeline, in order.")
async def timeline(request: web.Request) -> Any:
    mi = request.match_info
    async with _pool(request).acquire() as conn:
        return await read.timeline(conn, mi["system"], mi["table"], mi["record_id"])


@route("POST", f"{PREFIX}/records/{{system}}/{{table}}/{{record_id}}/replay",
       "Reprocess a record (rolled back), apply it, or re-publish its timeline.",
       scope="admin", body=m.Replay)
async def replay_record(request: web.Request) -> Any:
    body = await _body(request, m.Replay)
    mi = request.match_info
    async with _pool(request).acquire() as conn:
        if body.mode == "timeline":
            return await read.timeline(conn, mi["system"], mi["table"], mi["record_id"])
        if body.mode == "emit":
            return await replay.emit(conn, mi["system"], mi["table"], mi["record_id"])
        return await replay.reprocess(conn, mi["system"], mi["table"], mi["record_id"],
                                      apply=body.mode == "apply")


@route("POST", "/api/ingest/process", "Work the queue for a time budget (Atlas's cron route).",
       scope="admin", body=m.Process)
async def ingest_process(request: web.Request) -> Any:
    from listener.worker import drain_queue

    body = await _body(request, m.Process)
    started = time.monotonic()
    stats = await drain_queue(request.app[URL], workers=1, job_batch=body.job_batch,
                              budget_s=body.budget_s, signals=False)
    async with _pool(request).acquire() as conn:
        remaining = await conn.fetchval(
            "SELECT count(*) FROM trapper.processing_jobs "
            "WHERE status IN ('queued', 'retry_pending', 'processing')")
    return {"jobs_processed": stats.jobs_completed + stats.jobs_retrying
            + stats.jobs_dead_lettered,
            "duration_ms": round((time.monotonic() - started) * 1000),
            "results": stats.errors, "records_processed": stats.records_processed,
            "queue_remaining": remaining}


@route("GET", "/api/health/processing", "Processing health in Atlas's shape.")
async def health_processing(request: web.Request) -> Any:
    async with _pool(request).acquire() as conn:
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
    status = "unhealthy" if "critical" in worst or any(
        r["health_status"] == "errors" for r in h) else \
        "degraded" if "warning" in worst or any(r["health_status"] != "healthy"
                                                 and r["health_status"] != "inactive"
                                                 for r in h) else "healthy"
    recs = [f"{r['source_system']}/{r['source_table']}: {r['health_status']}" for r in h
            if r["health_status"] not in ("healthy", "inactive")]
    return {"status": status,
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


@route("GET", "/api/openapi.json", "This document.")
async def openapi_doc(request: web.Request) -> Any:
    return openapi()


def openapi() -> dict[str, Any]:
    """The OpenAPI 3.1 document, from the route table and the pydantic models."""
    schemas: dict[str, Any] = {}
    paths: dict[str, Any] = {}
    envelope = {"type": "object", "properties": {"success": {"type": "boolean"},
                                                 "data": {}, "error": {"type": "object"}},
                "required": ["success"]}
    for r in ROUTES:
        op: dict[str, Any] = {"summary": r.summary, "operationId": r.handler.__name__,
                              "responses": {"200": {"description": "OK", "content": {
                                  "application/json": {"schema": envelope}}}}}
        if r.scope:
            op["security"] = [{"bearer": []}]
            op["responses"]["401"] = {"description": "no or unknown token"}
            op["responses"]["403"] = {"description": "a read token on an admin route"}
        params = [{"name": p.strip("{}"), "in": "path", "required": True,
                   "schema": {"type": "string", "minLength": 1, "maxLength": 200}}
                  for p in r.path.split("/") if p.startswith("{")]
        if r.query is not None:
            qs = r.query.model_json_schema()
            for name, prop in qs.get("properties", {}).items():
                params.append({"name": name, "in": "query", "required": False,
                               "schema": prop})
            op["responses"]["400"] = {"description": "bad parameters"}
        if params:
            op["parameters"] = params
        if r.body is not None:
            schema = r.body.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[r.body.__name__] = schema
            op["requestBody"] = {"required": False, "content": {"application/json": {
                "schema": {"$ref": f"#/components/schemas/{r.body.__name__}"}}}}
            op["responses"]["422"] = {"description": "invalid body"}
        if any(p["in"] == "path" for p in params):
            op["responses"]["404"] = {"description": "unknown id"}
        paths.setdefault(r.path, {})[r.method.lower()] = op
    return {"openapi": "3.1.0",
            "info": {"title": "atlas-orchestrator", "version": "1.0.0"},
            "paths": paths,
            "components": {"schemas": schemas,
                           "securitySchemes": {"bearer": {"type": "http",
                                                          "scheme": "bearer"}}}}


# -- middleware: auth and the envelope -------------------------------------------------------

POOL: web.AppKey[asyncpg.Pool] = web.AppKey("pool", asyncpg.Pool)
URL: web.AppKey[str] = web.AppKey("url", str)
TOKENS: web.AppKey[Tokens] = web.AppKey("tokens", Tokens)
HUB: web.AppKey[FeedHub] = web.AppKey("hub", FeedHub)
SCOPES: web.AppKey[dict[tuple[str, str], str | None]] = web.AppKey("scopes", dict)


def _presented(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return None


@web.middleware
async def envelope(request: web.Request, handler: Any) -> web.StreamResponse:
    try:
        resource = request.match_info.route.resource
        canonical = resource.canonical if resource is not None else request.path
        needed = request.app[SCOPES].get((request.method, canonical), "read")
        if needed is not None and request.path.startswith("/api/"):
            scope = request.app[TOKENS].scope(_presented(request))
            if scope is None:
                return fail(401, "unauthorized", "a bearer token is required")
            if needed == "admin" and scope != "admin":
                return fail(403, "forbidden", "this route needs the admin token")
        response = await handler(request)
        if isinstance(response, web.StreamResponse):
            return response
        return ok(response)
    except ApiError as exc:
        return fail(exc.status, exc.code, exc.message)
    except read.NotFound as exc:
        return fail(404, "not_found", str(exc))
    except UserError as exc:
        return fail(400, "bad_request", str(exc))
    except (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError,
            asyncpg.RaiseError, asyncpg.InvalidParameterValueError,
            asyncpg.UndefinedFunctionError) as exc:
        # the database refused the input (a rule outside the allowlist, a bad value)
        return fail(400, "refused", str(exc).splitlines()[0][:500])
    except web.HTTPException as exc:
        if exc.status == 404:
            return fail(404, "not_found", f"no route {request.method} {request.path}")
        if exc.status == 405:
            return fail(405, "method_not_allowed", f"{request.method} is not allowed here")
        if exc.status == 413:
            return fail(413, "too_large", f"the body is over {MAX_BODY} bytes")
        return fail(exc.status, "http_error", exc.reason)
    except Exception as exc:  # logged with an id; the client gets the id, never the trace
        incident = uuid.uuid4().hex[:12]
        log.exception("api_error", extra={"action": "api_error", "incident": incident,
                                          "path": request.path})
        del exc
        return fail(500, "internal", f"internal error (incident {incident}); see the log")


# -- the live feed ---------------------------------------------------------------------------

async def feed(request: web.Request) -> web.StreamResponse:
    try:
        q = m.FeedQuery.model_validate(dict(request.query))
    except ValidationError as exc:
        return fail(400, "bad_query", _validation_message(exc))
    token = _presented(request) or q.token
    if request.app[TOKENS].scope(token) is None:
        return fail(401, "unauthorized", "a bearer token (or ?token=) is required")
    hub = request.app[HUB]
    # compress=False: per-message deflate interleaved with heartbeat pings corrupted frames
    # (the client saw "non-zero reserved bits"); the rows are small JSON anyway
    ws = web.WebSocketResponse(heartbeat=15.0, max_msg_size=64 * 1024, compress=False)
    await ws.prepare(request)
    sub = hub.subscribe()
    keep = matcher(q.source, q.action)
    pos = hub.watermark if q.after is None else q.after
    try:
        await ws.send_str(to_json({"type": "hello", "cursor": pos,
                                 "watermark": hub.watermark}))
        reader = asyncio.create_task(_drain_client(ws))
        pos = await _send_range(request, ws, sub, keep, pos, hub.watermark)
        while not ws.closed:
            getter = asyncio.create_task(sub.queue.get())
            done, _ = await asyncio.wait({getter, reader}, return_when=asyncio.FIRST_COMPLETED)
            if reader in done:
                getter.cancel()
                break
            batch = getter.result()
            if sub.lagged:
                await ws.send_str(to_json({"type": "lagged", "cursor": pos,
                                         "message": "too slow to keep up; reconnect with "
                                                    f"after={pos}"}))
                break
            if batch.hi <= pos:
                continue
            if batch.lo > pos:        # joined between batches: fetch what lies between
                pos = await _send_range(request, ws, sub, keep, pos, batch.lo)
            fresh = [(r, t) for r, t in zip(batch.rows, batch.encoded, strict=True)
                     if r["log_seq"] > pos]
            await _send_rows(request, ws, keep, [r for r, _ in fresh], batch.hi,
                             [t for _, t in fresh])
            pos = batch.hi
    except (ConnectionResetError, asyncio.CancelledError):
        pass
    finally:
        hub.unsubscribe(sub)
        await ws.close()
    return ws


async def _drain_client(ws: web.WebSocketResponse) -> None:
    async for msg in ws:
        if msg.type in (WSMsgType.CLOSE, WSMsgType.ERROR):
            break


async def _send_range(request: web.Request, ws: web.WebSocketResponse, sub: Subscriber,
                      keep: Callable[[dict[str, Any]], bool], lo: int, hi: int) -> int:
    """Send the durable rows (lo, hi] page by page; returns the new cursor."""
    pos = lo
    while pos < hi:
        async with request.app[POOL].acquire() as conn:
            rows = [row_json(r) for r in await conn.fetch(ROWS, pos, hi, PAGE)]
        top = rows[-1]["log_seq"] if len(rows) == PAGE else hi
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
        await ws.send_str('{"type": "log", "rows": [' + ", ".join(t for _, t in kept)
                          + f'], "cursor": {cursor}}}')
    for r, _ in kept:
        details = r.get("decision_details") or {}
        if r["action"] == "replayed" and details.get("mode") == "emit":
            async with request.app[POOL].acquire() as conn:
                tl = await read.timeline(conn, r["source_system"], r["source_table"],
                                         r["source_record_id"])
            await ws.send_str(to_json({"type": "replay", "replay": True, "log_seq": r["log_seq"],
                                     "record": f"{r['source_system']}/{r['source_table']}/"
                                               f"{r['source_record_id']}",
                                     "items": tl["items"]}))


# -- the page --------------------------------------------------------------------------------

async def page(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC / "data-health.html",
                            headers={"Cache-Control": "no-store"})


# -- the app ---------------------------------------------------------------------------------

def create_app(url: str, tokens: Tokens, *, listen_url: str | None = None) -> web.Application:
    """The aiohttp application; its pool and feed start with it and stop with it."""
    app = web.Application(middlewares=[envelope], client_max_size=MAX_BODY)
    app[URL] = url
    app[TOKENS] = tokens
    app[SCOPES] = {}
    for r in ROUTES:
        app.router.add_route(r.method, r.path, r.handler)
        app[SCOPES][(r.method, r.path)] = r.scope
    app.router.add_get(f"{PREFIX}/feed", feed)
    app[SCOPES][("GET", f"{PREFIX}/feed")] = None      # checks its own token (query or header)
    app.router.add_get("/admin/data-health", page)
    app[SCOPES][("GET", "/admin/data-health")] = None
    app.router.add_get("/", lambda _r: _redirect())
    app[SCOPES][("GET", "/")] = None

    async def startup(app: web.Application) -> None:
        from listener.db import connect

        probe = await connect(url)          # one readable error for a bad URL
        await probe.close()
        app[POOL] = await asyncpg.create_pool(
            url, min_size=1, max_size=8, server_settings={"application_name":
                                                          "atlas-orch serve"})
        # batches a client may have queued before it is cut off as too slow
        max_queue = int(os.environ.get("ATLAS_ORCH_FEED_MAX_QUEUE", "200"))
        app[HUB] = FeedHub(app[POOL], listen_url or url, max_queue=max(1, max_queue))
        await app[HUB].start()
        event(log, "api_started", routes=len(ROUTES))

    async def cleanup(app: web.Application) -> None:
        await app[HUB].stop()
        await app[POOL].close()

    app.on_startup.append(startup)
    app.on_cleanup.append(cleanup)
    return app


async def _redirect() -> web.StreamResponse:
    raise web.HTTPFound("/admin/data-health")
