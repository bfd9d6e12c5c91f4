-- Post-processing: the six linking operations of run_all_entity_linking() (each returns
-- its count and records what it could not link, and why).

CREATE OR REPLACE FUNCTION trapper.skip_link(p_type text, p_id uuid, p_operation text, p_reason text)
RETURNS void
LANGUAGE sql AS $$
    INSERT INTO trapper.entity_linking_skipped (entity_type, entity_id, operation, reason)
    VALUES (p_type, p_id, p_operation, p_reason)
    ON CONFLICT (entity_type, entity_id, operation)
    DO UPDATE SET reason = EXCLUDED.reason, recorded_at = now()
$$;

-- Each statement runs through EXECUTE: a plan cached by PL/pgSQL in a worker's session
-- when the tables were nearly empty (after the first job) turned into minutes-long nested
-- loops once they were full. The texts are constants of this function, never data.
CREATE OR REPLACE FUNCTION trapper.run_all_entity_linking()
RETURNS TABLE (operation text, count integer)
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    -- One linking run at a time: two workers finishing jobs together would otherwise race
    -- on the same links and on the skipped list.
    PERFORM pg_advisory_xact_lock(hashtextextended('run_all_entity_linking', 42));
    -- 1. appointments → owners, through the owner_info row of the same Number and date
    -- A lateral index probe per unlinked appointment: as a join, a planner without fresh
    -- statistics chose a nested loop over every owner row (7 minutes at atlas scale).
    EXECUTE $sql$
    WITH owners AS (
        SELECT a.appointment_id, trapper.get_canonical_person_id(es.entity_id) AS person_id
        FROM trapper.sot_appointments a
        CROSS JOIN LATERAL (
            SELECT e.entity_id FROM trapper.entity_sources e
            WHERE e.source_system = 'clinichq' AND e.source_table = 'owner_info'
              AND e.source_row_id = (a.appointment_number || '_'
                                     || to_char(a.appointment_date, 'YYYY-MM-DD')) COLLATE "C"
              AND e.entity_type = 'person'
            ORDER BY e.entity_source_id
            LIMIT 1
        ) es
        WHERE a.person_id IS NULL
    )
    UPDATE trapper.sot_appointments a SET person_id = o.person_id
    FROM owners o WHERE a.appointment_id = o.appointment_id
    $sql$;
    GET DIAGNOSTICS n = ROW_COUNT;
    operation := 'appointments_to_owners'; count := n; RETURN NEXT;

    -- 2. places created from intake: requests whose place was not set at creation
    EXECUTE $sql$
    UPDATE trapper.sot_requests r SET place_id = w.matched_place_id
    FROM trapper.web_intake_submissions w
    WHERE w.created_request_id = r.request_id AND r.place_id IS NULL
      AND w.matched_place_id IS NOT NULL
    $sql$;
    GET DIAGNOSTICS n = ROW_COUNT;
    operation := 'intake_places'; count := n; RETURN NEXT;

    -- 3. intake requesters → the request's place
    EXECUTE $sql$
    INSERT INTO trapper.person_place (person_id, place_id, role, confidence, source_system)
    SELECT DISTINCT trapper.get_canonical_person_id(r.requester_person_id), r.place_id,
           'requester', 0.55, r.source_system
    FROM trapper.sot_requests r
    WHERE r.requester_person_id IS NOT NULL AND r.place_id IS NOT NULL
    ON CONFLICT DO NOTHING
    $sql$;
    GET DIAGNOSTICS n = ROW_COUNT;
    operation := 'requesters_to_places'; count := n; RETURN NEXT;

    -- 4. cats → places, through their owner's or caretaker's residence
    EXECUTE $sql$
    INSERT INTO trapper.cat_place (cat_id, place_id, relationship, confidence, source_system)
    SELECT DISTINCT pc.cat_id, pp.place_id, 'home', 0.6, 'linking'
    FROM trapper.person_cat pc
    JOIN trapper.person_place pp ON pp.person_id = pc.person_id AND pp.role = 'resident'
    WHERE pc.relationship IN ('owner', 'caretaker', 'adopter', 'foster')
    ON CONFLICT DO NOTHING
    $sql$;
    GET DIAGNOSTICS n = ROW_COUNT;
    operation := 'cats_to_places'; count := n; RETURN NEXT;

    -- 5. requests → trappers, through the trapper records the request names
    EXECUTE $sql$
    INSERT INTO trapper.request_trappers (request_id, person_id, source)
    SELECT DISTINCT r.request_id, trapper.get_canonical_person_id(pi.person_id), 'airtable'
    FROM trapper.sot_requests r
    CROSS JOIN LATERAL unnest(r.assigned_trapper_refs) ref
    JOIN trapper.person_identifiers pi
      ON pi.id_type = 'external_id' AND pi.id_value_norm = 'airtable:' || ref
    ON CONFLICT DO NOTHING
    $sql$;
    GET DIAGNOSTICS n = ROW_COUNT;
    operation := 'appointments_to_trappers'; count := n; RETURN NEXT;

    -- 6. cats → places through the appointment's person
    EXECUTE $sql$
    INSERT INTO trapper.cat_place (cat_id, place_id, relationship, confidence, source_system)
    SELECT DISTINCT a.cat_id, pp.place_id, 'appointment_site', 0.5, 'linking'
    FROM trapper.sot_appointments a
    JOIN trapper.person_place pp ON pp.person_id = a.person_id AND pp.role = 'resident'
    WHERE a.cat_id IS NOT NULL
    ON CONFLICT DO NOTHING
    $sql$;
    GET DIAGNOSTICS n = ROW_COUNT;
    operation := 'cats_to_places_via_appointments'; count := n; RETURN NEXT;

    -- What could not be linked, and why (replaced on every run).
    EXECUTE $sql$
    DELETE FROM trapper.entity_linking_skipped
    $sql$;
    EXECUTE $sql$
    INSERT INTO trapper.entity_linking_skipped (entity_type, entity_id, operation, reason)
    SELECT 'cat', c.cat_id, 'cats_to_places',
           CASE WHEN NOT EXISTS (SELECT 1 FROM trapper.person_cat pc WHERE pc.cat_id = c.cat_id)
                THEN 'no person is linked to this cat (community cat booked under an account, or no owner row)'
                ELSE 'its people have no known address' END
    FROM trapper.sot_cats c
    WHERE c.merged_into_cat_id IS NULL
      AND NOT EXISTS (SELECT 1 FROM trapper.cat_place cp WHERE cp.cat_id = c.cat_id)
    ON CONFLICT DO NOTHING
    $sql$;
    EXECUTE $sql$
    INSERT INTO trapper.entity_linking_skipped (entity_type, entity_id, operation, reason)
    SELECT 'request', r.request_id, 'appointments_to_trappers',
           CASE WHEN coalesce(cardinality(r.assigned_trapper_refs), 0) = 0
                THEN 'no trapper is assigned in the source'
                ELSE 'the assigned trapper record has not been ingested' END
    FROM trapper.sot_requests r
    WHERE r.source_system = 'airtable' AND r.summary IS DISTINCT FROM 'appointment request'
      AND NOT EXISTS (SELECT 1 FROM trapper.request_trappers t WHERE t.request_id = r.request_id)
    ON CONFLICT DO NOTHING
    $sql$;
    EXECUTE $sql$
    INSERT INTO trapper.entity_linking_skipped (entity_type, entity_id, operation, reason)
    SELECT 'appointment', a.appointment_id, 'appointments_to_owners',
           'the owner row of this appointment names an account, not a person'
    FROM trapper.sot_appointments a
    WHERE a.person_id IS NULL AND a.clinic_account_id IS NOT NULL
    ON CONFLICT DO NOTHING
    $sql$;
END $$;

-- The same as one JSON object, for job results and the cron route.
CREATE OR REPLACE FUNCTION trapper.run_all_entity_linking_json() RETURNS jsonb
LANGUAGE sql AS $$
    SELECT jsonb_object_agg(operation, count) FROM trapper.run_all_entity_linking()
$$;
