"""Definition files re-applied when they change, and upgrades from databases installed before
the SQL had one definition per object (docs/operations.md, "Installing and uninstalling")."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import anyio
import asyncpg
import pytest

from listener.core.errors import MigrationError
from listener.schema import migrations
from tests.conftest import REPO, run_cli
from tests.pg import Server, pg_dump_binary

# main just before the functions, views and triggers moved out of the numbered migrations:
# the SQL (and the installer) that existing databases were built with.
BEFORE_ONE_DEFINITION = "d14eef30c632fd9e734fc0eea78ec7ac29c64440"


def _git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", REPO, *args], capture_output=True, check=False)


def _tree_before(tmp_path: Path) -> Path:
    """The installer and SQL of BEFORE_ONE_DEFINITION, from git; skips without the history
    (a source tarball, a shallow clone)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed: the old SQL comes from the repository's history")
    if _git("cat-file", "-e", f"{BEFORE_ONE_DEFINITION}^{{commit}}").returncode != 0:
        pytest.skip(f"commit {BEFORE_ONE_DEFINITION[:12]} is not in this checkout's history")
    archive = _git("archive", "--format=tar", BEFORE_ONE_DEFINITION,
                   "listener", "webhooks", "synthetic", "sql")
    assert archive.returncode == 0, archive.stderr.decode()
    tree = tmp_path / "before"
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(tree, filter="data")
    return tree


def _install_with(tree: Path, url: str) -> None:
    """`atlas-orch install --with-core` as that tree's own code ran it."""
    code = f"import sys; sys.path.insert(0, {str(tree)!r}); from listener.cli import cli; cli()"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATLAS_ORCH_", "DATABASE_"))}
    env.update(DATABASE_URL=url, ATLAS_ORCH_SQL_DIR=str(tree / "sql"))
    done = subprocess.run([sys.executable, "-c", code, "install", "--with-core"],
                          capture_output=True, text=True, env=env, cwd=tree, timeout=300)
    assert done.returncode == 0, done.stderr


def _schema(url: str) -> str:
    """pg_dump --schema-only: tables, columns, indexes, constraints, functions with their
    bodies, views, triggers (with their enabled state). Left out: pg_dump's per-run restrict
    key, and column options named pg_attver, which some servers stamp on every column with a
    value of their own per database."""

    async def major() -> int:
        conn = await asyncpg.connect(url)
        try:
            return int(await conn.fetchval("SHOW server_version_num")) // 10000
        finally:
            await conn.close()

    dump = subprocess.run(
        [pg_dump_binary(anyio.run(major)), "--schema-only", "--no-owner", "-d", url],
        capture_output=True, text=True, check=True,
    ).stdout
    return "\n".join(line for line in dump.splitlines()
                     if not line.startswith(("\\restrict", "\\unrestrict"))
                     and "SET (pg_attver=" not in line)


async def _records(url: str) -> list[tuple[str, ...]]:
    """What the installer recorded: every file with its checksum, every orchestrator object."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT 'core' AS layer, name, checksum FROM trapper.core_migrations UNION ALL "
            "SELECT layer, name, checksum FROM trapper.orchestrator_migrations UNION ALL "
            "SELECT 'object', object_type, object_identity FROM trapper.orchestrator_objects "
            "ORDER BY 1, 2, 3")
    finally:
        await conn.close()
    return [tuple(r) for r in rows]


def test_an_upgrade_from_main_matches_a_fresh_install(tmp_path: Path, pg: Server) -> None:
    tree = _tree_before(tmp_path)
    old, fresh = pg.create(), pg.create()
    try:
        _install_with(tree, pg.url(old))
        anyio.run(_upgrade_and_check, pg.url(old), tree)
        anyio.run(_install_fresh, pg.url(fresh))
        assert _schema(pg.url(old)) == _schema(pg.url(fresh))
        assert anyio.run(_records, pg.url(old)) == anyio.run(_records, pg.url(fresh))
        anyio.run(_uninstall_all, pg.url(old))
    finally:
        pg.drop(old)
        pg.drop(fresh)


async def _upgrade_and_check(url: str, tree: Path) -> None:
    """The new installer on a database the old one built: rewritten migrations, new
    definition files and the numbered migrations written since, never an edited one;
    afterwards nothing differs and nothing is left."""
    conn = await asyncpg.connect(url)
    try:
        before = await migrations.verify(conn)
        assert "core/005_identity.sql: rewritten" in before
        assert "core/functions/identity.sql: pending" in before
        assert not [p for p in before if p.startswith("orchestrator/001_backbone.sql")]
        assert not [p for p in before if p.endswith(": edited")], before
        upgraded = await migrations.install(conn, "with-core", progress=False)
        assert upgraded
        # a numbered migration runs only if the old tree did not have it
        assert not [m.label for m in upgraded if m.kind != migrations.DEFINITION
                    and (tree / "sql" / m.layer / m.name).exists()]
        assert await migrations.verify(conn) == []
        assert await migrations.install(conn, "with-core", progress=False) == []
    finally:
        await conn.close()


async def _install_fresh(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await migrations.install(conn, "with-core", progress=False)
    finally:
        await conn.close()


async def _uninstall_all(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        assert await migrations.uninstall(conn)
        assert await conn.fetchval(
            "SELECT count(*) FROM pg_proc WHERE proname LIKE 'orchestrator\\_%'") == 0
    finally:
        await conn.close()


@pytest.fixture
def sql_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the SQL files that the installer reads instead, for a test to edit."""
    copy = tmp_path / "sql"
    shutil.copytree(migrations.sql_root(), copy)
    monkeypatch.setenv("ATLAS_ORCH_SQL_DIR", str(copy))
    return copy


