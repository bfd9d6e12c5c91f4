"""The ``atlas-orch`` command line: every subcommand is a thin shell over a query module."""

from __future__ import annotations

import sys
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import click

from listener import db, migrations
from listener.errors import UserError
from listener.output import emit_json, emit_table, say

T = TypeVar("T")

URL_ENVVARS = ["ATLAS_ORCH_DATABASE_URL", "DATABASE_URL"]


def run(fn: Callable[[], Awaitable[T]]) -> T:
    """Run one async entry point to completion."""
    return anyio.run(fn)


def database_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--database-url",
        envvar=URL_ENVVARS,
        show_envvar=True,
        help="PostgreSQL URL. Unset: a private embedded server in the user's data folder.",
    )(f)


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(f)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="atlas-orchestrator")
def cli() -> None:
    """atlas-orch: coordination, decision log and live events over the Atlas pipeline."""


@cli.command()
@database_option
@click.option("--with-core", "mode", flag_value="with-core",
              help="Standalone: the engines, the orchestrator and the shadow triggers.")
@click.option("--core-only", "mode", flag_value="core-only",
              help="The engines alone (what a host database has before the orchestrator).")
@click.option("--list", "list_only", is_flag=True,
              help="Show applied and pending migrations; change nothing.")
@click.option("--print-sql", is_flag=True, help="Print the SQL that would run; no connection.")
@json_option
def install(
    database_url: str | None, mode: str | None, list_only: bool, print_sql: bool, as_json: bool
) -> None:
    """Install the orchestrator (shadow mode onto existing engines, unless --with-core)."""
    layers: tuple[str, ...] = migrations.LAYERS
    listing_everything = list_only and mode is None
    mode = mode or "shadow"
    if not listing_everything:
        layers = migrations.layers_for(mode)
    if print_sql:
        sys.stdout.write(migrations.print_sql(mode))
        return
    url = db.resolve_url(database_url)

    async def go() -> None:
        async with db.connection(url) as conn:
            if list_only:
                _show_status(await migrations.status(conn, layers), as_json)
                return
            done = await migrations.install(conn, mode, progress=not as_json)
            if as_json:
                emit_json({"mode": mode, "applied": [m.label for m in done]})
            elif done:
                say(f"applied {len(done)} migration(s) ({mode})")
            else:
                say(f"nothing to do: every {mode} migration is already applied")

    run(go)


def _show_status(states: list[migrations.Status], as_json: bool) -> None:
    rows = [
        {"layer": s.layer, "migration": s.name, "state": s.state, "applied_at": s.applied_at}
        for s in states
    ]
    if as_json:
        emit_json(rows)
    else:
        emit_table(rows)


@cli.command()
@database_option
@json_option
def uninstall(database_url: str | None, as_json: bool) -> None:
    """Drop exactly the orchestrator's objects; the engines and their data stay as they were."""
    url = db.resolve_url(database_url)

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


@cli.command()
@database_option
@json_option
def verify(database_url: str | None, as_json: bool) -> None:
    """Exit non-zero on any difference between the database and the migration files."""
    url = db.resolve_url(database_url)

    async def go() -> list[str]:
        async with db.connection(url) as conn:
            return await migrations.verify(conn)

    problems = run(go)
    if as_json:
        emit_json({"ok": not problems, "problems": problems})
    else:
        for p in problems:
            click.echo(p)
        if not problems:
            say("database matches the migration files")
    if problems:
        sys.exit(1)


@cli.group()
def embedded() -> None:
    """The private embedded PostgreSQL used when no DATABASE_URL is set."""


@embedded.command("url")
def embedded_url() -> None:
    """Start the embedded server if needed and print its URL."""
    from listener.embedded import ensure_embedded

    click.echo(ensure_embedded())


@embedded.command("stop")
def embedded_stop() -> None:
    """Stop the embedded server."""
    from listener.embedded import stop_embedded

    say("embedded server stopped" if stop_embedded() else "embedded server was not running")


def main() -> None:
    """Console entry point: user errors are one line and exit 1, usage errors exit 2."""
    try:
        cli.main(standalone_mode=False, prog_name="atlas-orch")
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.Abort:
        sys.exit(130)
    except UserError as exc:
        print(f"atlas-orch: error: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
