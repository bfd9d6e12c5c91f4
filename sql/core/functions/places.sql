-- Places: find-or-create with dedup that is safe under concurrency (the address key's
-- unique index + ON CONFLICT).

-- Whether a place, read into its address parts, may be the place of an address that gives
-- ZIP p_zip but no town (docs/identity.md, "Places"): its ZIP agrees; or it has no ZIP and
-- names a town that p_zip has never been written with another town (address_zip_towns,
-- core 017: a ZIP two towns share joins neither; a town spaced otherwise, "Bay View" and
-- "Bayview", is no other town: trapper.address_town_key); or it names neither.
CREATE OR REPLACE FUNCTION trapper.place_fits_zip(p_parts jsonb, p_zip text) RETURNS boolean
LANGUAGE plpgsql STABLE PARALLEL SAFE AS $$
BEGIN
    IF p_parts ? 'zip' THEN
        RETURN p_parts ->> 'zip' = p_zip;
    ELSIF p_parts ? 'town' THEN
        RETURN NOT EXISTS (SELECT 1 FROM trapper.address_zip_towns z
                           WHERE z.zip = p_zip
                             AND trapper.address_town_key(z.town)
                                 <> trapper.address_town_key(p_parts ->> 'town'));
    END IF;
    RETURN true;
END $$;

