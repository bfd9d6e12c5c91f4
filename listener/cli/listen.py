"""`atlas-orch listen`: the event listener as a process of its own."""

from __future__ import annotations

import sys

import click

from listener.cli.common import database_option, json_option, run, settle_heap
from listener.core import db
from listener.core.logs import configure as configure_logs
from listener.core.output import emit_json, say


@click.command()
@database_option
@click.option("--listen-url", envvar="ATLAS_ORCH_LISTEN_URL", show_envvar=True,
              help="A direct (session) connection for LISTEN, when the database URL goes "
                   "through a transaction-mode pooler.")
@click.option("--once", is_flag=True, help="Enrich what is there, update counters, exit.")
@click.option("--wait", "once_wait", default=0.0, show_default=True,
              help="With --once: seconds to wait while another listener holds the lock.")
@click.option("--batch", default=1000, show_default=True, help="Events per transaction.")
@click.option("--poll-interval", default=1.0, show_default=True,
              help="Seconds between catch-up polls when no NOTIFY arrives.")
@click.option("--busy-interval", default=0.01, show_default=True,
              help="Seconds to the next step after events arrived with no NOTIFY (polled "
                   "streams, writers with NOTIFY off); doubles back to --poll-interval.")
@click.option("--idle-check", default=0.1, show_default=True,
              help="While waiting, seconds between looks at whether anything was written at "
                   "all (one sequence read), so rows written with NOTIFY off wait no poll; "
                   "0: off.")
@json_option
def listen(database_url: str | None, listen_url: str | None, once: bool, once_wait: float,
           batch: int, poll_interval: float, busy_interval: float, idle_check: float,
           as_json: bool) -> None:
    """Consume shadow-trigger events into the job log and the per-source counters.

    One listener per database consumes (an advisory lock); others wait as standbys and take
    over within seconds. SIGTERM finishes the page in hand, stores the checkpoint, exits 0.
    """
    from listener.events.service import AnotherLeader, Listener, ListenerConfig
    from webhooks.config import load_routes
    from webhooks.sender import run_configured

    if batch < 1 or poll_interval <= 0 or busy_interval <= 0:
        raise click.BadParameter("--batch, --poll-interval and --busy-interval must be positive")
    if idle_check < 0:
        raise click.BadParameter("--idle-check must be 0 (off) or positive")
    configure_logs()
    url = db.resolve_url(database_url)
    if not once:
        load_routes()       # a bad alert route is refused before the listener starts
    listener = Listener(ListenerConfig(url=url, listen_url=listen_url, batch=batch,
                                       poll_interval=poll_interval,
                                       busy_interval=busy_interval,
                                       idle_check_interval=idle_check, once=once,
                                       once_wait=once_wait),
                        alerts=run_configured)
    if not once:
        settle_heap()
    try:
        stats = run(listener.run)
    except AnotherLeader as exc:
        say(f"error: {exc}")
        sys.exit(3)
    if as_json:
        emit_json(stats.as_dict())
    elif once:
        say(f"enriched {stats.events} event(s) into {stats.log_rows} log row(s), counted "
            f"{stats.tallied} log row(s); checkpoint at transaction {stats.horizon}")
