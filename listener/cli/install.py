"""`atlas-orch install`, `verify` and `uninstall`: the schema installer's commands."""

from __future__ import annotations

import sys

import asyncpg
import click

from listener.admin import backfill as backfill_service
from listener.cli.backfill import report as report_backfill
from listener.cli.common import database_option, json_option, run
from listener.core import db
from listener.core.output import emit_json, emit_table, say
from listener.ingest import runs as ingest_runs
from listener.schema import migrations


@click.command()
@database_option
@click.option("--with-core", "mode", flag_value="with-core",
              help="Standalone: the engines, the orchestrator and the shadow triggers.")
@click.option("--core-only", "mode", flag_value="core-only",
              help="The engines alone (what a host database has before the orchestrator); "
                   "refused where the orchestrator is installed.")
@click.option("--list", "list_only", is_flag=True,
              help="Show each SQL file's state (applied, pending, to re-apply, rewritten, "
                   "edited); change nothing.")
@click.option("--print-sql", is_flag=True, help="Print the SQL that would run; no connection.")
@click.option("--backfill", "then_backfill", is_flag=True,
              help="Then write the decision log's history from the host's own tables "
                   "(as `atlas-orch backfill`).")
@json_option
def install(
    database_url: str | None, mode: str | None, list_only: bool, print_sql: bool,
    then_backfill: bool, as_json: bool,
) -> None:
    """Install or upgrade. Given no mode: the mode already installed here (with-core where
    atlas-orch installed the engines, else shadow), on a new database shadow mode onto
    existing engines."""
    layers: tuple[str, ...] = migrations.LAYERS
    listing_everything = list_only and mode is None
    given = mode
    mode = mode or "shadow"
    if not listing_everything:
        layers = migrations.layers_for(mode)
    if then_backfill and (list_only or print_sql or mode == "core-only"):
        # --print-sql writes the schema for a DBA to apply; the backfill reads the host's
        # data, so it runs as its own command once the schema is in (docs/operations.md)
        raise click.UsageError("--backfill needs the orchestrator installed: not with "
                               "--list, --print-sql or --core-only (apply the SQL, then run "
                               "`atlas-orch backfill`)")
    if print_sql:
        sys.stdout.write(migrations.print_sql(mode))
        return
    url = db.resolve_url(database_url)
    db.skip_release_check()

    async def go() -> None:
        async with db.connection(url) as conn:
            if list_only:
                _show_status(await migrations.status(conn, layers), as_json)
                return
            installed = None if given else await migrations.installed_mode(conn)
            chosen = given or installed or mode
            if installed and not as_json:
                say(f"no mode given: {installed}, the mode installed here")
            done = await migrations.install(conn, chosen, progress=not as_json)
            filled = (await backfill_service.run(conn, progress=None if not as_json else False)
                      if then_backfill else None)
            if as_json:
                doc: dict[str, object] = {"mode": chosen, "applied": [m.label for m in done]}
                if filled is not None:
                    doc["backfill"] = filled.as_dict()
                emit_json(doc)
                return
            if done:
                say(f"applied {len(done)} SQL file(s) ({chosen})")
            else:
                say(f"nothing to do: every {chosen} SQL file is already applied")
            if filled is not None:
                report_backfill(filled, False)

    run(go)


def _show_status(states: list[migrations.Status], as_json: bool) -> None:
    rows = [
        {"layer": s.layer, "migration": s.name, "kind": s.kind, "state": s.state,
         "applied_at": s.applied_at}
        for s in states
    ]
    if as_json:
        emit_json(rows)
    else:
        emit_table(rows)


@click.command()
@database_option
@json_option
def uninstall(database_url: str | None, as_json: bool) -> None:
    """Drop exactly the orchestrator's objects; the engines and their data stay as they were."""
    url = db.resolve_url(database_url)
    db.skip_release_check()

    async def go() -> None:
        async with db.connection(url) as conn:
            dropped = await migrations.uninstall(conn)
        if as_json:
            emit_json({"dropped": dropped})
        elif dropped:
            say(f"dropped {len(dropped)} orchestrator object(s)")
        else:
            say("the orchestrator is not installed here; nothing to drop")

    run(go)


@click.command()
@database_option
@json_option
def verify(database_url: str | None, as_json: bool) -> None:
    """Exit non-zero on any difference between the database and the migration files.

    Also marks abandoned the ingest runs whose session is gone (reported, not a difference).
    """
    url = db.resolve_url(database_url)
    db.skip_release_check()

    async def go() -> tuple[list[str], list[ingest_runs.AbandonedRun]]:
        async with db.connection(url) as conn:
            problems = await migrations.verify(conn)
            try:
                return problems, await ingest_runs.mark_abandoned(conn)
            except (asyncpg.InsufficientPrivilegeError,
                    asyncpg.ReadOnlySQLTransactionError) as exc:
                # verify reads; marking is a courtesy that a read-only role (a monitor's, a
                # healthcheck's; lacking the grant, or with default_transaction_read_only on)
                # cannot do: say so, and let the comparison stand
                say(f"not marking abandoned ingest runs: {str(exc).splitlines()[0]} (the "
                    "listener marks them; docs/operations.md, \"Roles and rights\")")
                return problems, []

    problems, abandoned = run(go)
    if as_json:
        emit_json({"ok": not problems, "problems": problems,
                   "abandoned_runs": [a.as_dict() for a in abandoned]})
    else:
        for p in problems:
            click.echo(p)
        for a in abandoned:
            say(a.describe())
        if not problems:
            say("database matches the migration files")
    if problems:
        sys.exit(1)
