"""`atlas-orch embedded`: the private PostgreSQL used when no DATABASE_URL is set."""

from __future__ import annotations

import click

from listener.cli.common import json_option
from listener.core.output import emit_json, say


@click.group()
def embedded() -> None:
    """The private embedded PostgreSQL used when no DATABASE_URL is set."""


@embedded.command("url")
@json_option
def embedded_url(as_json: bool) -> None:
    """Start the embedded server if needed and print its URL."""
    from listener.core.embedded import ensure_embedded, pgdata_dir

    url = ensure_embedded(announce=not as_json)
    if as_json:
        emit_json({"url": url, "data_dir": str(pgdata_dir())})
    else:
        click.echo(url)


@embedded.command("start")
@json_option
def embedded_start(as_json: bool) -> None:
    """Start the embedded server (or find it running); it runs until `embedded stop`."""
    from listener.core.embedded import ensure_embedded, pgdata_dir

    ensure_embedded(announce=False)
    if as_json:
        emit_json({"running": True, "data_dir": str(pgdata_dir())})
    else:
        say("embedded server running; `atlas-orch embedded url` prints its URL")


@embedded.command("stop")
@json_option
def embedded_stop(as_json: bool) -> None:
    """Stop the embedded server."""
    from listener.core.embedded import pgdata_dir, stop_embedded

    stopped = stop_embedded()
    if as_json:
        emit_json({"stopped": stopped, "data_dir": str(pgdata_dir())})
    else:
        say("embedded server stopped" if stopped else "embedded server was not running")
