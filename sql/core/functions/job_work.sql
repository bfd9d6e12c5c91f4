-- Working jobs: a batch of records through a source's processor, the jobs a worker holds,
-- and the real system's process_next_job entry point.

-- Errors that say "not now" rather than "not this record": the whole job is retried with
-- backoff. A processor raises SQLSTATE 'AO001' itself for a dependency that is not ready.
CREATE OR REPLACE FUNCTION trapper.is_transient_error(p_sqlstate text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_sqlstate = 'AO001'
        OR left(p_sqlstate, 2) IN ('40', '53', '57', '58', '08')
        OR p_sqlstate = '55P03'
$$;

-- Whether a source table has a record left to process (unprocessed, not failed), for
-- work_jobs' probes before and after a batch. By a plain index scan, never an index-only one:
-- a processed record's entry stays in staged_records_unprocessed_idx (its old row version's)
-- until VACUUM, and only a plain scan marks such an entry dead when it meets it, so that the
-- next scan steps over it without reading the row. An index-only scan reads the row of
-- every such entry again on every probe: late in a large table each probe read ~20,000
-- rows, ~10 ms a batch (docs/benchmarks.md, "Identity"). The SET holds in this function alone.
CREATE OR REPLACE FUNCTION trapper.staged_work_left(p_source_system text, p_source_table text)
RETURNS boolean
LANGUAGE plpgsql STABLE
SET enable_indexonlyscan = off
AS $$
DECLARE
    v_from bigint := trapper.staged_scan_from(p_source_system, p_source_table);
BEGIN
    -- from where this session's batches of the table reached, then (rarely) below it
    IF EXISTS (SELECT 1 FROM trapper.staged_records s
               WHERE s.source_system = p_source_system AND s.source_table = p_source_table
                 AND NOT s.is_processed AND s.processing_error IS NULL AND s.id >= v_from) THEN
        RETURN true;
    END IF;
    RETURN v_from > 0 AND EXISTS (
        SELECT 1 FROM trapper.staged_records s
        WHERE s.source_system = p_source_system AND s.source_table = p_source_table
          AND NOT s.is_processed AND s.processing_error IS NULL AND s.id < v_from);
END $$;

-- The session's points of every source table it worked (the setting, read and written only
-- by this function and the two below).
CREATE OR REPLACE FUNCTION trapper.staged_scan_points() RETURNS jsonb
LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('trapper.staged_scan_from', true), '')::jsonb,
                    '{}'::jsonb)
$$;

-- Where this session's batches of a source table start looking for unprocessed records: past
-- the last record its previous batch took (0 at first). A scan from the table's first record
-- walked every record processed before it, whose index entries stay until VACUUM (or, on
-- statistics gathered before the load, the primary key in id order with the rest filtered:
-- 642,000 rows a batch, 0.4 s, half-way through a 391,000-row table of the ten-times world;
-- docs/benchmarks.md, "Ten times Atlas"). Kept in a session setting (one jsonb object, keyed
-- SYSTEM/TABLE), so it goes back with a batch that rolls back. A record left below it (taken
-- by another worker that then rolled back, or a failed record cleared for a retry) is found
-- when the records above it run short: run_processor_batch looks below then.
CREATE OR REPLACE FUNCTION trapper.staged_scan_from(p_source_system text, p_source_table text)
RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT coalesce((trapper.staged_scan_points() ->> (p_source_system || '/' || p_source_table))
                    ::bigint, 0)
$$;

-- The next batch of a source table starts at p_from (run_processor_batch, after a batch).
CREATE OR REPLACE FUNCTION trapper.staged_scan_from_set(
    p_source_system text, p_source_table text, p_from bigint
) RETURNS void
LANGUAGE sql AS $$
    SELECT set_config('trapper.staged_scan_from', (trapper.staged_scan_points()
        || jsonb_build_object(p_source_system || '/' || p_source_table, p_from))::text, false)
$$;

