-- Post-processing: the six linking operations of run_all_entity_linking() (each returns
-- its count and records what it could not link, and why), place context with manual > AI
-- precedence, and the AI extraction queue (filled with a trigger reason; the AI itself is
-- out of scope).

CREATE TABLE trapper.entity_linking_skipped (
    entity_type  text NOT NULL,
    entity_id    uuid NOT NULL,
    operation    text NOT NULL,
    reason       text NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (entity_type, entity_id, operation)
);

CREATE FUNCTION trapper.skip_link(p_type text, p_id uuid, p_operation text, p_reason text)
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
CREATE FUNCTION trapper.run_all_entity_linking()
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
CREATE FUNCTION trapper.run_all_entity_linking_json() RETURNS jsonb
LANGUAGE sql AS $$
    SELECT jsonb_object_agg(operation, count) FROM trapper.run_all_entity_linking()
$$;

CREATE TABLE trapper.place_contexts (
    context_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    place_id       uuid NOT NULL REFERENCES trapper.places,
    context_type   text NOT NULL,
    valid_from     date,
    valid_to       date,
    evidence_type  text NOT NULL CHECK (evidence_type IN ('manual', 'ai', 'inferred')),
    evidence_notes text,
    confidence     numeric(3, 2) NOT NULL DEFAULT 0.5,
    source         text,
    is_verified    boolean NOT NULL DEFAULT false,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE NULLS NOT DISTINCT (place_id, context_type, valid_to)
);

-- Classify a place. Manual outranks AI: an AI or inferred assignment never overrides a
-- verified or manual one, and an assignment's confidence only rises. Returns what holds.
CREATE FUNCTION trapper.assign_place_context(
    p_place_id uuid, p_context_type text, p_valid_from date DEFAULT NULL,
    p_evidence_type text DEFAULT 'inferred', p_evidence_notes text DEFAULT NULL,
    p_confidence numeric DEFAULT 0.5, p_source text DEFAULT NULL,
    p_is_verified boolean DEFAULT false
) RETURNS trapper.place_contexts
LANGUAGE plpgsql AS $$
DECLARE
    cur trapper.place_contexts;
BEGIN
    SELECT * INTO cur FROM trapper.place_contexts
    WHERE place_id = p_place_id AND context_type = p_context_type AND valid_to IS NULL
    FOR UPDATE;
    IF cur.context_id IS NULL THEN
        INSERT INTO trapper.place_contexts (place_id, context_type, valid_from, evidence_type,
            evidence_notes, confidence, source, is_verified)
        VALUES (p_place_id, p_context_type, p_valid_from, p_evidence_type, p_evidence_notes,
                p_confidence, p_source, p_is_verified)
        RETURNING * INTO cur;
        RETURN cur;
    END IF;
    IF (cur.is_verified OR cur.evidence_type = 'manual')
       AND p_evidence_type <> 'manual' AND NOT p_is_verified THEN
        RETURN cur;   -- manual > AI: the machine never overrides a person
    END IF;
    UPDATE trapper.place_contexts SET
        evidence_type = CASE WHEN p_evidence_type = 'manual' OR p_is_verified
                             THEN p_evidence_type ELSE evidence_type END,
        evidence_notes = coalesce(p_evidence_notes, evidence_notes),
        confidence = greatest(confidence, p_confidence),
        source = coalesce(p_source, source),
        is_verified = is_verified OR p_is_verified,
        valid_from = coalesce(valid_from, p_valid_from),
        updated_at = now()
    WHERE context_id = cur.context_id
    RETURNING * INTO cur;
    RETURN cur;
END $$;

CREATE TABLE trapper.extraction_queue (
    extraction_id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entity_type       text NOT NULL,
    entity_id         uuid NOT NULL,
    source_table      text,
    source_record_id  text,
    priority          integer NOT NULL DEFAULT 50 CHECK (priority BETWEEN 1 AND 100),
    trigger_reason    text NOT NULL
        CHECK (trigger_reason IN ('new_record', 'related_update', 'weekly_refresh', 'manual')),
    queued_at         timestamptz NOT NULL DEFAULT now(),
    started_at        timestamptz,
    completed_at      timestamptz,
    error_message     text
);
CREATE UNIQUE INDEX extraction_queue_pending_idx
    ON trapper.extraction_queue (entity_type, entity_id) WHERE completed_at IS NULL;

-- New requests with free text are queued for AI enrichment (the trigger reason says why).
CREATE FUNCTION trapper.queue_request_extraction() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO trapper.extraction_queue
        (entity_type, entity_id, source_table, source_record_id, priority, trigger_reason)
    SELECT 'request', n.request_id, n.source_system, n.source_record_id,
           CASE WHEN n.has_kittens THEN 80 ELSE 50 END, 'new_record'
    FROM new_requests n
    WHERE nullif(btrim(n.summary), '') IS NOT NULL
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;
CREATE TRIGGER sot_requests_queue_extraction
    AFTER INSERT ON trapper.sot_requests
    REFERENCING NEW TABLE AS new_requests
    FOR EACH STATEMENT EXECUTE FUNCTION trapper.queue_request_extraction();

-- Fresh planner statistics for the tables a bulk load grows. PL/pgSQL keeps the plans it
-- made when these tables were nearly empty; new statistics make it plan again. The worker
-- calls this every processing_settings.analyze_every_records records.
CREATE FUNCTION trapper.refresh_planner_statistics() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    ANALYZE trapper.staged_records, trapper.processing_jobs, trapper.sot_people,
            trapper.person_identifiers, trapper.places, trapper.sot_cats,
            trapper.cat_identifiers, trapper.entity_sources, trapper.person_place,
            trapper.person_cat, trapper.cat_place, trapper.sot_appointments,
            trapper.data_engine_match_decisions, trapper.sot_requests;
END $$;

INSERT INTO trapper.processing_settings (key, value, description) VALUES
    ('analyze_every_records', 20000,
     'a worker refreshes planner statistics after this many records (0: never)');
