"""`atlas-orch log`, `provenance` and `replay`: what happened to a record or an entity."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import click

from listener.admin import read
from listener.cli.common import (
    BIGINT_MAX,
    ROW_ID,
    TIMESTAMP,
    database_option,
    json_option,
    with_connection,
)
from listener.core.output import emit_json, emit_table, more_rows, say


@click.command("log")
@database_option
@click.option("--source", help="SYSTEM or SYSTEM/TABLE.")
@click.option("--record", "record_id", help="A source record id (with --source).")
@click.option("--staged", "staged_record_id", type=ROW_ID, help="A staged record id.")
@click.option("--entity", "entity_id", type=click.UUID, help="A target entity id.")
@click.option("--action", type=click.Choice(read.LOG_ACTIONS), metavar="ACTION",
              help="routed, skipped, rejected, error, anomaly_flagged, … (one of the log's).")
@click.option("--since", type=TIMESTAMP,
              help="From this time: ISO 8601, with its zone or in UTC.")
@click.option("--until", type=TIMESTAMP,
              help="Before this time: ISO 8601, with its zone or in UTC.")
@click.option("--after", default=0, show_default=True, type=click.IntRange(0, BIGINT_MAX),
              help="Only rows after this log_seq (paging).")
@click.option("--limit", default=100, show_default=True, type=click.IntRange(1, read.MAX_PAGE))
@json_option
def log_cmd(database_url: str | None, source: str | None, record_id: str | None,
            staged_record_id: int | None, entity_id: uuid.UUID | None, action: str | None,
            since: dt.datetime | None, until: dt.datetime | None, after: int, limit: int,
            as_json: bool) -> None:
    """The decision log, filtered: what happened to a record, an entity, a source."""
    system, table = read.source_filter(source)
    rows = with_connection(database_url, lambda c: read.log(
        c, system=system, table=table, record_id=record_id, staged_record_id=staged_record_id,
        entity_id=entity_id, action=action,
        since=since, until=until, after=after, limit=limit),
        source=(system, table))
    if rows:
        more_rows(len(rows), limit, f"the next page: --after {rows[-1]['log_seq']}")
    if as_json:
        emit_json(rows)
        return
    emit_table(rows, ["log_seq", "logged_at", "action", "source_system", "source_table",
                      "source_record_id", "target_surface", "decision_reason"])


@click.command("provenance")
@database_option
@click.argument("entity_type", type=click.Choice(read.ENTITY_TYPES))
@click.argument("entity_id", type=click.UUID)
@json_option
def provenance_cmd(database_url: str | None, entity_type: str, entity_id: uuid.UUID,
                   as_json: bool) -> None:
    """Where an entity came from: its source records and every decision about it."""
    doc = with_connection(database_url, lambda c: read.provenance(c, entity_type, entity_id))
    if as_json:
        emit_json(doc)
        return
    say(f"{entity_type} {entity_id} (canonical {doc['canonical_id']}, "
        f"{len(doc['merged_from'])} merged into it)")
    emit_table(doc["sources"], ["created_at", "source_system", "source_table",
                                "source_record_id", "staged_record_id", "action"])
    click.echo()
    emit_table(doc["decisions"], ["log_seq", "logged_at", "action", "source_system",
                                  "source_record_id", "decision_reason"])


@click.command("replay")
@database_option
@click.argument("record")
@click.option("--reprocess", "mode", flag_value="reprocess",
              help="Run it through its processor again, rolled back: now against then.")
@click.option("--apply", "mode", flag_value="apply",
              help="Run it through its processor again for real (logged as a replay).")
@click.option("--emit", "mode", flag_value="emit",
              help="Re-publish its timeline to the live feed, marked as a replay.")
@json_option
def replay_cmd(database_url: str | None, record: str, mode: str | None, as_json: bool) -> None:
    """A record's whole timeline (RECORD is SYSTEM/TABLE/RECORD_ID), in order."""
    from listener.admin import replay as replay_mod

    parts = record.split("/", 2)
    if len(parts) != 3 or not all(parts):
        raise click.BadParameter(f"{record!r}: expected SYSTEM/TABLE/RECORD_ID",
                                 param_hint="RECORD")
    system, table, record_id = parts

    async def go(conn: Any) -> dict[str, Any]:
        if mode in ("reprocess", "apply"):
            return await replay_mod.reprocess(conn, system, table, record_id,
                                              apply=mode == "apply")
        if mode == "emit":
            return await replay_mod.emit(conn, system, table, record_id)
        return await read.timeline(conn, system, table, record_id)

    doc = with_connection(database_url, go)
    if as_json:
        emit_json(doc)
        return
    if mode in ("reprocess", "apply"):
        say(f"{'applied' if doc['applied'] else 'rolled back'}: {doc['processor']} on staged "
            f"record {doc['staged_record_id']}; "
            + ("the outcome changed (before → after):" if doc["changed"] else
               "same outcome as before" + (" (under other rules or rule versions)"
                                           if doc["rules_differ"] else "")))
        for d in doc["differences"]:
            click.echo(f"  {d['kind']} {d['summary']}")
        return
    if mode == "emit":
        say(f"timeline of {record} ({doc['items']} items) re-published to the live feed")
        return
    rows = [{"at": i["at"], "type": i["type"], "what": _what(i), "detail": _detail(i)}
            for i in doc["items"]]
    emit_table(rows, ["at", "type", "what", "detail"])


_NOUNS = {"sot_people": "person", "places": "place", "sot_cats": "cat",
          "place_colony_estimates": "colony estimate", "sot_requests": "request"}


def _what(item: dict[str, Any]) -> str:
    """A timeline item's kind: a decision with the surface it is about (``rejected person``:
    a record's person can be rejected while its cat is made)."""
    if item["type"] == "staged":
        return f"version {item['version']}"
    what = str(item.get("action") or item.get("state") or item.get("kind") or "")
    surface = item.get("target_surface")
    if item["type"] == "decision" and surface:
        what += f" {_NOUNS.get(surface, surface)}"
    return what


def _detail(item: dict[str, Any]) -> str:
    """A timeline item's detail: for a version, the file it came from and what changed
    since the version before; for a decision, its reason and the entity it landed on (the id
    ``provenance`` and ``explain`` take)."""
    if item["type"] == "staged":
        where = f"{item.get('source_file') or 'no file'} (ingest run {item.get('ingest_run_id')})"
        changed = item.get("changed")
        if not changed:
            return where
        return where + "; changed: " + ", ".join(_change(c) for c in changed)
    text = str(item.get("decision_reason") or item.get("summary") or item.get("last_error")
               or item.get("processing_error") or "")
    if item["type"] == "decision" and item.get("target_entity_id"):
        text += f" → {item['target_entity_id']}"
    return text


def _change(c: dict[str, Any]) -> str:
    if c.get("before") is None:
        return f"{c['field']} added ({c.get('after')!r})"
    if c.get("after") is None:
        return f"{c['field']} gone (was {c.get('before')!r})"
    return f"{c['field']} {c['before']!r} → {c['after']!r}"
