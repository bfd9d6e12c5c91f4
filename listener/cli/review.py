"""`atlas-orch review`: the identity decisions queued for a person to settle (docs/identity.md,
"Reviewing"): list, show one side by side, merge, keep separate, defer."""

from __future__ import annotations

import getpass
from typing import Any

import click

from listener.admin import read, review
from listener.cli.common import ROW_ID, database_option, json_option, with_connection
from listener.core.output import emit_json, emit_table, more_rows, say


@click.group("review")
def review_group() -> None:
    """Identity decisions queued for review: list, show, merge, keep-separate, defer."""


def _who(by: str | None) -> str:
    """Who acts: --by, else the operating-system user."""
    if by and by.strip():
        return by.strip()
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@review_group.command("list")
@database_option
@click.option("--source", help="SYSTEM or SYSTEM/TABLE.")
@click.option("--limit", default=200, show_default=True,
              type=click.IntRange(1, review.MAX_LIST))
@json_option
def review_list(database_url: str | None, source: str | None, limit: int,
                as_json: bool) -> None:
    """Decisions waiting for review (deferred ones last)."""
    system, table = read.source_filter(source)
    rows = with_connection(database_url, lambda c: review.pending(
        c, system=system, table=table, limit=limit),
        source=(system, table))
    more_rows(len(rows), limit, f"--limit up to {review.MAX_LIST}, or one --source")
    if as_json:
        emit_json(rows)
        return
    emit_table([{**r, "source": f"{r['source_system']}/{r['source_table']}",
                 "deferred": "deferred" if r["deferred"] else ""} for r in rows],
               ["decision_id", "created_at", "source", "source_record_id", "incoming_name",
                "candidate_name", "score", "deferred"])


def _side(label: str, p: dict[str, Any] | None) -> list[str]:
    if p is None:
        return [f"{label}: (none)"]
    lines = [f"{label}: {p.get('display_name') or '(no name)'}  person {p['person_id']}"
             f"  (created {p['created_at']:%Y-%m-%d %H:%M}, {p.get('data_source') or '-'})"]
    for i in p["identifiers"]:
        lines.append(f"    {i['type']:<6} {i['value']}  from {i['source_system']}/"
                     f"{i['source_table']} {i['source_record_id'] or ''}  seen {i['seen_at']}")
    for a in p["addresses"]:
        lines.append(f"    address {a['address']} ({a['role']}, {a['source_system']})  "
                     f"seen {a['seen_at']}")
    for s in p["sources"]:
        lines.append(f"    source {s['source_system']}/{s['source_table']} "
                     f"{s['source_record_id']} ({s['action']})  seen {s['seen_at']}")
    return lines


@review_group.command("show")
@database_option
@click.argument("decision_id", type=ROW_ID)
@json_option
def review_show(database_url: str | None, decision_id: int, as_json: bool) -> None:
    """One decision: the incoming record beside its candidate, and the score's breakdown."""
    doc = with_connection(database_url, lambda c: review.show(c, decision_id))
    if as_json:
        emit_json(doc)
        return
    inc = doc["incoming"]
    click.echo(f"decision {doc['decision_id']} ({doc['review_status']}): "
               f"{doc['decision_reason']}")
    if doc["review"]:
        r = doc["review"]
        click.echo(f"  last review: {r['verdict']} by {r['by']} at {r['at']}"
                   + (f": {r['note']}" if r["note"] else ""))
    click.echo(f"incoming record {inc['source_system']}/{inc['source_table']}/"
               f"{inc['source_record_id']} (staged {inc['seen_at']}): name {inc['name']!r}, "
               f"email {inc['email']!r}, phone {inc['phone']!r}, address {inc['address']!r}")
    for line in _side("  made person", inc["person"]):
        click.echo(line)
    for line in _side("candidate", doc["candidate"]):
        click.echo(line)
    b = doc["score_breakdown"]
    click.echo(f"score {doc['score']} (thresholds {b['thresholds']}, source confidence "
               f"{b['source_confidence']}, name {b['name_level']}, phone holders "
               f"{b['phone_holders']})")
    emit_table(b["fields"], ["field", "weight", "parameter", "m", "u", "w_agree",
                             "w_disagree", "meaning"])


def _action(verdict: str, done: str) -> Any:
    @database_option
    @click.argument("decision_id", type=ROW_ID)
    @click.option("--by", help="Who acts (default: the operating-system user).")
    @click.option("--note", help="Why: kept with the decision in the log.")
    @json_option
    def cmd(database_url: str | None, decision_id: int, by: str | None, note: str | None,
            as_json: bool) -> None:
        out = with_connection(database_url, lambda c: review.act(
            c, decision_id, verdict, by=_who(by), note=note))
        if as_json:
            emit_json(out)
            return
        say(f"decision {decision_id}: {done} — {out['reason']}")
    return cmd


review_group.command("merge", help="Merge the incoming record's person into the candidate "
                     "(followed to canonical ids; no chains).")(_action("merge", "merged"))
review_group.command("keep-separate", help="Keep the two people apart; the pair is not "
                     "queued again.")(_action("keep_separate", "kept separate"))
review_group.command("defer", help="Leave it pending, with a note; it moves to the end of "
                     "the list.")(_action("defer", "deferred"))
