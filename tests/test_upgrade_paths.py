"""Upgrading a production database an earlier release installed and loaded (docs/operations.md,
"Upgrading"): that release's own code installs, loads the small world, processes and reviews;
this release's `install` upgrades it; nothing is lost, duplicated or left inconsistent, the
commands work on the old rows and on new ones, an upgrade killed half-way or run twice at once
ends the same, and `uninstall` leaves the host as it was. The old code comes from git history
(skips where it is not there, as tests/test_install_definitions.py does)."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.conftest import REPO, run_cli
from tests.helpers import execute, sql, val
from tests.pg import Server

# main a day before this test was written (the review queue, the partitioned logs) and main
# five days before (no review queue, the logs not yet partitioned, 102 files behind)
A_DAY_BEFORE = "91e0c3a97b24752052ef421fc2fbc10b83bbf5f5"
DAYS_BEFORE = "830b9ae18139ff81a0825a3f8241457cdc18db8d"
# the first release with `demo`, whose shadow 002 and 003 main edited an hour later: refused
# as "edited" until triggers_shadow/superseded.toml listed them (orchestrator 024 drops what
# their functions left)
FIRST_DEMO = "1de08d7f7797ae64348615cc21ac5747f0123e5a"

# what an upgrade must keep, row for row
COUNTS = {
    "staged": "SELECT count(*) FROM trapper.staged_records",
    "staged_unprocessed": "SELECT count(*) FROM trapper.staged_records WHERE processed_at IS NULL",
    "people": "SELECT count(*) FROM trapper.sot_people",
    "people_live": "SELECT count(*) FROM trapper.sot_people WHERE merged_into_person_id IS NULL",
    "places": "SELECT count(*) FROM trapper.places",
    "places_live": "SELECT count(*) FROM trapper.places WHERE merged_into_place_id IS NULL",
    "cats": "SELECT count(*) FROM trapper.sot_cats",
    # by the person each identifier stands for: core 047 moves a merged-away person's
    # identifiers to the survivor, dropping those the survivor holds too
    "person_identifiers": "SELECT count(DISTINCT (coalesce(p.merged_into_person_id, "
                          "p.person_id), i.id_type, i.id_value_norm)) "
                          "FROM trapper.person_identifiers i "
                          "JOIN trapper.sot_people p USING (person_id)",
    "match_decisions": "SELECT count(*) FROM trapper.data_engine_match_decisions",
    "job_log": "SELECT count(*) FROM trapper.orchestrator_job_log",
    "events": "SELECT count(*) FROM trapper.orchestrator_events",
    "jobs": "SELECT count(*) FROM trapper.processing_jobs",
    "ingest_runs": "SELECT count(*) FROM trapper.ingest_runs",
}

# what no upgrade may leave: two live places under one key, a merge pointing at nothing live,
# a staged record twice
BROKEN = {
    "places_sharing_a_key":
        "SELECT count(*) FROM (SELECT address_key FROM trapper.places "
        "WHERE merged_into_place_id IS NULL AND address_key IS NOT NULL "
        "GROUP BY 1 HAVING count(*) > 1) x",
    "place_merged_into_no_live_place":
        "SELECT count(*) FROM trapper.places p WHERE p.merged_into_place_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM trapper.places q WHERE q.place_id = "
        "p.merged_into_place_id AND q.merged_into_place_id IS NULL)",
    "person_merged_into_no_live_person":
        "SELECT count(*) FROM trapper.sot_people p WHERE p.merged_into_person_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM trapper.sot_people q WHERE q.person_id = "
        "p.merged_into_person_id AND q.merged_into_person_id IS NULL)",
    "staged_twice":
        "SELECT count(*) FROM (SELECT 1 FROM trapper.staged_records GROUP BY source_system, "
        "source_table, source_row_id, row_hash HAVING count(*) > 1) x",
}


def _git(*args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(["git", "-C", REPO, *args], capture_output=True, check=False)


def _old_tree(commit: str, tmp_path: Path) -> Path:
    """That commit's code and SQL, from git; skips without the history."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed: the old release comes from the repository's history")
    if _git("cat-file", "-e", f"{commit}^{{commit}}").returncode != 0:
        pytest.skip(f"commit {commit[:12]} is not in this checkout's history")
    archive = _git("archive", "--format=tar", commit, "listener", "webhooks", "synthetic", "sql")
    assert archive.returncode == 0, archive.stderr.decode()
    tree = tmp_path / f"old-{commit[:8]}"
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(tree, filter="data")
    return tree


