"""Ingest runs end and add up (issue 15): several files each standing alone, runs that fail
with their reason, runs whose process died marked abandoned, and the accounting CHECK."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import anyio
import asyncpg
import pytest

from listener.ingest.runs import mark_abandoned
from tests.conftest import REPO, run_cli
from tests.helpers import assert_accounted, execute, sql, val
from tests.listening import listen_once

# A trigger that fails one row the way a real database error would (a constraint, a full
# disk): an error nobody planned for, in the middle of a multi-file ingest.
BOOM = """
CREATE FUNCTION public.test_boom() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.payload ->> 'Name' = 'Boom' THEN
        RAISE EXCEPTION 'boom: the test trigger refused row %', NEW.source_row_id;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER test_boom BEFORE INSERT ON trapper.staged_records
    FOR EACH ROW EXECUTE FUNCTION public.test_boom();
"""


def csv_file(folder: Path, name: str, *rows: str) -> Path:
    path = folder / name
    path.write_text("ID,Name\n" + "".join(f"{r}\n" for r in rows))
    return path


def runs(url: str) -> list[dict]:
    return [dict(r) for r in sql(url, "SELECT * FROM trapper.ingest_runs "
                                      "ORDER BY ingest_run_id")]


def staged_ids(url: str) -> set[str]:
    return {r["source_row_id"] for r in sql(url, "SELECT source_row_id "
                                                 "FROM trapper.staged_records")}


# -- several files: each stands alone ------------------------------------------------------

def test_a_bad_file_in_the_middle_fails_alone(db_url: str, tmp_path: Path) -> None:
    a = csv_file(tmp_path, "a.csv", "1,Ann", "2,Bob")
    broken = tmp_path / "b.json"
    broken.write_bytes(b'{"records": [')
    missing = tmp_path / "gone.csv"
    execute(db_url, BOOM)
    boom = csv_file(tmp_path, "c.csv", "3,Cy", "4,Boom")
    d = csv_file(tmp_path, "d.csv", "5,Dee")
    result = run_cli("ingest", "test/people", *map(str, (a, broken, missing, boom, d)),
                     env={"DATABASE_URL": db_url})
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    # (test/people is registered nowhere: a note follows each completed file's line)
    lines = [ln for ln in result.stderr.strip().splitlines() if "note: " not in ln]
    # each file has its line, in order, then the totals
    assert "a.csv: read 2 = new 2 + duplicate 0 + rejected 0" in lines[0]
    assert "b.json: refused, nothing staged: not valid JSON" in lines[1]
    assert "gone.csv: refused, nothing staged: cannot read" in lines[2]
    assert any("c.csv: failed, nothing staged: RaiseError: boom" in ln for ln in lines[3:5])
    assert "d.csv: read 1 = new 1" in lines[-2]
    assert lines[-1].endswith("5 files: 2 completed, 3 failed")
    assert staged_ids(db_url) == {"1", "2", "5"}
    by_file = {r["source_file"]: r for r in runs(db_url)}
    assert set(by_file) == {"a.csv", "b.json", "c.csv", "d.csv"}   # gone.csv never began
    assert by_file["b.json"]["status"] == by_file["c.csv"]["status"] == "failed"
    assert "not valid JSON" in by_file["b.json"]["error"]
    assert by_file["c.csv"]["error"].startswith("RaiseError: boom")
    assert by_file["c.csv"]["rows_new"] == 0
    assert by_file["a.csv"]["status"] == by_file["d.csv"]["status"] == "completed"


def test_the_json_summary_lists_every_file(db_url: str, tmp_path: Path) -> None:
    a = csv_file(tmp_path, "a.csv", "1,Ann", "1,Ann", ",NoId")
    broken = tmp_path / "b.xlsx"
    broken.write_bytes(b"PK\x03\x04 not a workbook")
    result = run_cli("ingest", "test/people", str(a), str(broken), "--json",
                     env={"DATABASE_URL": db_url})
    assert result.returncode == 1
    doc = json.loads(result.stdout)
    assert (doc["ok"], doc["files"], doc["completed"], doc["failed"]) == (False, 2, 1, 1)
    ok, bad = doc["runs"]
    assert (ok["rows_read"], ok["rows_new"], ok["rows_duplicate"], ok["rows_rejected"]) == \
        (3, 1, 1, 1)
    assert_accounted(db_url, ok)
    assert bad["status"] == "failed" and bad["refused"] is True
    assert "not a readable spreadsheet" in bad["error"]
    assert bad["ingest_run_id"] == val(db_url, "SELECT ingest_run_id FROM trapper.ingest_runs "
                                               "WHERE status = 'failed'")
    assert (bad["rows_read"], bad["rows_new"]) == (0, 0)
    assert doc["refused"] == [f"test/people {broken}: refused, nothing staged: "
                              f"{bad['error']} [run {bad['ingest_run_id']}]"]
    assert "b.xlsx" in result.stderr and "Traceback" not in result.stderr


def test_a_manifest_with_a_bad_file_goes_on(db_url: str, tmp_path: Path) -> None:
    csv_file(tmp_path, "one.csv", "1,Ann")
    (tmp_path / "two.json").write_text("not json")
    csv_file(tmp_path, "three.csv", "3,Cy")
    (tmp_path / "manifest.json").write_text(json.dumps({"files": [
        {"path": name, "source_system": "test", "source_table": "people"}
        for name in ("one.csv", "two.json", "three.csv")]}))
    result = run_cli("ingest", "--manifest", str(tmp_path / "manifest.json"), "--json",
                     env={"DATABASE_URL": db_url})
    assert result.returncode == 1, result.stderr
    doc = json.loads(result.stdout)
    assert [r["status"] for r in doc["runs"]] == ["completed", "failed", "completed"]
    assert staged_ids(db_url) == {"1", "3"}


def test_every_file_fine_exits_0_with_one_line_each(db_url: str, tmp_path: Path) -> None:
    a = csv_file(tmp_path, "a.csv", "1,Ann")
    b = csv_file(tmp_path, "b.csv", "2,Bob")
    result = run_cli("ingest", "test/people", str(a), str(b), env={"DATABASE_URL": db_url})
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip().splitlines()[-1].endswith("2 files: 2 completed, 0 failed")


def test_records_key_and_limits_reach_the_readers(db_url: str, tmp_path: Path) -> None:
    f = tmp_path / "a.json"
    f.write_text('{"data": [{"id": "1", "n": {"a": {"b": 1}}}], "meta": [{"x": 1}]}')
    env = {"DATABASE_URL": db_url}
    # two arrays: refused naming the keys, unless --records-key names one
    refused = run_cli("ingest", "test/people", str(f), env=env)
    assert refused.returncode == 1 and "data" in refused.stderr and "meta" in refused.stderr
    shallow = run_cli("ingest", "test/people", str(f), "--records-key", "data",
                      "--max-json-depth", "2", "--json", env=env)
    assert shallow.returncode == 0, shallow.stderr
    run = json.loads(shallow.stdout)["runs"][0]
    assert run["rows_rejected"] == 1 and run["rejects_by_reason"] == {"too_deep": 1}
    deep_enough = run_cli("ingest", "test/people", str(f), "--records-key", "data",
                          "--max-json-depth", "3", "--json", env=env)
    assert deep_enough.returncode == 0, deep_enough.stderr
    assert json.loads(deep_enough.stdout)["runs"][0]["rows_new"] == 1
    bad = run_cli("ingest", "test/people", str(f), "--max-sheet-rows", "0", env=env)
    assert bad.returncode == 2


# -- the accounting rule, held by the database --------------------------------------------

def test_a_completed_run_that_does_not_add_up_is_refused(db_url: str) -> None:
    run = val(db_url, "INSERT INTO trapper.ingest_runs (source_system, source_table) "
                      "VALUES ('test', 'people') RETURNING ingest_run_id")
    with pytest.raises(asyncpg.CheckViolationError, match="ingest_runs_accounting"):
        sql(db_url, "UPDATE trapper.ingest_runs SET status = 'completed', rows_read = 5, "
                    "rows_new = 3, rows_duplicate = 1 WHERE ingest_run_id = $1", run)
    sql(db_url, "UPDATE trapper.ingest_runs SET status = 'completed', rows_read = 5, "
                "rows_new = 3, rows_duplicate = 1, rows_merged = 1 WHERE ingest_run_id = $1",
        run)
    with pytest.raises(asyncpg.CheckViolationError, match="ingest_runs_failure_has_reason"):
        sql(db_url, "INSERT INTO trapper.ingest_runs (source_system, source_table, status) "
                    "VALUES ('test', 'people', 'failed')")


@pytest.mark.parametrize("code", ["unbalanced_quote", "lone_surrogate", "too_deep"])
def test_the_readers_new_reject_codes_are_stored(db_url: str, code: str) -> None:
    run = val(db_url, "INSERT INTO trapper.ingest_runs (source_system, source_table) "
                      "VALUES ('test', 'people') RETURNING ingest_run_id")
    sql(db_url, "INSERT INTO trapper.ingest_rejects (ingest_run_id, source_system, "
                "source_table, row_number, reason_code, reason, raw) "
                "VALUES ($1, 'test', 'people', 7, $2, 'why', '\\x22'::bytea)", run, code)


# -- runs whose process died ---------------------------------------------------------------

LOCK_CLASS = 1229866834   # sql/core/011: trapper.ingest_run_lock_keys


@dataclass
class Interrupted:
    run_id: int
    proc: subprocess.Popen[str]


async def _wait(predicate_sql: str, conn: asyncpg.Connection, what: str, *args: object,
                timeout: float = 30) -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = await conn.fetchval(predicate_sql, *args)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await anyio.sleep(0.05)


def interrupt_ingest(url: str, how: str, *files: Path) -> Interrupted:
    """Start ``atlas-orch ingest`` of ``files`` as a real process, hold it at its COPY (the
    staging table locked), then end it: SIGKILL or SIGINT the process, or
    pg_terminate_backend its session. Returns once the first file's run has let go of its
    lock."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "ATLAS_ORCH_DATABASE_URL")}
    env["DATABASE_URL"] = url

    async def go() -> Interrupted:
        locker = await asyncpg.connect(url)
        try:
            await locker.execute("BEGIN; LOCK TABLE trapper.staged_records IN EXCLUSIVE MODE")
            proc = subprocess.Popen(
                [sys.executable, "-m", "listener", "ingest", "test/people",
                 *map(str, files), "--no-progress"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=REPO,
                stdin=subprocess.DEVNULL)
            # watched from outside the locker's transaction: its first look at
            # pg_stat_activity would stay its snapshot until it ends (a wait that began
            # before the ingest connected never ended)
            watcher = await asyncpg.connect(url)
            try:
                pid = await _wait("""
                    SELECT r.backend_pid FROM trapper.ingest_runs r
                    JOIN pg_stat_activity a ON a.pid = r.backend_pid
                    WHERE r.status = 'running' AND a.wait_event_type = 'Lock'""", watcher,
                                  "the ingest to wait at its COPY")
            finally:
                await watcher.close()
            run_id = await locker.fetchval("SELECT ingest_run_id FROM trapper.ingest_runs "
                                           "WHERE status = 'running'")
            # alive: its lock is held, so no marker touches it
            assert await locker.fetch("SELECT * FROM trapper.ingest_mark_abandoned()") == []
            if how in ("sigkill", "sigint"):
                proc.send_signal(signal.SIGKILL if how == "sigkill" else signal.SIGINT)
                if how == "sigkill":
                    proc.communicate(timeout=10)   # reaped, its pipes closed
            else:
                assert await locker.fetchval("SELECT pg_terminate_backend($1)", pid)
            await locker.execute("ROLLBACK")
            await _wait("""SELECT NOT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory'
                                              AND classid = $1 AND objid = $2)""",
                        locker, "the killed session to end", LOCK_CLASS, run_id)
            return Interrupted(run_id, proc)
        finally:
            await locker.close()

    return anyio.run(go)


def status(url: str, run_id: int) -> str:
    return str(val(url, "SELECT status FROM trapper.ingest_runs WHERE ingest_run_id = $1",
                   run_id))


@pytest.mark.parametrize("marker", ["next ingest", "verify", "listener"])
def test_a_killed_ingest_is_marked_abandoned(db_url: str, tmp_path: Path, marker: str) -> None:
    killed = interrupt_ingest(db_url, "sigkill", csv_file(tmp_path, "a.csv", "1,Ann"))
    assert killed.proc.returncode == -signal.SIGKILL
    assert status(db_url, killed.run_id) == "running"    # nobody has looked yet
    env = {"DATABASE_URL": db_url}
    if marker == "next ingest":
        again = run_cli("ingest", "test/people", str(csv_file(tmp_path, "b.csv", "2,Bob")),
                        env=env)
        assert again.returncode == 0, again.stderr
        assert f"ingest run {killed.run_id} (test/people a.csv) marked abandoned" \
            in again.stderr
    elif marker == "verify":
        checked = run_cli("verify", "--json", env=env)
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert [r["ingest_run_id"] for r in json.loads(checked.stdout)["abandoned_runs"]] \
            == [killed.run_id]
    else:
        assert listen_once(db_url).ingest_runs_abandoned == 1
        anomaly = sql(db_url, "SELECT * FROM trapper.orchestrator_anomalies "
                              "WHERE anomaly_key = 'ingest_failed:test/people'")
        assert anomaly and anomaly[0]["resolved_at"] is None
        assert "abandoned" in anomaly[0]["summary"]
    run = sql(db_url, "SELECT * FROM trapper.ingest_runs WHERE ingest_run_id = $1",
              killed.run_id)[0]
    assert run["status"] == "abandoned" and run["finished_at"] is not None
    assert "ended before the run finished" in run["error"]
    assert val(db_url, "SELECT count(*) FROM trapper.staged_records "
                       "WHERE ingest_run_id = $1", killed.run_id) == 0
    # marked once: a second look finds nothing
    assert anyio.run(_mark, db_url) == []


async def _mark(url: str) -> list[int]:
    conn = await asyncpg.connect(url)
    try:
        return [r.ingest_run_id for r in await mark_abandoned(conn)]
    finally:
        await conn.close()


def test_a_terminated_session_is_abandoned_and_the_next_file_goes_in(
    db_url: str, tmp_path: Path
) -> None:
    first = csv_file(tmp_path, "a.csv", "1,Ann")
    second = csv_file(tmp_path, "b.csv", "2,Bob")
    cut = interrupt_ingest(db_url, "terminate", first, second)
    _, stderr = cut.proc.communicate(timeout=60)
    assert cut.proc.returncode == 1, stderr
    assert "Traceback" not in stderr
    lines = [ln for ln in stderr.splitlines() if ln.startswith("atlas-orch: ")]
    assert "a.csv: failed, nothing staged:" in lines[0]
    assert "terminating connection due to administrator command" in lines[0]   # the cause
    # the same command, on a new connection, marked the cut run before its next file
    assert f"ingest run {cut.run_id} (test/people a.csv) marked abandoned" in lines[1]
    assert "b.csv: read 1 = new 1" in lines[2]
    assert lines[-1].endswith("2 files: 1 completed, 1 failed")
    assert status(db_url, cut.run_id) == "abandoned"
    assert staged_ids(db_url) == {"2"}


def test_ctrl_c_fails_the_run_in_hand_and_exits_130(db_url: str, tmp_path: Path) -> None:
    stopped = interrupt_ingest(db_url, "sigint", csv_file(tmp_path, "a.csv", "1,Ann"))
    _, stderr = stopped.proc.communicate(timeout=60)
    assert stopped.proc.returncode == 130 and "Traceback" not in stderr, stderr
    run = sql(db_url, "SELECT status, error FROM trapper.ingest_runs")[0]
    assert run["status"] == "failed" and run["error"].startswith("interrupted")
    assert val(db_url, "SELECT count(*) FROM trapper.staged_records") == 0


def test_a_run_that_took_no_lock_is_never_marked(db_url: str) -> None:
    # a run written by another tool (no backend_pid): only its writer knows when it ends
    run = val(db_url, "INSERT INTO trapper.ingest_runs (source_system, source_table) "
                      "VALUES ('test', 'people') RETURNING ingest_run_id")
    assert anyio.run(_mark, db_url) == []
    assert status(db_url, run) == "running"
