-- Merges never chain: the triggers that flatten every merge target on write.

-- What a merged-away person held goes to the survivor (docs/identity.md, "Reviewing"): its
-- identifiers, place and cat links, roles, requests, appointments and household. Left on the
-- merged-away row, they were invisible to every reader of the survivor: the identity engine
-- scored a new record carrying the merged-away person's email as a stranger to the survivor
-- (queued for review again, or a new person), `explain` said the two shared nothing, and a
-- phone both had held counted as two holders (a shared line, demoted). A link the survivor
-- already has is not copied (the keys forbid it); the higher confidence and the earlier
-- "first seen" are kept. The merged-away row keeps no household: the survivor carries it (a
-- household listed twice otherwise). Called by the merge trigger below, and once by core 047
-- for the people merged before it. The merged-away person's entity_sources and decisions stay
-- its own: provenance follows merges to them.
CREATE OR REPLACE FUNCTION trapper.move_person_links(p_from uuid, p_to uuid) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_household uuid;
    v_to_household uuid;
BEGIN
    UPDATE trapper.person_identifiers t SET confidence = f.confidence
    FROM trapper.person_identifiers f
    WHERE f.person_id = p_from AND t.person_id = p_to AND t.id_type = f.id_type
      AND t.id_value_norm = f.id_value_norm AND f.confidence > t.confidence;
    -- the earlier row of an identifier both held is kept: "first seen" stays true
    UPDATE trapper.person_identifiers t
    SET source_system = f.source_system, source_table = f.source_table,
        source_row_id = f.source_row_id, staged_record_id = f.staged_record_id,
        id_value_raw = f.id_value_raw, created_at = f.created_at
    FROM trapper.person_identifiers f
    WHERE f.person_id = p_from AND t.person_id = p_to AND t.id_type = f.id_type
      AND t.id_value_norm = f.id_value_norm AND f.created_at < t.created_at;
    DELETE FROM trapper.person_identifiers f
    WHERE f.person_id = p_from AND EXISTS (
        SELECT 1 FROM trapper.person_identifiers t
        WHERE t.person_id = p_to AND t.id_type = f.id_type AND t.id_value_norm = f.id_value_norm);
    UPDATE trapper.person_identifiers SET person_id = p_to WHERE person_id = p_from;

    UPDATE trapper.person_place t SET confidence = f.confidence
    FROM trapper.person_place f
    WHERE f.person_id = p_from AND t.person_id = p_to AND t.place_id = f.place_id
      AND t.role = f.role AND f.confidence > t.confidence;
    DELETE FROM trapper.person_place f
    WHERE f.person_id = p_from AND EXISTS (
        SELECT 1 FROM trapper.person_place t
        WHERE t.person_id = p_to AND t.place_id = f.place_id AND t.role = f.role);
    UPDATE trapper.person_place SET person_id = p_to WHERE person_id = p_from;

    UPDATE trapper.person_cat t SET confidence = f.confidence
    FROM trapper.person_cat f
    WHERE f.person_id = p_from AND t.person_id = p_to AND t.cat_id = f.cat_id
      AND t.relationship = f.relationship AND f.confidence > t.confidence;
    DELETE FROM trapper.person_cat f
    WHERE f.person_id = p_from AND EXISTS (
        SELECT 1 FROM trapper.person_cat t
        WHERE t.person_id = p_to AND t.cat_id = f.cat_id AND t.relationship = f.relationship);
    UPDATE trapper.person_cat SET person_id = p_to WHERE person_id = p_from;

    DELETE FROM trapper.person_roles f
    WHERE f.person_id = p_from AND EXISTS (
        SELECT 1 FROM trapper.person_roles t WHERE t.person_id = p_to AND t.role = f.role);
    UPDATE trapper.person_roles SET person_id = p_to WHERE person_id = p_from;

    DELETE FROM trapper.request_trappers f
    WHERE f.person_id = p_from AND EXISTS (
        SELECT 1 FROM trapper.request_trappers t
        WHERE t.person_id = p_to AND t.request_id = f.request_id);
    UPDATE trapper.request_trappers SET person_id = p_to WHERE person_id = p_from;

    UPDATE trapper.sot_requests SET requester_person_id = p_to
    WHERE requester_person_id = p_from;
    UPDATE trapper.sot_appointments SET person_id = p_to WHERE person_id = p_from;

    -- a survivor with no email or phone on its row shows the merged-away person's
    UPDATE trapper.sot_people t
    SET primary_email = coalesce(t.primary_email, f.primary_email),
        primary_phone = coalesce(t.primary_phone, f.primary_phone), updated_at = now()
    FROM trapper.sot_people f
    WHERE f.person_id = p_from AND t.person_id = p_to
      AND ((t.primary_email IS NULL AND f.primary_email IS NOT NULL)
           OR (t.primary_phone IS NULL AND f.primary_phone IS NOT NULL));

    SELECT household_id INTO v_household FROM trapper.sot_people WHERE person_id = p_from;
    IF v_household IS NOT NULL THEN
        SELECT household_id INTO v_to_household FROM trapper.sot_people WHERE person_id = p_to;
        UPDATE trapper.sot_people SET household_id = NULL WHERE person_id = p_from;
        IF v_to_household IS NULL THEN
            UPDATE trapper.sot_people SET household_id = v_household, updated_at = now()
            WHERE person_id = p_to;
        ELSIF v_to_household <> v_household THEN
            -- one person, one household: the merged-away person's housemates are the
            -- survivor's, and the household left empty goes
            UPDATE trapper.sot_people SET household_id = v_to_household, updated_at = now()
            WHERE household_id = v_household;
            DELETE FROM trapper.households WHERE household_id = v_household;
        END IF;
    END IF;
