"""Why / why-not and how (docs/identity.md, "Explaining a match"): would two entities be
joined now and why, and how one entity was built from its source records. The scoring is
the engines' own (sql/orchestrator/functions/explain.sql over the core's identity helpers);
this module adds what the logs say. The CLI and the HTTP API both call these."""

from __future__ import annotations

import json
import uuid
from typing import Any

from listener.admin.read import Conn, NotFound, rows_of
from listener.core import sql
from listener.core.errors import UsageError

_SQL = sql.beside(__file__, "explain")

# the entity types whose identity the engines decide
TYPES = ("person", "place", "cat")
_JSON = ("score_breakdown", "decision_details", "address_parts", "identifiers")


def _rows(records: list[Any]) -> list[dict[str, Any]]:
    out = rows_of(records)
    for d in out:
        for k in _JSON:
            if isinstance(d.get(k), str):
                d[k] = json.loads(d[k])
    return out


def _check(entity_type: str) -> None:
    if entity_type not in TYPES:
        raise UsageError(f"explain takes one of {', '.join(TYPES)}, not {entity_type!r}")


async def _tree(conn: Conn, entity_type: str, entity_id: uuid.UUID) -> tuple[uuid.UUID,
                                                                            list[uuid.UUID]]:
    """The canonical id and every id merged into it (read.sql's own queries)."""
    from listener.admin import read

    if not await conn.fetchval(read._q("entity_exists"), entity_type, entity_id):
        raise NotFound(f"no {entity_type} {entity_id}")
    canonical = await conn.fetchval(read._q("canonical"), entity_type, entity_id)
    ids = await conn.fetchval(read._q("merged_from"), entity_type, canonical) or [canonical]
    return canonical, list(ids)


async def pair(conn: Conn, entity_type: str, a: uuid.UUID, b: uuid.UUID) -> dict[str, Any]:
    """Would A and B be one entity now, by what margin and which gate, each field's
    agreement and weight, what would change it, and the logged decisions between them."""
    _check(entity_type)
    _, tree_a = await _tree(conn, entity_type, a)
    _, tree_b = await _tree(conn, entity_type, b)
    raw = await conn.fetchval(_SQL[f"{entity_type}_pair"], a, b)
    doc: dict[str, Any] = json.loads(raw)
    doc["decisions"] = (_rows(await conn.fetch(_SQL["pair_decisions"], tree_a, tree_b))
                        if entity_type == "person" else [])
    doc["log"] = _rows(await conn.fetch(_SQL["pair_log"], tree_a, tree_b,
                                        [str(i) for i in tree_b], [str(i) for i in tree_a]))
    doc["merges"] = _rows(await conn.fetch(_SQL["merges"], entity_type, tree_a + tree_b))
    return doc


async def build(conn: Conn, entity_type: str, entity_id: uuid.UUID) -> dict[str, Any]:
    """How one entity was built (Senzing's HOW): each source record and the decision that
    attached it, and every merge into it, in time order."""
    _check(entity_type)
    canonical, tree = await _tree(conn, entity_type, entity_id)
    summary = await conn.fetchrow(_SQL[f"{entity_type}_summary"],
                                  *((canonical, tree) if entity_type == "cat" else (canonical,)))
    steps: list[dict[str, Any]] = []
    for s in _rows(await conn.fetch(_SQL["build_sources"], tree)):
        steps.append({"at": s["created_at"], "step": "source", **s})
    for mg in _rows(await conn.fetch(_SQL["merges"], entity_type, tree)):
        steps.append({"at": mg["merged_at"], "step": "merge", **mg})
    steps.sort(key=lambda s: (s["at"] is None, s["at"] or 0, s["step"] != "source"))
    doc: dict[str, Any] = {
        "entity_type": entity_type, "entity_id": entity_id, "canonical_id": canonical,
        "merged_from": [i for i in tree if i != canonical],
        "entity": _rows([summary])[0] if summary else None, "steps": steps,
    }
    if entity_type == "person":
        doc["identifiers"] = _rows(await conn.fetch(_SQL["person_identifiers"], tree))
    return doc
