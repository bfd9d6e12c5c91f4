-- The job queue's calls: its settings, enqueue, claim, heartbeat, release, fail and the
-- reclaim of jobs whose worker stopped beating.

CREATE OR REPLACE FUNCTION trapper.processing_setting(p_key text) RETURNS numeric
LANGUAGE sql STABLE AS $$
    SELECT value FROM trapper.processing_settings WHERE key = p_key
$$;

-- A source table's jobs are made one at a time, until the transaction ends: an enqueue and
-- a share (claim_share) each count the table's jobs and then add one, and two at once would
-- both count the same.
CREATE OR REPLACE FUNCTION trapper.lock_table_jobs(p_source_system text, p_source_table text)
RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(
        hashtextextended('enqueue:' || p_source_system || '/' || p_source_table, 0));
END $$;

-- One queued job per source table: a second enqueue returns the first.
CREATE OR REPLACE FUNCTION trapper.enqueue_processing(
    p_source_system text,
    p_source_table  text,
    p_trigger_type  text DEFAULT 'manual',
    p_trigger_id    text DEFAULT NULL,
    p_priority      integer DEFAULT 0
) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_job uuid;
    v_pending integer;
    v_share numeric := coalesce(trapper.processing_setting('share_table_records'), 0);
BEGIN
    PERFORM trapper.lock_table_jobs(p_source_system, p_source_table);
    SELECT count(*) INTO v_pending
    FROM trapper.staged_records
    WHERE source_system = p_source_system AND source_table = p_source_table
      AND NOT is_processed AND processing_error IS NULL;
    SELECT job_id INTO v_job
    FROM trapper.processing_jobs
    WHERE source_system = p_source_system AND source_table = p_source_table
      AND status = 'queued'
    LIMIT 1;
    IF v_job IS NOT NULL THEN
        UPDATE trapper.processing_jobs
        SET total_records = v_pending, priority = greatest(priority, p_priority)
        WHERE source_system = p_source_system AND source_table = p_source_table
          AND status = 'queued';
    ELSE
        INSERT INTO trapper.processing_jobs
            (trigger_type, trigger_id, source_system, source_table, priority, total_records)
        VALUES (p_trigger_type, p_trigger_id, p_source_system, p_source_table, p_priority,
                v_pending)
        RETURNING job_id INTO v_job;
    END IF;
    -- A large backlog gets a second queued job, so that two workers share the table instead
    -- of one working it while the other idles (each claims records SKIP LOCKED, so no record
    -- is worked twice). Without it the atlas load's last table ran alone for ~50 s.
    IF v_share > 0 AND v_pending >= v_share AND (
            SELECT count(*) FROM trapper.processing_jobs
            WHERE source_system = p_source_system AND source_table = p_source_table
              AND status = 'queued') < 2 THEN
        INSERT INTO trapper.processing_jobs
            (trigger_type, trigger_id, source_system, source_table, priority, total_records)
        VALUES ('share', v_job::text, p_source_system, p_source_table, p_priority, v_pending);
    END IF;
    RETURN v_job;
END $$;

-- Jobs whose worker stopped beating go back to the queue, or to the dead letter when they
-- have no attempts left. A job whose row is locked is being worked right now: not stale.
CREATE OR REPLACE FUNCTION trapper.reclaim_stale_jobs() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    v_count integer;
BEGIN
    UPDATE trapper.processing_jobs j
    SET status = CASE WHEN j.attempt_count >= j.max_attempts THEN 'dead_letter' ELSE 'queued' END,
        completed_at = CASE WHEN j.attempt_count >= j.max_attempts THEN now() END,
        last_error = format('worker %s stopped heartbeating at %s', j.worker_id, j.heartbeat_at),
        errors = j.errors || jsonb_build_array(jsonb_build_object(
            'at', now(), 'attempt', j.attempt_count, 'error',
            format('worker %s stopped heartbeating at %s', j.worker_id, j.heartbeat_at))),
        worker_id = NULL
    WHERE j.job_id = ANY (ARRAY(
        SELECT s.job_id FROM trapper.processing_jobs s
        WHERE s.status = 'processing'
          AND s.heartbeat_at < now() - make_interval(
                  secs => trapper.processing_setting('stale_after_s')::float8)
        FOR UPDATE SKIP LOCKED));
    GET DIAGNOSTICS v_count = ROW_COUNT;
    RETURN v_count;
END $$;

CREATE OR REPLACE FUNCTION trapper.claim_jobs(p_worker text, p_limit integer DEFAULT 1)
RETURNS SETOF trapper.processing_jobs
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM trapper.reclaim_stale_jobs();
    -- "= ANY(ARRAY(subquery))" rather than a join with a CTE: the planner estimated the CTE
    -- and hash-joined it against a sequential scan of the whole queue on every claim.
    RETURN QUERY
    UPDATE trapper.processing_jobs j
    SET status = 'processing', worker_id = p_worker, started_at = now(), heartbeat_at = now(),
        attempt_count = j.attempt_count + 1, next_retry_at = NULL
    WHERE j.job_id = ANY (ARRAY(
        SELECT q.job_id FROM trapper.processing_jobs q
        WHERE q.status IN ('queued', 'retry_pending')
          AND (q.next_retry_at IS NULL OR q.next_retry_at <= now())
        ORDER BY q.priority DESC, q.queued_at
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED))
    RETURNING j.*;
    IF NOT FOUND AND p_limit > 0 THEN
        RETURN QUERY SELECT * FROM trapper.claim_share(p_worker);
    END IF;
END $$;

