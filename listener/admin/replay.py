"""Replay a source record: its timeline (listener.admin.read.timeline), and running it through its
processor again — rolled back to compare what would be decided now with what was decided
then (``reprocess``), for real (``apply``, logged as a replay), or re-published to the live
feed (``emit``)."""

from __future__ import annotations

import json
from typing import Any

from listener.admin import outcomes, read
from listener.admin.read import Conn
from listener.core import sql

_SQL = sql.beside(__file__, "read")


async def _latest_version(conn: Conn, system: str, table: str,
                          record_id: str) -> int:
    versions = await conn.fetch(_SQL["record_versions"], system, table,
                                record_id)
    if not versions:
        raise read.NotFound(f"no staged record {record_id} of {system}/{table}")
    return int(versions[-1]["staged_record_id"])


async def reprocess(conn: Conn, system: str, table: str, record_id: str, *,
                    apply: bool = False) -> dict[str, Any]:
    """Run the newest staged version through its processor again. Without ``apply`` the
    transaction is rolled back and nothing is written; with it, the result stays and a
    ``replayed`` job-log row says so. Then and now are compared by outcome
    (listener.admin.outcomes): the last processing's decisions against the new ones, each
    reduced to its surface, canonical entity and parameters."""
    q = _SQL
    record_id = await read.as_staged_id(conn, system, table, record_id)
    staged_id = await _latest_version(conn, system, table, record_id)
    marks = await conn.fetchrow(q["replay_marks"])
    assert marks is not None
    then = await _decisions(conn, staged_id, 0, 0, 0)
    tr = conn.transaction()
    await tr.start()
    try:
        out = json.loads(await conn.fetchval(q["run_processor"], staged_id))
        now = await _decisions(conn, staged_id, *marks)
        if apply:
            await conn.fetchval(q["log_replay"], system, table, record_id, staged_id,
                                f"replayed through {out['processor']}",
                                json.dumps({"mode": "apply", "processor": out["processor"],
                                            "decisions": len(now)}))
    except BaseException:
        await tr.rollback()
        raise
    if apply:
        await tr.commit()
    else:
        await tr.rollback()
    cmp = outcomes.compare(then, now)
    return {
        "source_system": system, "source_table": table, "source_record_id": record_id,
        "staged_record_id": staged_id, "processor": out["processor"], "applied": apply,
        "then": then, "now": now, "changed": cmp["changed"],
        "differences": cmp["differences"], "rules_differ": cmp["rules_differ"],
        "only_then": [r for d in cmp["differences"] for r in d["before"]],
        "only_now": [r for d in cmp["differences"] for r in d["after"]],
    }


async def _decisions(conn: Conn, staged_id: int, log_seq: int, decision_id: int,
                     entity_source_id: int) -> list[dict[str, Any]]:
    """One record's last processing after the marks: the router's decisions, identity
    decisions and entity sources."""
    routed = await outcomes.route_rows(conn, [staged_id], log_seq)
    return routed.get(staged_id, []) + await outcomes.engine_rows(
        conn, staged_id, decision_id, entity_source_id)


async def emit(conn: Conn, system: str, table: str,
               record_id: str) -> dict[str, Any]:
    """Re-publish a record's timeline to the live feed: one ``replayed`` log row, which every
    feed server expands into the timeline's items, each marked ``replay: true``."""
    record_id = await read.as_staged_id(conn, system, table, record_id)
    tl = await read.timeline(conn, system, table, record_id)
    staged_id = await _latest_version(conn, system, table, record_id)
    seq = await conn.fetchval(_SQL["log_replay"], system, table, record_id,
                              staged_id, "timeline re-published to the live feed",
                              json.dumps({"mode": "emit", "items": len(tl["items"])}))
    return {"log_seq": seq, "items": len(tl["items"])}