def _add_view_file(sql_dir: Path, layer: str, name: str, view: str, select: str) -> None:
    """A new definition file making one view, listed last in its layer's order."""
    (sql_dir / layer / "views" / name).write_text(
        f"CREATE OR REPLACE VIEW trapper.{view} AS\n{select};\n")
    with (sql_dir / layer / "order.txt").open("a") as order:
        order.write(f"views/{name}\n")


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, f"{path} no longer holds {old!r}"
    path.write_text(text.replace(old, new, 1))


@pytest.mark.anyio
async def test_an_edited_definition_is_to_re_apply_and_only_it_runs(
    db_url: str, sql_dir: Path
) -> None:
    _edit(sql_dir / "orchestrator" / "functions" / "replay.sql",
          "    v_out jsonb;\n", "    v_out jsonb;  -- edited\n")
    conn = await asyncpg.connect(db_url)
    try:
        assert await migrations.verify(conn) == ["orchestrator/functions/replay.sql: to re-apply"]
        applied = await migrations.install(conn, "with-core", progress=False)
        assert [m.label for m in applied] == ["orchestrator/functions/replay.sql"]
        body = await conn.fetchval(
            "SELECT prosrc FROM pg_proc WHERE proname = 'orchestrator_run_processor'")
        assert "-- edited" in body
        assert await migrations.verify(conn) == []
    finally:
        await conn.close()
    listed = run_cli("install", "--list", "--json",
                     env={"DATABASE_URL": db_url, "ATLAS_ORCH_SQL_DIR": str(sql_dir)})
    states = {(r["layer"], r["migration"]): r["state"] for r in json.loads(listed.stdout)}
    assert states[("orchestrator", "functions/replay.sql")] == "applied"


@pytest.mark.anyio
async def test_a_view_whose_columns_change_is_made_again_with_the_views_reading_it(
    db_url: str, sql_dir: Path
) -> None:
    # a second view file of the layer reading a view of health.sql
    _add_view_file(sql_dir, "orchestrator", "health_report.sql", "v_orchestrator_health_report",
                   "SELECT source_system, source_table, health_status "
                   "FROM trapper.v_orchestrator_health")
    conn = await asyncpg.connect(db_url)
    try:
        await migrations.install(conn, "with-core", progress=False)
        _edit(sql_dir / "orchestrator" / "views" / "health.sql",
              "r.rows_new, r.rows_rejected, r.source_file", "r.rows_new, r.source_file")
        applied = await migrations.install(conn, "with-core", progress=False)
        assert [m.name for m in applied] == ["views/health.sql", "views/health_report.sql"]
        columns = await conn.fetch(
            "SELECT attname FROM pg_attribute WHERE attrelid = $1::regclass AND attnum > 0",
            "trapper.v_orchestrator_last_ingest")
        assert "rows_rejected" not in {r["attname"] for r in columns}
        assert await conn.fetchval(
            "SELECT count(*) FROM trapper.v_orchestrator_health_report") > 0
        assert await migrations.verify(conn) == []

        # a view that is not the layer's (a host's report) is never dropped for it
        await conn.execute("CREATE VIEW public.my_health AS "
                           "SELECT * FROM trapper.v_orchestrator_last_ingest")
        _edit(sql_dir / "orchestrator" / "views" / "health.sql",
              "r.rows_new, r.source_file", "r.source_file")
        with pytest.raises(MigrationError, match=r"public\.my_health read"):
            await migrations.install(conn, "with-core", progress=False)
        assert await conn.fetchval("SELECT count(*) FROM public.my_health") >= 0
        assert await migrations.verify(conn) == ["orchestrator/views/health.sql: to re-apply"]
        await conn.execute("DROP VIEW public.my_health")
        assert await migrations.uninstall(conn)
    finally:
        await conn.close()


