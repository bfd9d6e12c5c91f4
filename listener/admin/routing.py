"""Routing commands: try the rules on staged records without keeping anything (dry run),
and check that every rule's field occurs in the data."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from listener.admin import outcomes, read
from listener.admin.read import Conn
from listener.core import sql
from listener.core.errors import UserError
from listener.core.field_names import field_key

_SQL = sql.beside(__file__, "routing")


@dataclass
class DryRun:
    """What routing would decide now, and which records would end differently from how
    their last routing ended (outcomes, not labels: listener.admin.outcomes)."""

    records: int = 0
    decisions: list[dict[str, Any]] = field(default_factory=list)
    changed: list[dict[str, Any]] = field(default_factory=list)
    summary: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"records": self.records, "summary": self.summary,
                "decisions": self.decisions, "changed": self.changed}


async def dry_run(
    conn: Conn, source_system: str, source_table: str, *, limit: int = 20,
    record_id: str | None = None,
) -> DryRun:
    """Route records inside a transaction that is rolled back; nothing is kept. Records
    are routed oldest first, as they were processed, and each one routed before is compared
    with its last routing by outcome (surface, canonical entity, parameters)."""
    q = _SQL
    ids = sorted(r["id"] for r in await conn.fetch(q["records_to_route"], source_system,
                                                   source_table, record_id, limit))
    if not ids:
        what = f"record {record_id} of " if record_id else "staged records of "
        raise UserError(f"no {what}{source_system}/{source_table} to route")
    then = await outcomes.route_rows(conn, ids)
    result = DryRun(records=len(ids))
    tr = conn.transaction()
    await tr.start()
    try:
        seq = await conn.fetchval(q["last_log_seq"])
        await conn.fetch("SELECT * FROM trapper.route_staged_records($1::bigint[])", ids)
        result.decisions = read.rows_of(await conn.fetch(q["new_log_rows"], seq))
        now = await outcomes.route_rows(conn, ids, seq)
    finally:
        await tr.rollback()
    counts = {"records": len(ids), "compared": 0, "changed": 0, "unchanged": 0,
              "same_outcome_other_rules": 0, "not_routed_before": 0}
    for sid in ids:
        if sid not in then:
            counts["not_routed_before"] += 1
            continue
        counts["compared"] += 1
        cmp = outcomes.compare(then[sid], now.get(sid, []))
        if cmp["changed"]:
            counts["changed"] += 1
            result.changed.append({"staged_record_id": sid,
                                   "source_record_id": _source_id(result.decisions, sid),
                                   "differences": cmp["differences"],
                                   "then": then[sid], "now": now.get(sid, [])})
        else:
            counts["unchanged"] += 1
            counts["same_outcome_other_rules"] += cmp["rules_differ"]
    result.summary = counts
    return result


def _source_id(decisions: list[dict[str, Any]], sid: int) -> str | None:
    return next((d["source_record_id"] for d in decisions if d["staged_record_id"] == sid),
                None)


async def rules_check(conn: Conn, last_rows: int = 1000, *, system: str | None = None,
                      table: str | None = None) -> list[dict[str, Any]]:
    """Every active rule with the share of recent staged rows of its source that carry its
    field; a rule whose field is in none of them matches nothing. A composite rule (issue 17)
    counts the rows that carry any of its parts and names each part none of them carries.
    A field no row carries gets a ``hint`` naming the key the rows do carry that differs
    only in case, spaces, punctuation or accents (``" Reporter First "`` against ingest's
    trimmed ``Reporter First``, ``Zip`` against ``ZIP Code`` does not count). ``system``
    and ``table`` keep the rules of one source system or table."""
    rows = [dict(r) for r in await conn.fetch(_SQL["rules_check"], last_rows, system, table)]
    keys: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        r["parts_missing"] = list(r["parts_missing"] or [])
        r["status"] = ("no data" if r["rows_checked"] == 0 else
                       "matches nothing" if r["rows_with_field"] == 0 else
                       "part(s) missing: " + ", ".join(r["parts_missing"])
                       if r["parts_missing"] else "ok")
        missing = (r["parts_missing"] if r["source_fields"] else
                   [r["source_field"]] if r["status"] == "matches nothing" else [])
        r["near_matches"] = {}
        if missing:
            source = (r["source_system"], r["source_table"])
            if source not in keys:
                keys[source] = [k for (k,) in await conn.fetch(
                    _SQL["recent_keys"], *source, last_rows)]
            r["near_matches"] = near_matches(missing, keys[source])
        hints = [f"the rows have {key!r}, not {name!r}" + (
                     # the same letters, composed otherwise (an accent typed as its own
                     # character, as macOS writes names): the two printed alike
                     " (the same letters in another Unicode form: copy the name from the "
                     "rows)" if unicodedata.normalize("NFC", key)
                     == unicodedata.normalize("NFC", name) else "")
                 for name, key in r["near_matches"].items()]
        # a header cell left blank (merged across two columns in a workbook) is staged as
        # column_N: the field may be that column
        blank = sorted(k for k in keys.get((r["source_system"], r["source_table"]), [])
                       if re.fullmatch(r"column_\d+", k)) if missing else []
        if blank and len(r["near_matches"]) < len(missing):
            hints.append(f"the rows have a column with a blank header ({', '.join(blank)}): "
                         "a header cell merged or left empty in the file")
        r["hint"] = "; ".join(hints)
    return rows


def near_matches(fields: list[str], keys: list[str]) -> dict[str, str]:
    """For each field no row carries, the one payload key that is the same name but for
    case, accents, spaces or punctuation, if there is exactly one."""
    by_loose: dict[str, list[str]] = {}
    for key in keys:
        by_loose.setdefault(field_key(key), []).append(key)
    out: dict[str, str] = {}
    for name in fields:
        found = [k for k in by_loose.get(field_key(name), []) if k != name]
        if len(found) == 1:
            out[name] = found[0]
    return out
