"""`atlas-orch shadow`: the shadow layer's switches and the listener's checkpoint."""

from __future__ import annotations

import click

from listener.admin import shadow as shadow_switches
from listener.cli.common import database_option, json_option, with_connection
from listener.core.output import emit_json, emit_table, say


@click.group()
def shadow() -> None:
    """The shadow layer's switches and the listener's checkpoint."""


@shadow.command("status")
@database_option
@json_option
def shadow_status(database_url: str | None, as_json: bool) -> None:
    """Settings, the listener's checkpoint and backlog, and shadow-trigger failures."""
    doc = with_connection(database_url, shadow_switches.status)
    if as_json:
        emit_json(doc)
        return
    emit_table(doc["settings"], ["key", "value"])
    click.echo()
    emit_table(doc["listeners"], ["consumer", "holder", "horizon", "events_consumed",
                                  "events_pending", "log_tallied_upto", "updated_at"])
    f = doc["shadow_failures"]
    say(f"shadow-trigger failures: {f['failures']}"
        + (f" (last {f['last_failure']:%Y-%m-%d %H:%M:%S}: {f['last_message']})"
           if f["failures"] else ""))


@shadow.command("set")
@database_option
@click.option("--notify", type=click.Choice(["on", "off"]),
              help="Wake listeners with NOTIFY (on) or let them poll (off).")
@click.option("--capture", type=click.Choice(["trigger", "poll"]),
              help="Capture staged rows with a trigger, or let the listener find them "
                   "(installed: trigger).")
@click.option("--capture-engine", type=click.Choice(["trigger", "poll"]),
              help="Capture identity decisions and new entities with triggers, or let the "
                   "listener find them (installed: poll).")
@json_option
def shadow_set(database_url: str | None, notify: str | None, capture: str | None,
               capture_engine: str | None, as_json: bool) -> None:
    """Switch NOTIFY and how events are captured (see docs/events.md, choosing the capture)."""
    if notify is None and capture is None and capture_engine is None:
        raise click.UsageError(
            "nothing to set: give --notify, --capture and/or --capture-engine")
    settings = with_connection(database_url, lambda c: shadow_switches.set_switches(
        c, notify=notify, capture=capture, capture_engine=capture_engine))
    if as_json:
        emit_json(settings)
    else:
        emit_table(settings, ["key", "value"])
