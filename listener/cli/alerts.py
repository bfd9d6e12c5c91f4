"""`atlas-orch alerts`: the Slack alert outbox."""

from __future__ import annotations

import uuid
from typing import Any

import click

from listener.admin import alerts as outbox
from listener.admin.read import MAX_PAGE
from listener.cli.common import database_option, json_option, run, with_connection
from listener.core import db
from listener.core.errors import UserError
from listener.core.logs import configure as configure_logs
from listener.core.output import emit_json, emit_table, more_rows, say


@click.group()
def alerts() -> None:
    """The Slack alert outbox: send what is due, list, show, redeliver."""


def _alert_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an alert id (a UUID)") from None


@alerts.command("send")
@database_option
@click.option("--once", is_flag=True, required=True,
              help="Plan and deliver what is due now, then exit (the listener sends "
                   "continuously).")
@json_option
def alerts_send(database_url: str | None, once: bool, as_json: bool) -> None:
    """Deliver due alerts to the configured Slack webhooks."""
    from webhooks.config import load_routes
    from webhooks.sender import AlertSender

    configure_logs()
    routes = load_routes()
    if not routes:
        raise UserError("no alert route is configured: set ATLAS_ORCH_SLACK_WEBHOOK_URL or "
                        "ATLAS_ORCH_ALERT_ROUTES")

    async def go() -> dict[str, Any]:
        async with db.connection(db.resolve_url(database_url)) as conn:
            return (await AlertSender(routes).run_once(conn)).as_dict()

    stats = run(go)
    if as_json:
        emit_json(stats)
    else:
        say(f"planned {stats['planned']}, delivered {stats['delivered']}, retrying "
            f"{stats['retried']}, throttled {stats['throttled']}, dead-lettered {stats['dead']}")


@alerts.command("list")
@database_option
@click.option("--status", type=click.Choice(["pending", "delivered", "dead"]))
# up to 10,000 was accepted and 1,000 returned, silently
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, MAX_PAGE))
@json_option
def alerts_list(database_url: str | None, status: str | None, limit: int,
                as_json: bool) -> None:
    """Alerts, newest first."""
    rows = with_connection(database_url, lambda c: outbox.alerts(c, status=status, limit=limit))
    more_rows(len(rows), limit, f"--limit up to {MAX_PAGE}, or one --status")
    if as_json:
        emit_json(rows)
    else:
        emit_table(rows, ["alert_id", "created_at", "route", "kind", "severity",
                          "source_system", "source_table", "anomalies", "status", "attempts",
                          "last_error"])


@alerts.command("show")
@database_option
@click.argument("alert_id")
@json_option
def alerts_show(database_url: str | None, alert_id: str, as_json: bool) -> None:
    """One alert: its state and the Slack message it sends."""
    from webhooks.config import public_url
    from webhooks.slack import render

    ident = _alert_id(alert_id)
    row = with_connection(database_url, lambda c: outbox.show(c, ident))
    row["message"] = render(row, public_url())
    if as_json:
        emit_json(row)
        return
    emit_table([{k: row[k] for k in ("alert_id", "status", "kind", "severity", "route",
                                     "attempts", "last_http_status", "last_error")}])
    click.echo("\n" + row["message"]["text"])


@alerts.command("redeliver")
@database_option
@click.argument("alert_id")
@json_option
def alerts_redeliver(database_url: str | None, alert_id: str, as_json: bool) -> None:
    """Send an alert again (a dead-lettered one, say): pending, attempts reset, due now."""
    ident = _alert_id(alert_id)
    row = with_connection(database_url, lambda c: outbox.redeliver(c, ident))
    if as_json:
        emit_json(row)
    else:
        say(f"alert {ident} is pending again; the listener (or alerts send --once) sends it")
