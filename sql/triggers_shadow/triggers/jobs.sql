-- The shadow triggers on processing_jobs. Contract 2 (002_shadow_triggers.sql): nothing here
-- may raise into the host's transaction.
-- They run as the role that installed the orchestrator (SECURITY DEFINER, with a fixed
-- search_path): the host's own roles write these tables and hold no right on the
-- orchestrator's, which is how it stays additive (docs/operations.md, "Roles and rights").

-- Jobs: one event per job queued (statement level: enqueue can insert many) and per status
-- change (row level with a WHEN clause: heartbeats and progress counters update jobs far more
-- often than their status changes, and the WHEN test costs them almost nothing).
-- The columns sql/orchestrator/requires.toml lists are read by name; the ones a host's
-- processing_jobs may lack (trigger_type, total_records and the counters are the real
-- system's; worker_id and records_failed are the engines' own) through to_jsonb(row), so a
-- host without them still has its job events, those keys left out.
CREATE OR REPLACE FUNCTION trapper.orchestrator_on_job_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    BEGIN
        INSERT INTO trapper.orchestrator_events
            (kind, source_system, source_table, record_ref, payload)
        SELECT 'job_queued', n.source_system, n.source_table, n.job_id::text,
               jsonb_build_object('job_id', n.job_id, 'status', n.status,
                                  'trigger_type', to_jsonb(n) -> 'trigger_type',
                                  'total_records', to_jsonb(n) -> 'total_records')
        FROM new_rows n;
        IF FOUND AND current_setting('atlas_orch.woke', true) IS DISTINCT FROM 'y'
           AND current_setting('atlas_orch.notify', true) IS DISTINCT FROM 'off' THEN
            PERFORM trapper.orchestrator_wake();
        END IF;
    EXCEPTION WHEN OTHERS THEN
        PERFORM trapper.orchestrator_shadow_failed(TG_NAME, SQLSTATE, SQLERRM);
    END;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION trapper.orchestrator_on_job_status() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    BEGIN
        INSERT INTO trapper.orchestrator_events
            (kind, source_system, source_table, record_ref, payload)
        VALUES (CASE NEW.status
                    WHEN 'processing' THEN 'job_started'
                    WHEN 'completed' THEN 'job_completed'
                    WHEN 'queued' THEN 'job_queued'
                    ELSE 'job_failed'
                END,
                NEW.source_system, NEW.source_table, NEW.job_id::text,
                jsonb_strip_nulls(jsonb_build_object(
                    'job_id', NEW.job_id, 'status', NEW.status, 'previous', OLD.status,
                    'attempt', NEW.attempt_count, 'worker_id', to_jsonb(NEW) -> 'worker_id',
                    'records_processed', to_jsonb(NEW) -> 'records_processed',
                    'records_failed', to_jsonb(NEW) -> 'records_failed',
                    'error', left(NEW.last_error, 500),
                    'next_retry_at', NEW.next_retry_at)));
        IF current_setting('atlas_orch.woke', true) IS DISTINCT FROM 'y'
           AND current_setting('atlas_orch.notify', true) IS DISTINCT FROM 'off' THEN
            PERFORM trapper.orchestrator_wake();
        END IF;
    EXCEPTION WHEN OTHERS THEN
        PERFORM trapper.orchestrator_shadow_failed(TG_NAME, SQLSTATE, SQLERRM);
    END;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER orchestrator_job_insert
    AFTER INSERT ON trapper.processing_jobs
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trapper.orchestrator_on_job_insert();

CREATE OR REPLACE TRIGGER orchestrator_job_status
    AFTER UPDATE OF status ON trapper.processing_jobs FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status AND NEW.status <> 'linking')
    EXECUTE FUNCTION trapper.orchestrator_on_job_status();