-- Whether two intersections' suffixes (the third field of their keys, 'st & st', ' & st',
-- '') may be one intersection's: each street's suffixes agree or one side wrote none ("4th &
-- Main" and "4th St & Main St"; not "4th Ave & Main St" and "4th St & Main St").
CREATE OR REPLACE FUNCTION trapper.intersection_suffixes_fit(p_a text, p_b text) RETURNS boolean
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT (split_part(p_a, ' & ', 1) IN ('', split_part(p_b, ' & ', 1))
            OR split_part(p_b, ' & ', 1) = '')
       AND (split_part(p_a, ' & ', 2) IN ('', split_part(p_b, ' & ', 2))
            OR split_part(p_b, ' & ', 2) = '')
$$;

-- Two intersections' suffixes as one: each street's, from whichever side wrote it.
CREATE OR REPLACE FUNCTION trapper.intersection_suffixes_union(p_a text, p_b text) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
    SELECT CASE WHEN x || y = '' THEN '' ELSE x || ' & ' || y END
    FROM (SELECT coalesce(nullif(split_part(p_a, ' & ', 1), ''), split_part(p_b, ' & ', 1)) AS x,
                 coalesce(nullif(split_part(p_a, ' & ', 2), ''), split_part(p_b, ' & ', 2)) AS y) s
$$;

-- A place for an address (docs/identity.md, "Places"): the same address key; else, with a
-- town, the one live place with that house, street and unit whose town is this one spaced
-- otherwise ("Bayview" / "Bay View": trapper.address_town_key), or this one with "City"
-- after it dropped or added when both give the same ZIP ("Redwood" / "Redwood City", 94063);
-- else, with no town in the key, the one live place with that house, street and unit; else, with a ZIP
-- but no town read, the one live place with that house, street and unit that fits the ZIP
-- (trapper.place_fits_zip); else the one live place whose street differs only by a
-- directional the other side leaves out ("3130 Piedmont Rd NE" / "3130 Piedmont Road");
-- else, for an intersection, the one live intersection of those streets in the town (or,
-- with no town given, anywhere) whose suffixes fit (trapper.intersection_suffixes_fit: "4th &
-- Main" / "4th St & Main St"), which learns the suffixes it lacked;
-- else (with coordinates) a live place within 10 m whose house number and unit agree; else
-- a new place waiting for the geocoder, which takes in the places made earlier that these
-- rules would have given it (a town-less one; a ZIP-only one whose ZIP it fits, when no
-- other place fits that ZIP), so that the outcome does not depend on which came first.
-- Deciding takes no lock; creating takes one per house, street without its directional and
-- unit, and decides again, so that two workers making the ZIP-only and the town's place of
-- one address at once meet (the one that waits sees the other's place).
-- Intersections, landmarks and rural route boxes have keys of their own ('&|…', '@|…',
-- 'rr 2 box 5|rr 2|…') that never match a house address. A PO box, a bare town or nothing makes
-- no place (NULL).
-- The address comes read into its parts (trapper.address_parts(p_address)), so that a
-- processor that needs the address's key for the person too reads it once
-- (process_person_fields: parsing was a tenth of the load's time, half of it reading the
-- same address twice; docs/benchmarks.md, "Identity").
CREATE OR REPLACE FUNCTION trapper.place_of_address_parts(
    p_parts jsonb, p_address text, p_display_name text DEFAULT NULL,
    p_lat double precision DEFAULT NULL, p_lng double precision DEFAULT NULL,
    p_source text DEFAULT NULL, p_staged_record_id bigint DEFAULT NULL
) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_parts jsonb := p_parts;
    v_key text := trapper.address_key_of(v_parts);
    v_house text := split_part(v_key, '|', 1);
    v_street text := split_part(v_key, '|', 2);
    v_unit text := split_part(v_key, '|', 3);
    v_town text := split_part(v_key, '|', 4);
    v_town_key text;    -- the town as address_town_key reads it
    v_town_bare text;   -- the same without a last word "city" after another word
    v_base text := trapper.address_street_base(split_part(v_key, '|', 2));
    v_zip_only boolean := v_parts ? 'zip' AND NOT v_parts ? 'town';
    -- (an intersection's third field is its suffixes, no unit: its lock is the streets')
    v_lock_unit text := CASE WHEN v_parts ->> 'kind' = 'intersection' THEN '' ELSE v_unit END;
    v_id uuid;
    v_found_key text;
    v_locked boolean := false;
    v_action text;
    v_detail text;
    v_pt point := CASE WHEN p_lat IS NOT NULL AND p_lng IS NOT NULL
                       THEN point(p_lng, p_lat) END;
BEGIN
    IF v_key IS NULL THEN
        RETURN NULL;   -- nothing that names a place (a PO box, a bare town)
    END IF;
    IF v_parts ? 'zip' AND v_parts ? 'town' AND NOT EXISTS (
            SELECT 1 FROM trapper.address_zip_towns
            WHERE zip = v_parts ->> 'zip' AND town = v_parts ->> 'town')
       -- A pair another worker is writing now is left to it: ON CONFLICT waits for the
       -- other transaction to end, and at a load's start both workers meet the same few
       -- pairs (twenty waits of 100 ms in bench/identity.py's people-only run). Should that
       -- transaction roll back, the next record with the pair writes it.
       AND pg_try_advisory_xact_lock(hashtextextended(
               'zip_town:' || (v_parts ->> 'zip') || '|' || (v_parts ->> 'town'), 42)) THEN
        -- the ZIP is written with this town (a SELECT first: most pairs are known)
        INSERT INTO trapper.address_zip_towns (zip, town)
        VALUES (v_parts ->> 'zip', v_parts ->> 'town') ON CONFLICT DO NOTHING;
    END IF;
    LOOP
        v_action := 'matched';
        v_detail := 'same address key';
        SELECT place_id INTO v_id FROM trapper.places
        WHERE address_key = v_key AND merged_into_place_id IS NULL;
        IF v_id IS NULL THEN
            -- the town's other forms, read only once the key itself found no place (most
            -- addresses of a load are places already made: a regular expression each for
            -- nothing)
            v_town_key := trapper.address_town_key(v_town);
            v_town_bare := trapper.address_town_key(substring(v_town FROM '^(.+) city$'));
        END IF;
        -- Keys that start with a prefix are a range of the key's index ('|' < '}' in the
        -- key's C collation), not a LIKE: LIKE with a pattern made at run time has no index
        -- condition in a generic plan, and PL/pgSQL then planned both statements afresh on
        -- every call (a sequential scan of all places were it to keep the generic one).
        IF v_id IS NULL AND v_town <> '' THEN
            -- the town written otherwise: its words run together or apart ("Bayview" / "Bay
            -- View", "McKinleyville" / "Mc Kinleyville"; the words' standard forms are the
            -- key's already, address_town_of), or "City" after it dropped or added with the
            -- same ZIP on both sides ("Redwood" / "Redwood City"): without the ZIP, "Union"
            -- and "Union City" are two towns of New Jersey, "Carson" and "Carson City" of two
            -- states, and the key holds no state
            SELECT min(place_id::text)::uuid INTO v_id FROM trapper.places p
            WHERE address_key >= (v_house || '|' || v_street || '|' || v_unit || '|')
              AND address_key < (v_house || '|' || v_street || '|' || v_unit || '}')
              AND merged_into_place_id IS NULL
              AND (trapper.address_town_key(split_part(address_key, '|', 4)) = v_town_key
                   OR v_parts ? 'zip'
                      AND (trapper.address_town_key(split_part(address_key, '|', 4))
                               = v_town_bare
                           OR trapper.address_town_key(substring(
                                  split_part(address_key, '|', 4) FROM '^(.+) city$'))
                               = v_town_key)
                      AND trapper.address_parts(coalesce(p.normalized_address,
                                                         p.formatted_address)) ->> 'zip'
                          = v_parts ->> 'zip')
            HAVING count(*) = 1;
            v_detail := 'same house, street and unit; the town written otherwise';
        END IF;
        IF v_id IS NULL AND v_town = '' THEN
            SELECT min(place_id::text)::uuid INTO v_id FROM trapper.places
            WHERE address_key >= (v_house || '|' || v_street || '|' || v_unit || '|')
              AND address_key < (v_house || '|' || v_street || '|' || v_unit || '}')
              AND merged_into_place_id IS NULL
            HAVING count(*) = 1;
            v_detail := 'same house, street and unit (no town given)';
        END IF;
        IF v_id IS NULL AND v_zip_only THEN
            -- a ZIP but no town (a note ran into it: "… near the park Santa Rosa CA 95404"):
            -- the one live place with that house, street and unit that fits the ZIP
            SELECT min(place_id::text)::uuid INTO v_id FROM trapper.places p
            WHERE address_key >= (v_house || '|' || v_street || '|' || v_unit || '|')
              AND address_key < (v_house || '|' || v_street || '|' || v_unit || '}')
              AND merged_into_place_id IS NULL
              AND trapper.place_fits_zip(trapper.address_parts(
                      coalesce(p.normalized_address, p.formatted_address)), v_parts ->> 'zip')
            HAVING count(*) = 1;
            v_detail := 'same house, street and unit; the place fits the ZIP (no town read)';
        END IF;
        IF v_id IS NULL AND v_parts ->> 'kind' = 'address' THEN
            -- one side names a directional the other leaves out; the town agrees or is not
            -- given, or no town was read and the place fits the ZIP (the rule above)
            SELECT min(place_id::text)::uuid, min(address_key) INTO v_id, v_found_key
            FROM trapper.places
            WHERE address_key >= (v_house || '|') AND address_key < (v_house || '}')
              AND merged_into_place_id IS NULL
              AND split_part(address_key, '|', 3) = v_unit
              AND (trapper.address_town_key(split_part(address_key, '|', 4)) = v_town_key
                   OR v_town = ''
                   OR v_zip_only
                      AND trapper.place_fits_zip(trapper.address_parts(
                              coalesce(normalized_address, formatted_address)),
                          v_parts ->> 'zip'))
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
        IF v_id IS NULL AND v_parts ->> 'kind' = 'intersection' THEN
            SELECT min(place_id::text)::uuid, min(address_key) INTO v_id, v_found_key
            FROM trapper.places
            WHERE address_key >= ('&|' || v_street || '|') AND address_key < ('&|' || v_street || '}')
              AND merged_into_place_id IS NULL
              AND (trapper.address_town_key(split_part(address_key, '|', 4)) = v_town_key
                   OR v_town = '')
              AND trapper.intersection_suffixes_fit(split_part(address_key, '|', 3), v_unit)
            HAVING count(*) = 1;
            v_detail := 'the same streets; one names a suffix the other leaves out';
            IF v_id IS NOT NULL AND split_part(v_found_key, '|', 4) = v_town
               AND trapper.intersection_suffixes_union(split_part(v_found_key, '|', 3), v_unit)
                   <> split_part(v_found_key, '|', 3) THEN
                -- the place learns the suffixes, so that a later "4th Ave & Main" is not
                -- taken for "4th St & Main"
                BEGIN
                    UPDATE trapper.places
                    SET address_key = '&|' || v_street || '|'
                            || trapper.intersection_suffixes_union(split_part(v_found_key, '|', 3), v_unit)
                            || '|' || v_town,
                        updated_at = now()
                    WHERE place_id = v_id;
                EXCEPTION WHEN unique_violation THEN
                    NULL;   -- a concurrent creator made that intersection's place meanwhile
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
        EXIT WHEN v_id IS NOT NULL OR v_locked;
        -- About to create: take the lock of this house, street base and unit and decide
        -- again (the pattern of trapper.find_or_create_person: deciding needs no turns)
        PERFORM pg_advisory_xact_lock(hashtextextended(
            'place:' || v_house || '|' || v_base || '|' || v_lock_unit, 42));
        v_locked := true;
    END LOOP;
    IF v_id IS NULL THEN
        INSERT INTO trapper.places
            (display_name, formatted_address, normalized_address, address_key, house_number,
             unit_number, location, geocode_status, geocode_source, address_kind, address_note)
        VALUES (coalesce(p_display_name, btrim(p_address)), btrim(p_address),
                trapper.normalize_address(p_address), v_key,
                CASE WHEN v_parts ->> 'kind' = 'address'
                     THEN coalesce(v_parts ->> 'house_range', v_house) END,
                CASE WHEN v_parts ->> 'kind' = 'address' THEN nullif(v_unit, '') END, v_pt,
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
            IF v_town <> '' THEN
                -- A place made earlier from the same house, street (or the street without
                -- its directional) and unit with no town (an address typed as an owner's
                -- name) is this one: merge it in.
                UPDATE trapper.places
                SET merged_into_place_id = v_id, merged_at = now(),
                    merge_reason = 'same house, street and unit; the earlier address named no town'
                WHERE address_key IN (v_house || '|' || v_street || '|' || v_unit || '|',
                                      v_house || '|' || v_base || '|' || v_unit || '|')
                  AND merged_into_place_id IS NULL AND place_id <> v_id;
            END IF;
            IF v_parts ? 'town' THEN
                -- So is a place made earlier from only a ZIP (the town not read) with the
                -- same house and unit and the street or one side's directional left out,
                -- when this place fits its ZIP (the same ZIP; or none here and the ZIP is
                -- written with no other town) and no other live place with a town does:
                -- what the ZIP rule above would have given it, had this place come first.
                UPDATE trapper.places m
                SET merged_into_place_id = v_id, merged_at = now(),
                    merge_reason = 'same house, street and unit; the earlier address gave '
                                   || 'only a ZIP, which fits this town'
                FROM (
                    SELECT z.place_id, split_part(z.address_key, '|', 2) AS street,
                           split_part(z.address_key, '|', 4) AS zip
                    FROM trapper.places z
                    WHERE z.address_key >= (v_house || '|') AND z.address_key < (v_house || '}')
                      AND z.merged_into_place_id IS NULL AND z.place_id <> v_id
                      AND split_part(z.address_key, '|', 3) = v_unit
                      AND trapper.address_street_base(split_part(z.address_key, '|', 2)) = v_base
                      AND (split_part(z.address_key, '|', 2) IN (v_street, v_base)
                           OR v_street = v_base)
                ) c
                WHERE m.place_id = c.place_id
                  AND NOT trapper.address_parts(coalesce(m.normalized_address,
                                                         m.formatted_address)) ? 'town'
                  AND trapper.address_parts(coalesce(m.normalized_address,
                                                     m.formatted_address)) ->> 'zip' = c.zip
                  AND trapper.place_fits_zip(v_parts, c.zip)
                  AND NOT EXISTS (
                      SELECT 1 FROM trapper.places o
                      WHERE o.address_key >= (v_house || '|') AND o.address_key < (v_house || '}')
                        AND o.merged_into_place_id IS NULL
                        AND o.place_id NOT IN (v_id, c.place_id)
                        AND split_part(o.address_key, '|', 3) = v_unit
                        AND split_part(o.address_key, '|', 4) NOT IN ('', c.zip)
                        AND trapper.address_street_base(split_part(o.address_key, '|', 2))
                            = v_base
                        AND (split_part(o.address_key, '|', 2) IN (c.street, v_base)
                             OR c.street = v_base)
                        AND trapper.address_parts(coalesce(o.normalized_address,
                                                           o.formatted_address)) ? 'town'
                        AND trapper.place_fits_zip(trapper.address_parts(
                                coalesce(o.normalized_address, o.formatted_address)), c.zip));
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

-- The real system's entry point for places (the router's function_call rules name it):
-- place_of_address_parts for an address as written (read through the memo, core 019).
CREATE OR REPLACE FUNCTION trapper.find_or_create_place_deduped(
    p_address text, p_display_name text DEFAULT NULL, p_lat double precision DEFAULT NULL,
    p_lng double precision DEFAULT NULL, p_source text DEFAULT NULL,
    p_staged_record_id bigint DEFAULT NULL
) RETURNS uuid
LANGUAGE plpgsql AS $$   -- (plpgsql: the memo's function comes later, after 019)
BEGIN
    RETURN trapper.place_of_address_parts(trapper.address_parts_memoized(p_address), p_address,
                                          p_display_name, p_lat, p_lng, p_source,
                                          p_staged_record_id);
END $$;

-- Existing places under the current address key (run by 012_address_standard.sql; run it
-- again after editing the address tables): each live place's key is computed again from the
-- address it was made from (normalized_address, else formatted_address); a place whose key
-- changes takes the new one, and live places that now share a key are merged into the one
-- that already holds it, else the oldest. An address the key no longer reads keeps its key.
-- An intersection with no suffixes is then merged into the one of its streets and town that
-- names them, when there is one.
CREATE OR REPLACE FUNCTION trapper.rekey_places(OUT rekeyed integer, OUT merged integer)
LANGUAGE plpgsql AS $$
DECLARE
    v_bare integer;
    -- the keys of every live place, in arrays and not a TEMP table: a production role may
    -- lack TEMP on the database (docs/operations.md, "Roles and rights")
    v_ids uuid[];
    v_old text[];
    v_new text[];
    v_parts jsonb[];
    v_survivor uuid[];
BEGIN
    WITH k AS (
        SELECT p.place_id, p.address_key AS old_key, p.created_at, x.parts,
               coalesce(trapper.address_key_of(x.parts), p.address_key) AS new_key
        FROM trapper.places p
        CROSS JOIN LATERAL (SELECT trapper.address_parts(
            coalesce(p.normalized_address, p.formatted_address)) AS parts) x
        WHERE p.merged_into_place_id IS NULL AND p.address_key IS NOT NULL
    ), r AS (
        SELECT k.*, first_value(place_id) OVER (
                   PARTITION BY new_key ORDER BY old_key = new_key DESC, created_at, place_id)
                   AS survivor
        FROM k
    )
    SELECT coalesce(array_agg(place_id), '{}'), coalesce(array_agg(old_key), '{}'),
           coalesce(array_agg(new_key), '{}'), coalesce(array_agg(parts), '{}'),
           coalesce(array_agg(survivor), '{}')
    INTO v_ids, v_old, v_new, v_parts, v_survivor
    FROM r;
    UPDATE trapper.places p
    SET merged_into_place_id = r.survivor, merged_at = now(),
        merge_reason = 'the same address under the USPS standard (012_address_standard)'
    FROM unnest(v_ids, v_survivor) AS r (place_id, survivor)
    WHERE p.place_id = r.place_id AND r.place_id <> r.survivor;
    GET DIAGNOSTICS merged = ROW_COUNT;
    -- keys may move between places: clear the changing ones first
    UPDATE trapper.places p SET address_key = NULL
    FROM unnest(v_ids, v_old, v_new, v_survivor) AS r (place_id, old_key, new_key, survivor)
    WHERE p.place_id = r.place_id AND r.place_id = r.survivor AND r.new_key <> r.old_key;
    UPDATE trapper.places p
    SET address_key = r.new_key, updated_at = CASE WHEN r.new_key <> r.old_key THEN now()
                                                   ELSE p.updated_at END,
        -- (the kind of a key read: an address the key no longer reads, a PO box, keeps its own)
        address_kind = CASE WHEN trapper.address_key_of(r.parts) IS NOT NULL
                            THEN r.parts ->> 'kind' ELSE p.address_kind END,
        address_note = coalesce(p.address_note, nullif(concat_ws('; ', r.parts ->> 'landmark',
                                                                r.parts ->> 'note'), ''))
    FROM unnest(v_ids, v_old, v_new, v_parts, v_survivor)
         AS r (place_id, old_key, new_key, parts, survivor)
    WHERE p.place_id = r.place_id AND r.place_id = r.survivor;
    SELECT count(*) INTO rekeyed
    FROM unnest(v_ids, v_old, v_new, v_survivor) AS r (place_id, old_key, new_key, survivor)
    WHERE place_id = survivor AND new_key <> old_key;
    -- An intersection whose suffixes were left out ('&|4th & main||santa rosa') is the one
    -- live intersection of those streets in its town that names them, when there is one:
    -- what place_of_address_parts finds for it.
    WITH bare AS (
        SELECT p.place_id, split_part(p.address_key, '|', 2) AS streets,
               split_part(p.address_key, '|', 4) AS town
        FROM trapper.places p
        WHERE p.merged_into_place_id IS NULL AND p.address_key >= '&|' AND p.address_key < '&}'
          AND split_part(p.address_key, '|', 3) = ''
    ),
    named AS (
        SELECT b.place_id, min(q.place_id::text)::uuid AS into_id
        FROM bare b
        JOIN trapper.places q ON q.merged_into_place_id IS NULL
            AND q.address_key >= ('&|' || b.streets || '|') AND q.address_key < ('&|' || b.streets || '}')
            AND split_part(q.address_key, '|', 4) = b.town
            AND split_part(q.address_key, '|', 3) <> ''
        GROUP BY b.place_id
        HAVING count(*) = 1
    )
    UPDATE trapper.places p
    SET merged_into_place_id = n.into_id, merged_at = now(),
        merge_reason = 'the same intersection, its suffixes left out'
    FROM named n
    WHERE p.place_id = n.place_id;
    GET DIAGNOSTICS v_bare = ROW_COUNT;
    merged := merged + v_bare;
END $$;
