"""The route table and the OpenAPI 3.1 document made from it.

Each route is declared once (listener.web.app) with its models; the document is built from the
same declarations the server validates with, so what it promises is what the server does:
every parameter's type, format, bounds and enum, every request body, every status a route
can answer with its schema, and who may call it. It is served raw (no envelope) and without
a token at ``/api/openapi.json``, so Swagger UI, openapi-generator and schemathesis load it
as it is.
"""

from __future__ import annotations

import copy
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

Handler = Callable[[web.Request], Awaitable[Any]]

ANY_OBJECT: dict[str, Any] = {"type": "object"}
OBJECTS: dict[str, Any] = {"type": "array", "items": {"type": "object"}}


@dataclass
class Route:
    """One operation: how it is routed, checked, and described."""

    method: str
    path: str
    handler: Handler
    summary: str
    scope: str | None = "read"                   # None: no token needed
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    params: type[BaseModel] | None = None         # the path parameters
    returns: dict[str, Any] = field(default_factory=lambda: dict(ANY_OBJECT))
    database: bool = True                         # reads PostgreSQL (so may answer 503)
    refusable: bool = False                       # the database may refuse valid input (409)
    enveloped: bool = True                        # False: the answer is the data itself
    extra: dict[str, str] = field(default_factory=dict)   # more statuses it may answer
    media_type: str = "application/json"          # of the 200 answer
    # statuses answered with their own schema rather than the Error envelope:
    # status -> (description, schema)
    answers: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)


ERROR_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": False, "required": ["success", "error"],
    "properties": {
        "success": {"const": False},
        "error": {"type": "object", "additionalProperties": False,
                  "required": ["code", "message"],
                  "properties": {"code": {"type": "string"},
                                 "message": {"type": "string"}}}}}

# what each error status means, the same for every route that can answer it
STATUS_TEXT = {
    "400": "malformed request: a header, the query, a path parameter or the body's JSON is "
           "not valid (the message says which)",
    "401": "no bearer token, or an unknown one",
    "403": "a token of too narrow a scope: a read token on an admin route, a metrics token "
           "on any route but /metrics",
    "404": "the path names nothing that exists",
    "409": "valid, but refused by the database's current state (an unregistered source or "
           "processor, a function outside the allowlist, nothing to route)",
    "413": "the body is over 256 KiB (after decompression)",
    "415": "the body is not application/json in UTF-8",
    "422": "the body is JSON but not of the request schema",
    "429": "too many unredeemed tickets; try again in a few seconds",
    "500": "internal error: the message carries an incident id the server log explains",
    "503": "the database cannot be reached; try again",
}


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def _error(status: str) -> dict[str, Any]:
    answer: dict[str, Any] = {"description": STATUS_TEXT[status],
                              "content": _json({"$ref": "#/components/schemas/Error"})}
    if status == "503":
        answer["headers"] = {"Retry-After": {"description": "seconds to wait",
                                             "schema": {"type": "integer", "minimum": 0}}}
    return answer


def _scalar(schema: dict[str, Any]) -> dict[str, Any]:
    """A parameter's schema without pydantic's ``null`` branch (an absent parameter is how a
    query says "none"), its title and its ``None`` default."""
    schema = copy.deepcopy(schema)
    branches = [b for b in schema.pop("anyOf", []) if b.get("type") != "null"]
    if len(branches) == 1:
        schema = {**branches[0], **schema}
    elif branches:
        schema["anyOf"] = branches
    schema.pop("title", None)
    if schema.get("default", 0) is None:
        schema.pop("default")
    return schema


def _parameters(model: type[BaseModel], where: str) -> list[dict[str, Any]]:
    doc = model.model_json_schema()
    required = set(doc.get("required", []))
    out = []
    for name, prop in doc.get("properties", {}).items():
        param: dict[str, Any] = {"name": name, "in": where,
                                 "required": where == "path" or name in required,
                                 "schema": _scalar(prop)}
        if "description" in param["schema"]:
            param["description"] = param["schema"].pop("description")
        out.append(param)
    return out


def _operation(r: Route, schemas: dict[str, Any]) -> dict[str, Any]:
    """One operation of the document."""
    ok = r.returns if not r.enveloped else {
        "type": "object", "additionalProperties": False, "required": ["success", "data"],
        "properties": {"success": {"const": True}, "data": r.returns}}
    responses: dict[str, Any] = {"200": {"description": "OK", "content": {
        r.media_type: {"schema": ok}}}}
    statuses = ["400", "500"]
    op: dict[str, Any] = {"summary": r.summary, "operationId": r.handler.__name__}
    if r.scope:
        op["security"] = [{"bearer": [r.scope]}]
        statuses.append("401")
        statuses.append("403")
    else:
        op["security"] = []
    params: list[dict[str, Any]] = []
    if r.params is not None:
        params += _parameters(r.params, "path")
        statuses.append("404")
    if r.query is not None:
        params += _parameters(r.query, "query")
    if params:
        op["parameters"] = params
    if r.body is not None:
        schema = r.body.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[r.body.__name__] = schema
        op["requestBody"] = {"required": bool(schema.get("required")), "content": _json(
            {"$ref": f"#/components/schemas/{r.body.__name__}"})}
        statuses += ["413", "415", "422"]
    if r.refusable:
        statuses.append("409")
    if r.database:
        statuses.append("503")
    for status in sorted(set(statuses)):
        responses[status] = _error(status)
    for status, text in r.extra.items():
        responses[status] = {"description": text,
                             "content": _json({"$ref": "#/components/schemas/Error"})}
    for status, (text, schema) in r.answers.items():
        responses[status] = {"description": text, "content": _json(schema)}
    op["responses"] = dict(sorted(responses.items()))
    return op


def document(routes: list[Route]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes``."""
    schemas: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, Any] = {}
    for r in routes:
        paths.setdefault(r.path, {})[r.method.lower()] = _operation(r, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "atlas-orchestrator", "version": "1.0.0",
                 "description": "Answers are {\"success\": true, \"data\": …} or "
                                "{\"success\": false, \"error\": {\"code\", \"message\"}}. "
                                "The live feed is a websocket at "
                                "/api/admin/orchestrator/feed (see docs/api.md); a method a "
                                "path does not have is a 405 with Allow."},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"bearer": {
                "type": "http", "scheme": "bearer",
                "description": "ATLAS_ORCH_READ_TOKEN (scope read), ATLAS_ORCH_ADMIN_TOKEN "
                               "(scopes read and admin) or ATLAS_ORCH_METRICS_TOKEN (scope "
                               "metrics: /metrics only; read and admin tokens may scrape "
                               "too)"}},
        },
    }