-- Run a processor over up to p_limit unprocessed records of one source table. Records
-- are locked SKIP LOCKED, so two jobs of one table never take the same record. A record
-- the processor fails on keeps its error and is not retried by this job; a transient
-- error fails the whole batch so the job is retried.
CREATE OR REPLACE FUNCTION trapper.run_processor_batch(
    p_processor text, p_source_system text, p_source_table text, p_limit integer,
    p_isolate boolean DEFAULT false,
    OUT processed integer, OUT failed integer, OUT created jsonb
)
LANGUAGE plpgsql AS $$
DECLARE
    v_fn regproc := to_regprocedure(p_processor || '(bigint)')::regproc;
    v_id bigint;
    v_out jsonb;
    v_ids bigint[] := '{}';
    v_all bigint[];
    v_outs jsonb[] := '{}';
    v_bad_ids bigint[] := '{}';
    v_errors text[] := '{}';
    v_from bigint := trapper.staged_scan_from(p_source_system, p_source_table);
BEGIN
    v_ids := ARRAY(
        SELECT id FROM trapper.staged_records
        WHERE source_system = p_source_system AND source_table = p_source_table
          AND NOT is_processed AND processing_error IS NULL AND id >= v_from
        ORDER BY id
        LIMIT p_limit
        FOR UPDATE SKIP LOCKED);
    IF cardinality(v_ids) < p_limit AND v_from > 0 THEN
        -- the records above run short: any left below (staged_scan_from says which)
        v_ids := ARRAY(
            SELECT x FROM unnest(v_ids || ARRAY(
                SELECT id FROM trapper.staged_records
                WHERE source_system = p_source_system AND source_table = p_source_table
                  AND NOT is_processed AND processing_error IS NULL AND id < v_from
                ORDER BY id
                LIMIT p_limit - cardinality(v_ids)
                FOR UPDATE SKIP LOCKED)) x ORDER BY x);
    END IF;
    IF cardinality(v_ids) > 0 THEN
        PERFORM trapper.staged_scan_from_set(p_source_system, p_source_table,
                                             (SELECT max(x) + 1 FROM unnest(v_ids) x));
    END IF;
    IF NOT p_isolate THEN
        -- One dynamic statement for the whole batch, in id order: a statement per record
        -- was planned afresh each time (~30 us a record, docs/benchmarks.md "Identity").
        -- A record that raises fails the batch, which work_jobs then redoes isolated.
        EXECUTE format('SELECT coalesce(array_agg(coalesce(%s(u.id), ''{}''::jsonb) '
                       'ORDER BY u.n), ''{}'') '
                       'FROM unnest($1::bigint[]) WITH ORDINALITY AS u (id, n)', v_fn)
            INTO v_outs USING v_ids;
    ELSE
        v_all := v_ids;
        v_ids := '{}';
        FOREACH v_id IN ARRAY v_all LOOP
            BEGIN
                EXECUTE format('SELECT %s($1)', v_fn) INTO v_out USING v_id;
            EXCEPTION WHEN OTHERS THEN
                IF trapper.is_transient_error(SQLSTATE) THEN
                    RAISE;
                END IF;
                v_bad_ids := v_bad_ids || v_id;
                v_errors := v_errors || SQLERRM;
                CONTINUE;
            END;
            v_ids := v_ids || v_id;
            v_outs := v_outs || coalesce(v_out, '{}'::jsonb);
        END LOOP;
    END IF;
    -- One UPDATE per batch, not one per record.
    UPDATE trapper.staged_records s
    SET is_processed = true, processed_at = now(), processor_name = p_processor,
        resulting_entity_type = r.out ->> 'entity_type',
        resulting_entity_id = (r.out ->> 'entity_id')::uuid,
        updated_at = now()
    FROM unnest(v_ids, v_outs) AS r (id, out)
    WHERE s.id = r.id;
    UPDATE trapper.staged_records s
    SET processing_error = r.err, processor_name = p_processor, updated_at = now()
    FROM unnest(v_bad_ids, v_errors) AS r (id, err)
    WHERE s.id = r.id;
    processed := cardinality(v_ids);
    failed := cardinality(v_bad_ids);
    SELECT coalesce(jsonb_object_agg(kind, n), '{}') INTO created
    FROM (SELECT o ->> 'entity_type' AS kind, count(*) AS n
          FROM unnest(v_outs) o
          WHERE o ->> 'entity_type' IS NOT NULL AND coalesce((o ->> 'created')::boolean, false)
          GROUP BY 1) c;
END $$;