END $$;

-- No merge chains, ever: a merge target is resolved to its canonical entity before the
-- row is written, a self-merge is refused, and whatever was merged into the row being
-- merged is re-pointed at the new target.
CREATE OR REPLACE FUNCTION trapper.people_flatten_merge() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.merged_into_person_id IS NOT NULL
       AND NEW.merged_into_person_id IS DISTINCT FROM OLD.merged_into_person_id THEN
        NEW.merged_into_person_id := trapper.get_canonical_person_id(NEW.merged_into_person_id);
        IF NEW.merged_into_person_id = NEW.person_id THEN
            RAISE EXCEPTION 'person % cannot be merged into itself', NEW.person_id;
        END IF;
        NEW.merged_at := coalesce(NEW.merged_at, now());
        UPDATE trapper.sot_people SET merged_into_person_id = NEW.merged_into_person_id
        WHERE merged_into_person_id = NEW.person_id;
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER sot_people_flatten_merge
    BEFORE UPDATE OF merged_into_person_id ON trapper.sot_people
    FOR EACH ROW EXECUTE FUNCTION trapper.people_flatten_merge();

-- After the merge is written (its target flattened above), what the person held moves to it.
CREATE OR REPLACE FUNCTION trapper.people_move_merged_links() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.merged_into_person_id IS NOT NULL
       AND NEW.merged_into_person_id IS DISTINCT FROM OLD.merged_into_person_id THEN
        PERFORM trapper.move_person_links(NEW.person_id, NEW.merged_into_person_id);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER sot_people_move_merged_links
    AFTER UPDATE OF merged_into_person_id ON trapper.sot_people
    FOR EACH ROW EXECUTE FUNCTION trapper.people_move_merged_links();

