"""The listener against a real PgBouncer: refused with a clear message behind transaction
pooling, working behind session pooling."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.conftest import run_cli
from tests.serving import free_port

PGBOUNCER = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"


def _bouncer(db_url: str, mode: str) -> Iterator[str]:
    assert Path(PGBOUNCER).exists(), "PgBouncer is needed (.ci/run installs it)"
    parts = urlsplit(db_url)
    host = parts.hostname or dict(p.split("=", 1) for p in parts.query.split("&") if p)["host"]
    port = parts.port or 5432
    listen = free_port()
    work = Path(tempfile.mkdtemp(prefix="atlas-pgb-"))
    (work / "users.txt").write_text('"postgres" ""\n')
    (work / "pgb.ini").write_text(f"""[databases]
* = host={host} port={port}
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {listen}
auth_type = trust
auth_file = {work}/users.txt
pool_mode = {mode}
unix_socket_dir =
logfile = {work}/pgb.log
""")
    cmd = [PGBOUNCER, str(work / "pgb.ini")]
    if host.startswith("/"):
        # the embedded test server's socket lives in a private temporary folder; PgBouncer,
        # run as another user below, must be able to reach it (without DATABASE_URL)
        os.chmod(host, os.stat(host).st_mode | 0o011)
    if os.geteuid() == 0:   # PgBouncer refuses to run as root
        user = "postgres" if _user_exists("postgres") else "nobody"
        shutil.chown(work, user)
        os.chmod(work, 0o777)
        cmd = ["su", user, "-s", "/bin/sh", "-c", " ".join(cmd)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while "listening on" not in _read(work / "pgb.log"):
            assert time.monotonic() < deadline, _read(work / "pgb.log")
            time.sleep(0.1)
        yield f"postgresql://{parts.username or 'postgres'}@127.0.0.1:{listen}{parts.path}"
    finally:
        proc.terminate()
        proc.wait(10)
        subprocess.run(["pkill", "-f", str(work / "pgb.ini")], check=False)
        shutil.rmtree(work, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def _read(path: Path) -> str:
    return path.read_text() if path.exists() else ""


@pytest.fixture
def transaction_pool(db_url: str) -> Iterator[str]:
    yield from _bouncer(db_url, "transaction")


@pytest.fixture
def session_pool(db_url: str) -> Iterator[str]:
    yield from _bouncer(db_url, "session")


def test_a_transaction_mode_pooler_is_refused_with_a_clear_message(
    db_url: str, transaction_pool: str
) -> None:
    done = run_cli("listen", "--once", "--listen-url", transaction_pool,
                   env={"DATABASE_URL": db_url})
    assert done.returncode == 1
    assert "transaction-mode pooler" in done.stderr and "ATLAS_ORCH_LISTEN_URL" in done.stderr


def test_a_session_mode_pooler_carries_listen(db_url: str, session_pool: str) -> None:
    done = run_cli("listen", "--once", "--listen-url", session_pool,
                   env={"DATABASE_URL": db_url})
    assert done.returncode == 0, done.stderr


def test_listen_once_gives_up_on_a_pooler_that_cannot_reach_the_server(db_url: str) -> None:
    """--once is for cron and scripts: a listen URL that never answers is an error after a
    few tries (listener/events/service.py, ONCE_ATTEMPTS), not a hang."""
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(16)
        port = srv.getsockname()[1]
        stop = threading.Event()

        def refuse() -> None:       # accept, then hang up: a pooler whose server is gone
            srv.settimeout(0.2)
            while not stop.is_set():
                try:
                    conn, _ = srv.accept()
                    conn.close()
                except OSError:
                    continue

        t = threading.Thread(target=refuse, daemon=True)
        t.start()
        try:
            done = run_cli("listen", "--once", "--listen-url",
                           f"postgresql://postgres@127.0.0.1:{port}/x",
                           env={"DATABASE_URL": db_url}, timeout=90)
        finally:
            stop.set()
            t.join(5)
    assert done.returncode == 1
    assert "error" in done.stderr.splitlines()[-1]
    assert "Traceback" not in done.stderr
