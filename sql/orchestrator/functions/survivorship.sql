-- ORCH_006: which source wins each field of a person, cat or place. The router applies it
-- when it updates an existing entity; the engines' processors keep their own rules.

-- PL/pgSQL, not SQL: it is called per field per record, and a non-inlined SQL function
-- is planned again on every call.
CREATE OR REPLACE FUNCTION trapper.orchestrator_field_rank(p_entity text, p_field text, p_source text)
RETURNS integer
LANGUAGE plpgsql STABLE AS $$
DECLARE
    r integer;
BEGIN
    SELECT rank INTO r FROM trapper.orchestrator_field_survivorship
    WHERE entity_type = p_entity AND field = p_field AND source_system = p_source;
    IF r IS NULL THEN
        SELECT rank INTO r FROM trapper.orchestrator_source_confidence
        WHERE source_system = p_source;
    END IF;
    RETURN coalesce(r, 100);
END $$;

-- Write one managed field (the only place the router writes entity columns itself).
CREATE OR REPLACE FUNCTION trapper.orchestrator_set_field(
    p_entity text, p_id uuid, p_field text, p_value text
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    CASE p_entity || '.' || p_field
        WHEN 'person.first_name' THEN
            UPDATE trapper.sot_people SET first_name = p_value, updated_at = now(),
                display_name = btrim(p_value || ' ' || coalesce(last_name, ''))
            WHERE person_id = p_id;
        WHEN 'person.last_name' THEN
            UPDATE trapper.sot_people SET last_name = p_value, updated_at = now(),
                display_name = btrim(coalesce(first_name, '') || ' ' || p_value)
            WHERE person_id = p_id;
        WHEN 'cat.name' THEN
            UPDATE trapper.sot_cats SET display_name = p_value, updated_at = now()
            WHERE cat_id = p_id;
        WHEN 'cat.sex' THEN
            UPDATE trapper.sot_cats SET sex = p_value, updated_at = now() WHERE cat_id = p_id;
        WHEN 'cat.breed' THEN
            UPDATE trapper.sot_cats SET breed = p_value, updated_at = now() WHERE cat_id = p_id;
        WHEN 'cat.primary_color' THEN
            UPDATE trapper.sot_cats SET primary_color = p_value, updated_at = now()
            WHERE cat_id = p_id;
        WHEN 'place.display_name' THEN
            UPDATE trapper.places SET display_name = p_value, updated_at = now()
            WHERE place_id = p_id;
    END CASE;
END $$;

CREATE OR REPLACE FUNCTION trapper.orchestrator_current_field(p_entity text, p_id uuid, p_field text,
                                                   OUT value text, OUT source text)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    CASE p_entity
        WHEN 'person' THEN
            SELECT CASE p_field WHEN 'first_name' THEN first_name ELSE last_name END,
                   data_source INTO value, source
            FROM trapper.sot_people WHERE person_id = p_id;
        WHEN 'cat' THEN
            SELECT CASE p_field WHEN 'name' THEN display_name WHEN 'sex' THEN sex
                                WHEN 'breed' THEN breed ELSE primary_color END, NULL
            INTO value, source FROM trapper.sot_cats WHERE cat_id = p_id;
        ELSE
            SELECT display_name, geocode_source INTO value, source
            FROM trapper.places WHERE place_id = p_id;
    END CASE;
END $$;

-- Apply survivorship to an entity the router created or matched: an incoming value
-- replaces the stored one only when its source outranks the source that set it. Returns
-- what was decided, field by field, for the decision's details.
CREATE OR REPLACE FUNCTION trapper.orchestrator_apply_survivorship(
    p_entity text, p_id uuid, p_source text, p_values jsonb, p_created boolean
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    f text;
    v text;
    cur record;
    cur_source text;
    out jsonb := '[]';
BEGIN
    IF p_id IS NULL THEN
        RETURN out;
    END IF;
    FOR f IN SELECT field FROM trapper.orchestrator_survivorship_fields
             WHERE entity_type = p_entity ORDER BY field LOOP
        v := nullif(btrim(p_values ->> f), '');
        CONTINUE WHEN v IS NULL;
        SELECT source_system INTO cur_source FROM trapper.orchestrator_field_provenance
        WHERE entity_type = p_entity AND entity_id = p_id AND field = f;
        cur := trapper.orchestrator_current_field(p_entity, p_id, f);
        cur_source := coalesce(cur_source, cur.source);
        IF p_created OR cur.value IS NULL
           OR (v IS DISTINCT FROM cur.value
               AND trapper.orchestrator_field_rank(p_entity, f, p_source)
                   < trapper.orchestrator_field_rank(p_entity, f, cur_source)) THEN
            IF v IS DISTINCT FROM cur.value THEN
                PERFORM trapper.orchestrator_set_field(p_entity, p_id, f, v);
                -- what the table stored is what was set: a host may hold a field to its
                -- values (the core's sot_cats reads "M" as Male, and keeps what it cannot
                -- read), so the offer may have changed nothing
                v := (trapper.orchestrator_current_field(p_entity, p_id, f)).value;
                IF NOT p_created THEN
                    CONTINUE WHEN v IS NOT DISTINCT FROM cur.value;
                    out := out || jsonb_build_object('field', f, 'decision', 'replaced',
                        'from', cur.value, 'from_source', cur_source, 'to', v,
                        'to_source', p_source);
                END IF;
            END IF;
            INSERT INTO trapper.orchestrator_field_provenance
                (entity_type, entity_id, field, source_system, value)
            VALUES (p_entity, p_id, f, p_source, v)
            ON CONFLICT (entity_type, entity_id, field) DO UPDATE
                SET source_system = EXCLUDED.source_system, value = EXCLUDED.value,
                    set_at = now();
        ELSIF v IS DISTINCT FROM cur.value THEN
            out := out || jsonb_build_object('field', f, 'decision', 'kept', 'kept', cur.value,
                'kept_source', cur_source, 'offered', v, 'offered_source', p_source);
        END IF;
    END LOOP;
    RETURN out;
END $$;
