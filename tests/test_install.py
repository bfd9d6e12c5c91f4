"""The installer: idempotence, checksums, concurrency, shadow checks, the additive contract."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import anyio
import asyncpg
import pytest

from listener.core.errors import MigrationError
from listener.schema import migrations
from tests.conftest import run_cli
from tests.helpers import execute
from tests.pg import pg_dump_binary

pytestmark = pytest.mark.anyio

ALL_FILES = sum(len(migrations.load_layer(layer)) for layer in migrations.LAYERS)


async def test_install_twice_is_a_no_op(empty_db_url: str) -> None:
    conn = await asyncpg.connect(empty_db_url)
    try:
        first = await migrations.install(conn, "with-core", progress=False)
        before = await conn.fetch("SELECT * FROM trapper.orchestrator_migrations ORDER BY 1, 2")
        second = await migrations.install(conn, "with-core", progress=False)
        after = await conn.fetch("SELECT * FROM trapper.orchestrator_migrations ORDER BY 1, 2")
    finally:
        await conn.close()
    assert len(first) == ALL_FILES
    assert second == []
    assert before == after


async def test_edited_migration_is_refused(
    empty_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sql_dir = tmp_path / "sql"
    shutil.copytree(migrations.sql_root(), sql_dir)
    monkeypatch.setenv("ATLAS_ORCH_SQL_DIR", str(sql_dir))
    conn = await asyncpg.connect(empty_db_url)
    try:
        await migrations.install(conn, "with-core", progress=False)
        target = sql_dir / "orchestrator" / "001_backbone.sql"
        target.write_text(target.read_text() + "\n-- an afterthought\n")
        with pytest.raises(MigrationError, match=r"orchestrator/001_backbone.sql was edited"):
            await migrations.install(conn, "with-core", progress=False)
        assert "orchestrator/001_backbone.sql: edited" in await migrations.verify(conn)
    finally:
        await conn.close()
    result = run_cli("install", env={"DATABASE_URL": empty_db_url,
                                     "ATLAS_ORCH_SQL_DIR": str(sql_dir)})
    assert result.returncode == 1
    assert "was edited after it was applied" in result.stderr
    assert "Traceback" not in result.stderr


async def test_badly_named_migration_file_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sql_dir = tmp_path / "sql"
    shutil.copytree(migrations.sql_root(), sql_dir)
    (sql_dir / "core" / "9_oops.sql").write_text("SELECT 1;")
    monkeypatch.setenv("ATLAS_ORCH_SQL_DIR", str(sql_dir))
    with pytest.raises(MigrationError, match=r"NNN_lowercase_words\.sql"):
        migrations.load_layer("core")


async def test_two_concurrent_installs_apply_each_migration_once(empty_db_url: str) -> None:
    results: list[list[migrations.Migration]] = []

    async def one() -> None:
        conn = await asyncpg.connect(empty_db_url)
        try:
            results.append(await migrations.install(conn, "with-core", progress=False))
        finally:
            await conn.close()

    async with anyio.create_task_group() as tg:
        tg.start_soon(one)
        tg.start_soon(one)

    labels = [m.label for r in results for m in r]
    assert sorted(labels) == sorted(set(labels))
    assert len(labels) == ALL_FILES
    conn = await asyncpg.connect(empty_db_url)
    try:
        core = await conn.fetchval("SELECT count(*) FROM trapper.core_migrations")
        orch = await conn.fetchval("SELECT count(*) FROM trapper.orchestrator_migrations")
    finally:
        await conn.close()
    assert core + orch == ALL_FILES


async def test_shadow_install_without_engines_names_what_is_missing(empty_db_url: str) -> None:
    result = run_cli("install", env={"DATABASE_URL": empty_db_url})
    assert result.returncode == 1
    assert "table trapper.staged_records" in result.stderr
    assert "function trapper.process_next_job()" in result.stderr
    conn = await asyncpg.connect(empty_db_url)
    try:
        assert await conn.fetchval("SELECT to_regclass('trapper.orchestrator_sources')") is None
    finally:
        await conn.close()


async def test_shadow_install_names_a_missing_column(core_db_url: str) -> None:
    conn = await asyncpg.connect(core_db_url)
    try:
        await conn.execute("ALTER TABLE trapper.processing_jobs DROP COLUMN heartbeat_at")
        with pytest.raises(MigrationError) as err:
            await migrations.install(conn, "shadow", progress=False)
        assert "column trapper.processing_jobs.heartbeat_at" in str(err.value)
        assert "table trapper.staged_records" not in str(err.value)
    finally:
        await conn.close()


# What core 011 added to the engines' ingest runs; a host's own may have none of it.
CORE_011 = """
    DROP FUNCTION trapper.ingest_mark_abandoned();
    DROP FUNCTION trapper.ingest_begin_run(text, text, text, bigint, text, text);
    DROP FUNCTION trapper.ingest_release_run(bigint);
    DROP FUNCTION trapper.ingest_run_lock_keys(bigint);
    ALTER TABLE trapper.ingest_runs DROP COLUMN rows_merged, DROP COLUMN backend_pid,
        DROP CONSTRAINT ingest_runs_status_check,
        DROP CONSTRAINT ingest_runs_unfinished_staged_nothing,
        DROP CONSTRAINT ingest_runs_failure_has_reason;
    ALTER TABLE trapper.ingest_runs ADD CHECK (status IN ('running', 'completed', 'failed'));
