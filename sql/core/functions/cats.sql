-- Cats: identifiers, and find-or-create by microchip or another id, safe under concurrency.

CREATE OR REPLACE FUNCTION trapper.add_cat_identifier(
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

CREATE OR REPLACE FUNCTION trapper.cat_by_identifier(p_type text, p_value text) RETURNS uuid
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

-- A cat's sex and altered (spay/neuter) status as people type them, read into a small value
-- space: sex 'Male' or 'Female', altered 'Yes' or 'No', NULL when not known. The sex field
-- often carries the altered status too ("Neutered Male", "MN", "F/S", "Intact Female"); the
-- altered field's own word wins over it; "Spayed" alone is a female. A value given as not
-- known ("Unknown", "?", "Female?", "DidNotAsk", blank) is NULL, so a later record may fill
-- it in; any other value read as nothing is named in `unrecognised` ('sex',
-- 'altered_status') for the caller to count (trapper.unrecognised_values), never taken as a
-- guess. Words, not patterns: one regular expression a field, folding case and punctuation.
CREATE OR REPLACE FUNCTION trapper.cat_sex_altered(
    p_sex text, p_altered text,
    OUT sex text, OUT altered text, OUT unrecognised text[]
)
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE AS $$
DECLARE
    w text;
    v_sexes text[] := '{}';
    v_yes boolean := false;   -- the sex field's altered words
    v_no boolean := false;
    v_not boolean := false;
    v_spay boolean := false;
    v_bad boolean := false;
    a_yes boolean := false;   -- the altered field's
    a_no boolean := false;
    a_not boolean := false;
    a_bad boolean := false;
BEGIN
    unrecognised := '{}';
    -- the values nearly every export writes, as the words below read them, without a regular
    -- expression (104,000 calls in the atlas load)
    IF coalesce(p_sex, '') IN ('', 'Male', 'Female')
       AND coalesce(p_altered, '') IN ('', 'Yes', 'No', 'Unknown', 'DidNotAsk') THEN
        sex := nullif(p_sex, '');
        altered := CASE WHEN p_altered IN ('Yes', 'No') THEN p_altered END;
        RETURN;
    END IF;
    FOREACH w IN ARRAY string_to_array(
            btrim(regexp_replace(lower(coalesce(p_sex, '')), '[^a-z0-9?]+', ' ', 'g')), ' ') LOOP
        CASE
            WHEN w IN ('m', 'male', 'tom', 'boy') THEN v_sexes := v_sexes || 'Male'::text;
            WHEN w IN ('f', 'female', 'fem', 'queen', 'girl') THEN v_sexes := v_sexes || 'Female'::text;
            WHEN w IN ('nm', 'mn') THEN v_sexes := v_sexes || 'Male'::text; v_yes := true;
            WHEN w IN ('fs', 'sf') THEN v_sexes := v_sexes || 'Female'::text; v_yes := true;
            WHEN w IN ('mi', 'im') THEN v_sexes := v_sexes || 'Male'::text; v_no := true;
            WHEN w IN ('fi', 'if') THEN v_sexes := v_sexes || 'Female'::text; v_no := true;
            WHEN w IN ('spayed', 'spay') THEN v_yes := true; v_spay := true;
            WHEN w IN ('n', 's', 'neutered', 'neuter', 'fixed', 'altered', 'castrated',
                       'sterilized', 'sterilised', 'desexed') THEN v_yes := true;
            WHEN w IN ('i', 'intact', 'unaltered', 'unfixed', 'entire', 'whole') THEN v_no := true;
            WHEN w = 'not' THEN v_not := true;
            WHEN w IN ('unknown', 'unk', 'u', '?', '??', 'na', 'unsure', 'didnotask') THEN NULL;
            ELSE v_bad := true;
        END CASE;
    END LOOP;
    IF v_not THEN
        v_no := v_no OR v_yes;
        v_yes := false;
        v_spay := false;
    END IF;
    IF v_spay THEN   -- only a female is spayed
        v_sexes := v_sexes || 'Female'::text;
    END IF;
    IF strpos(p_sex, '?') > 0 THEN
        NULL;   -- "Female?": the one who typed it did not know; not a value, not unread
    ELSIF v_bad OR (v_yes AND v_no) OR ('Male' = ANY (v_sexes) AND 'Female' = ANY (v_sexes)) THEN
        unrecognised := unrecognised || 'sex'::text;
    ELSE
        sex := v_sexes[1];
        altered := CASE WHEN v_yes THEN 'Yes' WHEN v_no THEN 'No' END;
    END IF;
    FOREACH w IN ARRAY string_to_array(
            btrim(regexp_replace(lower(coalesce(p_altered, '')), '[^a-z0-9?]+', ' ', 'g')),
            ' ') LOOP
        CASE
            WHEN w IN ('yes', 'y', 'true', 't', '1', 'x', 'checked', 'on', 'spayed', 'spay',
                       'neutered', 'neuter', 'fixed', 'altered', 'eartipped', 'eartip',
                       'tipped', 'castrated', 'sterilized', 'sterilised', 'desexed', 'sn',
                       'done') THEN a_yes := true;
            WHEN w IN ('no', 'n', 'false', 'f', '0', 'off', 'intact', 'unaltered', 'unfixed',
                       'entire', 'whole') THEN a_no := true;
            WHEN w = 'not' THEN a_not := true;
            -- the words around the status: "already fixed", "ear tipped", "was spayed"
            WHEN w IN ('already', 'ear', 'previously', 'was', 'is', 'has', 'been', 'prior')
                THEN NULL;
            WHEN w IN ('unknown', 'unk', 'u', '?', '??', 'na', 'unsure', 'didnotask', 'did',
                       'ask', 'asked') THEN NULL;
            ELSE a_bad := true;
        END CASE;
    END LOOP;
    IF a_not THEN
        a_no := a_no OR a_yes;
        a_yes := false;
    END IF;
    IF strpos(p_altered, '?') > 0 THEN
        NULL;   -- "Yes?": not known
    ELSIF a_bad OR (a_yes AND a_no) THEN
        unrecognised := unrecognised || 'altered_status'::text;
    ELSIF a_yes OR a_no THEN
        altered := CASE WHEN a_yes THEN 'Yes' ELSE 'No' END;
    END IF;
END $$;

-- Count a value the processors could not read (trapper.unrecognised_values, core 024):
-- once per staged record and field, so a replay does not count it again.
CREATE OR REPLACE FUNCTION trapper.note_unrecognised_value(
    p_staged_record_id bigint, p_field text, p_value text, p_stored text DEFAULT NULL
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO trapper.unrecognised_values (staged_record_id, field, value, stored)
    VALUES (p_staged_record_id, p_field, coalesce(p_value, ''), p_stored)
    ON CONFLICT (staged_record_id, field) DO NOTHING;
END $$;

-- What a record says of a cat, onto the cat: with p_cat NULL a new cat with it (its id
-- returned), else what the cat does not have yet (p_cat returned). Sex and altered status
-- are stored as cat_sex_altered reads them, and a value it cannot read is counted for the
-- record (trapper.unrecognised_values). Nothing is overwritten, but for the altered status:
-- a cat is fixed once and stays so, so a record that says Yes turns a No into Yes (the intact
-- cat trapped, then spayed at the clinic), and a No after a Yes, a record older than the
-- surgery processed later, changes nothing (docs/processing.md, "A cat's sex and altered
-- status"). The one definition of it: the processors (find_or_create_cat_by_microchip) and
-- the orchestrator's router (a cat known by an export's own animal id) both call it.
-- p_clinichq_animal_id is the id as trapper.source_id reads it.
CREATE OR REPLACE FUNCTION trapper.cat_fill(
    p_cat uuid, p_name text, p_sex text, p_breed text, p_altered_status text,
    p_color text, p_secondary_color text DEFAULT NULL, p_ownership_type text DEFAULT NULL,
    p_clinichq_animal_id text DEFAULT NULL, p_staged_record_id bigint DEFAULT NULL
) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_name text := nullif(btrim(p_name), '');
    v_val record := trapper.cat_sex_altered(p_sex, p_altered_status);
    v_sex text := v_val.sex;
    v_altered text := v_val.altered;
    v_id uuid := p_cat;
BEGIN
    IF v_id IS NULL THEN
        INSERT INTO trapper.sot_cats (display_name, sex, breed, altered_status, primary_color,
                                      secondary_color, ownership_type, clinichq_animal_id)
        VALUES (v_name, v_sex, nullif(p_breed, ''), v_altered,
                nullif(p_color, ''), nullif(p_secondary_color, ''),
                nullif(p_ownership_type, ''), p_clinichq_animal_id)
        RETURNING cat_id INTO v_id;
    ELSE
        UPDATE trapper.sot_cats SET
            display_name = coalesce(display_name, CASE WHEN v_name <> 'Unknown' THEN v_name END),
            sex = coalesce(sex, v_sex), breed = coalesce(breed, nullif(p_breed, '')),
            altered_status = CASE WHEN v_altered = 'Yes' THEN 'Yes'
                                  ELSE coalesce(altered_status, v_altered) END,
            primary_color = coalesce(primary_color, nullif(p_color, '')),
            secondary_color = coalesce(secondary_color, nullif(p_secondary_color, '')),
            clinichq_animal_id = coalesce(clinichq_animal_id, p_clinichq_animal_id),
            updated_at = now()
        WHERE cat_id = v_id
          -- only when something is missing: a no-op update still writes a row version and
          -- waits on any worker holding the row
          AND ((display_name IS NULL AND v_name <> 'Unknown')
               OR (sex IS NULL AND v_sex IS NOT NULL)
               OR (breed IS NULL AND nullif(p_breed, '') IS NOT NULL)
               OR (altered_status IS NULL AND v_altered IS NOT NULL)
               OR (altered_status = 'No' AND v_altered = 'Yes')
               OR (primary_color IS NULL AND nullif(p_color, '') IS NOT NULL)
               OR (secondary_color IS NULL AND nullif(p_secondary_color, '') IS NOT NULL)
               OR (clinichq_animal_id IS NULL AND p_clinichq_animal_id IS NOT NULL));
    END IF;
    IF p_staged_record_id IS NOT NULL THEN
        IF 'sex' = ANY (v_val.unrecognised) THEN
            PERFORM trapper.note_unrecognised_value(p_staged_record_id, 'sex', p_sex);
        END IF;
        IF 'altered_status' = ANY (v_val.unrecognised) THEN
            PERFORM trapper.note_unrecognised_value(p_staged_record_id, 'altered_status',
                                                    p_altered_status);
        END IF;
    END IF;
    RETURN v_id;
END $$;

-- A cat by microchip, falling back to the clinic's animal id, then the shelter's and the
-- registry's ids. A chip typed into the name field is found there. Junk chips (all zeros,
-- 123456789…) identify nothing, so two chipless cats never merge through them. What the
-- record says of the cat goes onto it through trapper.cat_fill.
CREATE OR REPLACE FUNCTION trapper.find_or_create_cat_by_microchip(
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
    v_locked boolean := false;
    v_clinic text := trapper.source_id(p_clinichq_animal_id);
    v_shelter text := trapper.source_id(p_shelterluv_id);
    v_registry text := trapper.source_id(p_petlink_id);
    -- a cell listing two chips (a cat chipped twice): the first is v_chip, the rest find
    -- the cat too and are given to it
    v_more text[] := CASE WHEN translate(p_microchip, E',;/|&\n', '') <> p_microchip
                          THEN (trapper.microchips_listed(p_microchip))[2:] ELSE '{}' END;
    v_other text;
BEGIN
    IF v_chip IS NULL AND v_name IS NOT NULL AND v_name ~ E'^[0-9A-Fa-f\\s.-]{9,}$' THEN
        v_chip := trapper.validate_microchip(v_name);   -- the chip typed into the name
        IF v_chip IS NOT NULL THEN
            v_name := NULL;
            v_detail := 'microchip found in the name field';
        END IF;
    END IF;
    -- Look first, lock only to create: a cat seen before (most calls) needs no turn-taking.
    -- A miss takes the keys' locks and looks again, since a worker that held them may have
    -- just created this cat.
    LOOP
        v_id := trapper.cat_by_identifier('microchip', v_chip);
        FOREACH v_other IN ARRAY v_more LOOP
            EXIT WHEN v_id IS NOT NULL;
            v_id := trapper.cat_by_identifier('microchip', v_other);
        END LOOP;
        v_id := coalesce(
            v_id,
            trapper.cat_by_identifier('clinichq_animal_id', v_clinic),
            trapper.cat_by_identifier('shelterluv_animal_id', v_shelter),
            trapper.cat_by_identifier('petlink_pet_id', v_registry));
        EXIT WHEN v_id IS NOT NULL OR v_locked;
        PERFORM trapper.lock_identity_key('chip', v_chip);
        PERFORM trapper.lock_identity_key('clinichq', v_clinic);
        v_locked := true;
    END LOOP;
    IF v_id IS NULL THEN
        IF v_chip IS NULL AND v_clinic IS NULL AND v_shelter IS NULL
           AND v_registry IS NULL THEN
            RETURN NULL;   -- nothing identifies this cat
        END IF;
        v_id := trapper.cat_fill(NULL, v_name, p_sex, p_breed, p_altered_status, p_color,
                                 p_secondary_color, p_ownership_type, v_clinic,
                                 p_staged_record_id);
        v_action := 'created';
    ELSE
        PERFORM trapper.cat_fill(v_id, v_name, p_sex, p_breed, p_altered_status, p_color,
                                 p_secondary_color, p_ownership_type, v_clinic,
                                 p_staged_record_id);
    END IF;
    IF v_chip IS NOT NULL THEN
        v_fmt := trapper.microchip_format(v_chip);
        PERFORM trapper.add_cat_identifier(v_id, 'microchip', v_chip, p_source, v_fmt.confidence);
    END IF;
    FOREACH v_other IN ARRAY v_more LOOP
        PERFORM trapper.add_cat_identifier(v_id, 'microchip', v_other, p_source,
                                           (trapper.microchip_format(v_other)).confidence);
    END LOOP;
    PERFORM trapper.add_cat_identifier(v_id, 'clinichq_animal_id', v_clinic, p_source);
    PERFORM trapper.add_cat_identifier(v_id, 'shelterluv_animal_id', v_shelter, p_source);
    PERFORM trapper.add_cat_identifier(v_id, 'petlink_pet_id', v_registry, p_source);
    IF p_staged_record_id IS NOT NULL THEN
        PERFORM trapper.record_entity_source('cat', v_id, p_staged_record_id, v_action, v_detail);
        -- a chip with digits that reads as none (too short, all zeros, Excel's 9.85E+14)
        IF v_chip IS NULL AND translate(p_microchip, '0123456789', '') <> p_microchip THEN
            PERFORM trapper.note_unrecognised_value(p_staged_record_id, 'microchip',
                                                    p_microchip);
        END IF;
    END IF;
    RETURN v_id;
END $$;

-- A cat's colour as people type it, in a small value space (docs/processing.md, "A cat's
-- colour"): the colour words standardised ("Blk" black, "Grey" and "Blue" gray, "Ginger",
-- "Red" and "Org" orange, "Tortie" tortoiseshell, "Tux" black white), sorted, then the
-- pattern words (tabby, point, dilute), so "Brown Tabby", "tabby - brown" and "BRN TAB" are
-- one value: "brown tabby". NULL when no word is a colour ("Unknown", "?", "pretty"). The
-- colour as typed stays in primary_color / secondary_color; this reads it into the
-- generated columns primary_color_std / secondary_color_std (032_cat_colors.sql).
CREATE OR REPLACE FUNCTION trapper.cat_color(p_raw text) RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    w text;
    c text;
    colours text[] := '{}';
    patterns text[] := '{}';
BEGIN
    FOREACH w IN ARRAY regexp_split_to_array(
            lower(btrim(regexp_replace(coalesce(p_raw, ''), '[^A-Za-z]+', ' ', 'g'))), ' ') LOOP
        c := CASE
            WHEN w IN ('black', 'blk', 'blck', 'ebony') THEN 'black'
            WHEN w IN ('white', 'wht', 'wh', 'wte') THEN 'white'
            WHEN w IN ('gray', 'grey', 'gry', 'blue', 'silver', 'slv') THEN 'gray'
            WHEN w IN ('orange', 'org', 'orng', 'ginger', 'red', 'marmalade', 'flame') THEN 'orange'
            WHEN w IN ('cream', 'crm') THEN 'cream'
            WHEN w IN ('buff', 'fawn', 'tan') THEN 'buff'
            WHEN w IN ('brown', 'brn', 'chocolate', 'choc', 'seal', 'sable') THEN 'brown'
            WHEN w IN ('calico', 'cali', 'callico', 'calco') THEN 'calico'
            WHEN w IN ('tortoiseshell', 'tortie', 'torti', 'tort', 'tortoise', 'torbie')
                THEN 'tortoiseshell'
            WHEN w IN ('tuxedo', 'tux') THEN 'tuxedo'
        END;
        IF c = 'tuxedo' THEN
            colours := colours || '{black,white}'::text[];
        ELSIF c IS NOT NULL THEN
            colours := colours || c;
        ELSE
            c := CASE
                WHEN w IN ('tabby', 'tab', 'tabbie', 'striped', 'mackerel', 'classic', 'lynx')
                    THEN 'tabby'
                WHEN w IN ('point', 'pt', 'siamese', 'colorpoint', 'pointed') THEN 'point'
                WHEN w IN ('dilute', 'dil') THEN 'dilute'
            END;
            IF c IS NOT NULL THEN
                patterns := patterns || c;
            END IF;
        END IF;
    END LOOP;
    IF cardinality(colours) + cardinality(patterns) = 0 THEN
        RETURN NULL;
    END IF;
    RETURN array_to_string(ARRAY(SELECT DISTINCT x FROM unnest(colours) x ORDER BY x)
                           || ARRAY(SELECT DISTINCT x FROM unnest(patterns) x ORDER BY x), ' ');
END $$;

-- A cat's weight as a clinic types it, in pounds: "8.2", "8.2 lbs", "8 lb", "3.7 kg",
-- "12 oz", "8#"; NULL for anything else (a blank, "n/a", "heavy") and for what no cat
-- weighs (over 60 lb). A bare number is pounds: ClinicHQ is a US clinic's system.
CREATE OR REPLACE FUNCTION trapper.cat_weight_lbs(p_raw text) RETURNS numeric
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    m text[] := regexp_match(lower(btrim(coalesce(p_raw, ''))),
                             E'^(\\d{1,3}(?:\\.\\d+)?|\\.\\d+) ?(lbs?|pounds?|#|kgs?|kilos?|oz|ounces?)?\\.?$');
    v numeric;
BEGIN
    IF m IS NULL THEN
        RETURN NULL;
    END IF;
    v := m[1]::numeric * CASE WHEN m[2] LIKE 'k%' THEN 2.20462
                              WHEN m[2] LIKE 'o%' THEN 0.0625 ELSE 1 END;
    RETURN CASE WHEN v > 0 AND v <= 60 THEN round(v, 2) END;
END $$;

-- One visit's weight and age of a cat (031_cat_observations.sql): nothing when the record
-- gives neither; a value that reads as nothing is kept as typed and counted
-- (trapper.unrecognised_values, fields weight and age). Age is whole years and months
-- (payload_int's reading: "3", "3.0", "~3"); the birth date is the visit's day less it.
CREATE OR REPLACE FUNCTION trapper.record_cat_observation(
    p_cat_id uuid, p_staged_record_id bigint, p_observed_on date, p_weight text,
    p_age_years text, p_age_months text
) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_weight numeric := trapper.cat_weight_lbs(p_weight);
    v_years integer := trapper.payload_int(p_age_years);
    v_months integer := trapper.payload_int(p_age_months);
    v_age integer;
    v_typed jsonb := jsonb_strip_nulls(jsonb_build_object(
        'weight', nullif(btrim(p_weight), ''), 'age_years', nullif(btrim(p_age_years), ''),
        'age_months', nullif(btrim(p_age_months), '')));
BEGIN
    IF p_cat_id IS NULL OR v_typed = '{}' THEN
        RETURN;
    END IF;
    IF v_years IS NOT NULL OR v_months IS NOT NULL THEN
        v_age := coalesce(v_years, 0) * 12 + coalesce(v_months, 0);
        IF v_age < 0 OR v_age > 12 * 30 THEN
            v_age := NULL;
        END IF;
    END IF;
    INSERT INTO trapper.cat_observations (cat_id, staged_record_id, observed_on, weight_lbs,
                                          age_months, birth_date_estimate, as_typed)
    VALUES (p_cat_id, p_staged_record_id, p_observed_on, v_weight, v_age,
            (p_observed_on - make_interval(months => v_age))::date, v_typed)
    ON CONFLICT (staged_record_id) DO UPDATE
        SET cat_id = EXCLUDED.cat_id, observed_on = EXCLUDED.observed_on,
            weight_lbs = EXCLUDED.weight_lbs, age_months = EXCLUDED.age_months,
            birth_date_estimate = EXCLUDED.birth_date_estimate, as_typed = EXCLUDED.as_typed;
    IF p_staged_record_id IS NOT NULL THEN
        IF v_weight IS NULL AND v_typed ? 'weight' THEN
            PERFORM trapper.note_unrecognised_value(p_staged_record_id, 'weight', p_weight);
        END IF;
        IF v_age IS NULL AND (v_typed ? 'age_years' OR v_typed ? 'age_months') THEN
            PERFORM trapper.note_unrecognised_value(
                p_staged_record_id, 'age',
                concat_ws(' / ', v_typed ->> 'age_years', v_typed ->> 'age_months'));
        END IF;
    END IF;
END $$;

CREATE OR REPLACE FUNCTION trapper.find_or_create_cat_by_clinichq_id(
    p_clinichq_animal_id text, p_name text DEFAULT NULL, p_source text DEFAULT 'clinichq',
    p_staged_record_id bigint DEFAULT NULL
) RETURNS uuid
LANGUAGE sql AS $$
    SELECT trapper.find_or_create_cat_by_microchip(NULL, p_name, p_source => p_source,
        p_clinichq_animal_id => p_clinichq_animal_id, p_staged_record_id => p_staged_record_id)
$$;
