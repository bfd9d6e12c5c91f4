"""`atlas-orch backfill`: a host's history written into the decision log after a shadow
install, the same as a listener from the start would have written it (docs/operations.md,
"Backfilling history")."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import asyncpg
import pytest

from listener.ingest import staging as ingest
from listener.queue.worker import drain_queue
from listener.schema import migrations
from tests.conftest import REPO, run_cli
from tests.helpers import execute, sql, val
from tests.listening import listen_once
from tests.pg import Server

# One merge of two people, as an operator's fix would make it (test_listener does the same).
# The two are picked by their source records, so two databases merge the same people.
MERGE_TWO = """
    WITH two AS (SELECT p.person_id, s.source_row_id
                 FROM trapper.sot_people p
                 JOIN trapper.entity_sources s ON s.entity_id = p.person_id
                                              AND s.action = 'created'
                 WHERE p.merged_into_person_id IS NULL AND s.source_table = 'owner_info'
                 ORDER BY s.source_row_id LIMIT 2)
    UPDATE trapper.sot_people
    SET merged_into_person_id = (SELECT person_id FROM two ORDER BY source_row_id LIMIT 1),
        merged_at = now()
    WHERE person_id = (SELECT person_id FROM two ORDER BY source_row_id DESC LIMIT 1)"""

# The log rows, each reduced to what does not depend on ids, times or the worker: the
# entity it names is the source record that created it. (Which member of a household a
# decision names depends on the order of random uuids, so the name is left out.)
NORMALISED = """
    SELECT l.action, l.source_system, l.source_table, coalesce(l.source_record_id, '') AS rec,
           coalesce(l.target_surface, '') AS surface,
           coalesce((SELECT s.source_system || '/' || s.source_table || '/' || s.source_row_id
                     FROM trapper.entity_sources s WHERE s.entity_id = l.target_entity_id
                     ORDER BY s.action <> 'created', s.entity_source_id LIMIT 1), '') AS entity,
           regexp_replace(regexp_replace(regexp_replace(
               l.decision_reason, 'started by .* \\(', 'started by ('),
               'shares (.*) with .* but', 'shares \\1 with X but'),
               'merged into .*', 'merged into') AS reason,
           (l.decision_details - 'decision_id' - 'top_candidate_id' - 'household_id'
              - 'backfilled' - 'captured' - 'job_id' - 'worker_id' - 'min_id' - 'max_id'
              - 'ingest_run_id' - 'trigger_type' - 'total_records' - 'status' - 'attempt'
              - 'merged_into' - 'count')::text AS details
    FROM trapper.orchestrator_job_log l
    WHERE l.action <> 'staged'"""


def _load(url: str, world: Path, files: int | None = None) -> None:
    """Ingest the world's files one at a time, each processed before the next, so two
    databases loaded this way decide the same things in the same order."""

    async def go() -> None:
        conn = await asyncpg.connect(url)
        try:
            for e in ingest.read_manifest(world / "manifest.json")[:files]:
                await ingest.ingest_file(conn, e.path, e.source_system, e.source_table,
                                         fmt=e.fmt)
                await drain_queue(url, workers=1, signals=False)
        finally:
            await conn.close()

    anyio.run(go)


def _install(url: str) -> None:
    async def go() -> None:
        conn = await asyncpg.connect(url)
        try:
            await migrations.install(conn, "shadow", progress=False)
        finally:
            await conn.close()

    anyio.run(go)


def _backfill(url: str, *args: str) -> dict[str, Any]:
    done = run_cli("backfill", "--json", *args, env={"DATABASE_URL": url}, timeout=300)
    assert done.returncode == 0, done.stderr
    doc: dict[str, Any] = json.loads(done.stdout)
    return doc


def _normalised(url: str) -> Counter[tuple[str, ...]]:
    return Counter(tuple(r) for r in sql(url, NORMALISED))


def _staged_per_source(url: str) -> dict[tuple[str, str], int]:
    return {(r[0], r[1]): r[2] for r in sql(url, """
        SELECT source_system, source_table, sum((decision_details ->> 'count')::int)::int
        FROM trapper.orchestrator_job_log WHERE action = 'staged' GROUP BY 1, 2""")}


def _doubles(url: str) -> dict[str, int]:
    """Anything the log holds twice: a decision, an entity created or merged, a job state,
    a staged row."""
    return {r[0]: r[1] for r in sql(url, """
        SELECT 'decisions' AS k, count(*) - count(DISTINCT decision_details ->> 'decision_id')
        FROM trapper.orchestrator_job_log WHERE action = 'identity_decision'
        UNION ALL
        SELECT 'entities', count(*) - count(DISTINCT target_entity_id)
        FROM trapper.orchestrator_job_log WHERE action = 'entity_created'
        UNION ALL
        SELECT 'merges', count(*) - count(DISTINCT target_entity_id)
        FROM trapper.orchestrator_job_log WHERE action = 'entity_merged'
        UNION ALL
        SELECT 'jobs', count(*) - count(DISTINCT (job_id, action))
        FROM trapper.orchestrator_job_log WHERE action IN ('job_queued', 'job_completed')
        UNION ALL
        SELECT 'staged', (SELECT coalesce(sum((decision_details ->> 'count')::int), 0)
                          FROM trapper.orchestrator_job_log WHERE action = 'staged')
                         - (SELECT count(*) FROM trapper.staged_records)""")}


def _missing(url: str) -> dict[str, int]:
    """What the host holds that the log does not name."""
    return {r[0]: r[1] for r in sql(url, """
        SELECT 'decisions' AS k, count(*) FROM trapper.data_engine_match_decisions d
        WHERE NOT EXISTS (SELECT 1 FROM trapper.orchestrator_job_log l
                          WHERE l.action = 'identity_decision'
                            AND (l.decision_details ->> 'decision_id')::bigint = d.decision_id)
        UNION ALL
        SELECT 'entities', count(*) FROM trapper.entity_sources s
        WHERE s.action = 'created' AND s.entity_type IN ('person', 'place', 'cat')
          AND NOT EXISTS (SELECT 1 FROM trapper.orchestrator_job_log l
                          WHERE l.action = 'entity_created' AND l.target_entity_id = s.entity_id)
        UNION ALL
        SELECT 'jobs', count(*) FROM trapper.processing_jobs j
        WHERE NOT EXISTS (SELECT 1 FROM trapper.orchestrator_job_log l
                          WHERE l.action = 'job_queued' AND l.job_id = j.job_id)""")}


@pytest.fixture
def second_core_db(pg: Server) -> Iterator[str]:
    """Another database with the engines alone."""
    name = pg.create("core")
    try:
        yield pg.url(name)
    finally:
        pg.drop(name)


def _timeline(url: str, record: str) -> list[tuple[Any, ...]]:
    done = run_cli("replay", record, "--json", env={"DATABASE_URL": url})
    assert done.returncode == 0, done.stderr
    items = json.loads(done.stdout)["items"]
    return sorted((i["type"], i.get("action") or i.get("state") or "",
                   (i.get("decision_reason") or "").split(" (")[0]
                   if i.get("action") != "job_started" else "")
                  for i in items)


def _provenance(url: str, record: tuple[str, str, str]) -> list[tuple[str, str]]:
    entity = val(url, """SELECT entity_id FROM trapper.entity_sources
                         WHERE entity_type = 'person' AND source_system = $1
                           AND source_table = $2 AND source_row_id = $3 LIMIT 1""", *record)
    done = run_cli("provenance", "person", str(entity), "--json", env={"DATABASE_URL": url})
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    return sorted((d["action"], d["decision_reason"]) for d in doc["decisions"])


def test_a_backfilled_database_answers_like_one_with_the_listener_from_the_start(
    core_db_url: str, second_core_db: str, world: Path
) -> None:
    # before: the host's years, then the orchestrator arrives and backfills
    before = core_db_url
    _load(before, world)
    execute(before, MERGE_TWO)
    _install(before)
    record = ("clinichq", "owner_info",
              val(before, """SELECT d.source_row_id FROM trapper.data_engine_match_decisions d
                             WHERE d.source_table = 'owner_info'
                               AND d.decision_type = 'auto_match'
                             ORDER BY d.decision_id LIMIT 1"""))
    # what the issue saw: the decision is in the host's table, not in the timeline
    assert "identity_decision" not in {t[1] for t in _timeline(before, "/".join(record))}
    filled = _backfill(before)
    assert filled["rows_written"]["decisions"] == val(
        before, "SELECT count(*) FROM trapper.data_engine_match_decisions")
    assert filled["rows_written"]["merges"] == 1 and filled["total"] > 0
    assert val(before, "SELECT count(*) FROM trapper.orchestrator_job_log "
                       "WHERE NOT (decision_details ? 'backfilled')") == 0

    # from the start: the orchestrator first, the same load, the listener
    start = second_core_db
    _install(start)
    _load(start, world)
    execute(start, MERGE_TWO)
    listen_once(start)

    assert _normalised(before) == _normalised(start)
    assert _staged_per_source(before) == _staged_per_source(start)
    assert _timeline(before, "/".join(record)) == _timeline(start, "/".join(record))
    assert ("identity_decision" in {t[1] for t in _timeline(before, "/".join(record))})
    assert _provenance(before, record) == _provenance(start, record)
    assert _provenance(before, record)   # not two empty lists

    # a second run adds nothing
    rows = val(before, "SELECT count(*) FROM trapper.orchestrator_job_log")
    again = _backfill(before)
    assert again["total"] == 0
    assert val(before, "SELECT count(*) FROM trapper.orchestrator_job_log") == rows

    # the listener afterwards: new work on backfilled entities is logged once, old never again
    execute(before, MERGE_TWO)
    _load(before, world, files=1)           # the same file again: new jobs, duplicates
    listen_once(before)
    assert val(before, "SELECT count(*) FROM trapper.orchestrator_job_log "
                       "WHERE NOT (decision_details ? 'backfilled')") > 0
    assert set(_doubles(before).values()) == {0}
    assert set(_missing(before).values()) == {0}
    assert _backfill(before)["total"] == 0


def _interrupt_backfill(url: str, sig: signal.Signals, *, after_rows: int = 0,
                        after_decisions: int = 0) -> tuple[subprocess.Popen[str], str]:
    """`atlas-orch backfill --batch 1` in a process, sent ``sig`` once it has written more
    than ``after_rows`` log rows in all (``after_decisions`` of the decisions stream); the
    process, ended, and what it wrote on stderr."""
    progress = ("SELECT coalesce(sum(rows_written), 0) FROM trapper.orchestrator_backfill "
                "WHERE stream = 'decisions' OR NOT $1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "listener", "backfill", "--batch", "1", "--database-url", url],
        cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL,
        text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if val(url, progress, after_decisions > 0) > max(after_rows, after_decisions):
                break
            time.sleep(0.05)
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc, err


def test_a_killed_backfill_continues_and_never_doubles_the_listener(
    core_db_url: str, world: Path
) -> None:
    url = core_db_url
    _load(url, world, files=3)
    _install(url)
    # the listener runs first, on work done after the install
    execute(url, MERGE_TWO)
    _load(url, world, files=1)
    listen_once(url)
    listened = val(url, "SELECT count(*) FROM trapper.orchestrator_job_log")
    assert listened > 0

    proc, _ = _interrupt_backfill(url, signal.SIGKILL, after_decisions=50)
    assert proc.returncode == -signal.SIGKILL
    halfway = {r["stream"]: r for r in sql(url, "SELECT * FROM trapper.orchestrator_backfill")}
    assert halfway["decisions"]["finished_at"] is None
    assert 0 < halfway["decisions"]["done_upto"] < halfway["decisions"]["upto"]
    # what the killed run committed is in the log, batch by batch with its progress
    assert val(url, "SELECT count(*) FROM trapper.orchestrator_job_log "
                    "WHERE action = 'identity_decision' AND decision_details ? 'backfilled'") \
        == halfway["decisions"]["rows_written"]

    rest = _backfill(url, "--batch", "500")
    assert rest["rows_written"]["decisions"] > 0
    assert set(_doubles(url).values()) == {0}
    assert set(_missing(url).values()) == {0}
    listen_once(url)
    assert _backfill(url)["total"] == 0
    assert set(_doubles(url).values()) == {0}


def test_ctrl_c_stops_the_backfill_with_a_line_saying_to_run_it_again(
    core_db_url: str, world: Path
) -> None:
    url = core_db_url
    _load(url, world, files=3)
    _install(url)
    proc, err = _interrupt_backfill(url, signal.SIGINT, after_rows=20)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "run `atlas-orch backfill` again" in err
    written = val(url, "SELECT sum(rows_written) FROM trapper.orchestrator_backfill")
    assert written > 0 and written == val(
        url, "SELECT count(*) FROM trapper.orchestrator_job_log "
             "WHERE decision_details ? 'backfilled'")


def test_backfill_before_install_is_one_clear_line(core_db_url: str) -> None:
    done = run_cli("backfill", env={"DATABASE_URL": core_db_url})
    assert done.returncode == 1
    assert "atlas-orch install" in done.stderr and "Traceback" not in done.stderr


def test_install_backfill_with_print_sql_is_refused_in_one_line(core_db_url: str) -> None:
    # the SQL is for a DBA to apply; a backfill then runs as its own command
    done = run_cli("install", "--backfill", "--print-sql", env={"DATABASE_URL": core_db_url})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert "--print-sql" in done.stderr and "atlas-orch backfill" in done.stderr
    assert done.stdout == ""


def test_install_backfill_writes_the_history_in_one_command(core_db_url: str,
                                                           world: Path) -> None:
    _load(core_db_url, world, files=3)
    done = run_cli("install", "--backfill", "--json", env={"DATABASE_URL": core_db_url},
                   timeout=300)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert doc["backfill"]["rows_written"]["decisions"] == val(
        core_db_url, "SELECT count(*) FROM trapper.data_engine_match_decisions") > 0
    assert set(_missing(core_db_url).values()) == {0}