-- Work the jobs a worker holds, spending at most p_record_budget records in this one
-- transaction. Jobs that finish are completed here; a job whose batch raises is failed
-- (retry or dead letter) without stopping the others. Jobs with nothing left to do are
-- completed together in one statement, without a subtransaction each.
CREATE OR REPLACE FUNCTION trapper.work_jobs(p_job_ids uuid[], p_worker text, p_record_budget integer)
RETURNS TABLE (job_id uuid, status text, processed integer, failed integer,
               remaining integer, error text)
LANGUAGE plpgsql AS $$
DECLARE
    v_job trapper.processing_jobs;
    v_fn text;
    v_route text;
    v_budget integer := p_record_budget;
    v_batch record;
    v_left integer;
    v_idle uuid[] := '{}';
    v_route_idle boolean := false;
BEGIN
    -- Rows are read unlocked; a job is locked only when it has records to work, and idle
    -- jobs are completed by one UPDATE that re-checks ownership. Locking every job first
    -- doubled the writes per no-op job.
    FOR v_job IN
        SELECT * FROM trapper.processing_jobs j
        WHERE j.job_id = ANY (p_job_ids) AND j.worker_id = p_worker AND j.status = 'processing'
        ORDER BY array_position(p_job_ids, j.job_id)
    LOOP
        job_id := v_job.job_id;
        processed := 0; failed := 0; remaining := NULL; error := NULL;
        IF v_budget <= 0 THEN
            status := 'processing';
            RETURN NEXT;
            CONTINUE;
        END IF;
        IF v_route IS DISTINCT FROM v_job.source_system || '/' || v_job.source_table THEN
            v_route := v_job.source_system || '/' || v_job.source_table;
            SELECT p.processor_function INTO v_fn FROM trapper.data_engine_processors p
            WHERE p.source_system = v_job.source_system
              AND p.source_table = v_job.source_table AND p.is_active;
            v_route_idle := false;
        END IF;
        IF v_fn IS NULL THEN
            -- Retrying cannot help a job no processor claims: dead-letter it at once, loudly.
            error := format('no active processor is registered for %s', v_route);
            UPDATE trapper.processing_jobs
            SET attempt_count = max_attempts WHERE processing_jobs.job_id = v_job.job_id;
            status := trapper.fail_job(v_job.job_id, error);
            RETURN NEXT;
            CONTINUE;
        END IF;
        -- A table found without work stays so for the rest of this call (one probe, not one
        -- per job: a burst of jobs for one table is common).
        IF v_route_idle
           OR NOT trapper.staged_work_left(v_job.source_system, v_job.source_table) THEN
            v_route_idle := true;
            v_idle := v_idle || v_job.job_id;
            CONTINUE;
        END IF;
        PERFORM 1 FROM trapper.processing_jobs j
        WHERE j.job_id = v_job.job_id AND j.worker_id = p_worker AND j.status = 'processing'
        FOR UPDATE;
        IF NOT FOUND THEN
            CONTINUE;   -- reclaimed by another worker since we read it: not ours any more
        END IF;
        BEGIN
            BEGIN
                SELECT * INTO v_batch FROM trapper.run_processor_batch(
                    v_fn, v_job.source_system, v_job.source_table, v_budget, false);
            EXCEPTION WHEN OTHERS THEN
                IF trapper.is_transient_error(SQLSTATE) THEN
                    RAISE;
                END IF;
                -- One record is bad: redo the batch record by record so the rest go through.
                SELECT * INTO v_batch FROM trapper.run_processor_batch(
                    v_fn, v_job.source_system, v_job.source_table, v_budget, true);
            END;
        EXCEPTION WHEN OTHERS THEN
            error := SQLERRM;
            IF SQLSTATE IN ('40P01', '40001') THEN
                -- A deadlock or serialization failure with another worker: nothing was
                -- done, so try again at once rather than wait out a retry backoff.
                status := 'processing';
                processed := 0;
                RETURN NEXT;
                CONTINUE;
            END IF;
            status := trapper.fail_job(v_job.job_id, error);
            RETURN NEXT;
            CONTINUE;
        END;
        processed := v_batch.processed;
        failed := v_batch.failed;
        IF processed + failed < v_budget THEN
            v_left := 0;   -- the batch took every record it could see
        ELSIF trapper.staged_work_left(v_job.source_system, v_job.source_table) THEN
            -- Whether any is left decides; how many is only shown, so it is estimated from
            -- the job's counters: counting the rest cost ~10 ms a batch (heap visits for
            -- every remaining row), 12 s of the atlas load.
            v_left := greatest(v_job.total_records - v_job.records_processed
                               - v_job.records_failed - processed - failed, 1);
        ELSE
            v_left := 0;
        END IF;
        v_budget := v_budget - processed - failed;
        remaining := v_left;
        UPDATE trapper.processing_jobs j
        SET records_processed = j.records_processed + v_batch.processed,
            records_failed = j.records_failed + v_batch.failed,
            entities_created = CASE WHEN v_batch.created = '{}' THEN j.entities_created ELSE (
                SELECT jsonb_object_agg(k, coalesce((j.entities_created ->> k)::int, 0)
                                           + coalesce((v_batch.created ->> k)::int, 0))
                FROM jsonb_object_keys(j.entities_created || v_batch.created) AS k) END,
            heartbeat_at = now(),
            status = CASE WHEN v_left = 0 THEN 'completed' ELSE j.status END,
            completed_at = CASE WHEN v_left = 0 THEN now() END,
            worker_id = CASE WHEN v_left = 0 THEN NULL ELSE j.worker_id END,
            result = CASE WHEN v_left = 0 THEN jsonb_build_object(
                'records_processed', j.records_processed + v_batch.processed,
                'records_failed', j.records_failed + v_batch.failed) END
        WHERE j.job_id = v_job.job_id
        RETURNING j.status INTO status;
        RETURN NEXT;
    END LOOP;
    IF cardinality(v_idle) > 0 THEN
        RETURN QUERY
        UPDATE trapper.processing_jobs j
        SET status = 'completed', completed_at = now(), worker_id = NULL, heartbeat_at = now(),
            result = jsonb_build_object('records_processed', j.records_processed,
                                        'records_failed', j.records_failed)
        WHERE j.job_id = ANY (v_idle) AND j.worker_id = p_worker AND j.status = 'processing'
        RETURNING j.job_id, j.status, 0, 0, 0, NULL::text;
    END IF;
