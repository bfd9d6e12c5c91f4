"""The embedded default: a private PostgreSQL from the ``pgserver`` package.

With no ``DATABASE_URL`` the CLI runs against a server kept in the user's data folder. It is
left running after the command so that a listener in one terminal and an ingest in another
share it; ``atlas-orch embedded stop`` stops it.
"""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path
from typing import Any

from listener.config import data_home
from listener.errors import UserError

log = logging.getLogger(__name__)

EMBEDDED_DB = "atlas"


def pgdata_dir() -> Path:
    """The embedded server's data folder."""
    return data_home() / "pgdata"


def _server(pgdata: Path) -> Any:
    try:
        import pgserver
    except ImportError as exc:  # pragma: no cover - pgserver is a hard dependency
        raise UserError("no DATABASE_URL set and the pgserver package is not installed") from exc
    pgdata.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
        warnings.simplefilter("ignore")
        # pgserver re-exports get_server without listing it in __all__.
        return pgserver.get_server(pgdata, cleanup_mode=None)  # type: ignore[attr-defined]


def ensure_embedded(*, announce: bool = True) -> str:
    """Start (or reuse) the embedded server and return a URL for its ``atlas`` database."""
    pgdata = pgdata_dir()
    fresh = not (pgdata / "PG_VERSION").exists()
    try:
        server = _server(pgdata)
        exists = server.psql(
            f"SELECT 1 FROM pg_database WHERE datname = '{EMBEDDED_DB}';"
        )
        if "1 row" not in exists:
            server.psql(f"CREATE DATABASE {EMBEDDED_DB};")
    except UserError:
        raise
    except Exception as exc:
        raise UserError(f"could not start the embedded PostgreSQL in {pgdata}: {exc}") from exc
    if announce:
        verb = "created" if fresh else "using"
        print(
            f"atlas-orch: no DATABASE_URL set; {verb} embedded PostgreSQL in {pgdata}",
            file=sys.stderr,
        )
    return str(server.get_uri(EMBEDDED_DB))


def stop_embedded() -> bool:
    """Stop the embedded server if it runs; True when one was stopped."""
    pgdata = pgdata_dir()
    if not (pgdata / "postmaster.pid").exists():
        return False
    from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

    pg_ctl(["-w", "stop"], pgdata=pgdata)
    return True