-- A worker that finds nothing queued helps with a table another worker is still working:
-- a new job of that table ('share', naming the job it helps), claimed at once. Records are
-- taken SKIP LOCKED, so the two never work one record. enqueue_processing's second job
-- shares only a backlog of share_table_records known at enqueue; a table below it (or one
-- left last) was worked by one worker while the other idled: petlink/pets' 8,280 records,
-- the last 4 of 25 s in bench/identity.py's people-only run (docs/processing.md, "Jobs").
-- A table joins another worker only while at least share_running_records records per
-- worker would be left to each (fewer are not worth the two workers' waits on each other's
-- new keys); 0 turns it off. Counted with a LIMIT: an idle worker's look stays bounded.
CREATE OR REPLACE FUNCTION trapper.claim_share(p_worker text)
RETURNS SETOF trapper.processing_jobs
LANGUAGE plpgsql AS $$
DECLARE
    v_min integer := coalesce(trapper.processing_setting('share_running_records'), 0);
    r record;
    v_jobs integer;
    v_left integer;
    v_job uuid;
BEGIN
    IF v_min <= 0 THEN
        RETURN;
    END IF;
    FOR r IN
        SELECT j.source_system, j.source_table, max(j.priority) AS priority,
               (array_agg(j.job_id ORDER BY j.started_at))[1] AS helped
        FROM trapper.processing_jobs j
        WHERE j.status = 'processing' AND j.worker_id IS DISTINCT FROM p_worker
          AND NOT EXISTS (SELECT 1 FROM trapper.processing_jobs m
                          WHERE m.status = 'processing' AND m.worker_id = p_worker
                            AND m.source_system = j.source_system
                            AND m.source_table = j.source_table)
        GROUP BY j.source_system, j.source_table
        ORDER BY max(j.priority) DESC, min(j.started_at)
    LOOP
        -- one share at a time per table: two idle workers would otherwise both count the
        -- same backlog as theirs
        PERFORM trapper.lock_table_jobs(r.source_system, r.source_table);
        SELECT count(*) INTO v_jobs FROM trapper.processing_jobs j
        WHERE j.status = 'processing' AND j.source_system = r.source_system
          AND j.source_table = r.source_table;
        CONTINUE WHEN v_jobs = 0;
        SELECT count(*) INTO v_left FROM (
            SELECT 1 FROM trapper.staged_records s
            WHERE s.source_system = r.source_system AND s.source_table = r.source_table
              AND NOT s.is_processed AND s.processing_error IS NULL
            LIMIT v_min * (v_jobs + 1)) x;
        CONTINUE WHEN v_left < v_min * (v_jobs + 1);
        -- queued, then claimed: a job passes through the states every job does (the
        -- shadow triggers' job events see both)
        INSERT INTO trapper.processing_jobs
            (trigger_type, trigger_id, source_system, source_table, priority, total_records)
        VALUES ('share', r.helped::text, r.source_system, r.source_table, r.priority, v_left)
        RETURNING job_id INTO v_job;
        RETURN QUERY
        UPDATE trapper.processing_jobs j
        SET status = 'processing', worker_id = p_worker, started_at = now(),
            heartbeat_at = now(), attempt_count = j.attempt_count + 1
        WHERE j.job_id = v_job
        RETURNING j.*;
        RETURN;
    END LOOP;
END $$;

-- The worker's beat; returns the jobs it still holds (one reclaimed elsewhere is gone).
CREATE OR REPLACE FUNCTION trapper.heartbeat_jobs(p_worker text, p_job_ids uuid[]) RETURNS uuid[]
LANGUAGE sql AS $$
    WITH beat AS (
        UPDATE trapper.processing_jobs SET heartbeat_at = now()
        WHERE job_id = ANY (p_job_ids) AND worker_id = p_worker AND status = 'processing'
        RETURNING job_id
    )
    SELECT coalesce(array_agg(job_id), '{}') FROM beat
$$;

-- Put held jobs back in the queue (shutdown); the interrupted attempt does not count.
CREATE OR REPLACE FUNCTION trapper.release_jobs(p_worker text, p_job_ids uuid[]) RETURNS integer
LANGUAGE sql AS $$
    WITH released AS (
        UPDATE trapper.processing_jobs
        SET status = 'queued', worker_id = NULL, attempt_count = greatest(attempt_count - 1, 0)
        WHERE job_id = ANY (p_job_ids) AND worker_id = p_worker AND status = 'processing'
        RETURNING 1
    )
    SELECT count(*)::integer FROM released
$$;

-- A failed attempt: retry after base * 2^(attempt-1), or dead-letter when out of attempts.
CREATE OR REPLACE FUNCTION trapper.fail_job(p_job_id uuid, p_error text) RETURNS text
LANGUAGE plpgsql AS $$
DECLARE
    v_status text;
BEGIN
    UPDATE trapper.processing_jobs
    SET status = CASE WHEN attempt_count >= max_attempts THEN 'dead_letter'
                      ELSE 'retry_pending' END,
        next_retry_at = CASE WHEN attempt_count >= max_attempts THEN NULL
            ELSE now() + make_interval(secs => trapper.processing_setting('retry_base_s')::float8
                                              * power(2, greatest(attempt_count - 1, 0))) END,
        completed_at = CASE WHEN attempt_count >= max_attempts THEN now() END,
        last_error = p_error,
        errors = errors || jsonb_build_array(jsonb_build_object(
            'at', now(), 'attempt', attempt_count, 'error', p_error)),
        worker_id = NULL
    WHERE job_id = p_job_id
    RETURNING status INTO v_status;
    RETURN v_status;
END $$;
