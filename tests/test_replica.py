"""Reads from a streaming replica (``ATLAS_ORCH_READ_URL``, docs/SCALING.md): the API's GET
routes read from it while the listener, the feed and every write stay on the primary.

The test server may be the machine's shared PostgreSQL, which this test must not reconfigure,
so it makes a private pair under a temporary directory: a primary initdb'd with
``wal_level = replica`` and a replication slot, and a standby made by ``pg_basebackup -R``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest

from listener.schema import migrations
from tests.conftest import run_cli
from tests.serving import ADMIN, READER, Server

PGBIN = Path(os.environ.get("ATLAS_ORCH_TEST_PGBIN", "/usr/lib/postgresql/15/bin"))
P = "/api/admin/orchestrator"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _run(args: list[str], as_user: list[str]) -> None:
    done = subprocess.run([*as_user, *args], capture_output=True, text=True, timeout=180,
                          check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{Path(args[0]).name} failed: {done.stderr or done.stdout}")


@pytest.fixture(scope="module")
def replica_pair() -> Iterator[tuple[str, str, int]]:
    """(primary URL, standby URL, standby port) of a private primary and its streaming
    standby; both stopped and removed afterwards."""
    for tool in ("initdb", "pg_ctl", "pg_basebackup"):
        if not (PGBIN / tool).exists():
            pytest.skip(f"no {tool} in {PGBIN} (set ATLAS_ORCH_TEST_PGBIN): the replica test "
                        "needs PostgreSQL's server binaries to make a private primary/standby")
    # initdb refuses to run as root: run the servers as the postgres user then
    as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    base = Path(tempfile.mkdtemp(prefix="atlas-orch-replica-"))
    if as_user:
        shutil.chown(base, "postgres", "postgres")
    primary, standby = base / "primary", base / "standby"
    p_port, s_port = _free_port(), _free_port()
    started: list[Path] = []
    try:
        _run([str(PGBIN / "initdb"), "-D", str(primary), "-U", "postgres", "--auth=trust",
              "--no-sync"], as_user)
        with (primary / "postgresql.conf").open("a") as conf:
            # initdb's pg_hba already trusts replication from 127.0.0.1
            conf.write(f"\nport = {p_port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{base}'\nwal_level = replica\n"
                       "max_wal_senders = 4\nfsync = off\nsynchronous_commit = off\n"
                       "shared_buffers = 32MB\n")
        _run([str(PGBIN / "pg_ctl"), "-D", str(primary), "-l", str(base / "primary.log"),
              "-w", "start"], as_user)
        started.append(primary)
        primary_url = f"postgresql://postgres@127.0.0.1:{p_port}/postgres"

        async def slot() -> None:
            conn = await asyncpg.connect(primary_url)
            await conn.execute("SELECT pg_create_physical_replication_slot('atlas_replica')")
            await conn.close()

        anyio.run(slot)
        _run([str(PGBIN / "pg_basebackup"), "-h", "127.0.0.1", "-p", str(p_port), "-U",
              "postgres", "-D", str(standby), "-R", "-S", "atlas_replica", "-X", "stream"],
             as_user)
        with (standby / "postgresql.conf").open("a") as conf:
            conf.write(f"\nport = {s_port}\nhot_standby = on\n")
        _run([str(PGBIN / "pg_ctl"), "-D", str(standby), "-l", str(base / "standby.log"),
              "-w", "start"], as_user)
        started.append(standby)
        yield primary_url, f"postgresql://postgres@127.0.0.1:{s_port}/postgres", s_port
    finally:
        for data in reversed(started):
            subprocess.run([*as_user, str(PGBIN / "pg_ctl"), "-D", str(data), "-m",
                            "immediate", "stop"], capture_output=True, check=False)
        shutil.rmtree(base, ignore_errors=True)


def _db(url: str, name: str) -> str:
    return url.rsplit("/", 1)[0] + "/" + name


async def _caught_up(primary: str, standby: str) -> None:
    """Wait until the standby has replayed everything the primary has written so far."""
    p = await asyncpg.connect(primary)
    s = await asyncpg.connect(standby)
    try:
        # The insert position, not pg_current_wal_lsn(): the primary runs with
        # synchronous_commit = off, so a commit just returned may not be written out yet and
        # the write position can stand before it (the CI flake of stop 26).
        lsn = await p.fetchval("SELECT pg_current_wal_insert_lsn()")
        for _ in range(600):
            if await s.fetchval("SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn", lsn):
                return
            await anyio.sleep(0.05)
        raise AssertionError("the standby did not catch up within 30 s")
    finally:
        await p.close()
        await s.close()


STAGE = ("INSERT INTO trapper.staged_records (source_system, source_table, source_row_id, "
         "row_hash, payload) VALUES ('clinichq', 'owner_info', $1, md5($1), '{}')")


def test_get_routes_read_from_the_replica_while_writes_and_the_listener_use_the_primary(
        replica_pair: tuple[str, str, int], tmp_path: Path) -> None:
    admin_primary, admin_standby, _ = replica_pair

    async def install() -> None:
        conn = await asyncpg.connect(admin_primary)
        await conn.execute("CREATE DATABASE atlas")
        await conn.close()
        conn = await asyncpg.connect(_db(admin_primary, "atlas"))
        await migrations.install(conn, "with-core", progress=False)
        await conn.execute(STAGE, "r1")
        await conn.close()
        await _caught_up(admin_primary, admin_standby)

    anyio.run(install)
    primary, standby = _db(admin_primary, "atlas"), _db(admin_standby, "atlas")
    server = Server(primary, tmp_path, env={"ATLAS_ORCH_READ_URL": standby})
    try:
        timeline = f"{P}/records/clinichq/owner_info/{{}}/timeline"
        status, doc = server.call("GET", timeline.format("r1"), READER)
        assert status == 200, doc
        assert doc["data"]["items"]
        status, doc = server.call("GET", f"{P}/health", READER)
        assert status == 200, doc
        before = {(s["source_system"], s["source_table"]) for s in doc["data"]["sources"]}

        async def replay(pause: bool) -> None:
            conn = await asyncpg.connect(standby)
            await conn.execute("SELECT pg_wal_replay_pause()" if pause
                               else "SELECT pg_wal_replay_resume()")
            await conn.close()

        # With the standby's replay paused, the primary moves on and the GET routes do not
        # see it: their answers come from the replica. A write still works: the primary's.
        anyio.run(replay, True)
        status, doc = server.call("POST", f"{P}/sources", ADMIN, {
            "source_system": "vet", "source_table": "visits", "display_name": "Vets"})
        assert status == 200, doc

        async def stage_r2() -> None:
            conn = await asyncpg.connect(primary)
            await conn.execute(STAGE, "r2")
            await conn.close()

        anyio.run(stage_r2)
        assert server.call("GET", timeline.format("r2"), READER)[0] == 404
        status, doc = server.call("GET", f"{P}/health", READER)
        assert status == 200
        assert ("vet", "visits") not in {(s["source_system"], s["source_table"])
                                         for s in doc["data"]["sources"]}

        # who asked: the read pool's sessions are on the standby, none on the primary
        async def sessions(url: str) -> int:
            conn = await asyncpg.connect(url)
            n = await conn.fetchval("SELECT count(*) FROM pg_stat_activity WHERE "
                                    "application_name = 'atlas-orch serve (reads)'")
            await conn.close()
            return int(n)

        assert anyio.run(sessions, standby) >= 1
        assert anyio.run(sessions, primary) == 0

        anyio.run(replay, False)
        anyio.run(_caught_up, admin_primary, admin_standby)
        status, doc = server.call("GET", timeline.format("r2"), READER)
        assert status == 200, doc
        status, doc = server.call("GET", f"{P}/health", READER)
        after = {(s["source_system"], s["source_table"]) for s in doc["data"]["sources"]}
        assert ("vet", "visits") in after - before
        assert "Traceback" not in server.log()
    finally:
        assert server.stop() == 0


def test_a_read_url_without_the_orchestrator_is_refused_at_start(db_url: str,
                                                                  empty_db_url: str) -> None:
    """ATLAS_ORCH_READ_URL naming a database without the orchestrator (the wrong database,
    a standby of another server) started, then answered every GET with a 500."""
    out = run_cli("serve", "--no-listen", "--port", str(_free_port()), timeout=60,
                  env={"DATABASE_URL": db_url, "ATLAS_ORCH_READ_URL": empty_db_url,
                       "ATLAS_ORCH_ADMIN_TOKEN": ADMIN})
    assert out.returncode == 1, out.stderr
    assert out.stderr.count("\n") == 1 and "Traceback" not in out.stderr
    assert "read replica" in out.stderr and "trapper.orchestrator_job_log" in out.stderr


def test_readiness_fails_when_the_read_replica_is_gone(pg: Any, tmp_path: Path) -> None:
    """Every GET route reads the replica: with it gone they were all 503 while
    /api/health/ready still said ready (it read only the primary)."""
    primary, replica = pg.create("full"), pg.create("full")
    server = Server(pg.url(primary), tmp_path, "--no-listen",
                    env={"ATLAS_ORCH_READ_URL": pg.url(replica),
                         "ATLAS_ORCH_READY_IGNORE": "listener_lagging"})
    try:
        assert server.call("GET", "/api/health/ready") == (200, {"status": "ready",
                                                                 "reasons": []})
        pg.drop_now(replica)
        assert server.call("GET", f"{P}/sources", READER)[0] == 503
        status, body = server.call("GET", "/api/health/ready")
        assert status == 503, body
        assert [r["code"] for r in body["reasons"]] == ["database_unreachable"]
        assert "read replica" in body["reasons"][0]["detail"]
    finally:
        server.stop()
        pg.drop(replica)
        pg.drop(primary)
