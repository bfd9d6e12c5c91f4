"""Production roles, not the superuser: an installer that only owns its database, a listener
and an API with the grants docs/operations.md "Roles and rights" lists (and fewer), a right
revoked while the listener runs, and a host with its own search_path and look-alike names
(docs/operations.md, "Roles and rights")."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import anyio
import asyncpg
import pytest

from tests.conftest import REPO, run_cli
from tests.helpers import execute, val
from tests.listening import ListenerProcess, wait_for
from tests.pg import Server
from tests.serving import ADMIN, READER
from tests.serving import Server as ApiServer
from tests.test_install import _snapshot

PREFIX = "/api/admin/orchestrator"

_names = itertools.count()


def as_role(url: str, role: str) -> str:
    """``url`` with ``role`` as its user (the test server trusts local connections)."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{role}@{host}"))


@dataclass
class Host:
    """A database owned by a role that is not a superuser and cannot create roles or
    databases: what managed PostgreSQL hands out."""

    name: str
    owner: str
    admin: str     # the superuser's URL to the same database (for the test's own looks)
    url: str       # the owner's

    def role(self, suffix: str) -> str:
        """A new login role with CONNECT only; dropped with the host."""
        role = f"{self.owner}_{suffix}"
        execute(self.admin, f"CREATE ROLE {role} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
        return role


def _admin(pg: Server, sql: str) -> None:
    anyio.run(pg.admin, sql)


@pytest.fixture
def host(pg: Server) -> Iterator[Host]:
    name = f"{pg.prefix}_roles_{next(_names)}"
    owner = f"{name}_owner"
    _admin(pg, f"CREATE ROLE {owner} LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE")
    _admin(pg, f"CREATE DATABASE {name} OWNER {owner}")
    admin = pg.url(name)
    try:
        yield Host(name, owner, admin, as_role(admin, owner))
    finally:
        _admin(pg, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        roles = anyio.run(_roles_like, pg.admin_url, owner)
        for role in roles:
            _admin(pg, f"DROP ROLE IF EXISTS {role}")


async def _roles_like(url: str, owner: str) -> list[str]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch("SELECT rolname FROM pg_roles WHERE rolname LIKE $1 "
                                "ORDER BY rolname = $2", owner + "%", owner)
        return [r["rolname"] for r in rows]
    finally:
        await conn.close()


def cli(url: str, *args: str) -> tuple[int, str, str]:
    done = run_cli(*args, env={"DATABASE_URL": url}, timeout=300)
    return done.returncode, done.stdout, done.stderr


def ok(url: str, *args: str) -> str:
    code, out, err = cli(url, *args)
    assert code == 0, f"{args}: {err[-2000:]}"
    return out


def refused(url: str, *args: str) -> str:
    """A command that must fail as the docs promise: exit 1, one line, no traceback."""
    code, _, err = cli(url, *args)
    assert code == 1, err[-2000:]
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.startswith("atlas-orch: error:")]
    assert len(lines) == 1, err[-2000:]
    return lines[0]


def _full_snapshot(host: Host) -> tuple[str, dict[str, str], list[str]]:
    """test_install's snapshot (schema with grants, every table's rows) and what pg_dump
    leaves out: the database's settings and grants, and the roles' memberships."""
    schema, rows = _snapshot(host.admin)
    extra = [str(r) for r in anyio.run(_database_level, host.admin)]
    return schema, rows, extra


async def _database_level(url: str) -> list[object]:
    conn = await asyncpg.connect(url)
    try:
        return [
            await conn.fetchval("SELECT datacl::text FROM pg_database "
                                "WHERE datname = current_database()"),
            await conn.fetchval("SELECT setconfig::text FROM pg_db_role_setting s JOIN "
                                "pg_database d ON d.oid = s.setdatabase "
                                "WHERE d.datname = current_database() AND s.setrole = 0"),
            await conn.fetchval("SELECT nspacl::text FROM pg_namespace WHERE nspname = "
                                "'public'"),
            await conn.fetchval("SELECT count(*) FROM pg_auth_members"),
        ]
    finally:
        await conn.close()


def _use(url: str, world: Path) -> None:
    """Ingest a file, process it, listen, and ask the questions the README tours."""
    ok(url, "ingest", "clinichq/appointment_info", str(world / "clinichq/appointment_info.xlsx"))
    ok(url, "process")
    ok(url, "listen", "--once")
    assert json.loads(ok(url, "why-missing", "--json"))["counts"] is not None
    record = val(url, "SELECT source_row_id FROM trapper.staged_records "
                      "WHERE source_table = 'appointment_info' LIMIT 1")
    timeline = ok(url, "replay", f"clinichq/appointment_info/{record}", "--json")
    assert "staged" in timeline
    ok(url, "verify")


def test_a_database_owner_without_superuser_installs_each_mode_uses_and_uninstalls(
        host: Host, world: Path) -> None:
    ok(host.url, "install", "--core-only")
    before = _full_snapshot(host)
    ok(host.url, "install")                       # shadow mode onto the engines
    _use(host.url, world)
    # the listener's partition upkeep runs as the installer: months ahead get made
    execute(host.url, "UPDATE trapper.orchestrator_settings SET value = '5' "
                      "WHERE key = 'partitions_ahead_months'")
    ok(host.url, "listen", "--once")
    assert val(host.url, "SELECT count(*) FROM trapper.orchestrator_partitions("
                         "'trapper.orchestrator_job_log')") >= 7
    ok(host.url, "uninstall")
    schema, rows, extra = _full_snapshot(host)
    assert (schema, extra) == (before[0], before[2])
    # the engines' own rows are the use's; what the orchestrator kept in them is gone
    assert not [t for t in rows if "orchestrator" in t]
    ok(host.url, "install", "--with-core")        # the engines are atlas-orch's: allowed
    ok(host.url, "verify")


def _documented_grants(role_for: dict[str, str], database: str) -> dict[str, str]:
    """The GRANT blocks of docs/operations.md "Roles and rights", by the role they name,
    with the host's names put in."""
    text = (Path(REPO) / "docs/operations.md").read_text(encoding="utf-8")
    block = re.search(r"```sql\n(-- roles-and-rights.*?)```", text, re.S)
    assert block, "docs/operations.md lost its roles-and-rights GRANTs"
    grants: dict[str, list[str]] = {}
    for line in block.group(1).splitlines():
        found = re.search(r"\bTO (atlas_\w+);", line)
        if found:
            sql = line.replace("DATABASE atlas ", f"DATABASE {database} ")
            grants.setdefault(role_for[found.group(1)], []).append(
                sql.replace(found.group(1), role_for[found.group(1)]))
    assert set(grants) == set(role_for.values())
    return {role: "\n".join(lines) for role, lines in grants.items()}


def test_the_documented_grants_are_enough_and_fewer_are_refused_clearly(
        host: Host, world: Path, tmp_path: Path) -> None:
    # a hardened host: functions made from now on are nobody's to run but their owner's
    execute(host.url, "ALTER DEFAULT PRIVILEGES REVOKE EXECUTE ON FUNCTIONS FROM PUBLIC")
    ok(host.url, "install", "--with-core")
    listener, api = host.role("listener"), host.role("api")
    for sql in _documented_grants({"atlas_listener": listener, "atlas_api": api},
                                  host.name).values():
        execute(host.url, sql)
    as_listener, as_api = as_role(host.admin, listener), as_role(host.admin, api)

    # the listener's role ingests, processes and listens, and makes partitions it does not own
    execute(host.url, "UPDATE trapper.orchestrator_settings SET value = '5' "
                      "WHERE key = 'partitions_ahead_months'")
    _use(as_listener, world)
    assert val(host.url, "SELECT count(*) FROM trapper.orchestrator_partitions("
                         "'trapper.orchestrator_job_log')") >= 7
    # the worker's mid-load ANALYZE is the owner's to do: as the listener's role it was
    # skipped, a WARNING per table
    execute(host.url, "INSERT INTO trapper.staged_records (source_system, source_table, "
                      "source_row_id, row_hash, payload) SELECT 'clinichq', 'cat_info', "
                      "'a-' || i, 'ha-' || i, '{}' FROM generate_series(1, 2000) i")
    assert anyio.run(_notices, as_listener, "SELECT trapper.refresh_planner_statistics()") \
        == []

    # the read-only API: every read answers, a write is a 403 that names the right
    server = ApiServer(as_api, tmp_path, "--no-listen")
    try:
        for path in ("/sources", "/health", "/why-missing", "/rules", "/anomalies", "/alerts",
                     "/reviews", "/log?action=staged"):
            status, body = server.call("GET", PREFIX + path, READER)
            assert status == 200, (path, body)
        for path in ("/api/health/ready", "/api/health/processing"):
            status, body = server.call("GET", path, READER)
            assert status == 200, (path, body)
        status, body = server.call("POST", PREFIX + "/sources", ADMIN, {
            "source_system": "partners", "source_table": "new_sheet",
            "display_name": "A new sheet"})
        assert status == 403, body
        assert body["error"]["code"] == "database_forbidden"
        assert "permission denied" in body["error"]["message"]
        assert "Roles and rights" in body["error"]["message"]
    finally:
        server.stop()
    assert "Traceback" not in server.log()
    assert "api_database_forbidden" in server.log()

    # a role that may write but whose sessions are read-only: the same 403
    execute(host.admin, f"ALTER ROLE {listener} SET default_transaction_read_only = on")
    server = ApiServer(as_listener, tmp_path, "--no-listen")
    try:
        status, body = server.call("POST", PREFIX + "/sources", ADMIN, {
            "source_system": "partners", "source_table": "new_sheet",
            "display_name": "A new sheet"})
        assert status == 403 and body["error"]["code"] == "database_forbidden", body
        assert "read-only transaction" in body["error"]["message"]
    finally:
        server.stop()
        execute(host.admin, f"ALTER ROLE {listener} RESET default_transaction_read_only")

    # fewer rights than documented: one line that names the object and where to look
    line = refused(as_api, "listen", "--once")
    assert "permission denied" in line and "Roles and rights" in line
    code, _, err = cli(as_api, "ingest", "clinichq/cat_info",
                       str(world / "clinichq/cat_info.xlsx"))
    assert code == 1 and "Traceback" not in err, err
    assert "permission denied for table ingest_runs" in err and "Roles and rights" in err
    # verify reads: a read-only role (a healthcheck's) gets its answer, and a note
    code, _, err = cli(as_api, "verify")
    assert code == 0 and "not marking abandoned ingest runs" in err, err
    # an up-to-date install is a no-op for any role; uninstall is the installer's
    assert "nothing to do" in cli(as_listener, "install", "--with-core")[2]
    line = refused(as_listener, "uninstall")
    assert f"installed by {host.owner}" in line and "nothing was dropped" in line
    ok(host.url, "verify")


def test_a_host_without_temp_installs_works_and_rekeys_places(host: Host, world: Path) -> None:
    """A hardened host revokes TEMP on the database (from PUBLIC, and here from its owner
    too): installing (whose migrations rekey the places), ingesting, processing, listening
    and rekeying the places by hand (docs/identity.md) all work without a TEMP table."""
    execute(host.admin, f"REVOKE TEMP ON DATABASE {host.name} FROM PUBLIC, {host.owner}")
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        execute(host.url, "CREATE TEMP TABLE t (x int)")
    ok(host.url, "install", "--with-core")
    listener = host.role("listener")
    for sql in _documented_grants({"atlas_listener": listener, "atlas_api": listener},
                                  host.name).values():
        execute(host.url, sql)
    as_listener = as_role(host.admin, listener)
    _use(as_listener, world)
    execute(host.url, "INSERT INTO trapper.places (display_name, formatted_address, "
                      "address_key) VALUES ('x', '98765 Quail Street, Petaluma, CA', 'old')")
    rekeyed, merged = anyio.run(_fetchrow, as_listener, "SELECT * FROM trapper.rekey_places()")
    assert rekeyed >= 1 and merged >= 0
    assert val(host.url, "SELECT address_key FROM trapper.places WHERE display_name = 'x'") \
        == "98765|quail st||petaluma"


async def _fetchrow(url: str, query: str) -> tuple[int, int]:
    conn = await asyncpg.connect(url)
    try:
        row = await conn.fetchrow(query)
        return row[0], row[1]
    finally:
        await conn.close()


def test_a_right_revoked_while_the_listener_runs(host: Host, tmp_path: Path) -> None:
    ok(host.url, "install", "--with-core")
    listener = host.role("listener")
    execute(host.url, _documented_grants({"atlas_listener": listener, "atlas_api": listener},
                                         host.name)[listener])
    as_listener = as_role(host.admin, listener)

    # the housekeeping refused (EXECUTE taken away): logged, counted, and consuming goes on
    execute(host.url, "REVOKE EXECUTE ON FUNCTION trapper.orchestrator_housekeep(text) "
                      f"FROM PUBLIC, {listener}")
    execute(host.url, "INSERT INTO trapper.orchestrator_events (kind, payload) "
                      "VALUES ('job_queued', '{}')")
    code, _, err = cli(as_listener, "listen", "--once")
    assert code == 0, err[-2000:]
    refusal = [json.loads(ln) for ln in err.splitlines()
               if '"action": "housekeeping_refused"' in ln]
    assert refusal and refusal[0]["count"] == 1 and "Roles and rights" in refusal[0]["fix"]
    stopped = [json.loads(ln) for ln in err.splitlines() if '"listener_stopped"' in ln]
    assert stopped[0]["events"] == 1 and stopped[0]["housekeeping_refused"] == 1

    # a right the consuming needs, taken while it runs: it stops with one clear line
    proc = ListenerProcess(as_listener, tmp_path, "listener")
    try:
        wait_for(lambda: proc.leads(host.url), 30, "the listener to lead")
        execute(host.url, "REVOKE INSERT ON trapper.orchestrator_job_log FROM " + listener)
        execute(host.url, "INSERT INTO trapper.orchestrator_events (kind, payload) "
                          "VALUES ('job_queued', '{}')")
        wait_for(lambda: proc.proc.poll() is not None, 60, "the listener to stop")
        assert proc.proc.returncode == 1
    finally:
        proc.stop()
    log = proc.log()
    assert "Traceback" not in log
    assert '"listener_failed"' in log
    last = log.strip().splitlines()[-1]
    assert last.startswith("atlas-orch: error: database error: permission denied for table "
                           "orchestrator_job_log") and "Roles and rights" in last
    # the right back: it resumes from its checkpoint
    execute(host.url, "GRANT INSERT ON trapper.orchestrator_job_log TO " + listener)
    ok(as_listener, "listen", "--once")
    assert val(host.url, "SELECT count(*) FROM trapper.orchestrator_events e WHERE NOT "
                         "EXISTS (SELECT 1 FROM trapper.orchestrator_job_log l "
                         "WHERE l.event_id = e.event_id)") == 0


HOST_CUSTOMS = """
CREATE SCHEMA app;
ALTER DATABASE {db} SET search_path = app, public;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
CREATE TABLE public.orchestrator_settings (key text PRIMARY KEY, value text);
INSERT INTO public.orchestrator_settings VALUES ('notify', 'the host''s');
CREATE TABLE app.orchestrator_job_log (id int);
CREATE FUNCTION app.orchestrator_month_start(timestamptz) RETURNS timestamptz
    LANGUAGE sql AS 'SELECT now()';
CREATE FUNCTION public.btrim(text) RETURNS text LANGUAGE sql AS 'SELECT ''host''';
CREATE TABLE trapper.host_notes (id int PRIMARY KEY, note text);
INSERT INTO trapper.host_notes VALUES (1, 'kept');
GRANT SELECT ON trapper.host_notes TO {reader};
CREATE FUNCTION trapper.host_route(text) RETURNS text LANGUAGE sql AS 'SELECT $1';
"""


def test_a_host_with_its_own_search_path_and_look_alike_names(
        host: Host, world: Path) -> None:
    ok(host.url, "install", "--core-only")
    reader = host.role("reader")
    execute(host.url, HOST_CUSTOMS.format(db=host.name, reader=reader))
    writer = host.role("writer")
    execute(host.url, f"GRANT USAGE ON SCHEMA trapper TO {writer}; GRANT SELECT, INSERT ON "
                      f"trapper.staged_records TO {writer}")
    before = _full_snapshot(host)

    ok(host.url, "install")
    # the host's own writer, with no right on the orchestrator's tables: its rows are still
    # captured, and its write sees no warning (the shadow triggers run as the installer)
    assert anyio.run(_write_as, as_role(host.admin, writer)) == []
    assert val(host.url, "SELECT count(*) FROM trapper.orchestrator_events "
                         "WHERE kind = 'staged'") == 1
    assert val(host.url, "SELECT count(*) FROM trapper.orchestrator_shadow_failures") == 0
    _use(host.url, world)                          # verify included: the look-alikes are
    ok(host.url, "uninstall")                      # the host's business
    after = _full_snapshot(host)
    assert (after[0], after[2]) == (before[0], before[2])
    assert {t: d for t, d in after[1].items() if not t.startswith("trapper.")} == \
        {t: d for t, d in before[1].items() if not t.startswith("trapper.")}
    assert after[1]["trapper.host_notes"] == before[1]["trapper.host_notes"]

    # a host object under a name the orchestrator reserves: refused first, nothing changed
    execute(host.url, "CREATE TABLE trapper.orchestrator_settings (k text)")
    taken = _full_snapshot(host)
    line = refused(host.url, "install")
    assert "table trapper.orchestrator_settings" in line and "reserves" in line
    assert line.endswith("the install changed nothing")
    assert _full_snapshot(host) == taken


async def _notices(url: str, statement: str) -> list[str]:
    """Run ``statement``; the notices and warnings it got."""
    conn = await asyncpg.connect(url)
    notices: list[str] = []
    conn.add_log_listener(lambda _c, msg: notices.append(str(msg)))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()
    return notices


async def _write_as(url: str) -> list[str]:
    """Stage a row as the host's writer would; the notices it got."""
    return await _notices(url, "INSERT INTO trapper.staged_records (source_system, "
                               "source_table, source_row_id, row_hash, payload) VALUES "
                               "('clinichq', 'cat_info', 'host-1', 'h-host-1', '{}')")


def test_an_install_that_lacks_a_right_changes_nothing(host: Host) -> None:
    """The engines belong to the host's application role; the orchestrator's installer may
    create in the schema and read the tables but not put triggers on them: it fails in the
    shadow layer, after the orchestrator layer ran, and must leave nothing behind."""
    app = host.role("app")
    execute(host.admin, f"GRANT CREATE ON DATABASE {host.name} TO {app}")
    ok(as_role(host.admin, app), "install", "--core-only")
    execute(as_role(host.admin, app),
            f"GRANT USAGE, CREATE ON SCHEMA trapper TO {host.owner};"
            f"GRANT SELECT, INSERT, UPDATE, DELETE, REFERENCES ON ALL TABLES IN SCHEMA "
            f"trapper TO {host.owner}")
    before = _full_snapshot(host)
    line = refused(host.url, "install")
    assert "migration triggers_shadow/" in line     # after the orchestrator layer ran
    assert "permission denied for table staged_records" in line
    assert "Roles and rights" in line and line.endswith("the install changed nothing")
    assert _full_snapshot(host) == before
    # a member of the engines' owner role: the install goes through, and runs again
    execute(host.admin, f"GRANT {app} TO {host.owner}")
    ok(host.url, "install")
    ok(host.url, "verify")
