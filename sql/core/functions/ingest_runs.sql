-- Ingest runs' lifecycle: begin a run holding its advisory lock, release it, and mark the
-- runs whose session is gone 'abandoned' (docs/ingest.md, "Ingesting exports").

-- The advisory lock of a run: the two-integer form, whose keys never meet the single bigint
-- keys of the installer and the listener.
CREATE OR REPLACE FUNCTION trapper.ingest_run_lock_keys(p_run bigint, OUT k1 integer, OUT k2 integer)
LANGUAGE sql IMMUTABLE AS $$
    SELECT 1229866834, (p_run % 2147483648)::integer   -- 1229866834 is 'INGR'
$$;

-- Create a run and take its lock in one statement: the row becomes visible at commit, when
-- the lock is already held.
CREATE OR REPLACE FUNCTION trapper.ingest_begin_run(
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
CREATE OR REPLACE FUNCTION trapper.ingest_release_run(p_run bigint) RETURNS boolean
LANGUAGE sql AS $$
    SELECT pg_advisory_unlock(k.k1, k.k2) FROM trapper.ingest_run_lock_keys(p_run) k
$$;

-- Mark 'abandoned' every running run whose session is gone (its lock is free); returns them.
-- Safe to call from anywhere at any time: a live run's lock is held, and a run being
-- finished is row-locked and skipped.
CREATE OR REPLACE FUNCTION trapper.ingest_mark_abandoned()
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
