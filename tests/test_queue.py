"""The job queue: exclusive claiming, heartbeats and reclaim, retries and the dead letter."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import anyio
import asyncpg
import pytest

from listener.queue.worker import Worker, WorkerStats
from tests.conftest import REPO
from tests.helpers import execute, sql, val

# A processor that records every call, so a test can count executions per record.
RECORDING_PROCESSOR = """
CREATE TABLE public.calls (staged_id bigint, at timestamptz DEFAULT clock_timestamp());
CREATE FUNCTION public.recording_processor(p_id bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.calls (staged_id) VALUES (p_id);
    PERFORM pg_sleep(coalesce((SELECT value::float8 FROM trapper.processing_settings
                               WHERE key = 'test_sleep_s'), 0));
    IF (SELECT payload ->> 'poison' FROM trapper.staged_records WHERE id = p_id) = 'yes' THEN
        RAISE EXCEPTION 'poison record %', p_id;
    END IF;
    IF (SELECT payload ->> 'later' FROM trapper.staged_records WHERE id = p_id) = 'yes' THEN
        RAISE EXCEPTION 'upstream not ready' USING ERRCODE = 'AO001';
    END IF;
    RETURN '{}';
END $$;
"""


def stage(url: str, tables: int, per_table: int, *, payload: dict | None = None) -> None:
    """Stage records for tables t0..tN of source 'q', register the recording processor for
    each, and enqueue one job per table."""
    execute(url, f"""
        INSERT INTO trapper.staged_records
            (source_system, source_table, source_row_id, row_hash, payload)
        SELECT 'q', 't' || t, t || '-' || i, md5(t || '-' || i),
               '{json.dumps(payload or {})}'::jsonb
        FROM generate_series(0, {tables - 1}) t, generate_series(1, {per_table}) i;
        INSERT INTO trapper.data_engine_processors
            (processor_name, source_system, source_table, processor_function)
        SELECT 'rec_' || t, 'q', 't' || t, 'public.recording_processor'
        FROM generate_series(0, {tables - 1}) t;
        SELECT trapper.enqueue_processing('q', 't' || t, 'test')
        FROM generate_series(0, {tables - 1}) t;
    """)


def run_workers(url: str, n: int, *, job_batch: int, record_budget: int) -> list[WorkerStats]:
    """``n`` workers draining the queue at once; each one's stats."""
    async def main() -> list[WorkerStats]:
        workers = [Worker(url, job_batch=job_batch, record_budget=record_budget)
                   for _ in range(n)]
        results: list[WorkerStats] = []

        async def one(w: Worker) -> None:
            results.append(await w.run(until_empty=True))

        async with anyio.create_task_group() as tg:
            for w in workers:
                tg.start_soon(one, w)
        return results

    return anyio.run(main)


@pytest.fixture
def qdb(db_url: str) -> str:
    execute(db_url, RECORDING_PROCESSOR)
    return db_url


def test_enqueue_returns_the_queued_job_for_a_table(qdb: str) -> None:
    stage(qdb, 1, 3)
    first = val(qdb, "SELECT job_id FROM trapper.processing_jobs")
    again = val(qdb, "SELECT trapper.enqueue_processing('q', 't0', 'test')")
    assert again == first
    assert val(qdb, "SELECT total_records FROM trapper.processing_jobs") == 3


def test_a_large_backlog_gets_a_second_job_that_two_workers_share(qdb: str) -> None:
    execute(qdb, """UPDATE trapper.processing_settings SET value = 100
                    WHERE key = 'share_table_records';
                    INSERT INTO trapper.processing_settings VALUES
                        ('test_sleep_s', 0.005, 'each record takes a moment')""")
    stage(qdb, 1, 99)     # below the mark: one job, as always
    assert val(qdb, "SELECT count(*) FROM trapper.processing_jobs") == 1
    execute(qdb, """INSERT INTO trapper.staged_records
        (source_system, source_table, source_row_id, row_hash, payload)
        SELECT 'q', 't0', 'more-' || i, md5('more-' || i), '{}'
        FROM generate_series(1, 101) i""")
    first = val(qdb, "SELECT trapper.enqueue_processing('q', 't0', 'test')")
    again = val(qdb, "SELECT trapper.enqueue_processing('q', 't0', 'test')")
    jobs = sql(qdb, "SELECT job_id, trigger_type, trigger_id, total_records "
                    "FROM trapper.processing_jobs ORDER BY queued_at, trigger_type")
    assert first == again == jobs[0]["job_id"]
    assert [(j["trigger_type"], j["total_records"]) for j in jobs] == [
        ("test", 200), ("share", 200)]        # never a third
    assert jobs[1]["trigger_id"] == str(first)

    run_workers(qdb, 2, job_batch=1, record_budget=5)
    counts = sql(qdb, "SELECT staged_id, count(*) AS n FROM public.calls GROUP BY 1")
    assert len(counts) == 200 and max(r["n"] for r in counts) == 1
    done = sql(qdb, "SELECT status, records_processed FROM trapper.processing_jobs")
    assert [d["status"] for d in done] == ["completed", "completed"]
    assert sum(d["records_processed"] for d in done) == 200
    assert min(d["records_processed"] for d in done) > 0   # both workers took a share


@pytest.mark.parametrize("claim", ["claim_jobs", "orchestrator_claim_jobs"])
def test_a_worker_with_nothing_queued_shares_a_table_another_is_working(
        qdb: str, claim: str) -> None:
    execute(qdb, "UPDATE trapper.processing_settings SET value = 50 "
                 "WHERE key = 'share_running_records'")
    stage(qdb, 1, 120)
    first = sql(qdb, f"SELECT job_id FROM trapper.{claim}('a', 1)")
    assert len(first) == 1
    # 120 left, one worker on it: a second gets a share (120 >= 50 each for two)
    shared = sql(qdb, f"SELECT job_id, source_table, trigger_type, trigger_id, worker_id, "
                      f"status FROM trapper.{claim}('b', 1)")
    assert [(r["source_table"], r["trigger_type"], r["trigger_id"], r["worker_id"],
             r["status"]) for r in shared] == [
        ("t0", "share", str(first[0]["job_id"]), "b", "processing")]
    # a third would leave fewer than 50 each to three workers; a worker already on the
    # table is never given a second share of it
    assert sql(qdb, f"SELECT * FROM trapper.{claim}('c', 1)") == []
    assert sql(qdb, f"SELECT * FROM trapper.{claim}('b', 1)") == []
    # turned off: nothing shared however large the table
    execute(qdb, "UPDATE trapper.processing_settings SET value = 0 "
                 "WHERE key = 'share_running_records'")
    assert sql(qdb, f"SELECT * FROM trapper.{claim}('d', 1)") == []


def test_two_workers_draining_share_the_last_table_and_work_each_record_once(
        qdb: str) -> None:
    execute(qdb, """UPDATE trapper.processing_settings SET value = 20
                    WHERE key = 'share_running_records';
                    INSERT INTO trapper.processing_settings VALUES
                        ('test_sleep_s', 0.02, 'each record takes a moment')""")
    stage(qdb, 1, 150)    # one job: below share_table_records, nothing shared at enqueue

    async def main() -> list[WorkerStats]:
        stats: list[WorkerStats] = []

        async def one() -> None:
            stats.append(await Worker(qdb, job_batch=1, record_budget=5).run(until_empty=True))

        async with anyio.create_task_group() as tg:
            tg.start_soon(one)
            # the second worker comes once the first holds the table's job, as one finishing
            # another table finds it (started together, on a loaded machine the second could
            # come after the first had left it too few records to share: 3 s of work here)
            conn = await asyncpg.connect(qdb)
            try:
                while not await conn.fetchval("SELECT count(*) FROM trapper.processing_jobs "
                                              "WHERE status = 'processing'"):
                    await anyio.sleep(0.01)
            finally:
                await conn.close()
            tg.start_soon(one)
        return stats

    stats = anyio.run(main)
    assert len(stats) == 2
    counts = sql(qdb, "SELECT staged_id, count(*) AS n FROM public.calls GROUP BY 1")
    assert len(counts) == 150 and max(r["n"] for r in counts) == 1
    assert all(s.records_processed > 0 for s in stats)   # both worked the one table
    jobs = sql(qdb, "SELECT trigger_type, status FROM trapper.processing_jobs")
    assert {j["status"] for j in jobs} == {"completed"}
    assert "share" in {j["trigger_type"] for j in jobs}


def test_concurrent_workers_never_process_a_record_twice(qdb: str) -> None:
    stage(qdb, 40, 25)

    stats = run_workers(qdb, 4, job_batch=3, record_budget=7)
    assert sum(s.jobs_completed for s in stats) == 40
    assert sum(s.records_processed for s in stats) == 1000
    counts = sql(qdb, "SELECT staged_id, count(*) AS n FROM public.calls GROUP BY 1")
    assert len(counts) == 1000
    assert max(r["n"] for r in counts) == 1
    assert val(qdb, "SELECT count(*) FROM trapper.staged_records WHERE NOT is_processed") == 0
    assert val(qdb, "SELECT count(*) FROM trapper.processing_jobs "
                    "WHERE status <> 'completed'") == 0


def test_a_poison_record_fails_alone(qdb: str) -> None:
    stage(qdb, 1, 5)
    execute(qdb, """INSERT INTO trapper.staged_records
        (source_system, source_table, source_row_id, row_hash, payload)
        VALUES ('q', 't0', 'bad', 'bad', '{"poison": "yes"}')""")
    result = val(qdb, "SELECT trapper.process_next_job(100)")
    assert json.loads(result)["status"] == "completed"
    assert json.loads(result)["result"] == {"records_processed": 5, "records_failed": 1,
                                            "remaining": 0}
    err = val(qdb, "SELECT processing_error FROM trapper.staged_records "
                   "WHERE source_row_id = 'bad'")
    assert "poison record" in err


def test_process_next_job_batches_and_requeues(qdb: str) -> None:
    stage(qdb, 1, 12)
    first = json.loads(val(qdb, "SELECT trapper.process_next_job(5)"))
    assert first["status"] == "queued" and first["result"]["remaining"] == 7
    job = sql(qdb, "SELECT status, attempt_count, records_processed "
                   "FROM trapper.processing_jobs")[0]
    assert (job["status"], job["attempt_count"], job["records_processed"]) == ("queued", 0, 5)
    json.loads(val(qdb, "SELECT trapper.process_next_job(5)"))
    last = json.loads(val(qdb, "SELECT trapper.process_next_job(5)"))
    assert last["status"] == "completed"
    assert json.loads(val(qdb, "SELECT trapper.process_next_job(5)")) == {"status": "no_jobs"}


def test_a_batch_runs_its_records_once_each_in_id_order(qdb: str) -> None:
    # run_processor_batch calls the processor for the whole batch in one statement
    stage(qdb, 1, 30)
    result = json.loads(val(qdb, "SELECT trapper.process_next_job(25)"))
    assert result["result"]["records_processed"] == 25
    called = [r["staged_id"] for r in sql(qdb, "SELECT staged_id FROM public.calls "
                                               "ORDER BY at, staged_id")]
    first = [r["id"] for r in sql(qdb, "SELECT id FROM trapper.staged_records "
                                       "ORDER BY id LIMIT 25")]
    assert called == first
    assert val(qdb, "SELECT count(*) FROM trapper.staged_records WHERE is_processed") == 25


def test_planner_statistics_are_refreshed_only_for_tables_that_changed(qdb: str) -> None:
    stage(qdb, 1, 500)
    counts = """SELECT relname, analyze_count FROM pg_stat_user_tables
                WHERE schemaname = 'trapper' AND relname IN ('staged_records', 'sot_people')"""
    before = {r["relname"]: r["analyze_count"] for r in sql(qdb, counts)}
    execute(qdb, "SELECT trapper.refresh_planner_statistics()")
    after = {r["relname"]: r["analyze_count"] for r in sql(qdb, counts)}
    assert after["staged_records"] == before["staged_records"] + 1   # 500 new rows
    assert after["sot_people"] == before["sot_people"]               # unchanged
    assert val(qdb, "SELECT reltuples FROM pg_class "
                    "WHERE oid = 'trapper.staged_records'::regclass") == 500
    # the other worker reaching the same mark a moment later finds nothing new
    execute(qdb, "SELECT trapper.refresh_planner_statistics()")
    again = {r["relname"]: r["analyze_count"] for r in sql(qdb, counts)}
    assert again == after


def test_retries_back_off_then_dead_letter_is_never_claimed(qdb: str) -> None:
    stage(qdb, 1, 2, payload={"later": "yes"})
    execute(qdb, "UPDATE trapper.processing_settings SET value = 30 WHERE key = 'retry_base_s'")
    first = json.loads(val(qdb, "SELECT trapper.process_next_job(10)"))
    assert first["status"] == "retry_pending" and "upstream not ready" in first["error"]
    delay = val(qdb, "SELECT extract(epoch FROM next_retry_at - now()) "
                     "FROM trapper.processing_jobs")
    assert 25 < delay <= 30
    # Not due yet: nothing to claim.
    assert json.loads(val(qdb, "SELECT trapper.process_next_job(10)")) == {"status": "no_jobs"}
    execute(qdb, "UPDATE trapper.processing_jobs SET next_retry_at = now()")
    second = json.loads(val(qdb, "SELECT trapper.process_next_job(10)"))
    assert second["status"] == "retry_pending"
    delay = val(qdb, "SELECT extract(epoch FROM next_retry_at - now()) "
                     "FROM trapper.processing_jobs")
    assert 55 < delay <= 60  # doubled
    execute(qdb, "UPDATE trapper.processing_jobs SET next_retry_at = now()")
    third = json.loads(val(qdb, "SELECT trapper.process_next_job(10)"))
    assert third["status"] == "dead_letter"
    job = sql(qdb, "SELECT attempt_count, jsonb_array_length(errors) AS n, next_retry_at "
                   "FROM trapper.processing_jobs")[0]
    assert (job["attempt_count"], job["n"], job["next_retry_at"]) == (3, 3, None)
    assert json.loads(val(qdb, "SELECT trapper.process_next_job(10)")) == {"status": "no_jobs"}
    assert sql(qdb, "SELECT * FROM trapper.claim_jobs('someone', 10)") == []
    # Nothing was marked processed: the records wait for the dependency.
    assert val(qdb, "SELECT count(*) FROM trapper.staged_records WHERE is_processed") == 0


def test_a_job_without_a_processor_is_dead_lettered_with_a_reason(qdb: str) -> None:
    execute(qdb, """INSERT INTO trapper.staged_records
        (source_system, source_table, source_row_id, row_hash, payload)
        VALUES ('nowhere', 'x', '1', 'h', '{}');
        SELECT trapper.enqueue_processing('nowhere', 'x')""")
    out = json.loads(val(qdb, "SELECT trapper.process_next_job(10)"))
    assert out["status"] == "dead_letter"
    assert "no active processor is registered for nowhere/x" in out["error"]


def test_a_processor_must_name_a_real_function(qdb: str) -> None:
    with pytest.raises(asyncpg.UndefinedFunctionError, match="not a function"):
        sql(qdb, "INSERT INTO trapper.data_engine_processors "
                 "(processor_name, source_system, source_table, processor_function) "
                 "VALUES ('x', 'a', 'b', 'pg_sleep')")


def _start_worker(url: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": url}
    return subprocess.Popen(
        [sys.executable, "-m", "listener", "worker", "--record-batch", "5",
         "--poll-interval", "0.2"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )


def _stop(proc: subprocess.Popen[str], sig: int) -> tuple[int, str]:
    """Signal a worker and collect its exit status and stderr."""
    proc.send_signal(sig)
    try:
        _, err = proc.communicate(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, err = proc.communicate()
    return proc.returncode, err


def _wait_for(url: str, query: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if val(url, query):
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for: {query}")


@pytest.mark.slow
def test_a_killed_worker_s_job_is_reclaimed_and_finished_once(qdb: str) -> None:
    stage(qdb, 1, 60)
    execute(qdb, """
        UPDATE trapper.processing_settings SET value = 1 WHERE key = 'heartbeat_interval_s';
        UPDATE trapper.processing_settings SET value = 2 WHERE key = 'stale_after_s';
        INSERT INTO trapper.processing_settings VALUES ('test_sleep_s', 0.03, 'test');
    """)
    victim = _start_worker(qdb)
    try:
        _wait_for(qdb, "SELECT count(*) >= 10 FROM public.calls")
    finally:
        _stop(victim, signal.SIGKILL)
    killed_at = time.monotonic()
    assert val(qdb, "SELECT status FROM trapper.processing_jobs") == "processing"
    rescuer = _start_worker(qdb)
    try:
        _wait_for(qdb, "SELECT status = 'completed' FROM trapper.processing_jobs")
        recovered_in = time.monotonic() - killed_at
    finally:
        code, _ = _stop(rescuer, signal.SIGTERM)
    assert code == 0
    counts = sql(qdb, "SELECT staged_id, count(*) AS n FROM public.calls GROUP BY 1")
    assert len(counts) == 60 and max(r["n"] for r in counts) == 1
    job = sql(qdb, "SELECT attempt_count, last_error, records_processed "
                   "FROM trapper.processing_jobs")[0]
    assert job["attempt_count"] == 2
    assert "stopped heartbeating" in job["last_error"]
    print(f"recovered {recovered_in:.1f}s after SIGKILL (stale after 2 s)")


@pytest.mark.slow
def test_sigterm_finishes_the_batch_and_puts_the_job_back(qdb: str) -> None:
    stage(qdb, 1, 200)
    execute(qdb, "INSERT INTO trapper.processing_settings VALUES ('test_sleep_s', 0.01, 'x')")
    worker = _start_worker(qdb)
    try:
        _wait_for(qdb, "SELECT count(*) >= 5 FROM public.calls")
    finally:
        code, err = _stop(worker, signal.SIGTERM)
    assert code == 0
    assert '"action": "jobs_released"' in err
    job = sql(qdb, "SELECT status, worker_id, attempt_count FROM trapper.processing_jobs")[0]
    assert (job["status"], job["worker_id"], job["attempt_count"]) == ("queued", None, 0)
    processed = val(qdb, "SELECT count(*) FROM trapper.staged_records WHERE is_processed")
    assert processed == val(qdb, "SELECT count(*) FROM public.calls")
    assert processed % 5 == 0  # whole batches only


def test_a_session_s_batches_start_past_its_last_and_still_find_a_record_below(
    qdb: str
) -> None:
    # Each batch starts where this session's last one ended (a scan from the table's start
    # walked every processed record's index entry: 0.4 s a batch in the ten-times world), and
    # a record left below that point (another worker's batch rolled back, a failed record
    # cleared for a retry) is still found once the records above run short.
    stage(qdb, 1, 10)

    async def go() -> list[list[int]]:
        conn = await asyncpg.connect(qdb)
        ids = [r["id"] for r in await conn.fetch(
            "SELECT id FROM trapper.staged_records WHERE source_table = 't0' ORDER BY id")]
        taken: list[list[int]] = []

        async def batch(n: int) -> None:
            async with conn.transaction():
                await conn.execute("DELETE FROM public.calls")
                await conn.fetchrow("SELECT * FROM trapper.run_processor_batch("
                                    "'public.recording_processor', 'q', 't0', $1)", n)
                taken.append([ids.index(r["staged_id"]) for r in await conn.fetch(
                    "SELECT staged_id FROM public.calls ORDER BY staged_id")])

        await batch(4)
        # the second record goes back to unprocessed, as if its batch had rolled back
        await conn.execute("UPDATE trapper.staged_records SET is_processed = false "
                           "WHERE id = $1", ids[1])
        await batch(4)            # past the first batch: 4..7, not 1
        assert await conn.fetchval(
            "SELECT trapper.staged_work_left('q', 't0')") is True
        await batch(4)            # 8, 9 above, then 1 below
        assert await conn.fetchval(
            "SELECT trapper.staged_work_left('q', 't0')") is False
        await conn.close()
        return taken

    assert anyio.run(go) == [[0, 1, 2, 3], [4, 5, 6, 7], [1, 8, 9]]