"""


async def test_shadow_install_onto_a_host_whose_ingest_runs_are_its_own(
    core_db_url: str,
) -> None:
    conn = await asyncpg.connect(core_db_url)
    try:
        await conn.execute(CORE_011)
        await conn.execute("""
            INSERT INTO trapper.ingest_runs (source_system, source_table, source_file,
                                             status, error, started_at)
            VALUES ('clinichq', 'cat_info', 'a.xlsx', 'completed', NULL,
                    now() - '30 days'::interval),
                   ('clinichq', 'cat_info', 'b.xlsx', 'failed', 'host says no', now())""")
        await migrations.install(conn, "shadow", progress=False)
        health = await conn.fetchval(
            "SELECT health_status FROM trapper.v_orchestrator_health "
            "WHERE source_system = 'clinichq' AND source_table = 'cat_info'")
        assert health == "stale"    # the host's failed run is not its last ingest
        changes = {r["anomaly_key"] for r in await conn.fetch(
            "SELECT * FROM trapper.orchestrator_detect_anomalies()")}
        assert changes == {"silent:clinichq/cat_info", "ingest_failed:clinichq/cat_info"}
    finally:
        await conn.close()
    from listener.events.service import Listener, ListenerConfig

    # the listener finds no marker of abandoned runs on this host, and goes on
    stats = await Listener(ListenerConfig(url=core_db_url, once=True)).run()
    assert stats.ingest_runs_abandoned == 0 and not stats.errors
    verified = run_cli("verify", env={"DATABASE_URL": core_db_url})
    assert verified.returncode == 0, verified.stdout + verified.stderr


async def test_shadow_install_names_a_missing_ingest_runs_column(core_db_url: str) -> None:
    conn = await asyncpg.connect(core_db_url)
    try:
        await conn.execute("ALTER TABLE trapper.ingest_runs DROP COLUMN error CASCADE")
        with pytest.raises(MigrationError, match=r"column trapper\.ingest_runs\.error"):
            await migrations.install(conn, "shadow", progress=False)
    finally:
        await conn.close()


async def test_with_core_refuses_engines_it_did_not_install(empty_db_url: str) -> None:
    conn = await asyncpg.connect(empty_db_url)
    try:
        await conn.execute("CREATE SCHEMA trapper; CREATE TABLE trapper.staged_records (id int)")
        with pytest.raises(MigrationError, match="use `atlas-orch install`"):
            await migrations.install(conn, "with-core", progress=False)
    finally:
        await conn.close()


def _snapshot(url: str) -> tuple[str, dict[str, str]]:
    """The schema as pg_dump prints it and a digest of every table's rows."""

    async def read() -> tuple[int, dict[str, str]]:
        conn = await asyncpg.connect(url)
        try:
            major = int(await conn.fetchval("SHOW server_version_num")) // 10000
            tables = await conn.fetch(
                "SELECT format('%I.%I', schemaname, tablename) AS t FROM pg_tables "
                "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
            )
            digests = {}
            for row in tables:
                digests[row["t"]] = await conn.fetchval(
                    f"SELECT md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) "
                    f"FROM {row['t']} x"
                )
            return major, digests
        finally:
            await conn.close()

    major, digests = anyio.run(read)
    schema = subprocess.run(
        [pg_dump_binary(major), "--schema-only", "--no-owner", "-d", url],
        capture_output=True, text=True, check=True,
    ).stdout
    return schema, digests


