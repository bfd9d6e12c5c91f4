-- The shadow trigger on staged_records. Contract 2 (002_shadow_triggers.sql): nothing here
-- may raise into the host's transaction.
-- They run as the role that installed the orchestrator (SECURITY DEFINER, with a fixed
-- search_path): the host's own roles write these tables and hold no right on the
-- orchestrator's, which is how it stays additive (docs/operations.md, "Roles and rights").

-- Staged rows: one event per statement, however many rows it inserted.
CREATE OR REPLACE FUNCTION trapper.orchestrator_on_staged_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    BEGIN
        INSERT INTO trapper.orchestrator_events
                (kind, source_system, source_table, payload)
            SELECT 'staged', n.source_system, n.source_table,
                   jsonb_build_object('count', count(*), 'min_id', min(n.id),
                                      'max_id', max(n.id),
                                      'ingest_run_id', max(n.ingest_run_id))
            FROM new_rows n
            GROUP BY n.source_system, n.source_table;
        -- inline tests: once the transaction has woken listeners (or notify is off) the
        -- trigger makes no further call
        IF FOUND AND current_setting('atlas_orch.woke', true) IS DISTINCT FROM 'y'
           AND current_setting('atlas_orch.notify', true) IS DISTINCT FROM 'off' THEN
            PERFORM trapper.orchestrator_wake();
        END IF;
    EXCEPTION WHEN OTHERS THEN
        PERFORM trapper.orchestrator_shadow_failed(TG_NAME, SQLSTATE, SQLERRM);
    END;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER orchestrator_staged_insert
    AFTER INSERT ON trapper.staged_records
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trapper.orchestrator_on_staged_insert();
