"""Connections: one place that turns a URL into an asyncpg connection or a clear error."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg

from listener.core.config import database_url_from_env
from listener.core.errors import UserError
from listener.core.redact import redact

__all__ = ["SESSION_SETTINGS", "STARTUP_SETTINGS", "ConnectFailed", "NotUpgraded",
           "check_release_with", "connect", "connection", "pin_session", "redact",
           "resolve_url", "session_settings", "skip_release_check"]

CONNECT_TIMEOUT_S = 10.0

# What every session of ours runs with, whatever the host set on its database or roles
# (ALTER DATABASE/ROLE ... SET): the SQL is written for these, as JDBC pins DateStyle and
# extra_float_digits for its own. standard_conforming_strings off read every '\d' of a
# regular expression as 'd' (the engines made 651 people of the small world's 812, and the
# install stopped on a transform it could no longer parse); extra_float_digits below 1 wrote
# a threshold of 12 into a decision's score_breakdown as 10; DateStyle and IntervalStyle
# shape the text of a date or an interval in messages. default_transaction_isolation: the
# queue's claims, the listener's checkpoints and the installer's checks each read what other
# sessions committed, as under read committed; a transaction that needs more asks for it.
# Left to the host: TimeZone (days and holidays are the organisation's), search_path (every
# name is schema-qualified), default_transaction_read_only and the timeouts (its guards).
#
# Only the settings a pooler passes on go in the startup packet (STARTUP_SETTINGS: PgBouncer
# tracks these and refuses any other, "unsupported startup parameter: extra_float_digits",
# tests/test_pooler.py); the rest are set by one statement once connected (pin_session).
STARTUP_SETTINGS: dict[str, str] = {
    "standard_conforming_strings": "on",
    "DateStyle": "ISO, MDY",
}
SESSION_SETTINGS: dict[str, str] = STARTUP_SETTINGS | {
    "extra_float_digits": "3",
    "IntervalStyle": "postgres",
    "default_transaction_isolation": "read committed",
}
_PINNED = {k: v for k, v in SESSION_SETTINGS.items() if k not in STARTUP_SETTINGS}


def session_settings(application_name: str | None = None) -> dict[str, str]:
    """The startup settings of a connection or pool of ours (``STARTUP_SETTINGS``), with its
    ``application_name`` when given. A pool's connections are reset (RESET ALL) at every
    release, to these: the API's reads need none of the others (no float or interval is
    read as text there)."""
    settings = dict(STARTUP_SETTINGS)
    if application_name:
        settings["application_name"] = application_name
    return settings


async def pin_session(conn: asyncpg.Connection) -> None:
    """Set the rest of ``SESSION_SETTINGS`` on a connection just made, in one statement."""
    await conn.execute(
        "SELECT set_config(k, v, false) FROM unnest($1::text[], $2::text[]) AS s(k, v)",
        list(_PINNED), list(_PINNED.values()))


class ConnectFailed(UserError):
    """No connection could be made (unreachable, refused, no such database): the user's to
    fix on the command line, a 503 for an HTTP client."""


class NotUpgraded(UserError):
    """The database was installed by an earlier release and not yet brought up to this one
    (``atlas-orch install``, docs/operations.md "Upgrading")."""


# The URLs whose installed SQL this process has found to be its own release's: checked once
# per process, not per connection of a pool or per reconnect of the listener.
_CURRENT: set[str] = set()
_CHECK_RELEASE = [True]
# How far behind its release a database is (listener.schema.migrations.behind), handed in by
# the CLI (listener/cli/main.py): core imports no layer above it (pyproject.toml, "layers").
_BEHIND: list[Callable[[asyncpg.Connection], Awaitable[list[str]]] | None] = [None]


def check_release_with(behind: Callable[[asyncpg.Connection], Awaitable[list[str]]]) -> None:
    """Have ``connect`` refuse a database an earlier release installed, by ``behind``: the
    SQL files of the installed mode not yet applied."""
    _BEHIND[0] = behind


def skip_release_check() -> None:
    """For the commands that bring a database to this release or report how far it is
    (install, uninstall, verify): they must run on an earlier release's database."""
    _CHECK_RELEASE[0] = False


