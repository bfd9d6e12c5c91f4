"""The review queue (issue 18, item 1; docs/identity.md, "Reviewing"): the identity
decisions resolution queued as ``review_pending``, each shown as the incoming record beside
its candidate, and the three things a person can do about one — merge the two people, keep
them separate (remembered, so the same pair is not queued again), or defer it. The CLI
(``atlas-orch review``) and the API (``…/reviews``) both call these functions.

Every action goes through one SQL function, ``trapper.orchestrator_review_act``: it locks the
decision, so of two reviewers acting at once exactly one wins and the other gets
:class:`AlreadyReviewed`; it follows a merge made meanwhile to the survivor; it merges through
the engines' own path (``merged_into_person_id`` and its flattening trigger, so no chains);
and it writes a decision-log row for each of the two people.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from listener.admin.read import Conn, NotFound, rows_of
from listener.core import sql
from listener.core.errors import UsageError, UserError

_SQL = sql.beside(__file__, "review")
VERDICTS = ("merge", "keep_separate", "defer")
MAX_LIST = 1000


class AlreadyReviewed(UserError):
    """The decision is not pending any more (another reviewer got there first), or the state
    of the two people refuses the action (HTTP 409)."""


def _json_fields(d: dict[str, Any], *names: str) -> dict[str, Any]:
    for n in names:
        if isinstance(d.get(n), str):
            d[n] = json.loads(d[n])
    return d


async def pending(conn: Conn, *, system: str | None = None, table: str | None = None,
                  limit: int = 200) -> list[dict[str, Any]]:
    """Decisions waiting for review, those never deferred first, oldest first."""
    return rows_of(await conn.fetch(_SQL["list"], system, table,
                                    max(1, min(limit, MAX_LIST))))


async def _person(conn: Conn, person_id: Any) -> dict[str, Any] | None:
    row = await conn.fetchrow(_SQL["person"], person_id)
    if row is None:
        return None
    return _json_fields(dict(row), "identifiers", "addresses", "sources")


async def show(conn: Conn, decision_id: int) -> dict[str, Any]:
    """One decision: the incoming record (as it came, and the person made of it) beside the
    candidate person (names, emails, phones, addresses, sources, when each was seen), and the
    score breakdown with each field's weight and the thresholds."""
    row = await conn.fetchrow(_SQL["decision"], decision_id)
    if row is None:
        raise NotFound(f"no identity decision {decision_id}")
    d = _json_fields(dict(row), "score_breakdown")
    weights = {w["field"]: dict(w) for w in await conn.fetch(_SQL["weights"])}
    breakdown = d.pop("score_breakdown") or {}
    # an email someone of another name holds too is weighed as a shared identifier (its
    # weight is phone_shared's, scaled by the source's confidence): naming "email" (13.21)
    # beside a weight of 3.75 did not tell why
    levels = {"email": "phone_shared" if breakdown.get("email_shared") else "email",
              "phone": "phone_shared" if (breakdown.get("phone_holders") or 0)
              >= 2 else "phone", "name": f"name_{breakdown.get('name_level')}",
              "address": "address"}
    fields = []
    for name in ("email", "phone", "name", "address"):
        param = weights.get(levels[name]) or {}
        fields.append({"field": name, "weight": breakdown.get(name),
                       "parameter": levels[name] if param else None,
                       "m": param.get("m"), "u": param.get("u"),
                       "w_agree": param.get("w_agree"), "w_disagree": param.get("w_disagree"),
                       "meaning": param.get("description")})
    incoming = {
        "name": d["incoming_name"], "email": d["incoming_email"], "phone": d["incoming_phone"],
        "address": d["incoming_address"], "source_system": d["source_system"],
        "source_table": d["source_table"], "source_record_id": d["source_record_id"],
        "staged_record_id": d["staged_record_id"], "seen_at": d["staged_at"] or d["created_at"],
        "person": await _person(conn, d["person_id"]) if d["person_id"] else None,
    }
    candidate = await _person(conn, d["candidate_id"]) if d["candidate_id"] else None
    review = None
    if d["verdict"]:
        review = {"verdict": d["verdict"], "by": d["reviewed_by"], "note": d["review_note"],
                  "at": d["reviewed_at"], "survivor_id": d["survivor_id"]}
    return {
        "decision_id": d["decision_id"], "decided_at": d["created_at"],
        "decision_type": d["decision_type"], "decision_reason": d["decision_reason"],
        "review_status": d["review_status"], "review": review,
        "person_id": d["person_id"], "candidate_id": d["candidate_id"],
        "recorded_person_id": d["recorded_person_id"],
        "recorded_candidate_id": d["recorded_candidate_id"],
        "score": d["score"],
        "score_breakdown": {"fields": fields,
                            "phone_holders": breakdown.get("phone_holders"),
                            "email_shared": breakdown.get("email_shared"),
                            "name_level": breakdown.get("name_level"),
                            "source_confidence": breakdown.get("source_confidence"),
                            "thresholds": breakdown.get("thresholds")},
        "incoming": incoming, "candidate": candidate,
    }


async def act(conn: Conn, decision_id: int, verdict: str, *, by: str,
              note: str | None = None) -> dict[str, Any]:
    """Merge, keep separate or defer one pending decision, as ``by``, with an optional note.
    Raises :class:`NotFound` for no such decision and :class:`AlreadyReviewed` when it is
    not pending (someone else acted first) or the two people's state refuses it."""
    if verdict not in VERDICTS:
        raise UsageError(f"a review is one of {', '.join(VERDICTS)}, not {verdict!r}")
    if not by.strip():
        raise UsageError("a review needs who made it (--by)")
    try:
        out = await conn.fetchval(_SQL["act"], decision_id, verdict, by.strip()[:200],
                                  (note or None) and note[:2000])
    except asyncpg.NoDataFoundError as exc:
        raise NotFound(str(exc)) from None
    except asyncpg.ObjectNotInPrerequisiteStateError as exc:
        raise AlreadyReviewed(str(exc)) from None
    except asyncpg.InvalidParameterValueError as exc:
        raise UserError(str(exc)) from None
    return dict(json.loads(out))