END $$;

-- The real system's entry point (called by the cron route): claim one job, work one batch
-- of it in this transaction, then complete it or put it back for the next call.
CREATE OR REPLACE FUNCTION trapper.process_next_job(p_batch_size integer DEFAULT 500) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_worker text := 'process_next_job:' || pg_backend_pid();
    v_job trapper.processing_jobs;
    v_res record;
    v_linking jsonb;
BEGIN
    SELECT * INTO v_job FROM trapper.claim_jobs(v_worker, 1);
    IF v_job.job_id IS NULL THEN
        RETURN jsonb_build_object('status', 'no_jobs');
    END IF;
    SELECT * INTO v_res FROM trapper.work_jobs(ARRAY[v_job.job_id], v_worker, p_batch_size);
    IF v_res.status = 'processing' THEN
        PERFORM trapper.release_jobs(v_worker, ARRAY[v_job.job_id]);
        v_res.status := 'queued';
    END IF;
    IF v_res.status = 'completed'
       AND to_regprocedure('trapper.run_all_entity_linking_json()') IS NOT NULL THEN
        EXECUTE 'SELECT trapper.run_all_entity_linking_json()' INTO v_linking;
        UPDATE trapper.processing_jobs SET linking_results = v_linking
        WHERE job_id = v_job.job_id;
    END IF;
    RETURN jsonb_strip_nulls(jsonb_build_object(
        'job_id', v_job.job_id,
        'source_system', v_job.source_system,
        'source_table', v_job.source_table,
        'status', v_res.status,
        'result', jsonb_build_object('records_processed', v_res.processed,
                                     'records_failed', v_res.failed,
                                     'remaining', v_res.remaining),
        'linking', v_linking,
        'error', v_res.error));
END $$;

-- A processor that does nothing: for queue benchmarks and for sources staged only to be kept.
CREATE OR REPLACE FUNCTION trapper.processor_noop(p_staged_record_id bigint) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$ SELECT '{}'::jsonb $$;
