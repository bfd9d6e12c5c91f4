-- Ingest accounting and runs that end (issue 15: every row accounted for, no silent loss).
--
-- 1. One equation for every completed run, stored and checked:
--        rows_read = rows_new + rows_duplicate + rows_rejected + rows_merged
--    rows_merged counts ClinicHQ continuation lines folded into the appointment above them
--    (listener/source_profiles.py); they were read but are neither staged nor rejected.
-- 2. The three reject codes of the stricter readers: unbalanced_quote, lone_surrogate,
--    too_deep.
-- 3. A run whose process died is 'abandoned': the ingest holds a session advisory lock keyed
--    by its run while it runs (taken in the statement that creates the run, so no one ever
--    sees a running run without its lock); when its session is gone the lock is free, and
--    trapper.ingest_mark_abandoned() marks the run. Only runs that recorded the session that
--    runs them (backend_pid) are judged this way: a run written by a tool that takes no lock
--    is never marked.

ALTER TABLE trapper.ingest_runs
    ADD COLUMN rows_merged integer NOT NULL DEFAULT 0,
    -- the server process of the session running the ingest (pg_backend_pid()); its advisory
    -- lock on the run is what says the run is still alive
    ADD COLUMN backend_pid integer;

-- Before this migration the merged lines were counted in rows_read and nowhere else: a
-- completed run's gap is exactly its merged lines.
UPDATE trapper.ingest_runs
SET rows_merged = rows_read - (rows_new + rows_duplicate + rows_rejected)
WHERE status = 'completed' AND rows_read > rows_new + rows_duplicate + rows_rejected;

ALTER TABLE trapper.ingest_runs DROP CONSTRAINT ingest_runs_status_check;
ALTER TABLE trapper.ingest_runs ADD CONSTRAINT ingest_runs_status_check
    CHECK (status IN ('running', 'completed', 'failed', 'abandoned'));

-- NOT VALID, then validated below where history allows: the constraints hold for every run
-- written from now on even if an older database kept a run that cannot satisfy them.
ALTER TABLE trapper.ingest_runs ADD CONSTRAINT ingest_runs_accounting
    CHECK (status <> 'completed'
           OR rows_read = rows_new + rows_duplicate + rows_rejected + rows_merged) NOT VALID;
-- A run that did not complete staged nothing (its rows were written in the transaction that
-- completes it) and says why.
ALTER TABLE trapper.ingest_runs ADD CONSTRAINT ingest_runs_unfinished_staged_nothing
    CHECK (status NOT IN ('failed', 'abandoned') OR rows_new = 0) NOT VALID;
ALTER TABLE trapper.ingest_runs ADD CONSTRAINT ingest_runs_failure_has_reason
    CHECK (status NOT IN ('failed', 'abandoned') OR error IS NOT NULL) NOT VALID;

DO $$
DECLARE
    c text;
BEGIN
    FOREACH c IN ARRAY ARRAY['ingest_runs_accounting', 'ingest_runs_unfinished_staged_nothing',
                             'ingest_runs_failure_has_reason'] LOOP
        BEGIN
            EXECUTE format('ALTER TABLE trapper.ingest_runs VALIDATE CONSTRAINT %I', c);
        EXCEPTION WHEN check_violation THEN
            RAISE WARNING 'ingest_runs: older runs break %; it holds for new runs only', c;
        END;
    END LOOP;
END $$;

ALTER TABLE trapper.ingest_rejects DROP CONSTRAINT ingest_rejects_reason_code_check;
ALTER TABLE trapper.ingest_rejects ADD CONSTRAINT ingest_rejects_reason_code_check
    CHECK (reason_code IN ('undecodable', 'nul_character', 'oversized', 'missing_id',
                           'malformed', 'not_an_object', 'unbalanced_quote',
                           'lone_surrogate', 'too_deep'));

-- The runs the marker looks at: few at any time, whatever the history.
CREATE INDEX ingest_runs_running_idx ON trapper.ingest_runs (ingest_run_id)
    WHERE status = 'running';

-- The advisory lock of a run: the two-integer form, whose keys never meet the single bigint
-- keys of the installer and the listener.
CREATE FUNCTION trapper.ingest_run_lock_keys(p_run bigint, OUT k1 integer, OUT k2 integer)
LANGUAGE sql IMMUTABLE AS $$
    SELECT 1229866834, (p_run % 2147483648)::integer   -- 1229866834 is 'INGR'
$$;

-- Create a run and take its lock in one statement: the row becomes visible at commit, when
-- the lock is already held.
CREATE FUNCTION trapper.ingest_begin_run(
    p_system text, p_table text, p_file text, p_size bigint, p_sha256 text, p_tool text
) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    v_run bigint;
BEGIN
    INSERT INTO trapper.ingest_runs
        (source_system, source_table, source_file, file_size_bytes, file_sha256, tool,
         backend_pid)
    VALUES (p_system, p_table, p_file, p_size, p_sha256, p_tool, pg_backend_pid())
    RETURNING ingest_run_id INTO v_run;
    PERFORM pg_advisory_lock(k.k1, k.k2) FROM trapper.ingest_run_lock_keys(v_run) k;
    RETURN v_run;
END $$;

-- Let go of a run's lock once it is completed or failed.
CREATE FUNCTION trapper.ingest_release_run(p_run bigint) RETURNS boolean
LANGUAGE sql AS $$
    SELECT pg_advisory_unlock(k.k1, k.k2) FROM trapper.ingest_run_lock_keys(p_run) k
$$;

-- Mark 'abandoned' every running run whose session is gone (its lock is free); returns them.
-- Safe to call from anywhere at any time: a live run's lock is held, and a run being
-- finished is row-locked and skipped.
CREATE FUNCTION trapper.ingest_mark_abandoned()
RETURNS TABLE (ingest_run_id bigint, source_system text, source_table text,
               source_file text, started_at timestamptz, backend_pid integer)
LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    FOR r IN
        SELECT ir.ingest_run_id, ir.backend_pid FROM trapper.ingest_runs ir
        WHERE ir.status = 'running' AND ir.backend_pid IS NOT NULL
        ORDER BY ir.ingest_run_id
        FOR UPDATE SKIP LOCKED
    LOOP
        -- our own session re-enters its own locks, so a run of this session would look
        -- free; it is alive (or its pid was reused by us: another session marks it)
        CONTINUE WHEN r.backend_pid = pg_backend_pid();
        CONTINUE WHEN NOT (SELECT pg_try_advisory_xact_lock(k.k1, k.k2)
                           FROM trapper.ingest_run_lock_keys(r.ingest_run_id) k);
        UPDATE trapper.ingest_runs x
        SET status = 'abandoned', finished_at = now(),
            error = format('abandoned: its session (server process %s) ended before the run '
                           'finished (the ingest was killed, crashed or lost its connection); '
                           'nothing from it was staged', r.backend_pid)
        WHERE x.ingest_run_id = r.ingest_run_id
        RETURNING x.ingest_run_id, x.source_system, x.source_table, x.source_file,
                  x.started_at, x.backend_pid
        INTO ingest_run_id, source_system, source_table, source_file, started_at,
             backend_pid;
        RETURN NEXT;
    END LOOP;
END $$;
