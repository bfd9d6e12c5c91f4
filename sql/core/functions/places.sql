-- Places: find-or-create with dedup that is safe under concurrency (the address key's
-- unique index + ON CONFLICT).

-- A place for an address (docs/identity.md, "Places"): the same address key; else, with no
-- town in the key, the one live place with that house, street and unit; else, with a ZIP
-- but no town read, the one live place with that house, street and unit whose ZIP agrees
-- (a town-keyed place made later merges such a place in); else the one live
-- place whose street differs only by a directional the other side leaves out ("3130
-- Piedmont Rd NE" / "3130 Piedmont Road"); else (with coordinates) a live place within
-- 10 m whose house number and unit agree; else a new place waiting for the geocoder.
-- Intersections and landmarks have keys of their own ('&|…', '@|…') that never match a
-- house address. A PO box, a bare town or nothing makes no place (NULL).
CREATE OR REPLACE FUNCTION trapper.find_or_create_place_deduped(
    p_address text, p_display_name text DEFAULT NULL, p_lat double precision DEFAULT NULL,
    p_lng double precision DEFAULT NULL, p_source text DEFAULT NULL,
    p_staged_record_id bigint DEFAULT NULL
) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_parts jsonb := trapper.address_parts(p_address);
    v_key text := trapper.address_key_of(v_parts);
    v_house text := split_part(v_key, '|', 1);
    v_street text := split_part(v_key, '|', 2);
    v_unit text := split_part(v_key, '|', 3);
    v_town text := split_part(v_key, '|', 4);
    v_base text := trapper.address_street_base(split_part(v_key, '|', 2));
    v_id uuid;
    v_found_key text;
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
    -- Keys that start with a prefix are a range of the key's index ('|' < '}' in the key's C
    -- collation), not a LIKE: LIKE with a pattern made at run time has no index condition in
    -- a generic plan, and PL/pgSQL then planned both statements afresh on every call (a
    -- sequential scan of all places were it to keep the generic one).
    IF v_id IS NULL AND v_town = '' THEN
        SELECT min(place_id::text)::uuid INTO v_id FROM trapper.places
        WHERE address_key >= (v_house || '|' || v_street || '|' || v_unit || '|')
          AND address_key < (v_house || '|' || v_street || '|' || v_unit || '}')
          AND merged_into_place_id IS NULL
        HAVING count(*) = 1;
        v_detail := 'same house, street and unit (no town given)';
    END IF;
    IF v_id IS NULL AND v_parts ? 'zip' AND NOT v_parts ? 'town' THEN
        -- a ZIP but no town (a note ran into it: "… near the park Santa Rosa CA 95404"):
        -- the one live place with that house, street and unit whose ZIP agrees or is unknown
        SELECT min(place_id::text)::uuid INTO v_id FROM trapper.places p
        WHERE address_key LIKE (v_house || '|' || v_street || '|' || v_unit || '|%')
          AND merged_into_place_id IS NULL
          AND coalesce(trapper.address_parts(coalesce(p.normalized_address,
                                                      p.formatted_address)) ->> 'zip',
                       v_parts ->> 'zip') = v_parts ->> 'zip'
        HAVING count(*) = 1;
        v_detail := 'same house, street, unit and ZIP (no town read)';
    END IF;
    IF v_id IS NULL AND v_parts ->> 'kind' = 'address' THEN
        -- one side names a directional the other leaves out; the town agrees or is not given
        SELECT min(place_id::text)::uuid, min(address_key) INTO v_id, v_found_key
        FROM trapper.places
        WHERE address_key >= (v_house || '|') AND address_key < (v_house || '}')
          AND merged_into_place_id IS NULL
          AND split_part(address_key, '|', 3) = v_unit
          AND (split_part(address_key, '|', 4) = v_town OR v_town = ''
               -- or no town read, and the ZIP agrees or is unknown (the ZIP rule above)
               OR v_parts ? 'zip' AND NOT v_parts ? 'town'
                  AND coalesce(trapper.address_parts(coalesce(normalized_address,
                                                              formatted_address)) ->> 'zip',
                               v_parts ->> 'zip') = v_parts ->> 'zip')
          AND trapper.address_street_base(split_part(address_key, '|', 2)) = v_base
          AND (split_part(address_key, '|', 2) = v_base OR v_street = v_base)
        HAVING count(*) = 1;
        v_detail := 'same house, street and unit; one names a directional the other leaves out';
        IF v_id IS NOT NULL AND v_street <> v_base
           AND split_part(v_found_key, '|', 4) = v_town THEN
            -- the place learns its directional, so that a later "… SW" is not taken for it
            BEGIN
                UPDATE trapper.places SET address_key = v_key, updated_at = now()
                WHERE place_id = v_id;
            EXCEPTION WHEN unique_violation THEN
                NULL;   -- a concurrent creator made the directional's place meanwhile
            END;
        END IF;
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
             unit_number, location, geocode_status, geocode_source, address_kind, address_note)
        VALUES (coalesce(p_display_name, btrim(p_address)), btrim(p_address),
                trapper.normalize_address(p_address), v_key,
                CASE WHEN v_parts ->> 'kind' = 'address'
                     THEN coalesce(v_parts ->> 'house_range', v_house) END,
                nullif(v_unit, ''), v_pt,
                CASE WHEN v_pt IS NULL THEN 'pending' ELSE 'source' END,
                CASE WHEN v_pt IS NOT NULL THEN p_source END, v_parts ->> 'kind',
                nullif(concat_ws('; ', v_parts ->> 'landmark', v_parts ->> 'note'), ''))
        ON CONFLICT (address_key) WHERE merged_into_place_id IS NULL DO NOTHING
        RETURNING place_id INTO v_id;
        IF v_id IS NULL THEN   -- a concurrent insert won: take its place
            SELECT place_id INTO v_id FROM trapper.places
            WHERE address_key = v_key AND merged_into_place_id IS NULL;
        ELSE
            v_action := 'created';
            v_detail := NULL;
            -- A place made earlier from the same house, street (or the street without its
            -- directional) and unit with no town (an address typed as an owner's name), or
            -- with only this ZIP where the town was not read, is this one: merge it in.
            IF v_town <> '' THEN
                UPDATE trapper.places
                SET merged_into_place_id = v_id, merged_at = now(),
                    merge_reason = 'same house, street and unit; the earlier address named no town'
                WHERE address_key IN (v_house || '|' || v_street || '|' || v_unit || '|',
                                      v_house || '|' || v_base || '|' || v_unit || '|',
                                      v_house || '|' || v_street || '|' || v_unit || '|'
                                          || CASE WHEN v_parts ? 'town'
                                                  THEN v_parts ->> 'zip' END)
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

-- Existing places under the current address key (run by 012_address_standard.sql; run it
-- again after editing the address tables): each live place's key is computed again from the
-- address it was made from (normalized_address, else formatted_address); a place whose key
-- changes takes the new one, and live places that now share a key are merged into the one
-- that already holds it, else the oldest. An address the key no longer reads keeps its key.
CREATE OR REPLACE FUNCTION trapper.rekey_places(OUT rekeyed integer, OUT merged integer)
LANGUAGE plpgsql AS $$
BEGIN
    DROP TABLE IF EXISTS pg_temp.place_rekey;
    CREATE TEMP TABLE place_rekey ON COMMIT DROP AS
    WITH k AS (
        SELECT p.place_id, p.address_key AS old_key, p.created_at, x.parts,
               coalesce(trapper.address_key_of(x.parts), p.address_key) AS new_key
        FROM trapper.places p
        CROSS JOIN LATERAL (SELECT trapper.address_parts(
            coalesce(p.normalized_address, p.formatted_address)) AS parts) x
        WHERE p.merged_into_place_id IS NULL AND p.address_key IS NOT NULL
    )
    SELECT k.*, first_value(place_id) OVER (
               PARTITION BY new_key ORDER BY old_key = new_key DESC, created_at, place_id)
               AS survivor
    FROM k;
    UPDATE trapper.places p
    SET merged_into_place_id = r.survivor, merged_at = now(),
        merge_reason = 'the same address under the USPS standard (012_address_standard)'
    FROM place_rekey r
    WHERE p.place_id = r.place_id AND r.place_id <> r.survivor;
    GET DIAGNOSTICS merged = ROW_COUNT;
    -- keys may move between places: clear the changing ones first
    UPDATE trapper.places p SET address_key = NULL
    FROM place_rekey r
    WHERE p.place_id = r.place_id AND r.place_id = r.survivor AND r.new_key <> r.old_key;
    UPDATE trapper.places p
    SET address_key = r.new_key, updated_at = CASE WHEN r.new_key <> r.old_key THEN now()
                                                   ELSE p.updated_at END,
        address_kind = coalesce(r.parts ->> 'kind', p.address_kind),
        address_note = coalesce(p.address_note, nullif(concat_ws('; ', r.parts ->> 'landmark',
                                                                r.parts ->> 'note'), ''))
    FROM place_rekey r
    WHERE p.place_id = r.place_id AND r.place_id = r.survivor;
    SELECT count(*) INTO rekeyed FROM place_rekey
    WHERE place_id = survivor AND new_key <> old_key;
    DROP TABLE pg_temp.place_rekey;
END $$;
