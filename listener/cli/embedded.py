"""`atlas-orch embedded`: the private PostgreSQL used when no DATABASE_URL is set."""

from __future__ import annotations

import click

from listener.core.output import say


@click.group()
def embedded() -> None:
    """The private embedded PostgreSQL used when no DATABASE_URL is set."""


@embedded.command("url")
def embedded_url() -> None:
    """Start the embedded server if needed and print its URL."""
    from listener.core.embedded import ensure_embedded

    click.echo(ensure_embedded())


@embedded.command("start")
def embedded_start() -> None:
    """Start the embedded server (or find it running); it runs until `embedded stop`."""
    from listener.core.embedded import ensure_embedded

    ensure_embedded(announce=False)
    say("embedded server running; `atlas-orch embedded url` prints its URL")


@embedded.command("stop")
def embedded_stop() -> None:
    """Stop the embedded server."""
    from listener.core.embedded import stop_embedded

    say("embedded server stopped" if stop_embedded() else "embedded server was not running")
