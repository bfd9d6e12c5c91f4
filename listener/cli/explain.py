"""`atlas-orch explain`: why two entities are one or two, and how one was built."""

from __future__ import annotations

import uuid
from typing import Any

import click

from listener.admin import explain as explain_mod
from listener.cli.common import database_option, json_option, with_connection
from listener.core.output import emit_json, emit_table, say


@click.command("explain")
@database_option
@click.argument("entity_type", type=click.Choice(explain_mod.TYPES))
@click.argument("a", type=click.UUID)
@click.argument("b", type=click.UUID, required=False)
@json_option
def explain_cmd(database_url: str | None, entity_type: str, a: uuid.UUID,
                b: uuid.UUID | None, as_json: bool) -> None:
    """Why A and B are (or are not) one entity; with A alone, how A was built."""
    if b is None:
        doc = with_connection(database_url, lambda c: explain_mod.build(c, entity_type, a))
        if as_json:
            emit_json(doc)
            return
        _print_build(doc)
        return
    doc = with_connection(database_url, lambda c: explain_mod.pair(c, entity_type, a, b))
    if as_json:
        emit_json(doc)
        return
    _print_pair(doc)


def _print_pair(doc: dict[str, Any]) -> None:
    verdict = "would match" if doc.get("would_match") else "would not match"
    if doc.get("same_entity"):
        verdict = "are one entity"
    say(f"{doc['entity_type']} {doc['a']} and {doc['b']} {verdict}: {doc['outcome']}")
    if "score" in doc:
        th = doc["thresholds"]
        click.echo(f"  score {doc['score']} (auto-match {th['auto']}, review {th['review']}; "
                   f"margin {doc['margin']:+})")
    if doc.get("gate"):
        click.echo(f"  gate: {doc['gate']}")
    click.echo(f"  why: {doc['reason']}")
    if doc.get("keys"):
        click.echo(f"  keys: {doc['keys']['a']}  vs  {doc['keys']['b']}")
    if doc.get("fields"):
        click.echo()
        cols = [c for c in ("field", "part", "agreement", "a", "b", "value", "weight")
                if any(c in f for f in doc["fields"])]
        emit_table(doc["fields"], cols)
    for ch in doc.get("would_change") or []:
        extra = f" (+{ch['weight']})" if "weight" in ch else ""
        click.echo(f"  would change it: {ch['evidence']}{extra}"
                   + (f": {ch['effect']}" if ch.get("effect") else ""))
    for d in doc.get("decisions") or []:
        click.echo(f"  decision {d['decision_id']} ({d['created_at']:%Y-%m-%d %H:%M}): "
                   f"{d['decision_type']}: {d['decision_reason']}")
    for mg in doc.get("merges") or []:
        click.echo(f"  merged {mg['entity_id']} into {mg['merged_into']}: "
                   f"{mg.get('merge_reason') or ''}")
    for row in doc.get("log") or []:
        click.echo(f"  log {row['log_seq']}: {row['action']}: {row.get('decision_reason') or ''}")


def _print_build(doc: dict[str, Any]) -> None:
    ent = doc.get("entity") or {}
    say(f"{doc['entity_type']} {doc['canonical_id']} "
        f"({ent.get('display_name') or ent.get('formatted_address') or ''}), "
        f"{len(doc['steps'])} step(s), {len(doc['merged_from'])} merged into it")
    rows = [{"at": s["at"], "step": s["step"],
             "source": (f"{s['source_system']}/{s['source_table']}/{s['source_record_id']}"
                        if s["step"] == "source" else str(s["entity_id"])),
             "action": s.get("action") or "merged",
             "decision": s.get("decision_type") or "",
             "why": s.get("decision_reason") or s.get("detail") or s.get("merge_reason") or ""}
            for s in doc["steps"]]
    emit_table(rows, ["at", "step", "source", "action", "decision", "why"])
