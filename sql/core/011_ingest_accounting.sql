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
