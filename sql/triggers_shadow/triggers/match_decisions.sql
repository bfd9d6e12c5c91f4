-- The shadow trigger on identity decisions (disabled while decisions are polled:
-- orchestrator_set_capture). Contract 2 (002_shadow_triggers.sql): nothing here may raise
-- into the host's transaction.
-- They run as the role that installed the orchestrator (SECURITY DEFINER, with a fixed
-- search_path): the host's own roles write these tables and hold no right on the
-- orchestrator's, which is how it stays additive (docs/operations.md, "Roles and rights").

-- Identity decisions: the event names the decision; the listener reads its reason and score.
CREATE OR REPLACE FUNCTION trapper.orchestrator_on_match_decision() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    BEGIN
        INSERT INTO trapper.orchestrator_events
                (kind, source_system, source_table, record_ref, entity_ref, payload)
            SELECT 'identity_decision', n.source_system, n.source_table, n.source_row_id,
                   n.resulting_person_id::text,
                   jsonb_build_object('decision_id', n.decision_id,
                                      'staged_record_id', n.staged_record_id)
            FROM new_rows n;
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

CREATE OR REPLACE TRIGGER orchestrator_match_decision_insert
    AFTER INSERT ON trapper.data_engine_match_decisions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trapper.orchestrator_on_match_decision();
