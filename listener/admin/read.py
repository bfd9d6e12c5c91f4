"""The questions people ask, one function each (sources, rules, health, why data is missing,
anomalies, the decision log, provenance, timelines), and the registry's two changes (register
a source, map a field). The CLI and the HTTP API both call these, so a command and its route
always agree."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from typing import Any

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from listener.core import sql
from listener.core.errors import UsageError, UserError
from listener.core.record_ids import id_text

_SQL = sql.beside(__file__, "read")

# a plain connection or one borrowed from the API's pool
Conn = asyncpg.Connection | PoolConnectionProxy
ENTITY_TYPES = ("person", "place", "cat", "request")
MAX_PAGE = 1000
# v_orchestrator_health's statuses (sql/orchestrator/views/health.sql), the most pressing
# first: the metric atlas_orch_source_health lists every one for every source
HEALTH_STATUSES = ("stale", "errors", "backlogged", "processing_behind", "attention",
                   "inactive", "healthy")
# The decision log's actions: orchestrator 001's CHECK on orchestrator_job_log.action, which
# tests/test_api.py compares with this. A filter on another word matched nothing, and the
# feed's client waited for rows that could never come.
LOG_ACTIONS = ("routed", "skipped", "merged", "rejected", "anomaly_flagged", "error", "staged",
               "job_queued", "job_started", "job_completed", "job_failed",
               "identity_decision", "entity_created", "entity_merged", "replayed",
               "anomaly_resolved")


class NotFound(UserError):
    """The thing asked about does not exist (HTTP 404)."""


def _q(name: str) -> str:
    return _SQL[name]


_JSONB = ("expected_fields", "decision_details", "details", "changed")


def rows_of(records: list[asyncpg.Record]) -> list[dict[str, Any]]:
    """Records as dicts, their jsonb columns decoded."""
    out = []
    for r in records:
        d = dict(r)
        for k, v in d.items():
            # jsonb arrives as text without a codec; hand it on as data
            if k in _JSONB and isinstance(v, str):
                d[k] = json.loads(v)
        out.append(d)
    return out


def split_source(spec: str) -> tuple[str, str]:
    """``system/table`` into its two parts, or a clear error."""
    system, sep, table = spec.partition("/")
    if not sep or not system or not table or "/" in table:
        raise UsageError(f"a source is SYSTEM/TABLE (like clinichq/owner_info), not {spec!r}")
    return system, table


async def require_source(conn: Conn, system: str | None, table: str | None) -> None:
    """Refuse a ``--source`` that names no source: a typo listed nothing and exited 0, the
    same answer as a source with nothing to show."""
    if system is None or await conn.fetchval(_q("source_known"), system, table):
        return
    spec = f"{system}/{table}" if table else system
    raise UsageError(f"no source {spec!r}: neither registered nor staged (`atlas-orch sources` "
                     "lists the registered ones)")


def source_filter(spec: str | None) -> tuple[str | None, str | None]:
    """A ``--source`` / ``?source=`` filter: nothing, ``SYSTEM`` or ``SYSTEM/TABLE``."""
    if not spec:
        return None, None
    if "/" not in spec:
        return spec, None
    return split_source(spec)


async def sources(conn: Conn, system: str | None = None,
                  table: str | None = None) -> list[dict[str, Any]]:
    return rows_of(await conn.fetch(_q("sources"), system, table))


async def lacks_orchestrator(conn: Conn) -> list[str]:
    """The orchestrator objects the read routes need that this database lacks (none: it
    has them). ``serve --read-url`` asks its replica at start (docs/SCALING.md)."""
    missing: list[str] = await conn.fetchval(_SQL["lacks_orchestrator"])
    return missing


async def source(conn: Conn, system: str, table: str) -> dict[str, Any]:
    rows = await sources(conn, system, table)
    if not rows:
        raise NotFound(f"no source {system}/{table} is registered")
    return rows[0]


async def register_source(conn: Conn, body: dict[str, Any]) -> dict[str, Any]:
    """Register or update a source (``trapper.register_source``, an idempotent upsert)."""
    await conn.fetchval(
        _q("register_source"), body["source_system"], body["source_table"],
        body["display_name"], body.get("entity_types_produced"), body.get("processor_name"),
        body.get("ingest_method", "file_upload"), body.get("ingest_frequency", "on_demand"),
        body.get("expected_fields") or [], body.get("required_fields") or [],
        body.get("id_field_candidates"), body.get("notes"))
    return await source(conn, body["source_system"], body["source_table"])


async def rules(conn: Conn, system: str | None = None,
                table: str | None = None) -> list[dict[str, Any]]:
    return rows_of(await conn.fetch(_q("rules"), system, table))


async def map_field(conn: Conn, body: dict[str, Any]) -> dict[str, Any]:
    """Map one source field to a target (``trapper.map_source_field``: checked against the
    allowlist; a bad rule is refused with the database's explanation)."""
    rule_id = await conn.fetchval(
        _q("map_field"), body["source_system"], body["source_table"], body["source_field"],
        body["target_surface"], body.get("target_field"), body.get("routing_type", "direct"),
        body.get("target_function"), body.get("transform_expression"),
        body.get("is_required", False), body.get("skip_if_empty", True))
    rows = [r for r in await rules(conn, body["source_system"], body["source_table"])
            if r["rule_id"] == rule_id]
    return rows[0]


async def health(conn: Conn) -> dict[str, Any]:
    """Every source's health row, and its last 24 hours by the hour (for the sparklines)."""
    rows = rows_of(await conn.fetch(_q("health")))
    hourly: dict[str, list[dict[str, Any]]] = {}
    for h in rows_of(await conn.fetch(_q("hourly"))):
        hourly.setdefault(f"{h['source_system']}/{h['source_table']}", []).append(h)
    for r in rows:
        r["hourly"] = hourly.get(f"{r['source_system']}/{r['source_table']}", [])
    return {"sources": rows}


async def why_missing(conn: Conn, *, issue_type: str | None = None,
                      system: str | None = None, table: str | None = None,
                      limit: int = 100, offset: int = 0) -> dict[str, Any]:
    limit = max(1, min(limit, MAX_PAGE))
    counts = {r["issue_type"]: r["n"] for r in await conn.fetch(_q("why_missing_counts"),
                                                                 system, table)}
    rows = rows_of(await conn.fetch(_q("why_missing"), issue_type, system, table, limit,
                                  max(0, offset)))
    total = counts.get(issue_type, 0) if issue_type else sum(counts.values())
    # a mistyped kind looks like a kind with no gaps: the note says which kinds have rows,
    # in the JSON (CLI and API) as in the CLI's text
    note = None
    if issue_type and issue_type not in counts:
        note = (f"no gaps of kind {issue_type!r} now; the kinds with gaps are "
                + ", ".join(counts) if counts
                else f"no gaps of kind {issue_type!r} now: there are none at all")
    return {"counts": counts, "total": total, "limit": limit, "offset": offset, "rows": rows,
            "note": note}


async def as_staged_id(conn: Conn, system: str, table: str, record_id: str) -> str:
    """The record id as ingest stores it, for an id a person copied from the file: ``101.0``
    (a spreadsheet's float) or `` 101`` is record ``101`` (``id_text``), unless something is
    staged or rejected under the id as typed. Asked as typed, such a record was "missing"
    while it stood under its id."""
    stored = id_text(record_id)
    if stored == record_id or not stored or await conn.fetchval(
            _q("record_known"), system, table, record_id):
        return record_id
    return stored


async def why_missing_record(conn: Conn, system: str, table: str,
                             record_id: str) -> dict[str, Any]:
    """Why one source record is missing, or that it is not: the rows of ingested files
    rejected as it (each ``open``, or ``corrected`` by a later run, sql/core/040), what
    stands now (its newest staged version, processed or not, and the entities it made) and
    its gaps in ``v_data_why_missing``; ``answer`` says it in one line."""
    record_id = await as_staged_id(conn, system, table, record_id)
    args = (system, table, record_id)
    rejects = rows_of(await conn.fetch(_q("record_rejects"), *args))
    newest = await conn.fetchrow(_q("record_stands"), *args)
    if newest is None and not rejects and not await conn.fetchval(
            _q("source_known"), system, table):
        raise NotFound(f"no source {system}/{table}: neither registered nor staged "
                       "(`atlas-orch sources` lists the registered ones)")
    stands = None
    if newest is not None:
        stands = {**dict(newest), "entities": rows_of(await conn.fetch(
            _q("record_entities"), *args))}
    gaps = rows_of(await conn.fetch(_q("record_gaps"), *args))
    return {"source_system": system, "source_table": table, "source_record_id": record_id,
            "missing": stands is None, "answer": _record_answer(rejects, stands, gaps),
            "stands": stands, "rejects": rejects, "gaps": gaps}


def _where(file: str | None, row: int | None, run: int | None) -> str:
    """Where a row was: ``file.csv row 11 (ingest run 1)``."""
    return (f"{file or 'an unnamed file'}" + (f" row {row}" if row is not None else "")
            + (f" (ingest run {run})" if run is not None else ""))


def _record_answer(rejects: list[dict[str, Any]], stands: dict[str, Any] | None,
                   gaps: list[dict[str, Any]]) -> str:
    """The one-line answer of ``why_missing_record``."""
    still = [r for r in rejects if r["status"] == "open"]
    fixed = [r for r in rejects if r["status"] == "corrected"]
    parts = []
    if stands is None and still:
        r = still[-1]
        parts.append(f"missing: rejected at ingest ({r['reason_code']}) in "
                     f"{_where(r['source_file'], r['row_number'], r['ingest_run_id'])}: "
                     f"{r['reason']}; correct the row in the export and ingest it again")
    elif stands is None:
        parts.append("missing: no ingested file carried it, neither staged nor rejected "
                     "under this id (is the id right? was its file ingested?)")
    for r in fixed:
        parts.append(f"rejected at ingest ({r['reason_code']}) in "
                     f"{_where(r['source_file'], r['row_number'], r['ingest_run_id'])}, "
                     f"corrected by ingest run {r['corrected_by_run']}"
                     + (f" ({r['corrected_by_file']})" if r["corrected_by_file"] else ""))
    if stands is not None:
        made = ", ".join(f"{e['entity_type']} {e['entity_id']}"
                         + (f" (merged into {e['merged_into']})" if e.get("merged_into") else "")
                         for e in stands["entities"])
        state = ("processing failed: " + stands["processing_error"]
                 if stands["processing_error"] else
                 "processed" + (f", made or matched {made}" if made else "")
                 if stands["is_processed"] else "not processed yet")
        parts.append(f"stands now: version {stands['versions']} from "
                     f"{_where(stands['source_file'], None, stands['ingest_run_id'])}, "
                     f"{state}")
        # a row of a later file rejected while an earlier version stands
        parts += [f"its row in {_where(r['source_file'], r['row_number'], r['ingest_run_id'])} "
                  f"was rejected ({r['reason_code']}) and is not in yet" for r in still]
    # (its open rejects are told above)
    other = [g for g in gaps if g["issue_type"] != "ingest_rejected"]
    if other:
        kinds = sorted({g["issue_type"] for g in other})
        parts.append(f"{len(other)} gap(s): {', '.join(kinds)}")
    return "; ".join(parts)


async def anomalies(conn: Conn, *, system: str | None = None,
                    table: str | None = None, include_resolved: bool = False,
                    limit: int = 200, offset: int = 0) -> list[dict[str, Any]]:
    """Open anomalies (``include_resolved``: all), open first, then newest first; a page of
    ``limit`` rows from ``offset``."""
    return rows_of(await conn.fetch(_q("anomalies"), system, table, include_resolved,
                                  max(1, min(limit, MAX_PAGE)), max(offset, 0)))


async def log(conn: Conn, *, system: str | None = None, table: str | None = None,
              record_id: str | None = None, staged_record_id: int | None = None,
              entity_id: uuid.UUID | None = None, action: str | None = None,
              since: dt.datetime | None = None, until: dt.datetime | None = None,
              after: int = 0, limit: int = 100) -> list[dict[str, Any]]:
    """Job-log rows, oldest first, by source record, staged record, entity, action, time;
    ``after`` pages by log_seq."""
    if system and table and record_id:
        record_id = await as_staged_id(conn, system, table, record_id)
    args = (system, table, record_id, staged_record_id, entity_id, action, since, until, after,
            max(1, min(limit, MAX_PAGE)))
    if system and table and record_id:
        return rows_of(await fetch_generic(conn, _q("log_by_record"), *args))
    rows = rows_of(await conn.fetch(_q("log"), *args))
    stored = id_text(record_id) if record_id else None
    if not rows and stored and stored != record_id:
        # without SYSTEM/TABLE there is no staged record to ask, so the id as the file shows
        # it (`101.0`, a spreadsheet's float) is tried as ingest stores it when nothing was
        # logged under it as typed; `log --record 101.0` answered "(no rows)" while
        # `--source … --record 101.0` found record 101
        rows = rows_of(await conn.fetch(_q("log"), system, table, stored, *args[3:]))
    return rows


async def fetch_generic(conn: Conn, query: str, *args: Any) -> list[asyncpg.Record]:
    """Run a reader of the decision log that has no time bound with a generic plan: planning
    it afresh would weigh every monthly partition's indexes each time, ten times the cost of
    the index probes themselves (docs/operations.md, "Partitions and retention";
    bench/log_scale.py measures it)."""
    async with conn.transaction():
        await conn.execute(_q("generic_plans"))
        return list(await conn.fetch(query, *args))


async def provenance(conn: Conn, entity_type: str,
                     entity_id: uuid.UUID) -> dict[str, Any]:
    """Where an entity came from: every source record behind it (its own and those of the
    entities merged into it) and every decision about it."""
    if entity_type not in ENTITY_TYPES:
        raise UsageError(f"entity type must be one of {', '.join(ENTITY_TYPES)}")
    if not await conn.fetchval(_q("entity_exists"), entity_type, entity_id):
        raise NotFound(f"no {entity_type} {entity_id}")
    canonical = await conn.fetchval(_q("canonical"), entity_type, entity_id)
    ids = await conn.fetchval(_q("merged_from"), entity_type, canonical) or [canonical]
    return {
        "entity_type": entity_type, "entity_id": entity_id, "canonical_id": canonical,
        "merged_from": [i for i in ids if i != canonical],
        "sources": rows_of(await conn.fetch(_q("entity_sources"), ids)),
        "decisions": rows_of(await conn.fetch(_q("entity_log"), ids)),
    }


async def timeline(conn: Conn, system: str, table: str,
                   record_id: str) -> dict[str, Any]:
    """A source record's whole story in time order: each staged version, its jobs and their
    states, every decision with its rule and reason, entities created or merged, the
    anomalies of its source at the time, and the alerts they raised."""
    record_id = await as_staged_id(conn, system, table, record_id)
    versions = rows_of(await conn.fetch(_q("record_versions"), system, table, record_id))
    if not versions:
        raise NotFound(f"no staged record {record_id} of {system}/{table}")
    staged_ids = [v["staged_record_id"] for v in versions]
    decisions = rows_of(await conn.fetch(_q("record_log"), system, table, record_id, staged_ids))
    entities = rows_of(await conn.fetch(_q("record_entities"), system, table, record_id))
    entity_ids = [e["entity_id"] for e in entities]
    merges = [d for d in rows_of(await conn.fetch(_q("entity_log"), entity_ids))
              if d["action"] == "entity_merged"]
    processed = [v["processed_at"] for v in versions if v["processed_at"]]
    job_ids = sorted({d["job_id"] for d in decisions if d.get("job_id")}
                     | {r["job_id"] for r in await conn.fetch(_q("record_jobs"), system, table,
                                                              processed)}, key=str)
    jobs = rows_of(await conn.fetch(_q("jobs"), job_ids))
    anomaly_rows = rows_of(await conn.fetch(_q("record_anomalies"), system, table,
                                          [v["created_at"] for v in versions]))
    alert_rows = rows_of(await conn.fetch(_q("anomaly_alerts"),
                                        [a["anomaly_key"] for a in anomaly_rows])) \
        if anomaly_rows else []

    items: list[dict[str, Any]] = []
    for n, v in enumerate(versions, 1):
        items.append({"at": v["created_at"], "type": "staged", "version": n, **v})
        if v["processed_at"]:
            items.append({"at": v["processed_at"], "type": "processed",
                          "staged_record_id": v["staged_record_id"]})
    for j in jobs:
        for field, state in (("queued_at", "queued"), ("started_at", "started"),
                             ("completed_at", j["status"])):
            if j.get(field):
                items.append({"at": j[field], "type": "job", "state": state,
                              "job_id": j["job_id"], "last_error": j["last_error"]})
    seen = set()
    for d in decisions + merges:
        if d["log_seq"] in seen:
            continue
        seen.add(d["log_seq"])
        items.append({"at": d["logged_at"], "type": "decision", **d})
    for a in anomaly_rows:
        items.append({"at": a["first_seen"], "type": "anomaly", **a})
    for al in alert_rows:
        items.append({"at": al["created_at"], "type": "alert", **al})
    order = {"staged": 0, "job": 1, "decision": 2, "processed": 3, "anomaly": 4, "alert": 5}
    items.sort(key=lambda i: (i["at"], order[i["type"]], i.get("log_seq", 0)))
    return {"source_system": system, "source_table": table, "source_record_id": record_id,
            "versions": len(versions), "entities": entities, "items": items}


async def queue_remaining(conn: Conn) -> int:
    """Jobs queued, waiting to retry or being processed."""
    return int(await conn.fetchval(_q("queue_remaining")))