async def _load_some_rows(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        run_id = await conn.fetchval(
            "INSERT INTO trapper.ingest_runs (source_system, source_table) "
            "VALUES ('clinichq', 'cat_info') RETURNING ingest_run_id")
        await conn.executemany(
            "INSERT INTO trapper.staged_records (source_system, source_table, source_row_id, "
            "ingest_run_id, row_hash, payload) VALUES ('clinichq', 'cat_info', $1, $2, $3, $4)",
            [(f"25-{i}", run_id, f"h{i}", f'{{"Number": "25-{i}"}}') for i in range(20)],
        )
        await conn.execute("SELECT trapper.enqueue_processing('clinichq', 'cat_info', 'ingest')")
    finally:
        await conn.close()


def test_install_then_uninstall_leaves_the_host_identical(core_db_url: str) -> None:
    anyio.run(_load_some_rows, core_db_url)
    schema_before, rows_before = _snapshot(core_db_url)

    installed = run_cli("install", env={"DATABASE_URL": core_db_url})
    assert installed.returncode == 0, installed.stderr
    mid_schema, _ = _snapshot(core_db_url)
    assert "orchestrator_job_log" in mid_schema  # the install did something

    removed = run_cli("uninstall", "--json", env={"DATABASE_URL": core_db_url})
    assert removed.returncode == 0, removed.stderr
    assert "orchestrator_staged_insert" in removed.stdout

    schema_after, rows_after = _snapshot(core_db_url)
    assert schema_after == schema_before
    assert rows_after == rows_before


async def test_uninstall_refuses_when_a_host_object_depends_on_the_orchestrator(
    db_url: str,
) -> None:
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute("CREATE VIEW public.my_report AS "
                           "SELECT count(*) FROM trapper.orchestrator_job_log")
        with pytest.raises(MigrationError, match="nothing was dropped"):
            await migrations.uninstall(conn)
        assert await conn.fetchval("SELECT to_regclass('trapper.orchestrator_job_log')")
    finally:
        await conn.close()


async def test_an_orchestrator_migration_that_alters_a_host_object_is_refused(
    core_db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sql_dir = tmp_path / "sql"
    shutil.copytree(migrations.sql_root(), sql_dir)
    (sql_dir / "orchestrator" / "900_sneaky.sql").write_text(
        "CREATE OR REPLACE FUNCTION trapper.processor_noop(p_staged_record_id bigint) "
        "RETURNS jsonb LANGUAGE sql AS $$ SELECT '{\"x\": 1}'::jsonb $$;"
    )
    with (sql_dir / "orchestrator" / "order.txt").open("a") as order:
        order.write("900_sneaky.sql\n")
    monkeypatch.setenv("ATLAS_ORCH_SQL_DIR", str(sql_dir))
    conn = await asyncpg.connect(core_db_url)
    try:
        refused = r"altered objects it does not own.*processor_noop"
        with pytest.raises(MigrationError, match=refused):
            await migrations.install(conn, "shadow", progress=False)
        body = await conn.fetchval("SELECT trapper.processor_noop(1)")
        assert body == "{}"
    finally:
        await conn.close()


async def test_verify_reports_a_dropped_trigger(db_url: str) -> None:
    ok = run_cli("verify", env={"DATABASE_URL": db_url})
    assert ok.returncode == 0, ok.stdout + ok.stderr
    conn = await asyncpg.connect(db_url)
    try:
        await conn.execute(
            "DROP TRIGGER orchestrator_staged_insert ON trapper.staged_records")
    finally:
        await conn.close()
    bad = run_cli("verify", "--json", env={"DATABASE_URL": db_url})
    assert bad.returncode == 1
    assert "orchestrator_staged_insert on trapper.staged_records" in bad.stdout


def test_install_list_shows_applied_and_pending(core_db_url: str) -> None:
    result = run_cli("install", "--list", "--json", env={"DATABASE_URL": core_db_url})
    assert result.returncode == 0, result.stderr
    states = {(r["layer"], r["migration"]): r["state"] for r in json.loads(result.stdout)}
    assert states[("core", "001_staging.sql")] == "applied"
    assert states[("orchestrator", "001_backbone.sql")] == "pending"


def test_print_sql_needs_no_server() -> None:
    result = run_cli("install", "--with-core", "--print-sql",
                     env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert result.returncode == 0, result.stderr
    assert "CREATE TABLE trapper.staged_records" in result.stdout
    assert "-- ===== triggers_shadow/001_events.sql" in result.stdout


def test_unreachable_database_is_one_clear_line() -> None:
    result = run_cli("install", "--list",
                     env={"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none"})
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("atlas-orch: error: cannot reach PostgreSQL at")


def test_embedded_default_installs_and_lists(tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path)}
    try:
        result = run_cli("install", "--with-core", env=env, timeout=180)
        assert result.returncode == 0, result.stderr
        assert "embedded PostgreSQL in" in result.stderr
        listed = run_cli("install", "--list", "--json", env=env)
        assert listed.returncode == 0, listed.stderr
        assert '"state": "applied"' in listed.stdout
        assert (tmp_path / "atlas-orchestrator" / "pgdata" / "PG_VERSION").exists()
    finally:
        run_cli("embedded", "stop", env=env)


# A later release's migrations, for the upgrade tests: number 099, which no real migration
# takes, in each layer.
FUTURE = {"core": "CREATE TABLE trapper.future_core_099 (id int);",
          "orchestrator": "CREATE TABLE trapper.orchestrator_future_099 (id int);"}


def _next_release(tmp_path: Path) -> dict[str, str]:
    """A copy of the SQL with a new numbered migration in the core and orchestrator layers;
    the environment that installs from it."""
    sql_dir = tmp_path / "sql"
    shutil.copytree(migrations.sql_root(), sql_dir)
    for layer, text in FUTURE.items():
        (sql_dir / layer / "099_future.sql").write_text(text + "\n")
        with (sql_dir / layer / "order.txt").open("a") as order:
            order.write("\n099_future.sql\n")
    return {"ATLAS_ORCH_SQL_DIR": str(sql_dir)}


def _exists(url: str, table: str) -> bool:
    async def read() -> bool:
        conn = await asyncpg.connect(url)
        try:
            return bool(await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table))
        finally:
            await conn.close()

    return anyio.run(read)


def test_an_upgrade_given_no_mode_keeps_with_core(db_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": db_url, **_next_release(tmp_path)}
    done = run_cli("install", "--json", env=env)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    # the engines' new migration too, not only the orchestrator's (shadow would skip it)
    assert doc["mode"] == "with-core"
    assert doc["applied"] == ["core/099_future.sql", "orchestrator/099_future.sql"]
    assert _exists(db_url, "trapper.future_core_099")
    said = run_cli("install", env=env)
    assert said.returncode == 0, said.stderr
    assert "no mode given: with-core, the mode installed here" in said.stderr
    assert run_cli("verify", env=env).returncode == 0


def test_an_upgrade_given_no_mode_keeps_shadow(core_db_url: str, tmp_path: Path) -> None:
    # a host's own engines: there, atlas-orch keeps no record of the core
    execute(core_db_url, "DROP TABLE trapper.core_migrations")
    env = {"DATABASE_URL": core_db_url}
    assert run_cli("install", env=env).returncode == 0          # a shadow install
    env.update(_next_release(tmp_path))
    done = run_cli("install", "--json", env=env)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["mode"] == "shadow"
    assert doc["applied"] == ["orchestrator/099_future.sql"]
    assert not _exists(core_db_url, "trapper.future_core_099")  # the host's engines untouched


def test_engines_installed_alone_take_the_orchestrator_and_their_upgrade(
        core_db_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": core_db_url, **_next_release(tmp_path)}
    done = run_cli("install", "--json", env=env)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["mode"] == "with-core"
    assert doc["applied"][0] == "core/099_future.sql"
    assert "orchestrator/001_backbone.sql" in doc["applied"]
    assert run_cli("verify", env=env).returncode == 0


def test_core_only_is_refused_where_the_orchestrator_is_installed(
        db_url: str, tmp_path: Path) -> None:
    env = {"DATABASE_URL": db_url, **_next_release(tmp_path)}
    refused = run_cli("install", "--core-only", "--json", env=env)
    assert refused.returncode == 2, refused.stderr
    error = json.loads(refused.stdout)["error"]
    assert error["code"] == "usage" and error["exit_status"] == 2
    assert "--core-only would upgrade the engines and leave the orchestrator behind" \
        in error["message"]
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("atlas-orch: error: the orchestrator is "
                                                   "installed here (with-core mode)")
    assert not _exists(db_url, "trapper.future_core_099")       # nothing ran
    # the engines alone, where the orchestrator is not, still upgrade with --core-only
    assert run_cli("uninstall", env=env).returncode == 0
    again = run_cli("install", "--core-only", "--json", env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["applied"] == ["core/099_future.sql"]


def test_a_new_database_given_no_mode_is_installed_in_shadow_mode(
        empty_db_url: str) -> None:
    conn_mode = anyio.run(_installed_mode, empty_db_url)
    assert conn_mode is None
    done = run_cli("install", "--json", env={"DATABASE_URL": empty_db_url})
    assert done.returncode == 1                          # shadow: the engines are missing
    assert "install the engines first (or use --with-core)" in json.loads(
        done.stdout)["error"]["message"]


async def _installed_mode(url: str) -> str | None:
    conn = await asyncpg.connect(url)
    try:
        return await migrations.installed_mode(conn)
    finally:
        await conn.close()