-- What a merged-away place held goes to the survivor, as a person's does (above): the people
-- and cats linked to it, requests, appointments, colony estimates, contexts, households and
-- places within it. Left behind, a person or cat linked to a place made before its town was
-- known stayed on the merged-away row, off the survivor's map and counts.
CREATE OR REPLACE FUNCTION trapper.move_place_links(p_from uuid, p_to uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE trapper.person_place t SET confidence = f.confidence
    FROM trapper.person_place f
    WHERE f.place_id = p_from AND t.place_id = p_to AND t.person_id = f.person_id
      AND t.role = f.role AND f.confidence > t.confidence;
    DELETE FROM trapper.person_place f
    WHERE f.place_id = p_from AND EXISTS (
        SELECT 1 FROM trapper.person_place t
        WHERE t.place_id = p_to AND t.person_id = f.person_id AND t.role = f.role);
    UPDATE trapper.person_place SET place_id = p_to WHERE place_id = p_from;

    UPDATE trapper.cat_place t SET confidence = f.confidence
    FROM trapper.cat_place f
    WHERE f.place_id = p_from AND t.place_id = p_to AND t.cat_id = f.cat_id
      AND t.relationship = f.relationship AND f.confidence > t.confidence;
    DELETE FROM trapper.cat_place f
    WHERE f.place_id = p_from AND EXISTS (
        SELECT 1 FROM trapper.cat_place t
        WHERE t.place_id = p_to AND t.cat_id = f.cat_id AND t.relationship = f.relationship);
    UPDATE trapper.cat_place SET place_id = p_to WHERE place_id = p_from;

    DELETE FROM trapper.place_colony_estimates f
    WHERE f.place_id = p_from AND EXISTS (
        SELECT 1 FROM trapper.place_colony_estimates t
        WHERE t.place_id = p_to AND t.source_system = f.source_system
          AND t.source_record_id = f.source_record_id);
    UPDATE trapper.place_colony_estimates SET place_id = p_to WHERE place_id = p_from;

    DELETE FROM trapper.place_contexts f
    WHERE f.place_id = p_from AND EXISTS (
        SELECT 1 FROM trapper.place_contexts t
        WHERE t.place_id = p_to AND t.context_type = f.context_type
          AND t.valid_to IS NOT DISTINCT FROM f.valid_to);
    UPDATE trapper.place_contexts SET place_id = p_to WHERE place_id = p_from;

    UPDATE trapper.sot_requests SET place_id = p_to WHERE place_id = p_from;
    UPDATE trapper.sot_appointments SET place_id = p_to WHERE place_id = p_from;
    UPDATE trapper.households SET place_id = p_to WHERE place_id = p_from;
    UPDATE trapper.places SET parent_place_id = p_to
    WHERE parent_place_id = p_from AND place_id <> p_to;
END $$;

-- What a merged-away cat held goes to the survivor: its identifiers, people, places,
-- appointments and observations.
CREATE OR REPLACE FUNCTION trapper.move_cat_links(p_from uuid, p_to uuid) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE trapper.cat_identifiers SET cat_id = p_to WHERE cat_id = p_from;

    UPDATE trapper.person_cat t SET confidence = f.confidence
    FROM trapper.person_cat f
    WHERE f.cat_id = p_from AND t.cat_id = p_to AND t.person_id = f.person_id
      AND t.relationship = f.relationship AND f.confidence > t.confidence;
    DELETE FROM trapper.person_cat f
    WHERE f.cat_id = p_from AND EXISTS (
        SELECT 1 FROM trapper.person_cat t
        WHERE t.cat_id = p_to AND t.person_id = f.person_id
          AND t.relationship = f.relationship);
    UPDATE trapper.person_cat SET cat_id = p_to WHERE cat_id = p_from;

    UPDATE trapper.cat_place t SET confidence = f.confidence
    FROM trapper.cat_place f
    WHERE f.cat_id = p_from AND t.cat_id = p_to AND t.place_id = f.place_id
      AND t.relationship = f.relationship AND f.confidence > t.confidence;
    DELETE FROM trapper.cat_place f
    WHERE f.cat_id = p_from AND EXISTS (
        SELECT 1 FROM trapper.cat_place t
        WHERE t.cat_id = p_to AND t.place_id = f.place_id AND t.relationship = f.relationship);
    UPDATE trapper.cat_place SET cat_id = p_to WHERE cat_id = p_from;

    UPDATE trapper.sot_appointments SET cat_id = p_to WHERE cat_id = p_from;
    UPDATE trapper.cat_observations SET cat_id = p_to WHERE cat_id = p_from;
END $$;

CREATE OR REPLACE FUNCTION trapper.places_flatten_merge() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.merged_into_place_id IS NOT NULL
       AND NEW.merged_into_place_id IS DISTINCT FROM OLD.merged_into_place_id THEN
        NEW.merged_into_place_id := trapper.get_canonical_place_id(NEW.merged_into_place_id);
        IF NEW.merged_into_place_id = NEW.place_id THEN
            RAISE EXCEPTION 'place % cannot be merged into itself', NEW.place_id;
        END IF;
        NEW.merged_at := coalesce(NEW.merged_at, now());
        UPDATE trapper.places SET merged_into_place_id = NEW.merged_into_place_id
        WHERE merged_into_place_id = NEW.place_id;
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER places_flatten_merge
    BEFORE UPDATE OF merged_into_place_id ON trapper.places
    FOR EACH ROW EXECUTE FUNCTION trapper.places_flatten_merge();

CREATE OR REPLACE FUNCTION trapper.places_move_merged_links() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.merged_into_place_id IS NOT NULL
       AND NEW.merged_into_place_id IS DISTINCT FROM OLD.merged_into_place_id THEN
        PERFORM trapper.move_place_links(NEW.place_id, NEW.merged_into_place_id);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER places_move_merged_links
    AFTER UPDATE OF merged_into_place_id ON trapper.places
    FOR EACH ROW EXECUTE FUNCTION trapper.places_move_merged_links();

CREATE OR REPLACE FUNCTION trapper.cats_flatten_merge() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.merged_into_cat_id IS NOT NULL
       AND NEW.merged_into_cat_id IS DISTINCT FROM OLD.merged_into_cat_id THEN
        NEW.merged_into_cat_id := trapper.get_canonical_cat_id(NEW.merged_into_cat_id);
        IF NEW.merged_into_cat_id = NEW.cat_id THEN
            RAISE EXCEPTION 'cat % cannot be merged into itself', NEW.cat_id;
        END IF;
        NEW.merged_at := coalesce(NEW.merged_at, now());
        UPDATE trapper.sot_cats SET merged_into_cat_id = NEW.merged_into_cat_id
        WHERE merged_into_cat_id = NEW.cat_id;
        -- a cat is fixed once and stays so: a merged cat's Yes is the survivor's
        -- (docs/processing.md, "A cat's sex and altered status")
        IF NEW.altered_status = 'Yes' THEN
            UPDATE trapper.sot_cats SET altered_status = 'Yes', updated_at = now()
            WHERE cat_id = NEW.merged_into_cat_id AND altered_status IS DISTINCT FROM 'Yes';
        END IF;
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER sot_cats_flatten_merge
    BEFORE UPDATE OF merged_into_cat_id ON trapper.sot_cats
    FOR EACH ROW EXECUTE FUNCTION trapper.cats_flatten_merge();

CREATE OR REPLACE FUNCTION trapper.cats_move_merged_links() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.merged_into_cat_id IS NOT NULL
       AND NEW.merged_into_cat_id IS DISTINCT FROM OLD.merged_into_cat_id THEN
        PERFORM trapper.move_cat_links(NEW.cat_id, NEW.merged_into_cat_id);
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE TRIGGER sot_cats_move_merged_links
    AFTER UPDATE OF merged_into_cat_id ON trapper.sot_cats
    FOR EACH ROW EXECUTE FUNCTION trapper.cats_move_merged_links();
