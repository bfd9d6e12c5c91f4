"""``atlas-orch ingest --jobs N`` (issue 17, the load's speed): files read at once in lanes of
their own. Two lanes stage exactly what one lane stages; a source table's files keep their
order; a file that fails in one lane stops neither lane; Ctrl-C fails the runs in hand."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest

from listener.ingest.batch import PlannedFile, plan_lanes
from tests.conftest import REPO, _fresh, run_cli
from tests.helpers import execute, sql, val
from tests.pg import Server
from tests.test_ingest_runs import BOOM, _wait, csv_file

# A load without its ids (serials and timings differ from load to load, nothing else may)
STAGED = """SELECT source_system, source_table, source_row_id, row_hash, source_file,
                   payload::text FROM trapper.staged_records"""
RUNS = """SELECT source_system, source_table, source_file, file_sha256, status, error,
                 rows_read, rows_new, rows_duplicate, rows_rejected, rows_merged
          FROM trapper.ingest_runs"""
REJECTS = """SELECT r.source_system, r.source_table, r.source_file, r.row_number,
                    r.source_row_id, r.reason_code, r.raw FROM trapper.ingest_rejects r"""
JOBS = """SELECT source_system, source_table, status, total_records
          FROM trapper.processing_jobs"""


def state(url: str) -> dict[str, list[tuple[Any, ...]]]:
    return {name: sorted((tuple(r) for r in sql(url, q)), key=repr)
            for name, q in (("staged", STAGED), ("runs", RUNS), ("rejects", REJECTS),
                            ("jobs", JOBS))}


@pytest.fixture
def second_db_url(pg: Server) -> Iterator[str]:
    yield from _fresh(pg, "full")


def _without_ids(doc: dict[str, Any]) -> dict[str, Any]:
    """The --json document less what differs between any two loads (ids, times)."""
    varying = {"ingest_run_id", "job_id", "seconds", "parse_seconds", "stage_seconds"}
    return {**doc, "runs": [{k: v for k, v in r.items() if k not in varying}
                            for r in doc["runs"]],
            "refused": [line.split(" [run ")[0] for line in doc["refused"]]}


def test_two_lanes_stage_exactly_what_one_lane_stages(
    world: Path, db_url: str, second_db_url: str
) -> None:
    manifest = str(world / "manifest.json")
    one = run_cli("ingest", "--manifest", manifest, "--json", "--jobs", "1",
                  env={"DATABASE_URL": db_url})
    two = run_cli("ingest", "--manifest", manifest, "--json", "--jobs", "2",
                  env={"DATABASE_URL": second_db_url})
    assert one.returncode == two.returncode == 0, one.stderr + two.stderr
    doc_one, doc_two = json.loads(one.stdout), json.loads(two.stdout)
    # the same report, file for file in the manifest's order
    assert _without_ids(doc_one) == _without_ids(doc_two)
    assert [r["source_file"] for r in doc_two["runs"]] == \
        [Path(f["path"]).name for f in json.loads((world / "manifest.json").read_text())["files"]]
    first, second = state(db_url), state(second_db_url)
    assert first["staged"] and first["runs"] and first["jobs"]
    assert first == second
    # the same lines on stderr, perhaps in another order (each as its file ends)
    assert sorted(_lines(one.stderr)) == sorted(_lines(two.stderr))


def _lines(stderr: str) -> list[str]:
    return [ln.split(" [run ")[0] for ln in stderr.splitlines()]


def _file(folder: Path, name: str, header: str, *rows: str) -> Path:
    path = folder / name
    path.write_text(header + "\n" + "".join(f"{r}\n" for r in rows))
    return path


def test_a_tables_files_stay_in_order_in_one_lane(db_url: str, tmp_path: Path) -> None:
    # people: a row, then its edit, then the edit again (a duplicate): order decides which
    # run stages what. pets, larger, starts first in the other lane.
    v1 = _file(tmp_path, "p1.csv", "ID,Name", "1,Ann", "2,Bob")
    v2 = _file(tmp_path, "p2.csv", "ID,Name", "1,Ann Lee", "2,Bob")
    v3 = _file(tmp_path, "p3.csv", "ID,Name", "1,Ann Lee", "3,Cy")
    pets = _file(tmp_path, "pets.csv", "ID,Name", *(f"{i},pet {i}" for i in range(500)))
    plan = [PlannedFile(v1, "test", "people"), PlannedFile(pets, "test", "pets"),
            PlannedFile(v2, "test", "people"), PlannedFile(v3, "test", "people")]
    assert plan_lanes(plan, 2) == [[1], [0, 2, 3]]   # the largest table first, on its own
    (tmp_path / "manifest.json").write_text(json.dumps({"files": [
        {"path": p.path.name, "source_system": p.source_system,
         "source_table": p.source_table} for p in plan]}))
    result = run_cli("ingest", "--manifest", str(tmp_path / "manifest.json"), "--jobs", "2",
                     "--json", env={"DATABASE_URL": db_url})
    assert result.returncode == 0, result.stderr
    runs = {r["source_file"]: r for r in sql(
        db_url, "SELECT * FROM trapper.ingest_runs WHERE source_table = 'people'")}
    assert runs["p1.csv"]["ingest_run_id"] < runs["p2.csv"]["ingest_run_id"] \
        < runs["p3.csv"]["ingest_run_id"]
    assert runs["p1.csv"]["finished_at"] <= runs["p2.csv"]["started_at"]
    assert runs["p2.csv"]["finished_at"] <= runs["p3.csv"]["started_at"]
    counts = [(r["rows_new"], r["rows_duplicate"]) for r in json.loads(result.stdout)["runs"]]
    assert counts == [(2, 0), (500, 0), (1, 1), (1, 1)]
    versions = sql(db_url, """SELECT s.payload ->> 'Name' AS name, r.source_file
                              FROM trapper.staged_records s
                              JOIN trapper.ingest_runs r USING (ingest_run_id)
                              WHERE s.source_row_id = '1' AND s.source_table = 'people'
                              ORDER BY s.id""")
    assert [(v["name"], v["source_file"]) for v in versions] == \
        [("Ann", "p1.csv"), ("Ann Lee", "p2.csv")]


def test_the_largest_tables_go_first_each_to_the_lighter_lane(tmp_path: Path) -> None:
    sizes = {"a": 50, "b": 400, "c": 300, "d": 200, "e": 10}
    plan = []
    for name, size in sizes.items():
        (tmp_path / f"{name}.csv").write_bytes(b"x" * size)
        plan.append(PlannedFile(tmp_path / f"{name}.csv", "s", name))
    plan.append(PlannedFile(tmp_path / "a2.csv", "s", "a"))     # missing: weighs nothing
    # b 400 | c 300, then d to the lighter (500), a with its second file (450), e (460)
    assert plan_lanes(plan, 2) == [[1, 0, 5, 4], [2, 3]]
    assert plan_lanes(plan, 1) == [[0, 1, 2, 3, 4, 5]]
    assert plan_lanes(plan, 9) == [[1], [2], [3], [0, 5], [4]]
    assert plan_lanes([], 2) == []


def test_a_failing_file_in_one_lane_stops_neither_lane(db_url: str, tmp_path: Path) -> None:
    execute(db_url, BOOM)
    csv_file(tmp_path, "boom.csv", "1,Ann", "2,Boom")
    csv_file(tmp_path, "after.csv", "3,Cy")
    broken = tmp_path / "broken.json"
    broken.write_text("not json")
    _file(tmp_path, "pets.csv", "ID,Name", *(f"{i},pet {i}" for i in range(300)))
    _file(tmp_path, "more.csv", "ID,Name", "900,Rex")
    (tmp_path / "manifest.json").write_text(json.dumps({"files": [
        {"path": "boom.csv", "source_system": "test", "source_table": "people"},
        {"path": "pets.csv", "source_system": "test", "source_table": "pets"},
        {"path": "broken.json", "source_system": "test", "source_table": "pets"},
        {"path": "after.csv", "source_system": "test", "source_table": "people"},
        {"path": "more.csv", "source_system": "test", "source_table": "pets"}]}))
    result = run_cli("ingest", "--manifest", str(tmp_path / "manifest.json"), "--jobs", "2",
                     "--json", env={"DATABASE_URL": db_url})
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    doc = json.loads(result.stdout)
    assert [(r["source_file"], r["status"]) for r in doc["runs"]] == [
        ("boom.csv", "failed"), ("pets.csv", "completed"), ("broken.json", "failed"),
        ("after.csv", "completed"), ("more.csv", "completed")]
    assert (doc["files"], doc["completed"], doc["failed"]) == (5, 3, 2)
    assert doc["runs"][0]["error"].startswith("RaiseError: boom")
    assert doc["runs"][2]["refused"] is True
    assert "error: test/people" in result.stderr and "boom.csv: failed" in result.stderr
    assert val(db_url, "SELECT count(*) FROM trapper.staged_records "
                       "WHERE source_table = 'pets'") == 301
    assert {r["source_row_id"] for r in sql(
        db_url, "SELECT source_row_id FROM trapper.staged_records "
                "WHERE source_table = 'people'")} == {"3"}


def test_ctrl_c_fails_every_lanes_run_in_hand_and_exits_130(
    db_url: str, tmp_path: Path
) -> None:
    csv_file(tmp_path, "people.csv", "1,Ann")
    csv_file(tmp_path, "pets.csv", "1,Rex")
    (tmp_path / "manifest.json").write_text(json.dumps({"files": [
        {"path": "people.csv", "source_system": "test", "source_table": "people"},
        {"path": "pets.csv", "source_system": "test", "source_table": "pets"}]}))
    env = {k: v for k, v in os.environ.items()
           if k not in ("DATABASE_URL", "ATLAS_ORCH_DATABASE_URL")}
    env["DATABASE_URL"] = db_url

    async def go() -> subprocess.Popen[str]:
        locker = await asyncpg.connect(db_url)
        try:
            # both lanes wait at their COPY, their runs running
            await locker.execute("BEGIN; LOCK TABLE trapper.staged_records IN EXCLUSIVE MODE")
            proc = subprocess.Popen(
                [sys.executable, "-m", "listener", "ingest", "--manifest",
                 str(tmp_path / "manifest.json"), "--jobs", "2", "--no-progress"],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                cwd=REPO, stdin=subprocess.DEVNULL)
            # watched from outside the locker's transaction, whose first look at
            # pg_stat_activity would stay its snapshot until the transaction ends
            watcher = await asyncpg.connect(db_url)
            try:
                await _wait("""SELECT count(*) = 2 FROM trapper.ingest_runs r
                               JOIN pg_stat_activity a ON a.pid = r.backend_pid
                               WHERE r.status = 'running' AND a.wait_event_type = 'Lock'""",
                            watcher, "both lanes to wait at their COPY")
            finally:
                await watcher.close()
            proc.send_signal(signal.SIGINT)   # only the command: it stops its lanes
            await anyio.sleep(0.5)
            await locker.execute("ROLLBACK")
            return proc
        finally:
            await locker.close()

    proc = anyio.run(go)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in stderr, stderr
    runs = sql(db_url, "SELECT status, error FROM trapper.ingest_runs")
    assert len(runs) == 2
    assert all(r["status"] == "failed" and r["error"].startswith("interrupted")
               for r in runs), [dict(r) for r in runs]
    assert val(db_url, "SELECT count(*) FROM trapper.staged_records") == 0
