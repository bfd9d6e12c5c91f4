-- The shadow triggers on sot_people, places and sot_cats (the insert triggers are disabled
-- while entities are polled: orchestrator_set_capture). Contract 2
-- (002_shadow_triggers.sql): nothing here may raise into the host's transaction.
-- They run as the role that installed the orchestrator (SECURITY DEFINER, with a fixed
-- search_path): the host's own roles write these tables and hold no right on the
-- orchestrator's, which is how it stays additive (docs/operations.md, "Roles and rights").

-- Entities created: one statement-level trigger per table. One function serves the three
-- tables; PL/pgSQL prepares a statement on first use, so each branch only ever meets its own
-- table's transition rows and no column name is spliced into SQL.
CREATE OR REPLACE FUNCTION trapper.orchestrator_on_entity_insert() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    BEGIN
        IF TG_TABLE_NAME = 'sot_people' THEN
            INSERT INTO trapper.orchestrator_events (kind, source_system, source_table,
                                                     entity_ref, payload)
            SELECT 'entity_created', 'atlas', 'sot_people', n.person_id::text,
                   '{"entity_type": "person"}'
            FROM new_rows n;
        ELSIF TG_TABLE_NAME = 'places' THEN
            INSERT INTO trapper.orchestrator_events (kind, source_system, source_table,
                                                     entity_ref, payload)
            SELECT 'entity_created', 'atlas', 'places', n.place_id::text,
                   '{"entity_type": "place"}'
            FROM new_rows n;
        ELSE
            INSERT INTO trapper.orchestrator_events (kind, source_system, source_table,
                                                     entity_ref, payload)
            SELECT 'entity_created', 'atlas', 'sot_cats', n.cat_id::text,
                   '{"entity_type": "cat"}'
            FROM new_rows n;
        END IF;
        IF FOUND AND current_setting('atlas_orch.woke', true) IS DISTINCT FROM 'y'
           AND current_setting('atlas_orch.notify', true) IS DISTINCT FROM 'off' THEN
            PERFORM trapper.orchestrator_wake();
        END IF;
    EXCEPTION WHEN OTHERS THEN
        PERFORM trapper.orchestrator_shadow_failed(TG_NAME, SQLSTATE, SQLERRM);
    END;
    RETURN NULL;
END $$;

-- Entities merged: a row-level trigger whose WHEN clause picks out the merge itself. Entity
-- tables are updated all the time (survivorship, geocoding, links) and merges are rare, so
-- a statement-level trigger would make every one of those updates pay for two transition
-- tables; the WHEN clause is tested in C and costs almost nothing.
CREATE OR REPLACE FUNCTION trapper.orchestrator_on_entity_merge() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
DECLARE
    v_id text;
    v_into text;
BEGIN
    BEGIN
        IF TG_TABLE_NAME = 'sot_people' THEN
            v_id := NEW.person_id::text;
            v_into := NEW.merged_into_person_id::text;
        ELSIF TG_TABLE_NAME = 'places' THEN
            v_id := NEW.place_id::text;
            v_into := NEW.merged_into_place_id::text;
        ELSE
            v_id := NEW.cat_id::text;
            v_into := NEW.merged_into_cat_id::text;
        END IF;
        INSERT INTO trapper.orchestrator_events (kind, source_system, source_table,
                                                 entity_ref, payload)
        VALUES ('entity_merged', 'atlas', TG_TABLE_NAME, v_id,
                jsonb_build_object('entity_type', TG_ARGV[0], 'merged_into', v_into));
        IF current_setting('atlas_orch.woke', true) IS DISTINCT FROM 'y'
           AND current_setting('atlas_orch.notify', true) IS DISTINCT FROM 'off' THEN
            PERFORM trapper.orchestrator_wake();
        END IF;
    EXCEPTION WHEN OTHERS THEN
        PERFORM trapper.orchestrator_shadow_failed(TG_NAME, SQLSTATE, SQLERRM);
    END;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER orchestrator_person_insert
    AFTER INSERT ON trapper.sot_people REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trapper.orchestrator_on_entity_insert();

CREATE OR REPLACE TRIGGER orchestrator_person_merge
    AFTER UPDATE OF merged_into_person_id ON trapper.sot_people FOR EACH ROW
    WHEN (OLD.merged_into_person_id IS NULL AND NEW.merged_into_person_id IS NOT NULL)
    EXECUTE FUNCTION trapper.orchestrator_on_entity_merge('person');

CREATE OR REPLACE TRIGGER orchestrator_place_insert
    AFTER INSERT ON trapper.places REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trapper.orchestrator_on_entity_insert();

CREATE OR REPLACE TRIGGER orchestrator_place_merge
    AFTER UPDATE OF merged_into_place_id ON trapper.places FOR EACH ROW
    WHEN (OLD.merged_into_place_id IS NULL AND NEW.merged_into_place_id IS NOT NULL)
    EXECUTE FUNCTION trapper.orchestrator_on_entity_merge('place');

CREATE OR REPLACE TRIGGER orchestrator_cat_insert
    AFTER INSERT ON trapper.sot_cats REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION trapper.orchestrator_on_entity_insert();

CREATE OR REPLACE TRIGGER orchestrator_cat_merge
    AFTER UPDATE OF merged_into_cat_id ON trapper.sot_cats FOR EACH ROW
    WHEN (OLD.merged_into_cat_id IS NULL AND NEW.merged_into_cat_id IS NOT NULL)
    EXECUTE FUNCTION trapper.orchestrator_on_entity_merge('cat');
