-- Processors: one function per source table, reading the export's verbatim keys and
-- writing only through find_or_create_* and link_* functions. Each takes a staged record
-- id and returns {"entity_type", "entity_id", "created"}; each is registered in
-- data_engine_processors (007_processors.sql), so no source is left without a route.

CREATE OR REPLACE FUNCTION trapper.process_clinichq_appointment_info(p_id bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    p jsonb := (SELECT payload FROM trapper.staged_records WHERE id = p_id);
    v_cat uuid;
    v_appt uuid;
    v_date date := trapper.parse_us_date(p ->> 'Date');
BEGIN
    IF v_date IS NULL THEN   -- an appointment is its number and its day
        RAISE EXCEPTION 'appointment % has no date it can be read from: Date = %',
            p ->> 'Number', coalesce(quote_literal(p ->> 'Date'), 'missing')
            USING ERRCODE = 'invalid_datetime_format',
                  HINT = 'dates are read as ISO, US (3/14/2025), month names or Excel '
                         'serials (docs/processing.md, "Values as people type them")';
    END IF;
    v_cat := trapper.find_or_create_cat_by_microchip(
        p ->> 'Microchip Number', p ->> 'Animal Name', p ->> 'Sex', p ->> 'Breed',
        p ->> 'Spay Neuter Status', p ->> 'Primary Color', 'clinichq', p ->> 'Number',
        p_staged_record_id => p_id);
    INSERT INTO trapper.sot_appointments (appointment_number, appointment_date, cat_id,
                                          services, vet_name)
    VALUES (p ->> 'Number', v_date, v_cat, coalesce(p -> 'All Services', '[]'),
            nullif(p ->> 'Vet Name', ''))
    ON CONFLICT (appointment_number, appointment_date) DO UPDATE
        SET cat_id = coalesce(trapper.sot_appointments.cat_id, EXCLUDED.cat_id)
    RETURNING appointment_id INTO v_appt;
    PERFORM trapper.record_entity_source('appointment', v_appt, p_id, 'created');
    RETURN trapper.processed('appointment', v_appt, true);
END $$;

CREATE OR REPLACE FUNCTION trapper.process_clinichq_cat_info(p_id bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    p jsonb := (SELECT payload FROM trapper.staged_records WHERE id = p_id);
    v_cat uuid;
BEGIN
    v_cat := trapper.find_or_create_cat_by_microchip(
        p ->> 'Microchip Number', coalesce(p ->> 'Animal Name', p ->> 'Patient Name'),
        p ->> 'Sex', p ->> 'Breed', p ->> 'Spay Neuter Status', p ->> 'Primary Color',
        'clinichq', p ->> 'Number', NULL, p ->> 'Secondary Color', p_staged_record_id => p_id);
    -- the visit's weight and age (031_cat_observations.sql)
    PERFORM trapper.record_cat_observation(v_cat, p_id, trapper.parse_us_date(p ->> 'Date'),
                                           p ->> 'Weight', p ->> 'Age Years',
                                           p ->> 'Age Months');
    RETURN trapper.processed('cat', v_cat);
END $$;

CREATE OR REPLACE FUNCTION trapper.process_clinichq_owner_info(p_id bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    p jsonb := (SELECT payload FROM trapper.staged_records WHERE id = p_id);
    r record;
    v_cat uuid;
    v_rel text;
    v_own text;
BEGIN
    -- Owner Phone before Owner Cell Phone: the real data's shared household cells
    -- mislinked appointments when the cell came first.
    r := trapper.process_person_fields(p_id, 'clinichq', p ->> 'Owner First Name',
        p ->> 'Owner Last Name', p ->> 'Owner Email', p ->> 'Owner Phone',
        p ->> 'Owner Cell Phone', p ->> 'Owner Address', 'resident');
    v_cat := trapper.cat_by_identifier('clinichq_animal_id', trapper.source_id(p ->> 'Number'));
    -- the export's values in any case (COMMUNITY CAT (FERAL), foster); a feral or stray cat
    -- is a community cat whoever typed it. Any other value keeps the owner link, as Owned
    -- does, and is counted in trapper.unrecognised_values: a new word in the export (or a
    -- typo) shows there rather than as owners nobody can tell apart.
    v_own := lower(btrim(p ->> 'Ownership'));
    v_rel := CASE WHEN v_own LIKE 'community%' OR v_own LIKE 'feral%' OR v_own LIKE 'stray%'
                       OR v_own = 'tnr' THEN 'caretaker'
                  WHEN v_own LIKE 'foster%' THEN 'foster'
                  ELSE 'owner' END;
    IF v_rel = 'owner' AND v_own NOT IN ('', 'owned', 'owner', 'pet', 'shelter') THEN
        PERFORM trapper.note_unrecognised_value(p_id, 'Ownership', p ->> 'Ownership', 'owner');
    END IF;
    PERFORM trapper.link_person_cat(r.person_id, v_cat, v_rel, 'clinichq');
    PERFORM trapper.link_cat_place(v_cat, r.place_id, 'home', 'clinichq', 0.6);
    UPDATE trapper.sot_appointments a
    SET person_id = coalesce(a.person_id, r.person_id),
        clinic_account_id = coalesce(a.clinic_account_id, r.account_id),
        place_id = coalesce(a.place_id, r.place_id)
    WHERE a.appointment_number = p ->> 'Number'
      AND a.appointment_date = trapper.parse_us_date(p ->> 'Date');
    IF r.person_id IS NOT NULL THEN
        RETURN trapper.processed('person', r.person_id, r.decision <> 'auto_match');
    ELSIF r.account_id IS NOT NULL THEN
        RETURN trapper.processed('clinic_account', r.account_id);
    END IF;
    RETURN trapper.processed('place', r.place_id);
END $$;

CREATE OR REPLACE FUNCTION trapper.process_shelterluv_person(p_id bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    p jsonb := (SELECT payload FROM trapper.staged_records WHERE id = p_id);
    r record;
BEGIN
    r := trapper.process_person_fields(p_id, 'shelterluv', p ->> 'Firstname', p ->> 'Lastname',
        p ->> 'Email', p ->> 'Phone', NULL,
        trapper.join_address(p ->> 'Street', p ->> 'City', p ->> 'State', p ->> 'Zip'));
    PERFORM trapper.add_person_identifier(r.person_id, 'external_id',
        'shelterluv:' || trapper.source_id(p ->> 'Internal-ID'), p ->> 'Internal-ID', p_id, 1.0);
    RETURN trapper.processed('person', r.person_id, r.decision <> 'auto_match');
END $$;

CREATE OR REPLACE FUNCTION trapper.process_shelterluv_animal(p_id bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    p jsonb := (SELECT payload FROM trapper.staged_records WHERE id = p_id);
    v_cat uuid;
    v_person uuid;
    v_chip text;
BEGIN
    -- the API's [{"Id": …}], and a list of chips or one chip as people write them: the
    -- valid ones, in order, as one list (the cat is found by any and given each; core 045:
    -- a cat chipped twice kept its first chip alone, and a record of the second made
    -- another cat)
    SELECT string_agg(c, ', ' ORDER BY n) INTO v_chip FROM jsonb_array_elements(
        CASE jsonb_typeof(p -> 'Microchips') WHEN 'array' THEN p -> 'Microchips'
             WHEN 'string' THEN to_jsonb(string_to_array(p ->> 'Microchips', ','))
             WHEN 'number' THEN jsonb_build_array(p -> 'Microchips')
             ELSE '[]' END) WITH ORDINALITY AS t (m, n)
    CROSS JOIN LATERAL (SELECT coalesce(m ->> 'Id', CASE WHEN jsonb_typeof(m) <> 'object'
                                                         THEN m #>> '{}' END) AS c) x
    WHERE trapper.validate_microchip(c) IS NOT NULL;
    v_cat := trapper.find_or_create_cat_by_microchip(
        v_chip, p ->> 'Name', p ->> 'Sex', p ->> 'Breed', p ->> 'Altered', p ->> 'Color',
        'shelterluv', p_shelterluv_id => p ->> 'ID', p_staged_record_id => p_id);
    -- the API's Status ("Deceased", "Healthy - In Custody"): a dead cat is marked so
    IF (trapper.shelter_outcome(split_part(p ->> 'Status', ' ', 1))).deceased THEN
        UPDATE trapper.sot_cats SET is_deceased = true, updated_at = now()
        WHERE cat_id = v_cat AND NOT is_deceased;
    END IF;
    SELECT pi.person_id INTO v_person FROM trapper.person_identifiers pi
    WHERE pi.id_type = 'external_id'
      AND pi.id_value_norm
          = 'shelterluv:' || trapper.source_id(p -> 'AssociatedPerson' ->> 'Internal-ID');
    PERFORM trapper.link_person_cat(trapper.get_canonical_person_id(v_person), v_cat,
                                    'adopter', 'shelterluv');
    RETURN trapper.processed('cat', v_cat);
END $$;

CREATE OR REPLACE FUNCTION trapper.process_shelterluv_outcome(p_id bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    p jsonb := (SELECT payload FROM trapper.staged_records WHERE id = p_id);
    v_cat uuid;
    r record;
    v_name text := btrim(coalesce(p ->> 'Outcome To Person Name', ''));
    v_outcome record := trapper.shelter_outcome(p ->> 'Outcome Type');
BEGIN
    v_cat := trapper.find_or_create_cat_by_microchip(
        p ->> 'Microchip Number', NULL, p_source => 'shelterluv',
        p_shelterluv_id => p ->> 'Animal ID', p_staged_record_id => p_id);
    IF NOT v_outcome.known THEN
        PERFORM trapper.note_unrecognised_value(p_id, 'Outcome Type', p ->> 'Outcome Type',
                                                'adopter');
    END IF;
    IF v_outcome.deceased THEN
        UPDATE trapper.sot_cats SET is_deceased = true, updated_at = now()
        WHERE cat_id = v_cat AND NOT is_deceased;
    END IF;
    r := trapper.process_person_fields(p_id, 'shelterluv',
        split_part(v_name, ' ', 1), nullif(substr(v_name, length(split_part(v_name, ' ', 1)) + 2), ''),
        p ->> 'Outcome To Person Email', p ->> 'Outcome To Person Phone', NULL,
        trapper.join_address(p ->> 'Outcome To Person Street Address 1',
                             p ->> 'Outcome To Person City',
                             p ->> 'Outcome To Person State', p ->> 'Outcome To Person Zip'));
    IF v_outcome.relationship IS NOT NULL THEN
        PERFORM trapper.link_person_cat(r.person_id, v_cat, v_outcome.relationship,
                                        'shelterluv');
    END IF;
    RETURN trapper.processed('cat', v_cat);
END $$;

CREATE OR REPLACE FUNCTION trapper.process_petlink_owner(p_id bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    p jsonb := (SELECT payload FROM trapper.staged_records WHERE id = p_id);
    r record;
BEGIN
    r := trapper.process_person_fields(p_id, 'petlink', p ->> 'First Name', p ->> 'Last Name',
        p ->> 'Email', NULL, NULL,
        trapper.join_address(p ->> 'Address', p ->> 'City',
                             p ->> 'State', p ->> 'Zip Code'));
    PERFORM trapper.add_person_identifier(r.person_id, 'external_id',
        'petlink:' || trapper.source_id(p ->> 'Owner ID'), p ->> 'Owner ID', p_id, 1.0);
    RETURN trapper.processed('person', r.person_id, r.decision <> 'auto_match');
END $$;

CREATE OR REPLACE FUNCTION trapper.process_petlink_pet(p_id bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    p jsonb := (SELECT payload FROM trapper.staged_records WHERE id = p_id);
    v_cat uuid;
    v_person uuid;
BEGIN
    v_cat := trapper.find_or_create_cat_by_microchip(
        p ->> 'Microchip', p ->> 'Name', NULL, p ->> 'Breed', NULL, NULL, 'petlink',
        p_petlink_id => p ->> 'ID', p_staged_record_id => p_id);
    -- The registry knows the owner by name and email only; its emails are often made up,
    -- so they carry the source's low confidence.
    v_person := trapper.find_or_create_person(p ->> 'Email', NULL, p ->> 'First Name',
                                              p ->> 'Owner', NULL, 'petlink', p_id);
    PERFORM trapper.link_person_cat(v_person, v_cat, 'owner', 'petlink', 0.4);
    RETURN trapper.processed('cat', v_cat);
END $$;

CREATE OR REPLACE FUNCTION trapper.process_volunteerhub_user(p_id bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    p jsonb := (SELECT payload FROM trapper.staged_records WHERE id = p_id);
    r record;
    g text;
BEGIN
    r := trapper.process_person_fields(p_id, 'volunteerhub', p ->> 'Name - FirstName',
        p ->> 'Name - LastName', p ->> 'Email', p ->> 'Home Phone', p ->> 'Mobile Phone',
        trapper.join_address(p ->> 'Street Address - Address1', p ->> 'Street Address - City',
                             p ->> 'Street Address - State', p ->> 'Street Address - PostalCode'));
    PERFORM trapper.add_person_identifier(r.person_id, 'external_id',
        'volunteerhub:' || trapper.source_id(p ->> 'UserUid'), p ->> 'UserUid', p_id, 1.0);
    -- groups as the export joins them (";"), or as people do (",", "|")
    FOREACH g IN ARRAY string_to_array(translate(coalesce(p ->> 'User Group Memberships', ''),
                                                 ',|', ';;'), ';') LOOP
        INSERT INTO trapper.person_roles (person_id, role, source_system)
        SELECT r.person_id, CASE WHEN g ILIKE '%trapper%' THEN 'trapper'
                                 WHEN g ILIKE '%foster%' THEN 'foster' ELSE 'volunteer' END,
               'volunteerhub'
        WHERE r.person_id IS NOT NULL AND btrim(g) <> ''
        ON CONFLICT DO NOTHING;
    END LOOP;
    RETURN trapper.processed('person', r.person_id, r.decision <> 'auto_match');
END $$;

CREATE OR REPLACE FUNCTION trapper.process_airtable_trapper(p_id bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    s trapper.staged_records := (SELECT x FROM trapper.staged_records x WHERE id = p_id);
    p jsonb := s.payload;
    v_name text := btrim(coalesce(p ->> 'Name', ''));
    r record;
BEGIN
    r := trapper.process_person_fields(p_id, 'airtable', split_part(v_name, ' ', 1),
        nullif(substr(v_name, length(split_part(v_name, ' ', 1)) + 2), ''), p ->> 'Email',
        NULL, NULL, p ->> 'Address', 'trapper');
    PERFORM trapper.add_person_identifier(r.person_id, 'external_id',
        'airtable:' || s.source_row_id, s.source_row_id, p_id, 1.0);
    INSERT INTO trapper.person_roles (person_id, role, source_system)
    SELECT r.person_id, 'trapper', 'airtable' WHERE r.person_id IS NOT NULL
    ON CONFLICT DO NOTHING;
    RETURN trapper.processed('person', r.person_id, r.decision <> 'auto_match');
END $$;

CREATE OR REPLACE FUNCTION trapper.process_airtable_trapping_request(p_id bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    s trapper.staged_records := (SELECT x FROM trapper.staged_records x WHERE id = p_id);
    p jsonb := s.payload;
    r record;
    v_site uuid;
    v_req uuid;
    v_total integer := trapper.payload_int(p ->> 'Total Cats to be trapped');
    v_kittens record := trapper.payload_bool(p ->> 'Kittens Present?');
    v_status record := trapper.request_status(p ->> 'Case Status');
    v_lat numeric := trapper.payload_number(p ->> 'Latitude');
    v_lng numeric := trapper.payload_number(p ->> 'Longitude');
BEGIN
    -- what the record says that nothing reads is counted, and the record still processed
    IF NOT v_kittens.known THEN
        PERFORM trapper.note_unrecognised_value(p_id, 'Kittens Present?',
                                                p ->> 'Kittens Present?');
    END IF;
    IF NOT v_status.known THEN
        PERFORM trapper.note_unrecognised_value(p_id, 'Case Status', p ->> 'Case Status', 'new');
    END IF;
    IF v_total IS NULL AND btrim(p ->> 'Total Cats to be trapped') <> '' THEN
        PERFORM trapper.note_unrecognised_value(p_id, 'Total Cats to be trapped',
                                                p ->> 'Total Cats to be trapped');
    END IF;
    IF (v_lat IS NULL AND btrim(p ->> 'Latitude') <> '')
       OR (v_lng IS NULL AND btrim(p ->> 'Longitude') <> '') THEN
        PERFORM trapper.note_unrecognised_value(p_id, 'Latitude/Longitude',
            concat_ws(', ', p ->> 'Latitude', p ->> 'Longitude'));
        v_lat := NULL;
        v_lng := NULL;
    END IF;
    v_site := trapper.find_or_create_place_deduped(
        trapper.join_address(coalesce(p ->> 'Address', p ->> 'Cats Address', p ->> 'Trapping Address'),
                             p ->> 'City', coalesce(p ->> 'Zip', p ->> 'ZIP')),
        NULL, v_lat::double precision, v_lng::double precision, 'airtable', p_id);
    r := trapper.process_person_fields(p_id, 'airtable', p ->> 'First Name', p ->> 'Last Name',
        coalesce(nullif(p ->> 'Clean Email', ''), p ->> 'Client Email (LK)'),
        p ->> 'Clean Phone', NULL, NULL, 'requester');
    PERFORM trapper.link_person_place(r.person_id, v_site, 'requester', 'airtable');
    v_req := trapper.find_or_create_request('airtable', s.source_row_id,
        trapper.parse_us_date(p ->> 'Created'), v_site, r.person_id, p ->> 'Case Info',
        v_status.status, NULL, v_total, v_kittens.value,
        ARRAY(SELECT jsonb_array_elements_text(CASE WHEN jsonb_typeof(p -> 'Trappers Assigned') = 'array'
                                                    THEN p -> 'Trappers Assigned' ELSE '[]' END)),
        p_id);
    PERFORM trapper.add_colony_estimate(v_site, v_total,
        trapper.payload_int(p ->> 'Adult Cats'), NULL, 'trapping_request',
        trapper.parse_us_date(p ->> 'Created'), p_id);
    RETURN trapper.processed('request', v_req, true);
END $$;

CREATE OR REPLACE FUNCTION trapper.process_airtable_appointment_request(p_id bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    s trapper.staged_records := (SELECT x FROM trapper.staged_records x WHERE id = p_id);
    p jsonb := s.payload;
    r record;
    v_req uuid;
    v_status record := trapper.request_status(p ->> 'Submission Status');
BEGIN
    IF NOT v_status.known THEN
        PERFORM trapper.note_unrecognised_value(p_id, 'Submission Status',
                                                p ->> 'Submission Status', 'new');
    END IF;
    r := trapper.process_person_fields(p_id, 'airtable', p ->> 'First Name', p ->> 'Last Name',
        p ->> 'Email', p ->> 'Best phone number to reach you', NULL,
        coalesce(nullif(p ->> 'Clean Address', ''),
                 trapper.join_address(p ->> 'Your address', p ->> 'Your city',
                                      p ->> 'Your Zip Code')), 'requester');
    v_req := trapper.find_or_create_request('airtable', s.source_row_id, NULL, r.place_id,
        r.person_id, 'appointment request',
        v_status.status,
        p_staged_record_id => p_id);
    RETURN trapper.processed('request', v_req, true);
END $$;

CREATE OR REPLACE FUNCTION trapper.process_web_intake_submission(p_id bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    s trapper.staged_records := (SELECT x FROM trapper.staged_records x WHERE id = p_id);
    p jsonb := s.payload;
    r record;
    v_site uuid;
    v_req uuid;
    v_count integer := trapper.payload_int(p ->> 'cat_count_estimate');
    v_kittens record := trapper.payload_bool(p ->> 'has_kittens');
    v_emergency record := trapper.payload_bool(p ->> 'is_emergency');
    v_submitted timestamptz := trapper.payload_timestamp(p ->> 'submitted_at');
BEGIN
    IF v_submitted IS NULL AND btrim(p ->> 'submitted_at') <> '' THEN
        PERFORM trapper.note_unrecognised_value(p_id, 'submitted_at', p ->> 'submitted_at');
    END IF;
    IF NOT v_kittens.known THEN
        PERFORM trapper.note_unrecognised_value(p_id, 'has_kittens', p ->> 'has_kittens');
    END IF;
    IF NOT v_emergency.known THEN
        PERFORM trapper.note_unrecognised_value(p_id, 'is_emergency', p ->> 'is_emergency');
    END IF;
    IF v_count IS NULL AND btrim(p ->> 'cat_count_estimate') <> '' THEN
        PERFORM trapper.note_unrecognised_value(p_id, 'cat_count_estimate',
                                                p ->> 'cat_count_estimate');
    END IF;
    r := trapper.process_person_fields(p_id, 'web_intake', p ->> 'first_name', p ->> 'last_name',
        p ->> 'email', p ->> 'phone', NULL,
        trapper.join_address(p ->> 'requester_address', p ->> 'requester_city',
                             p ->> 'requester_zip'), 'resident');
    v_site := trapper.find_or_create_place_deduped(
        trapper.join_address(p ->> 'cats_address', p ->> 'cats_city', p ->> 'cats_zip'),
        NULL, NULL, NULL, 'web_intake', p_id);
    PERFORM trapper.link_person_place(r.person_id, v_site, 'requester', 'web_intake', 0.55);
    v_req := trapper.find_or_create_request('web_intake', s.source_row_id,
        v_submitted, v_site, r.person_id,
        p ->> 'situation_description', 'new', NULL, v_count,
        v_kittens.value, p_staged_record_id => p_id);
    PERFORM trapper.add_colony_estimate(v_site, v_count, NULL,
        trapper.payload_int(p ->> 'kitten_count'), 'intake_form',
        v_submitted::date, p_id);
    INSERT INTO trapper.web_intake_submissions
        (submission_id, submitted_at, first_name, last_name, email, phone, requester_address,
         cats_address, ownership_status, cat_count_estimate, fixed_status, has_kittens,
         is_emergency, situation_description, status, matched_person_id, matched_place_id,
         created_request_id, staged_record_id)
    VALUES (s.source_row_id, v_submitted, p ->> 'first_name',
            p ->> 'last_name', p ->> 'email', p ->> 'phone', p ->> 'requester_address',
            p ->> 'cats_address', p ->> 'ownership_status', v_count, p ->> 'fixed_status',
            v_kittens.value, v_emergency.value,
            p ->> 'situation_description', 'request_created', r.person_id, v_site, v_req, p_id)
    ON CONFLICT (submission_id) DO NOTHING;
    RETURN trapper.processed('request', v_req, true);
END $$;

CREATE OR REPLACE FUNCTION trapper.process_atlas_ui_manual_entry(p_id bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    p jsonb := (SELECT payload FROM trapper.staged_records WHERE id = p_id);
    r record;
BEGIN
    -- Staff entries may create a person from a name alone (they saw the person); such a
    -- person has no identifier and shows up in the why-missing view.
    r := trapper.process_person_fields(p_id, 'atlas_ui', p ->> 'first_name', p ->> 'last_name',
        p ->> 'email', p ->> 'phone', NULL, p ->> 'address', 'resident', true);
    RETURN trapper.processed('person', r.person_id, r.decision <> 'auto_match');
END $$;

-- Geocoder results fill in the coordinates of places the other sources created.
CREATE OR REPLACE FUNCTION trapper.process_google_maps_geocode(p_id bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    p jsonb := (SELECT payload FROM trapper.staged_records WHERE id = p_id);
    v_place uuid;
BEGIN
    -- The place may not exist yet (workers run tables side by side): the geocoder's
    -- address makes it, and the source that names it later finds it by its key.
    v_place := trapper.find_or_create_place_deduped(p ->> 'query_address', NULL, NULL, NULL,
                                                    'google_maps', p_id);
    IF v_place IS NULL THEN
        RAISE EXCEPTION 'geocode result for "%" names no street address', p ->> 'query_address';
    END IF;
    -- coordinates as numbers or as text; a result without both is no location
    IF p ->> 'status' = 'OK' AND trapper.payload_number(p ->> 'lat') IS NOT NULL
       AND trapper.payload_number(p ->> 'lng') IS NOT NULL THEN
        UPDATE trapper.places
        SET location = point(trapper.payload_number(p ->> 'lng')::double precision,
                             trapper.payload_number(p ->> 'lat')::double precision),
            formatted_address = coalesce(nullif(p ->> 'formatted_address', ''), formatted_address),
            geocode_status = 'ok', geocoded_at = now(), geocode_source = 'google_maps',
            updated_at = now()
        WHERE place_id = v_place;
    ELSE
        UPDATE trapper.places
        SET geocode_status = CASE WHEN location IS NULL THEN 'zero_results' ELSE geocode_status END,
            geocoded_at = now(), updated_at = now()
        WHERE place_id = v_place;
    END IF;
    PERFORM trapper.record_entity_source('place', v_place, p_id, 'updated', p ->> 'status');
    RETURN trapper.processed('place', v_place);
END $$;
