"""What every command shares: running its async body, the --database-url and --json
options, and one connection for a command's reads."""

from __future__ import annotations

import datetime as dt
import gc
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio
import click

from listener.admin import read
from listener.core import db

T = TypeVar("T")

URL_ENVVARS = ["ATLAS_ORCH_DATABASE_URL", "DATABASE_URL"]

# Ids and cursors that reach PostgreSQL as bigint: bounded here, so 2^64 is a usage error
# (exit 2) and not the driver's "invalid input for query argument $1" (the API's models
# bound them the same way, listener/web/models.py)
BIGINT_MAX = 2**63 - 1
ROW_ID = click.IntRange(1, BIGINT_MAX)


class Timestamp(click.ParamType[dt.datetime]):
    """A time as ISO 8601, with or without its zone (none: UTC), to the microsecond: what our
    own --json prints (``2026-12-01T09:45:19.030892+00:00``), ``date -Iseconds``, ``…Z``, or a
    plain date. click.DateTime took three zoneless forms only, so a script could not hand a
    ``logged_at`` it had read back to ``--since``."""

    name = "timestamp"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> dt.datetime:
        if isinstance(value, dt.datetime):
            stamp = value
        else:
            try:
                stamp = dt.datetime.fromisoformat(str(value).strip())
            except ValueError:
                self.fail(f"{value!r} is not a time: give ISO 8601, for example 2026-12-01, "
                          "2026-12-01T09:30:00 (UTC) or 2026-12-01T09:30:00+02:00", param, ctx)
        if stamp.tzinfo is None:
            return stamp.replace(tzinfo=dt.UTC)
        return stamp.astimezone(dt.UTC)


TIMESTAMP = Timestamp()


def run(fn: Callable[[], Awaitable[T]]) -> T:
    """Run one async entry point to completion."""
    return anyio.run(fn)


def settle_heap() -> None:
    """For a process that runs for long (``serve``, ``listen``), once its modules are loaded
    and its app built: collect, then move every object left to the collector's permanent
    generation (gc.freeze), so that a full collection scans only what the work since has
    allocated. Unfrozen, each full collection walked the whole startup heap, tens of ms in
    which neither the feed nor the listener moved (bench/feed.py part 3, a row's p99)."""
    gc.collect()
    gc.freeze()


def database_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """The --database-url option (or its environment variables)."""
    return click.option(
        "--database-url",
        envvar=URL_ENVVARS,
        show_envvar=True,
        help="PostgreSQL URL. Unset: a private embedded server in the user's data folder.",
    )(f)


def json_option(f: Callable[..., Any]) -> Callable[..., Any]:
    """The --json flag: print JSON for scripts."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")(f)


def with_connection(database_url: str | None, fn: Callable[[Any], Awaitable[T]], *,
                    source: tuple[str | None, str | None] = (None, None)) -> T:
    """Run ``fn`` on one connection to the database and return what it returns; with
    ``source`` (a --source filter's system and table), first refuse one that names no source
    (exit 2)."""
    async def go() -> T:
        async with db.connection(db.resolve_url(database_url)) as conn:
            await read.require_source(conn, *source)
            return await fn(conn)

    return run(go)