def _old_cli(tree: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    """`atlas-orch ARGS` as the old release's own code ran it."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ATLAS_ORCH_", "DATABASE_"))}
    env.update(DATABASE_URL=url, ATLAS_ORCH_SQL_DIR=str(tree / "sql"), PYTHONPATH=str(tree))
    done = subprocess.run([sys.executable, "-m", "listener", *args], capture_output=True,
                          text=True, env=env, cwd=tree, timeout=300, stdin=subprocess.DEVNULL)
    assert done.returncode == 0, (args, done.stderr[-2000:])
    return done


def _load_with_old(tree: Path, url: str, tmp_path: Path, *, mode: str = "--with-core") -> None:
    """The old release installed, the small world it generates ingested, processed and
    listened to, and two people merged (by the review queue where it had one)."""
    _old_cli(tree, url, "install", mode)
    world = tmp_path / f"world-{tree.name}"
    _old_cli(tree, url, "demo", "generate", "--out", str(world))
    _old_cli(tree, url, "ingest", "--manifest", str(world / "manifest.json"), "--no-progress")
    _old_cli(tree, url, "process")
    has_review = "review" in _old_cli(tree, url, "--help").stdout
    pending = json.loads(_old_cli(tree, url, "review", "list", "--json").stdout) \
        if has_review else []
    if pending:
        _old_cli(tree, url, "review", "merge", str(pending[0]["decision_id"]),
                 "--note", "before the upgrade")
    else:
        execute(url, "UPDATE trapper.sot_people SET merged_into_person_id = "
                     "(SELECT person_id FROM trapper.sot_people ORDER BY person_id LIMIT 1) "
                     "WHERE person_id = (SELECT person_id FROM trapper.sot_people "
                     "ORDER BY person_id OFFSET 1 LIMIT 1)")
    _old_cli(tree, url, "listen", "--once")


def _counts(url: str) -> dict[str, int]:
    return {name: val(url, query) for name, query in COUNTS.items()}


def _broken(url: str) -> dict[str, int]:
    return {name: n for name, query in BROKEN.items() if (n := val(url, query))}


def _ok(done: subprocess.CompletedProcess[str]) -> subprocess.CompletedProcess[str]:
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.mark.parametrize("commit", [A_DAY_BEFORE, DAYS_BEFORE, FIRST_DEMO])
def test_an_earlier_release_s_loaded_database_upgrades_whole(
        commit: str, tmp_path: Path, pg: Server, world: Path) -> None:
    tree = _old_tree(commit, tmp_path)
    name = pg.create()
    url = pg.url(name)
    try:
        _load_with_old(tree, url, tmp_path)
        before = _counts(url)
        env = {"DATABASE_URL": url}
        said = _ok(run_cli("install", env=env))
        assert "no mode given: with-core, the mode installed here" in said.stderr
        _ok(run_cli("verify", env=env))
        assert _counts(url) == before
        assert _broken(url) == {}

        # more data with this release: the old world sent again (all duplicates), a new one
        old_world = tmp_path / f"world-{tree.name}" / "manifest.json"
        _ok(run_cli("ingest", "--manifest", str(old_world), "--no-progress", env=env))
        assert val(url, COUNTS["staged"]) == before["staged"]
        _ok(run_cli("ingest", "--manifest", str(world / "manifest.json"), "--no-progress",
                    env=env))
        _ok(run_cli("process", env=env))
        _ok(run_cli("listen", "--once", env=env))
        after = _counts(url)
        assert after["staged"] > before["staged"] and after["staged_unprocessed"] == 0
        assert after["job_log"] > before["job_log"]
        assert _broken(url) == {}

        for command in (["health"], ["why-missing"], ["sources"], ["review", "list"]):
            _ok(run_cli(*command, env=env))
        old_id, new_id = (sql(url, "SELECT source_system || '/' || source_table || '/' || "
                                   "source_row_id AS r FROM trapper.staged_records "
                                   f"WHERE ingest_run_id {op} $1 AND source_table = "
                                   "'owner_info' ORDER BY id LIMIT 1",
                              before["ingest_runs"])[0]["r"] for op in ("<=", ">"))
        for record in (old_id, new_id):
            assert "staged" in _ok(run_cli("replay", record, env=env)).stdout
            _ok(run_cli("replay", "--reprocess", record, env=env))
            _ok(run_cli("why-missing", record, env=env))
        oldest, newest = (val(url, f"SELECT person_id::text FROM trapper.sot_people "
                                   f"WHERE merged_into_person_id IS NULL "
                                   f"ORDER BY created_at {way}, person_id LIMIT 1")
                          for way in ("ASC", "DESC"))
        _ok(run_cli("explain", "person", oldest, newest, env=env))
        merged = val(url, "SELECT person_id::text FROM trapper.sot_people "
                          "WHERE merged_into_person_id IS NOT NULL LIMIT 1")
        _ok(run_cli("explain", "person", merged, env=env))
        place = val(url, "SELECT place_id::text FROM trapper.places ORDER BY created_at LIMIT 1")
        _ok(run_cli("explain", "place", place, env=env))

        staged = val(url, COUNTS["staged"])
        _ok(run_cli("uninstall", env=env))
        assert val(url, COUNTS["staged"]) == staged            # the engines' data stays
        # what is left is this release's engines, as a fresh install of them has them
        fresh = pg.create("core")
        try:
            assert _catalog(url) == _catalog(pg.url(fresh))
        finally:
            pg.drop(fresh)
    finally:
        pg.drop(name)


def test_a_command_of_this_release_on_an_earlier_release_s_database_says_to_install(
        tmp_path: Path, pg: Server) -> None:
    # between installing the new package and running its install: health stopped on
    # "internal error (KeyError: 'worst_anomaly'); this is a bug", an ingest failed each file
    # on a missing column, the listener on a missing function, none saying to upgrade
    tree = _old_tree(A_DAY_BEFORE, tmp_path)
    name = pg.create()
    url = pg.url(name)
    try:
        _old_cli(tree, url, "install", "--with-core")
        env = {"DATABASE_URL": url}
        csv = tmp_path / "owners.csv"
        csv.write_text("Owner ID,Email,First Name,Last Name\nPL1,ann@example.org,Ann,Lee\n")
        for command in (["health", "--json"], ["listen", "--once", "--json"],
                        ["ingest", "petlink/owners", str(csv), "--json"],
                        ["why-missing", "--json"], ["process", "--json"]):
            done = run_cli(*command, env=env)
            assert done.returncode == 1, (command, done.stderr)
            # the error document is the last thing on stdout
            error = json.loads(done.stdout[done.stdout.rindex('{\n  "ok": false'):])["error"]
            assert error["code"] == "not_upgraded", (command, error)
            assert "installed by an earlier release" in error["message"]
            assert "run `atlas-orch install` to upgrade it" in error["message"]
        assert val(url, "SELECT count(*) FROM trapper.staged_records") == 0  # nothing ran
        # what tells how far it is, and what upgrades it, still run
        assert run_cli("verify", env=env).returncode == 1
        _ok(run_cli("install", "--list", env=env))
        _ok(run_cli("install", env=env))
        _ok(run_cli("health", env=env))
        _ok(run_cli("ingest", "petlink/owners", str(csv), env=env))
    finally:
        pg.drop(name)


def test_an_upgrade_killed_half_way_then_run_again(tmp_path: Path, pg: Server) -> None:
    tree = _old_tree(A_DAY_BEFORE, tmp_path)
    name = pg.create()
    url = pg.url(name)
    try:
        _load_with_old(tree, url, tmp_path)
        before = _counts(url)
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
        env["DATABASE_URL"] = url
        upgrade = subprocess.Popen([sys.executable, "-m", "listener", "install"], cwd=REPO,
                                   env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                   text=True)
        assert upgrade.stderr is not None
        # killed once it is past the engines, inside the orchestrator's files
        for line in upgrade.stderr:
            if "applying orchestrator/" in line or "re-applying orchestrator/" in line:
                break
        upgrade.kill()
        upgrade.wait()
        upgrade.stderr.close()
        assert run_cli("verify", env={"DATABASE_URL": url}).returncode == 1   # nothing kept
        assert _counts(url) == before
        _ok(run_cli("install", env={"DATABASE_URL": url}))
        _ok(run_cli("verify", env={"DATABASE_URL": url}))
        assert _counts(url) == before
        assert _broken(url) == {}
    finally:
        pg.drop(name)


def test_two_upgrades_at_once(tmp_path: Path, pg: Server) -> None:
    tree = _old_tree(A_DAY_BEFORE, tmp_path)
    name = pg.create()
    url = pg.url(name)
    try:
        _load_with_old(tree, url, tmp_path)
        before = _counts(url)
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
        env["DATABASE_URL"] = url
        both = [subprocess.Popen([sys.executable, "-m", "listener", "install", "--json"],
                                 cwd=REPO, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True) for _ in range(2)]
        docs = []
        for p in both:
            out, err = p.communicate(timeout=300)
            assert p.returncode == 0, err
            docs.append(json.loads(out))
        applied = [set(d["applied"]) for d in docs]
        assert sorted(map(len, applied))[0] == 0           # the second found nothing to do
        _ok(run_cli("verify", env={"DATABASE_URL": url}))
        assert _counts(url) == before
    finally:
        pg.drop(name)


def _catalog(url: str) -> list[tuple[str, str]]:
    """Every object of the trapper schema with its definition where it has one."""
    rows = sql(url, """
        SELECT c.relkind::text || ' ' || c.relname AS o,
               coalesce(pg_get_viewdef(c.oid), '') ||
               coalesce((SELECT string_agg(a.attname || ' ' || format_type(a.atttypid,
                         a.atttypmod), ', ' ORDER BY a.attnum) FROM pg_attribute a
                         WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
                        '') AS d
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'trapper'
        UNION ALL
        SELECT 'function ' || p.oid::regprocedure::text, md5(p.prosrc)
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = 'trapper'
        UNION ALL
        SELECT 'trigger ' || t.tgname || ' on ' || t.tgrelid::regclass::text,
               pg_get_triggerdef(t.oid)
          FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = 'trapper' AND NOT t.tgisinternal
        ORDER BY 1, 2""")
    return [(r["o"], r["d"]) for r in rows]


def test_a_shadow_install_of_an_earlier_release_onto_older_engines(
        tmp_path: Path, pg: Server) -> None:
    """The host's engines are the host's: where they are older than this release reads, the
    upgrade is refused naming what is missing and changes nothing; the old release keeps
    working, and this release's uninstall leaves the host's catalog as it was before."""
    tree = _old_tree(A_DAY_BEFORE, tmp_path)
    name = pg.create()
    url = pg.url(name)
    try:
        _old_cli(tree, url, "install", "--core-only")
        execute(url, "DROP TABLE trapper.core_migrations")      # the host's engines, not ours
        host = _catalog(url)
        _old_cli(tree, url, "install")
        world = tmp_path / "shadow-world"
        _old_cli(tree, url, "demo", "generate", "--out", str(world))
        _old_cli(tree, url, "ingest", "--manifest", str(world / "manifest.json"),
                 "--no-progress")
        _old_cli(tree, url, "process")
        _old_cli(tree, url, "listen", "--once")
        before = _counts(url)
        env = {"DATABASE_URL": url}
        refused = run_cli("install", env=env)
        assert refused.returncode == 1
        assert "no mode given: shadow, the mode installed here" in refused.stderr
        assert "install the engines first" in refused.stderr
        assert "the install changed nothing" in refused.stderr
        assert _counts(url) == before
        _old_cli(tree, url, "listen", "--once")                 # the old release still runs
        _ok(run_cli("uninstall", env=env))
        assert _catalog(url) == host
        assert val(url, COUNTS["staged"]) == before["staged"]
    finally:
        pg.drop(name)
