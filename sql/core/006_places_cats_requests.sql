-- Places, cats and requests: find-or-create with dedup that is safe under concurrency
-- (unique keys + ON CONFLICT), and the link_* functions relationships are written through.

-- Lock an identity key for the rest of the transaction, so that two workers resolving the
-- same email, phone or chip at once take turns instead of both creating.
CREATE FUNCTION trapper.lock_identity_key(p_kind text, p_value text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_value IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtextextended(p_kind || ':' || p_value, 42));
    END IF;
END $$;

-- A place for an address: the same address key, else (with coordinates) a live place
-- within 10 m whose house number and unit agree, else a new place waiting for the
-- geocoder. A key without a town matches the one live place with that house, street and
-- unit when there is exactly one.
CREATE FUNCTION trapper.find_or_create_place_deduped(
    p_address text, p_display_name text DEFAULT NULL, p_lat double precision DEFAULT NULL,
    p_lng double precision DEFAULT NULL, p_source text DEFAULT NULL,
    p_staged_record_id bigint DEFAULT NULL
) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_key text := trapper.address_key(p_address);
    v_id uuid;
    v_action text := 'matched';
    v_detail text := 'same address key';
    v_pt point := CASE WHEN p_lat IS NOT NULL AND p_lng IS NOT NULL
                       THEN point(p_lng, p_lat) END;
