"""Routing commands: try the rules on staged records without keeping anything (dry run),
and check that every rule's field occurs in the data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from listener.admin.read import Conn
from listener.core import sql
from listener.core.errors import UserError

_SQL = sql.beside(__file__, "routing")


@dataclass
class DryRun:
    """What routing would decide now, and how it differs from what was logged before."""

    records: int = 0
    decisions: list[dict[str, Any]] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"records": self.records, "decisions": self.decisions, "changed": self.changed}


class _Rollback(Exception):
    """Raised to roll the dry run's transaction back."""


def _key(row: dict[str, Any]) -> tuple[Any, ...]:
    return (row["action"], row["target_surface"], str(row["routing_rule_id"]),
            row["rule_version"], row["decision_reason"])


async def dry_run(
    conn: Conn, source_system: str, source_table: str, *, limit: int = 20,
    record_id: str | None = None,
) -> DryRun:
    """Route records inside a transaction that is rolled back; nothing is kept."""
    q = _SQL
    ids = [r["id"] for r in await conn.fetch(q["records_to_route"], source_system,
                                             source_table, record_id, limit)]
    if not ids:
        what = f"record {record_id} of " if record_id else "staged records of "
        raise UserError(f"no {what}{source_system}/{source_table} to route")
    before = [dict(r) for r in await conn.fetch(q["logged_decisions"], ids)]
    result = DryRun(records=len(ids))
    tr = conn.transaction()
    await tr.start()
    try:
        seq = await conn.fetchval(q["last_log_seq"])
        await conn.fetch("SELECT * FROM trapper.route_staged_records($1::bigint[])", ids)
        result.decisions = [dict(r) for r in await conn.fetch(q["new_log_rows"], seq)]
    finally:
        await tr.rollback()
    then: dict[int, list[tuple[Any, ...]]] = {}
    for row in before:
        then.setdefault(row["staged_record_id"], []).append(_key(row))
    now: dict[int, list[tuple[Any, ...]]] = {}
    for row in result.decisions:
        now.setdefault(row["staged_record_id"], []).append(_key(row))
    for sid in ids:
        if sid in then and then[sid] != now.get(sid, []):
            result.changed.append({"staged_record_id": sid,
                                   "then": [list(k) for k in then[sid]],
                                   "now": [list(k) for k in now.get(sid, [])]})
    return result


async def rules_check(conn: Conn, last_rows: int = 1000) -> list[dict[str, Any]]:
    """Every active rule with the share of recent staged rows of its source that carry its
    field; a rule whose field is in none of them matches nothing. A composite rule (issue 17)
    counts the rows that carry any of its parts and names each part none of them carries."""
    rows = [dict(r) for r in await conn.fetch(_SQL["rules_check"],
                                              last_rows)]
    for r in rows:
        r["parts_missing"] = list(r["parts_missing"] or [])
        r["status"] = ("no data" if r["rows_checked"] == 0 else
                       "matches nothing" if r["rows_with_field"] == 0 else
                       "part(s) missing: " + ", ".join(r["parts_missing"])
                       if r["parts_missing"] else "ok")
    return rows
