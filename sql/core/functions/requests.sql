-- Requests: find-or-create by the source's record id.

-- Requests dedup on (source_system, source_record_id) only, as in the real system.
CREATE OR REPLACE FUNCTION trapper.find_or_create_request(
    p_source_system text, p_source_record_id text, p_source_created_at timestamptz,
    p_place_id uuid, p_requester_person_id uuid, p_summary text, p_status text DEFAULT 'new',
    p_priority text DEFAULT NULL, p_estimated_cat_count integer DEFAULT NULL,
    p_has_kittens boolean DEFAULT NULL, p_trapper_refs text[] DEFAULT NULL,
    p_staged_record_id bigint DEFAULT NULL
) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_id uuid;
BEGIN
    INSERT INTO trapper.sot_requests
        (source_system, source_record_id, source_created_at, place_id, requester_person_id,
         summary, status, priority, estimated_cat_count, has_kittens, assigned_trapper_refs)
    VALUES (p_source_system, p_source_record_id, p_source_created_at, p_place_id,
            p_requester_person_id, p_summary, coalesce(p_status, 'new'), p_priority,
            p_estimated_cat_count, p_has_kittens, p_trapper_refs)
    ON CONFLICT (source_system, source_record_id) DO UPDATE SET
        place_id = coalesce(trapper.sot_requests.place_id, EXCLUDED.place_id),
        requester_person_id = coalesce(trapper.sot_requests.requester_person_id,
                                       EXCLUDED.requester_person_id),
        estimated_cat_count = coalesce(EXCLUDED.estimated_cat_count,
                                       trapper.sot_requests.estimated_cat_count),
        assigned_trapper_refs = coalesce(EXCLUDED.assigned_trapper_refs,
                                         trapper.sot_requests.assigned_trapper_refs),
        updated_at = now()
    RETURNING request_id INTO v_id;
    IF p_staged_record_id IS NOT NULL THEN
        PERFORM trapper.record_entity_source('request', v_id, p_staged_record_id, 'created');
    END IF;
    RETURN v_id;
END $$;