BEGIN
    IF v_key IS NULL THEN
        RETURN NULL;   -- nothing that names a place (a PO box, a bare town)
    END IF;
    SELECT place_id INTO v_id FROM trapper.places
    WHERE address_key = v_key AND merged_into_place_id IS NULL;
    IF v_id IS NULL AND split_part(v_key, '|', 4) = '' THEN
        SELECT min(place_id::text)::uuid INTO v_id FROM trapper.places
        WHERE address_key LIKE (split_part(v_key, '|', 1) || '|' || split_part(v_key, '|', 2)
                                || '|' || split_part(v_key, '|', 3) || '|%')
          AND merged_into_place_id IS NULL
        HAVING count(*) = 1;
        v_detail := 'same house, street and unit (no town given)';
    END IF;
    IF v_id IS NULL AND v_pt IS NOT NULL THEN
        -- within 10 m (1e-4 degrees of latitude is about 11 m) and the same house and unit
        SELECT place_id INTO v_id FROM trapper.places
        WHERE merged_into_place_id IS NULL
          AND location <@ circle(v_pt, 0.0001)
          AND trapper.address_safe_to_merge(address_key, v_key)
        ORDER BY location <-> v_pt
        LIMIT 1;
        v_detail := 'within 10 m with the same house number';
    END IF;
    IF v_id IS NULL THEN
        INSERT INTO trapper.places
            (display_name, formatted_address, normalized_address, address_key, house_number,
             unit_number, location, geocode_status, geocode_source)
        VALUES (coalesce(p_display_name, btrim(p_address)), btrim(p_address),
                trapper.normalize_address(p_address), v_key, split_part(v_key, '|', 1),
                nullif(split_part(v_key, '|', 3), ''), v_pt,
                CASE WHEN v_pt IS NULL THEN 'pending' ELSE 'source' END,
                CASE WHEN v_pt IS NOT NULL THEN p_source END)
        ON CONFLICT (address_key) WHERE merged_into_place_id IS NULL DO NOTHING
        RETURNING place_id INTO v_id;
        IF v_id IS NULL THEN   -- a concurrent insert won: take its place
            SELECT place_id INTO v_id FROM trapper.places
            WHERE address_key = v_key AND merged_into_place_id IS NULL;
        ELSE
            v_action := 'created';
            v_detail := NULL;
            -- A place made earlier from the same house, street and unit with no town (an
            -- address typed as an owner's name) is this one: merge it in.
            IF split_part(v_key, '|', 4) <> '' THEN
                UPDATE trapper.places
                SET merged_into_place_id = v_id, merged_at = now(),
                    merge_reason = 'same house, street and unit; the earlier address named no town'
                WHERE address_key = split_part(v_key, '|', 1) || '|' || split_part(v_key, '|', 2)
                                    || '|' || split_part(v_key, '|', 3) || '|'
                  AND merged_into_place_id IS NULL AND place_id <> v_id;
            END IF;
        END IF;
    ELSIF v_pt IS NOT NULL THEN
        UPDATE trapper.places
        SET location = v_pt, geocode_status = 'source', geocode_source = p_source,
            updated_at = now()
        WHERE place_id = v_id AND location IS NULL;
    END IF;
    IF p_staged_record_id IS NOT NULL THEN
        PERFORM trapper.record_entity_source('place', v_id, p_staged_record_id, v_action,
                                             v_detail);
    END IF;
    RETURN v_id;
END $$;

CREATE FUNCTION trapper.add_cat_identifier(
    p_cat uuid, p_type text, p_value text, p_source text, p_conf numeric DEFAULT 1.0
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_value IS NOT NULL THEN
        INSERT INTO trapper.cat_identifiers (cat_id, id_type, id_value, source_system,
                                             format_confidence)
        VALUES (p_cat, p_type, p_value, p_source, p_conf)
        ON CONFLICT (id_type, id_value) DO NOTHING;
    END IF;
END $$;

CREATE FUNCTION trapper.cat_by_identifier(p_type text, p_value text) RETURNS uuid
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v uuid;
BEGIN
    IF p_value IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT cat_id INTO v FROM trapper.cat_identifiers WHERE id_type = p_type AND id_value = p_value;
    RETURN CASE WHEN v IS NULL THEN NULL ELSE trapper.get_canonical_cat_id(v) END;
END $$;

-- A cat by microchip, falling back to the clinic's animal id, then the shelter's and the
-- registry's ids. A chip typed into the name field is found there. Junk chips (all zeros,
-- 123456789…) identify nothing, so two chipless cats never merge through them.
CREATE FUNCTION trapper.find_or_create_cat_by_microchip(
    p_microchip text, p_name text DEFAULT NULL, p_sex text DEFAULT NULL,
    p_breed text DEFAULT NULL, p_altered_status text DEFAULT NULL,
    p_color text DEFAULT NULL, p_source text DEFAULT NULL,
    p_clinichq_animal_id text DEFAULT NULL, p_ownership_type text DEFAULT NULL,
    p_secondary_color text DEFAULT NULL, p_shelterluv_id text DEFAULT NULL,
    p_petlink_id text DEFAULT NULL, p_staged_record_id bigint DEFAULT NULL
) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_chip text := trapper.validate_microchip(p_microchip);
    v_name text := nullif(btrim(p_name), '');
    v_id uuid;
    v_action text := 'matched';
    v_detail text;
    v_fmt record;
BEGIN
    IF v_chip IS NULL AND v_name IS NOT NULL AND v_name ~ '^[0-9A-Fa-f\s.-]{9,}$' THEN
        v_chip := trapper.validate_microchip(v_name);   -- the chip typed into the name
        IF v_chip IS NOT NULL THEN
            v_name := NULL;
            v_detail := 'microchip found in the name field';
        END IF;
    END IF;
    PERFORM trapper.lock_identity_key('chip', v_chip);
    PERFORM trapper.lock_identity_key('clinichq', p_clinichq_animal_id);
    v_id := coalesce(
        trapper.cat_by_identifier('microchip', v_chip),
        trapper.cat_by_identifier('clinichq_animal_id', nullif(btrim(p_clinichq_animal_id), '')),
        trapper.cat_by_identifier('shelterluv_animal_id', nullif(btrim(p_shelterluv_id), '')),
        trapper.cat_by_identifier('petlink_pet_id', nullif(btrim(p_petlink_id), '')));
    IF v_id IS NULL THEN
        IF v_chip IS NULL AND nullif(btrim(p_clinichq_animal_id), '') IS NULL
           AND nullif(btrim(p_shelterluv_id), '') IS NULL
           AND nullif(btrim(p_petlink_id), '') IS NULL THEN
            RETURN NULL;   -- nothing identifies this cat
        END IF;
        INSERT INTO trapper.sot_cats (display_name, sex, breed, altered_status, primary_color,
                                      secondary_color, ownership_type, clinichq_animal_id)
        VALUES (v_name, nullif(p_sex, ''), nullif(p_breed, ''), nullif(p_altered_status, ''),
                nullif(p_color, ''), nullif(p_secondary_color, ''),
                nullif(p_ownership_type, ''), nullif(btrim(p_clinichq_animal_id), ''))
        RETURNING cat_id INTO v_id;
        v_action := 'created';
    ELSE
        -- fill what the cat does not have yet; never overwrite
        UPDATE trapper.sot_cats SET
            display_name = coalesce(display_name, CASE WHEN v_name <> 'Unknown' THEN v_name END),
            sex = coalesce(sex, nullif(p_sex, '')), breed = coalesce(breed, nullif(p_breed, '')),
            altered_status = coalesce(altered_status, nullif(p_altered_status, '')),
            primary_color = coalesce(primary_color, nullif(p_color, '')),
            secondary_color = coalesce(secondary_color, nullif(p_secondary_color, '')),
            clinichq_animal_id = coalesce(clinichq_animal_id,
                                          nullif(btrim(p_clinichq_animal_id), '')),
            updated_at = now()
        WHERE cat_id = v_id;
    END IF;
    IF v_chip IS NOT NULL THEN
        v_fmt := trapper.microchip_format(v_chip);
        PERFORM trapper.add_cat_identifier(v_id, 'microchip', v_chip, p_source, v_fmt.confidence);
    END IF;
    PERFORM trapper.add_cat_identifier(v_id, 'clinichq_animal_id',
                                       nullif(btrim(p_clinichq_animal_id), ''), p_source);
    PERFORM trapper.add_cat_identifier(v_id, 'shelterluv_animal_id',
                                       nullif(btrim(p_shelterluv_id), ''), p_source);
    PERFORM trapper.add_cat_identifier(v_id, 'petlink_pet_id', nullif(btrim(p_petlink_id), ''),
                                       p_source);
    IF p_staged_record_id IS NOT NULL THEN
        PERFORM trapper.record_entity_source('cat', v_id, p_staged_record_id, v_action, v_detail);
    END IF;
    RETURN v_id;
END $$;

CREATE FUNCTION trapper.find_or_create_cat_by_clinichq_id(
    p_clinichq_animal_id text, p_name text DEFAULT NULL, p_source text DEFAULT 'clinichq',
    p_staged_record_id bigint DEFAULT NULL
) RETURNS uuid
LANGUAGE sql AS $$
    SELECT trapper.find_or_create_cat_by_microchip(NULL, p_name, p_source => p_source,
        p_clinichq_animal_id => p_clinichq_animal_id, p_staged_record_id => p_staged_record_id)
$$;

-- Requests dedup on (source_system, source_record_id) only, as in the real system.
CREATE FUNCTION trapper.find_or_create_request(
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

CREATE FUNCTION trapper.link_person_place(
    p_person uuid, p_place uuid, p_role text, p_source text, p_conf numeric DEFAULT 0.8
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_person IS NOT NULL AND p_place IS NOT NULL THEN
        INSERT INTO trapper.person_place (person_id, place_id, role, confidence, source_system)
        VALUES (p_person, p_place, p_role, p_conf, p_source)
        ON CONFLICT DO NOTHING;
    END IF;
END $$;

CREATE FUNCTION trapper.link_person_cat(
    p_person uuid, p_cat uuid, p_relationship text, p_source text, p_conf numeric DEFAULT 0.8
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_person IS NOT NULL AND p_cat IS NOT NULL THEN
        INSERT INTO trapper.person_cat (person_id, cat_id, relationship, confidence, source_system)
        VALUES (p_person, p_cat, p_relationship, p_conf, p_source)
        ON CONFLICT DO NOTHING;
    END IF;
END $$;

CREATE FUNCTION trapper.link_cat_place(
    p_cat uuid, p_place uuid, p_relationship text, p_source text, p_conf numeric DEFAULT 0.8
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_cat IS NOT NULL AND p_place IS NOT NULL THEN
        INSERT INTO trapper.cat_place (cat_id, place_id, relationship, confidence, source_system)
        VALUES (p_cat, p_place, p_relationship, p_conf, p_source)
        ON CONFLICT DO NOTHING;
    END IF;
END $$;

CREATE FUNCTION trapper.add_colony_estimate(
    p_place uuid, p_total integer, p_adults integer, p_kittens integer, p_source_type text,
    p_observed date, p_staged_record_id bigint
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF p_place IS NULL OR p_total IS NULL THEN
        RETURN;
    END IF;
    INSERT INTO trapper.place_colony_estimates
        (place_id, total_cats, adult_count, kitten_count, source_type, observation_date,
         source_system, source_record_id)
    SELECT p_place, p_total, p_adults, p_kittens, p_source_type, p_observed, s.source_system,
           s.source_row_id
    FROM trapper.staged_records s
    WHERE s.id = p_staged_record_id
    ON CONFLICT (source_system, source_record_id, place_id) DO UPDATE
        SET total_cats = EXCLUDED.total_cats;
END $$;
