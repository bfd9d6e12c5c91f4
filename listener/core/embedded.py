"""The embedded default: a private PostgreSQL from the ``pgserver`` package.

With no ``DATABASE_URL`` the CLI runs against a server kept in the user's data folder. It is
left running after the command so that a listener in one terminal and an ingest in another
share it; ``atlas-orch embedded stop`` stops it.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

from listener.core.config import data_home
from listener.core.errors import UserError

log = logging.getLogger(__name__)

EMBEDDED_DB = "atlas"


def pgdata_dir() -> Path:
    """The embedded server's data folder."""
    return data_home() / "pgdata"


def _server(pgdata: Path) -> Any:
    pgdata.mkdir(parents=True, exist_ok=True)
    # pgserver narrates at INFO ("PG_VERSION file found, skipping initdb", and at exit
    # "cleaning last handle for server", which reads as if the server were stopping): in
    # the JSON log of `listen` and `serve` that is noise; our own line says what matters
    logging.getLogger("pgserver").setLevel(logging.WARNING)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); harmless here.
        warnings.simplefilter("ignore")
        try:
            import pgserver
        except ImportError as exc:  # pragma: no cover - pgserver is a hard dependency
            raise UserError(
                "no DATABASE_URL set and the pgserver package is not installed") from exc
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


def _owner_kwargs(pgdata: Path) -> dict[str, Any]:
    """Run pg_ctl as the data folder's owner when we are root.

    pg_ctl refuses to run as root, and pgserver, started as root, runs the server as its own
    ``pgserver`` user; the data folder's owner is whoever runs the server, so it is the user
    to stop it as (root in a container, an ordinary user on a laptop alike)."""
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return {}
    owner = pgdata.stat().st_uid
    return {} if owner == 0 else {"user": owner}


def _running_pid(pgdata: Path) -> int | None:
    """The postmaster's pid from ``postmaster.pid``, if that process is alive."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split("\n", 1)[0])
        os.kill(pid, 0)
    except (OSError, ValueError):
        return None
    return pid


def stop_embedded() -> bool:
    """Stop the embedded server if it runs; True when one was stopped.

    A ``postmaster.pid`` left by a crashed server is not a running server: nothing to stop.
    """
    pgdata = pgdata_dir()
    if _running_pid(pgdata) is None:
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs' XDG_RUNTIME_DIR warning, as above
        from pgserver._commands import pg_ctl  # type: ignore[attr-defined]

    # pgserver logs a failed command at ERROR with its whole command line; our one line
    # below says what matters.
    logging.getLogger("pgserver").setLevel(logging.CRITICAL)
    try:
        pg_ctl(["-w", "-t", "60", "stop"], pgdata=pgdata, **_owner_kwargs(pgdata))
    except subprocess.CalledProcessError as exc:
        if _running_pid(pgdata) is None:  # it stopped on its own meanwhile
            return True
        raise UserError(
            f"could not stop the embedded PostgreSQL in {pgdata} (pg_ctl exit "
            f"{exc.returncode}); stop its process by hand: kill -INT {_running_pid(pgdata)}"
        ) from exc
    return True