@pytest.mark.anyio
async def test_re_applying_triggers_keeps_the_ones_switched_off(
    db_url: str, sql_dir: Path
) -> None:
    # the same triggers, re-applied: CREATE OR REPLACE TRIGGER would enable them all
    _edit(sql_dir / "triggers_shadow" / "triggers" / "entities.sql",
          "CREATE OR REPLACE TRIGGER orchestrator_person_insert",
          "-- edited\nCREATE OR REPLACE TRIGGER orchestrator_person_insert")
    states = ("SELECT tgname, tgenabled::text FROM pg_trigger "
              "WHERE tgname LIKE 'orchestrator\\_%' ORDER BY 1")
    conn = await asyncpg.connect(db_url)
    try:
        before = dict(await conn.fetch(states))
        assert before["orchestrator_person_insert"] == "D"  # poll capture (shadow 005)
        applied = await migrations.install(conn, "with-core", progress=False)
        assert [m.label for m in applied] == ["triggers_shadow/triggers/entities.sql"]
        assert dict(await conn.fetch(states)) == before
    finally:
        await conn.close()


@pytest.mark.anyio
async def test_verify_names_each_state_and_install_settles_them(
    db_url: str, sql_dir: Path
) -> None:
    earlier = sorted(migrations.superseded("core")["005_identity.sql"].earlier)[0]
    # a definition file renamed (its record is of a file that is gone), and a new one
    (sql_dir / "orchestrator" / "functions" / "replay.sql").rename(
        sql_dir / "orchestrator" / "functions" / "replaying.sql")
    _edit(sql_dir / "orchestrator" / "order.txt",
          "functions/replay.sql\n", "functions/replaying.sql\n")
    conn = await asyncpg.connect(db_url)
    try:
        applied_at = await conn.fetchval(
            "SELECT applied_at FROM trapper.core_migrations WHERE name = '005_identity.sql'")
        await conn.execute("UPDATE trapper.core_migrations SET checksum = $1 "
                           "WHERE name = '005_identity.sql'", earlier)
        assert sorted(await migrations.verify(conn)) == [
            "core/005_identity.sql: rewritten",
            "orchestrator/functions/replay.sql: missing-file",
            "orchestrator/functions/replaying.sql: pending",
        ]
        applied = await migrations.install(conn, "with-core", progress=False)
        assert [m.label for m in applied] == ["orchestrator/functions/replaying.sql"]
        assert await migrations.verify(conn) == []
        assert await conn.fetchval(
            "SELECT applied_at FROM trapper.core_migrations WHERE name = '005_identity.sql'"
        ) == applied_at
    finally:
        await conn.close()
    ok = run_cli("verify", env={"DATABASE_URL": db_url, "ATLAS_ORCH_SQL_DIR": str(sql_dir)})
    assert ok.returncode == 0, ok.stdout + ok.stderr


@pytest.mark.anyio
async def test_a_function_whose_result_type_changes_is_refused_with_the_way_out(
    db_url: str, sql_dir: Path
) -> None:
    _edit(sql_dir / "orchestrator" / "functions" / "replay.sql",
          "(p_staged_record_id bigint) RETURNS jsonb", "(p_staged_record_id bigint) RETURNS json")
    conn = await asyncpg.connect(db_url)
    try:
        with pytest.raises(MigrationError, match=r"functions/replay\.sql failed: cannot change "
                                                 r"return type.*DROP FUNCTION"):
            await migrations.install(conn, "with-core", progress=False)
        assert await migrations.verify(conn) == ["orchestrator/functions/replay.sql: to re-apply"]
    finally:
        await conn.close()


@pytest.mark.anyio
async def test_a_core_view_whose_columns_change_takes_the_orchestrator_views_reading_it(
    db_url: str, sql_dir: Path
) -> None:
    _add_view_file(sql_dir, "orchestrator", "dashboard_report.sql",
                   "v_orchestrator_dashboard_report",
                   "SELECT source_system, source_table, staged FROM trapper.v_processing_dashboard")
    conn = await asyncpg.connect(db_url)
    try:
        await migrations.install(conn, "with-core", progress=False)
        _edit(sql_dir / "core" / "views" / "processing_dashboard.sql",
              "          AND j.status = 'dead_letter') AS jobs_dead_letter\n",
              "          AND j.status = 'dead_letter') AS dead_letter_jobs\n")
        # shadow mode never touches the engines' objects
        assert await migrations.install(conn, "shadow", progress=False) == []
        applied = await migrations.install(conn, "with-core", progress=False)
        assert [m.label for m in applied] == ["core/views/processing_dashboard.sql",
                                              "orchestrator/views/dashboard_report.sql"]
        assert await conn.fetchval(
            "SELECT count(*) FROM trapper.v_orchestrator_dashboard_report") >= 0
        assert await migrations.verify(conn) == []
    finally:
        await conn.close()
