"""Outcomes, not labels: what a record's processing did, for the dry run and for replay's
``reprocess`` to compare then with now (docs/orchestrator.md, "What a dry run compares").

A decision's action label says how the state was when it was made: the record that created
person P was ``routed``; routed again it is ``merged`` into P, because P exists now — the
record's own earlier effect. The label cannot tell a rule change from that. Its *outcome* can:
each target surface, whether something was written there (``routed``, ``merged``, an
identity resolved, an entity created or matched: all "written"), rejected or failed, the
*canonical* entity it landed on (an entity since merged into another compares as the other),
and the parameters the target got. ``skipped`` rows write nothing: they explain, they are not
an outcome. Rule ids and versions are provenance: a record decided by a newer rule version
with the same outcome is counted apart (``same_outcome_other_rules``), not as changed.
"""

from __future__ import annotations

import json
from typing import Any

from listener.admin.read import Conn
from listener.core import sql

_SQL = sql.beside(__file__, "outcomes")

# Actions that write nothing: explanations, not outcomes.
_SILENT = {"skipped"}
# Identity decisions that land the record on a person (created or matched alike).
_RESOLVED = {"auto_match", "new_entity", "household_member", "review_pending"}

Outcome = tuple[str, str, str, str | None, str]


async def route_rows(conn: Conn, staged_ids: list[int],
                     after_seq: int = 0) -> dict[int, list[dict[str, Any]]]:
    """The router's decisions of each record's last routing (logged after ``after_seq``),
    entities canonical as of now, grouped by staged record."""
    out: dict[int, list[dict[str, Any]]] = {}
    for r in await conn.fetch(_SQL["route_outcomes"], staged_ids, after_seq):
        row = dict(r)
        row["kind"] = "route"
        out.setdefault(row["staged_record_id"], []).append(_clean(row))
    return out


async def engine_rows(conn: Conn, staged_id: int, after_decision: int = 0,
                      after_entity_source: int = 0) -> list[dict[str, Any]]:
    """What the engines recorded for one record's last processing: identity decisions and
    entity sources, entities canonical as of now."""
    rows = await conn.fetch(_SQL["engine_outcomes"], staged_id, after_decision,
                            after_entity_source)
    return [_clean(dict(r)) for r in rows]


def _clean(row: dict[str, Any]) -> dict[str, Any]:
    params = row.get("params")
    if isinstance(params, str):
        params = json.loads(params)
    return {
        "kind": row["kind"], "surface": row["target_surface"], "action": row["action"],
        "entity_id": None if row["canonical_id"] is None else str(row["canonical_id"]),
        "logged_entity_id": (None if row["target_entity_id"] is None
                             else str(row["target_entity_id"])),
        "rule": None if row["routing_rule_id"] is None else str(row["routing_rule_id"]),
        "rule_version": row["rule_version"], "params": params or {},
        "reason": row["decision_reason"],
    }


def outcome(row: dict[str, Any]) -> Outcome | None:
    """The outcome of one decision row, or None when it wrote nothing (a skip)."""
    action = row["action"]
    if action in _SILENT:
        return None
    if row["kind"] == "identity":
        label = "written" if action in _RESOLVED else action
    elif row["kind"] == "entity":
        label = "written"
    else:
        label = "written" if action in ("routed", "merged") else action
    return (row["kind"], row["surface"] or "", label,
            row["entity_id"] if label == "written" else None,
            json.dumps(row["params"], sort_keys=True, default=str))


def outcomes(rows: list[dict[str, Any]]) -> set[Outcome]:
    return {o for o in map(outcome, rows) if o is not None}


def _rules(rows: list[dict[str, Any]]) -> set[tuple[Any, ...]]:
    return {(r["surface"], r["rule"], r["rule_version"]) for r in rows if r["rule"]}


def _brief(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "nothing"
    parts = []
    for r in rows:
        text = r["action"]
        if r["entity_id"] and r["action"] not in _SILENT:
            text += f" {r['entity_id']}"
        if r["params"] and outcome(r) is not None:
            text += " " + json.dumps(r["params"], sort_keys=True, default=str)
        if r["rule_version"] is not None:
            text += f" (rule v{r['rule_version']})"
        if r["action"] not in ("routed", "merged") and r["reason"]:
            text += f": {r['reason']}"
        parts.append(text)
    return "; ".join(parts)


def compare(then: list[dict[str, Any]], now: list[dict[str, Any]]) -> dict[str, Any]:
    """Then against now for one record: ``changed`` when the outcomes differ, with one
    difference per (kind, surface) whose outcomes differ, each with its decisions before
    and after and a one-line ``summary``; ``rules_differ`` when only the rules' ids or
    versions that decided it did."""
    groups = sorted({(r["kind"], r["surface"] or "") for r in then + now})
    differences = []
    for kind, surface in groups:
        before = [r for r in then if (r["kind"], r["surface"] or "") == (kind, surface)]
        after = [r for r in now if (r["kind"], r["surface"] or "") == (kind, surface)]
        if outcomes(before) != outcomes(after):
            differences.append({
                "kind": kind, "surface": surface, "before": before, "after": after,
                "summary": f"{surface or kind}: {_brief(before)} → {_brief(after)}",
            })
    return {"changed": bool(differences), "differences": differences,
            "rules_differ": not differences and _rules(then) != _rules(now)}
