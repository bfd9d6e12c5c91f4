-- Places: find-or-create with dedup that is safe under concurrency (the address key's
-- unique index + ON CONFLICT).

-- A place for an address: the same address key, else (with coordinates) a live place
-- within 10 m whose house number and unit agree, else a new place waiting for the
-- geocoder. A key without a town matches the one live place with that house, street and
-- unit when there is exactly one.
CREATE OR REPLACE FUNCTION trapper.find_or_create_place_deduped(
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
