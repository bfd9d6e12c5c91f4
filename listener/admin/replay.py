"""Replay a source record: its timeline (listener.admin.read.timeline), and running it through its
processor again — rolled back to compare what would be decided now with what was decided
then (``reprocess``), for real (``apply``, logged as a replay), or re-published to the live
feed (``emit``)."""

from __future__ import annotations

import json
from typing import Any

from listener.admin import read
from listener.admin.read import Conn
from listener.core import sql

_SQL = sql.beside(__file__, "read")


class _Rollback(Exception):
    """Raised to roll the reprocessing transaction back."""


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["kind"], row["what"], row["target"], row["rule"], row["rule_version"],
            row["reason"])


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
    ``replayed`` job-log row says so."""
    q = _SQL
    staged_id = await _latest_version(conn, system, table, record_id)
    marks = await conn.fetchrow(q["replay_marks"])
    assert marks is not None
    then = [dict(r) for r in await conn.fetch(q["decisions_then"], staged_id, *marks)]
    tr = conn.transaction()
    await tr.start()
    try:
        out = json.loads(await conn.fetchval(q["run_processor"], staged_id))
        now = [dict(r) for r in await conn.fetch(q["decisions_now"], staged_id, *marks)]
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
    then_keys = sorted(map(_key, then), key=str)
    now_keys = sorted(map(_key, now), key=str)
    return {
        "source_system": system, "source_table": table, "source_record_id": record_id,
        "staged_record_id": staged_id, "processor": out["processor"], "applied": apply,
        "then": then, "now": now, "changed": then_keys != now_keys,
        "only_then": [dict(zip(("kind", "what", "target", "rule", "rule_version", "reason"),
                               k, strict=True)) for k in then_keys if k not in now_keys],
        "only_now": [dict(zip(("kind", "what", "target", "rule", "rule_version", "reason"),
                              k, strict=True)) for k in now_keys if k not in then_keys],
    }


async def emit(conn: Conn, system: str, table: str,
               record_id: str) -> dict[str, Any]:
    """Re-publish a record's timeline to the live feed: one ``replayed`` log row, which every
    feed server expands into the timeline's items, each marked ``replay: true``."""
    tl = await read.timeline(conn, system, table, record_id)
    staged_id = await _latest_version(conn, system, table, record_id)
    seq = await conn.fetchval(_SQL["log_replay"], system, table, record_id,
                              staged_id, "timeline re-published to the live feed",
                              json.dumps({"mode": "emit", "items": len(tl["items"])}))
    return {"log_seq": seq, "items": len(tl["items"])}