async def _refuse_earlier_release(conn: asyncpg.Connection, url: str) -> None:
    """Refuse a database an earlier release installed that no ``install`` has upgraded yet.

    Between installing a new release's package and running its ``install``, every command ran
    the new code on the old tables: ``health`` stopped on a KeyError reported as a bug, an
    ingest failed file by file on a missing column, the listener on a missing function, each
    with advice that did not say the one thing to do. One line now says it, before anything
    runs."""
    behind = _BEHIND[0]
    if behind is None or not _CHECK_RELEASE[0] or url in _CURRENT:
        return
    try:
        late = await behind(conn)
    except asyncpg.InsufficientPrivilegeError:
        # a role that may not read the install's record (a narrow reader's): its commands
        # say what they lack themselves, as before
        return
    if late:
        shown = ", ".join(late[:3]) + (f" and {len(late) - 3} more" if len(late) > 3 else "")
        raise NotUpgraded(
            f"this database was installed by an earlier release of atlas-orch: {len(late)} "
            f"SQL file(s) of this one are not applied yet ({shown}); run `atlas-orch install` "
            "to upgrade it (docs/operations.md, \"Upgrading\")")
    _CURRENT.add(url)


def resolve_url(explicit: str | None = None, *, announce: bool = True) -> str:
    """The database to use: explicit, then the environment, then the embedded server.

    Blanks around a URL are dropped: click hands over ``DATABASE_URL`` as it is, and a URL
    pasted into an env file with a trailing space named a database "atlas " that is not."""
    url = (explicit or "").strip() or database_url_from_env()
    if url:
        return url
    from listener.core.embedded import ensure_embedded

    return ensure_embedded(announce=announce)


async def connect(url: str, *, timeout: float = CONNECT_TIMEOUT_S,
                  application_name: str | None = None) -> asyncpg.Connection:
    """Open a connection, turning every way of failing into one readable ``UserError``.

    ``application_name`` shows in ``pg_stat_activity``, so operators can tell our sessions
    apart (the listener's two connections, say). The session runs with
    ``SESSION_SETTINGS``, not the database's own values of those. Every message is redacted
    as a whole: the driver's own text may quote the URL or a DSN with its password."""
    where = redact(url)
    try:
        conn: asyncpg.Connection = await asyncpg.connect(
            url, timeout=timeout, server_settings=session_settings(application_name))
        try:
            await pin_session(conn)
        except BaseException:
            await conn.close()
            raise
    except (OSError, socket.gaierror) as exc:
        raise _refusal(f"cannot reach PostgreSQL at {where}: {exc.strerror or exc}") from exc
    except TimeoutError as exc:
        raise _refusal(f"cannot reach PostgreSQL at {where}: timed out after {timeout}s") from exc
    except asyncpg.InvalidCatalogNameError as exc:
        raise _refusal(f"database does not exist at {where}: {exc}") from exc
    except asyncpg.InvalidAuthorizationSpecificationError as exc:
        raise _refusal(f"PostgreSQL at {where} refused the login: {exc}") from exc
    except asyncpg.PostgresError as exc:
        raise _refusal(f"PostgreSQL at {where} refused the connection: {exc}") from exc
    except (ValueError, OverflowError) as exc:
        # OverflowError: a port past 65535 (the driver's parser lets it through to connect())
        raise _refusal(f"not a usable database URL {where}: {exc}") from exc
    try:
        await _refuse_earlier_release(conn, url)
    except BaseException:
        await conn.close()
        raise
    return conn


def _refusal(message: str) -> ConnectFailed:
    """A connection failure as a user error whose text holds no password, on one line (the
    driver's message may carry a HINT on a line of its own)."""
    return ConnectFailed(redact(" ".join(message.split())))


@asynccontextmanager
async def connection(url: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection closed on exit."""
    conn = await connect(url)
    try:
        yield conn
    finally:
        await conn.close()
