-- The live feed's wake-up on the job log.

-- The live feed's wake-up: the job log is the orchestrator's own table, but the router writes
-- it inside the host's processing transactions, so it follows the same once-per-transaction
-- rule and the same setting.
CREATE OR REPLACE FUNCTION trapper.orchestrator_on_log_insert() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_last bigint;
BEGIN
    BEGIN
        SELECT max(log_seq) INTO v_last FROM new_rows;
        IF v_last IS NOT NULL THEN
            PERFORM trapper.orchestrator_notify_once('orchestrator_job_log', v_last);
        END IF;
    EXCEPTION WHEN OTHERS THEN
        PERFORM trapper.orchestrator_shadow_failed(TG_NAME, SQLSTATE, SQLERRM);
    END;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER orchestrator_job_log_insert
    AFTER INSERT ON trapper.orchestrator_job_log REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trapper.orchestrator_on_log_insert();
