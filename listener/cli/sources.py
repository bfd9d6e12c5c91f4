"""`atlas-orch sources`, `route` and `rules check`: the registry and the routing rules."""

from __future__ import annotations

import sys
from typing import Any

import click

from listener.admin import read, routing
from listener.cli.common import database_option, json_option, run, with_connection
from listener.core import db
from listener.core.errors import UserError
from listener.core.output import emit_json, emit_table, say
from listener.ingest import staging as ingest_mod


@click.command()
@database_option
@json_option
def sources(database_url: str | None, as_json: bool) -> None:
    """What sources feed Atlas? (the registry)"""
    rows = with_connection(database_url, read.sources)
    if as_json:
        emit_json(rows)
    else:
        emit_table(rows, ["source_system", "source_table", "display_name", "processor_name",
                          "ingest_frequency", "is_active", "last_ingest_at"])


@click.command()
@database_option
@click.argument("source")
@click.option("--dry-run", is_flag=True, required=True,
              help="Route inside a transaction that is rolled back (the only mode for now).")
# at least one: 0 said "no staged records to route", and -1 was a database error
@click.option("--limit", default=20, show_default=True, type=click.IntRange(1),
              help="Most recent records to route.")
@click.option("--record", "record_id", help="Route one record, by its source record id.")
@json_option
def route(database_url: str | None, source: str, dry_run: bool, limit: int,
          record_id: str | None, as_json: bool) -> None:
    """Try the routing rules on staged records and show what would be decided, and what
    differs from the decisions already logged. Nothing is written."""
    system, table = ingest_mod.parse_source(source)
    url = db.resolve_url(database_url)

    async def go() -> routing.DryRun:
        async with db.connection(url) as conn:
            # a source neither registered nor staged is a command line to fix (exit 2), as
            # every --source is; a known one with nothing staged is "nothing found" (1)
            await read.require_source(conn, system, table)
            return await routing.dry_run(conn, system, table, limit=limit, record_id=record_id)

    result = run(go)
    if as_json:
        emit_json(result.as_dict())
        return
    emit_table(result.decisions, ["staged_record_id", "action", "target_surface",
                                  "rule_version", "decision_reason"])
    if result.changed:
        click.echo("\nchanged (before → after):")
        for c in result.changed:
            for d in c["differences"]:
                click.echo(f"  {c['source_record_id'] or c['staged_record_id']}: {d['summary']}")
    n = result.summary
    say(f"dry run of {result.records} record(s): {len(result.decisions)} decision(s); "
        f"of {n['compared']} routed before, {n['changed']} would end differently, "
        f"{n['unchanged']} the same ({n['same_outcome_other_rules']} of them under other "
        f"rules or rule versions), {n['not_routed_before']} not routed before; nothing kept")


@click.group()
def rules() -> None:
    """Routing rules."""


@rules.command("check")
@database_option
@click.option("--last", "last_rows", default=1000, show_default=True, type=click.IntRange(1),
              help="Check against this many most recent staged rows per source.")
@click.option("--source", help="Only the rules of SYSTEM or SYSTEM/TABLE.")
@json_option
def rules_check_cmd(database_url: str | None, last_rows: int, source: str | None,
                    as_json: bool) -> None:
    """Report rules whose field occurs in none of the recent staged rows of their source (a
    composite rule: none of its parts; the parts no row carries are named); exits 1 when any
    rule matches nothing."""
    url = db.resolve_url(database_url)
    system, table = read.source_filter(source)

    async def go() -> list[dict[str, Any]]:
        async with db.connection(url) as conn:
            await read.require_source(conn, system, table)
            return await routing.rules_check(conn, last_rows, system=system, table=table)

    rows = run(go)
    if source and not rows:
        raise UserError(f"no active routing rules of {source} (atlas-orch sources lists the "
                        "registered sources)")
    if as_json:
        emit_json(rows)
    else:
        emit_table(rows, ["source_system", "source_table", "source_field", "target_surface",
                          "target_field", "rows_checked", "rows_with_field", "status",
                          *(["hint"] if any(r["hint"] for r in rows) else [])])
    if any(r["status"] == "matches nothing" for r in rows):
        sys.exit(1)
