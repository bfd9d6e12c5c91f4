-- ORCH_005: a job whose dependencies still have pending work is not claimed. The order is
-- enforced by the orchestrator's own claim, which the worker uses when the orchestrator is
-- installed: the host's queue is not altered.

-- What a source table still waits for: each dependency with pending work.
CREATE OR REPLACE FUNCTION trapper.orchestrator_job_blockers(p_source_system text, p_source_table text)
RETURNS TABLE (depends_on text, pending_jobs bigint, unprocessed_records bigint, reason text)
LANGUAGE sql STABLE AS $$
    SELECT d.depends_on_system || '/' || d.depends_on_table,
           (SELECT count(*) FROM trapper.processing_jobs j
            WHERE j.source_system = d.depends_on_system AND j.source_table = d.depends_on_table
              AND j.status IN ('queued', 'processing', 'retry_pending')),
           (SELECT count(*) FROM trapper.staged_records s
            WHERE s.source_system = d.depends_on_system AND s.source_table = d.depends_on_table
              AND NOT s.is_processed AND s.processing_error IS NULL),
           d.reason
    FROM trapper.orchestrator_source_dependencies d
    WHERE d.source_system = p_source_system AND d.source_table = p_source_table
$$;

CREATE OR REPLACE FUNCTION trapper.orchestrator_is_blocked(p_source_system text, p_source_table text)
RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM trapper.orchestrator_source_dependencies d
        WHERE d.source_system = p_source_system AND d.source_table = p_source_table
          AND (EXISTS (SELECT 1 FROM trapper.processing_jobs j
                       WHERE j.source_system = d.depends_on_system
                         AND j.source_table = d.depends_on_table
                         AND j.status IN ('queued', 'processing', 'retry_pending'))
               OR EXISTS (SELECT 1 FROM trapper.staged_records s
                          WHERE s.source_system = d.depends_on_system
                            AND s.source_table = d.depends_on_table
                            AND NOT s.is_processed AND s.processing_error IS NULL)))
$$;

-- The host's claim_jobs, plus: never a job whose dependencies have pending work.
CREATE OR REPLACE FUNCTION trapper.orchestrator_claim_jobs(p_worker text, p_limit integer DEFAULT 1)
RETURNS SETOF trapper.processing_jobs
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM trapper.reclaim_stale_jobs();
    RETURN QUERY
    UPDATE trapper.processing_jobs j
    SET status = 'processing', worker_id = p_worker, started_at = now(), heartbeat_at = now(),
        attempt_count = j.attempt_count + 1, next_retry_at = NULL
    WHERE j.job_id = ANY (ARRAY(
        SELECT q.job_id FROM trapper.processing_jobs q
        WHERE q.status IN ('queued', 'retry_pending')
          AND (q.next_retry_at IS NULL OR q.next_retry_at <= now())
          AND NOT trapper.orchestrator_is_blocked(q.source_system, q.source_table)
        ORDER BY q.priority DESC, q.queued_at
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED))
    RETURNING j.*;
    -- nothing ready: help with a table another worker is working (a running table's
    -- dependencies are met already), where the core has the share (ours: a host's own
    -- engines may not; requires.toml does not ask for it)
    IF NOT FOUND AND p_limit > 0 AND to_regprocedure('trapper.claim_share(text)') IS NOT NULL THEN
        RETURN QUERY SELECT * FROM trapper.claim_share(p_worker);
    END IF;
END $$;

-- The cron route's entry point with the dependency order: process_next_job's contract.
CREATE OR REPLACE FUNCTION trapper.orchestrator_process_next_job(p_batch_size integer DEFAULT 500)
RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_worker text := 'orchestrator_process_next_job:' || pg_backend_pid();
    v_job trapper.processing_jobs;
    v_res record;
BEGIN
    SELECT * INTO v_job FROM trapper.orchestrator_claim_jobs(v_worker, 1);
    IF v_job.job_id IS NULL THEN
        RETURN jsonb_build_object('status', 'no_jobs');
    END IF;
    SELECT * INTO v_res FROM trapper.work_jobs(ARRAY[v_job.job_id], v_worker, p_batch_size);
    IF v_res.status = 'processing' THEN
        PERFORM trapper.release_jobs(v_worker, ARRAY[v_job.job_id]);
        v_res.status := 'queued';
    END IF;
    RETURN jsonb_strip_nulls(jsonb_build_object(
        'job_id', v_job.job_id, 'source_system', v_job.source_system,
        'source_table', v_job.source_table, 'status', v_res.status,
        'result', jsonb_build_object('records_processed', v_res.processed,
                                     'records_failed', v_res.failed,
                                     'remaining', v_res.remaining),
        'error', v_res.error));
END $$;
