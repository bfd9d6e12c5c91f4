"""`atlas-orch serve`: the HTTP API, the live feed and the page (and the listener)."""

from __future__ import annotations

import errno
import socket

import anyio
import click

from listener.cli.common import database_option, run, settle_heap
from listener.core import db
from listener.core.errors import UserError
from listener.core.logs import configure as configure_logs
from listener.core.output import say

# How long a SIGTERM or Ctrl-C waits for requests in flight before they are cancelled
# (aiohttp's default is 60 s; an operator who sees no exit sends kill -9, which loses more).
SHUTDOWN_TIMEOUT_S = 5.0


@click.command()
@database_option
@click.option("--host", default="127.0.0.1", show_default=True, envvar="ATLAS_ORCH_HOST")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(1, 65535),
              envvar="ATLAS_ORCH_PORT")
@click.option("--listen/--no-listen", "with_listener", default=True, show_default=True,
              help="Run the event listener in the same process.")
@click.option("--listen-url", envvar="ATLAS_ORCH_LISTEN_URL", show_envvar=True,
              help="A direct (session) connection for LISTEN.")
@click.option("--read-url", envvar="ATLAS_ORCH_READ_URL", show_envvar=True,
              help="A read replica for the API's and the page's reads (the listener, the "
                   "feed and every write stay on the primary; docs/SCALING.md).")
@click.option("--feed-max-queue", default=200, show_default=True, type=click.IntRange(1),
              envvar="ATLAS_ORCH_FEED_MAX_QUEUE", show_envvar=True,
              help="Batches a websocket client may have queued before it is cut off as too "
                   "slow.")
@click.option("--feed-send-timeout", default=30.0, show_default=True,
              type=click.FloatRange(0, min_open=True, max=3600),
              envvar="ATLAS_ORCH_FEED_SEND_TIMEOUT_S", show_envvar=True,
              help="Seconds a websocket client's socket may take nothing before the client "
                   "is dropped as not reading.")
@click.option("--header-timeout", default=60.0, show_default=True,
              type=click.FloatRange(0, min_open=True, max=3600),
              envvar="ATLAS_ORCH_HEADER_TIMEOUT_S", show_envvar=True,
              help="Seconds a new connection has to send its first request's headers "
                   "before it is answered 408 and closed.")
def serve(database_url: str | None, host: str, port: int, with_listener: bool,
          listen_url: str | None, read_url: str | None, feed_max_queue: int,
          feed_send_timeout: float, header_timeout: float) -> None:
    """The HTTP API, the live feed and the /admin/data-health page (and the listener)."""
    from aiohttp import web

    from listener.admin.metrics import ReadyLimits
    from listener.core.logs import add_secrets
    from listener.events.service import Listener, ListenerConfig
    from listener.web.app import Tokens, create_app
    from listener.web.server import ApiRunner
    from webhooks.config import load_routes
    from webhooks.sender import run_configured

    configure_logs()
    tokens = Tokens.from_env()
    if not tokens.admin and not tokens.read:
        raise UserError("no API token is configured: set ATLAS_ORCH_ADMIN_TOKEN (and "
                        "ATLAS_ORCH_READ_TOKEN for read-only access)")
    add_secrets(*tokens.all())          # masked in every log line, wherever they appear
    ready = ReadyLimits.from_env()      # a bad threshold is refused before anything starts
    if with_listener:
        # a bad alert route is refused now, in one line, not by the sender once serving
        load_routes()
    url = db.resolve_url(database_url)

    async def go() -> None:
        import signal

        # ApiRunner: aiohttp's own parse-error answers in the API's envelope, without the
        # request's bytes (listener/web/server.py); no access log (URLs may carry tickets)
        runner = ApiRunner(create_app(url, tokens, listen_url=listen_url, read_url=read_url,
                                       feed_max_queue=feed_max_queue,
                                       feed_send_timeout_s=feed_send_timeout, ready=ready),
                           access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT_S,
                           header_timeout_s=header_timeout)
        await runner.setup()
        try:
            await web.TCPSite(runner, host, port).start()
        except OSError as exc:
            # a port another program holds (another serve, say) or a host not on this
            # machine is the operator's to fix, not a bug; the pool opened by setup is
            # closed first so that nothing is left pending at exit
            await runner.cleanup()
            raise cannot_listen(host, port, exc) from exc
        settle_heap()
        say(f"serving http://{host}:{port}/admin/data-health"
            + (" with the listener" if with_listener else ""))
        try:
            if with_listener:
                await Listener(ListenerConfig(url=url, listen_url=listen_url),
                               alerts=run_configured).run()
            else:
                with anyio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                    async for _ in signals:
                        break
        finally:
            await runner.cleanup()

    run(go)


def cannot_listen(host: str, port: int, exc: OSError) -> UserError:
    """The one line for an address ``serve`` cannot listen on, with what to change."""
    hint = ("another program (another `atlas-orch serve`?) holds the port: choose another "
            "with --port" if exc.errno == errno.EADDRINUSE
            else "--host must name an address of this machine")
    return UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; {hint}")


def check_port(host: str, port: int) -> None:
    """Refuse at once a port that cannot be listened on (``demo run`` checks before its minute
    of work, not after it, with the page's address already printed). SO_REUSEADDR as aiohttp
    sets it, so that a port a server just left is not refused here only."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
        family, kind, proto, _name, address = infos[0]
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        raise cannot_listen(host, port, exc) from exc
