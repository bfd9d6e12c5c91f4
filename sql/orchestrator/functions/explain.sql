-- Why / why-not for two entities (docs/identity.md, "Explaining a match"): would the engines
-- join them now, by what margin, each field's agreement and weight, and the gate that
-- decides. People are scored by the engine's own functions (identity_weights,
-- identity_field_weights and identity_outcome in sql/core/functions/identity_scoring.sql,
-- which data_engine_resolve_identity decides with; name_compare, should_be_person,
-- address_key) in data_engine_resolve_identity's order of gates; tests/test_explain.py checks
-- the score against every decision the engine recorded for the small world. Read-only:
-- nothing here writes.

-- People: B presented to the engine with A as the only candidate, as when B arrived: an
-- identifier's holders are counted without B (the engine counts them before it creates the
-- incoming person), and a shared identifier's confidence is the lesser of the two holdings
-- (the engine takes the lesser of A's holding and the incoming source's confidence, which is
-- what B's holding records unless a later source raised it).
CREATE OR REPLACE FUNCTION trapper.orchestrator_explain_person_pair(p_a uuid, p_b uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    a uuid := trapper.get_canonical_person_id(p_a);
    b uuid := trapper.get_canonical_person_id(p_b);
    pa record;
    pb record;
    fsw record;
    v_gate record;
    v_email record;
    v_phone record;
    v_email_disagree boolean;
    v_name_level text;
    v_same_addr boolean;
    v_kept record;
    fw record;
    v_score double precision;
    v_outcome text;
    v_gate_name text;
    v_reason text;
    v_change jsonb := '[]'::jsonb;
BEGIN
    SELECT * INTO pa FROM trapper.sot_people WHERE person_id = a;
    SELECT * INTO pb FROM trapper.sot_people WHERE person_id = b;
    IF pa.person_id IS NULL OR pb.person_id IS NULL THEN
        RETURN NULL;
    END IF;
    SELECT * INTO fsw FROM trapper.identity_weights();

    IF a = b THEN
        RETURN jsonb_build_object(
            'entity_type', 'person', 'a', p_a, 'b', p_b, 'canonical_a', a, 'canonical_b', b,
            'same_entity', true, 'outcome', 'same_entity',
            'gate', 'already one person',
            'reason', format('both ids are person %s (merged)', a));
    END IF;

    -- the gate before matching, on B's name as stored
    v_gate := trapper.should_be_person(pb.first_name, pb.last_name);
    -- shared email: the weaker confidence of the two holdings (the engine scales a weight by
    -- the least of the held identifier's and the incoming source's confidence)
    -- (an email that someone besides B holds under a name other than B's weighs as a shared
    -- phone does: the engine scales its confidence so, identity.sql)
    SELECT e.value, e.conf * CASE WHEN e.shared THEN fsw.phone_shared / fsw.email_agree
                                  ELSE 1 END AS conf,
           e.shared
    INTO v_email
    FROM (SELECT x.id_value_norm AS value, least(x.confidence, y.confidence) AS conf,
                 EXISTS (SELECT 1 FROM trapper.person_identifiers o
                         JOIN trapper.sot_people op
                           ON op.person_id = trapper.get_canonical_person_id(o.person_id)
                         WHERE o.id_type = 'email' AND o.id_value_norm = x.id_value_norm
                           AND op.person_id <> b
                           AND trapper.name_compare(pb.first_name, pb.last_name,
                                                    op.first_name, op.last_name) = 'different')
                     AS shared
          FROM trapper.person_identifiers x
          JOIN trapper.person_identifiers y ON y.id_type = x.id_type AND y.id_value_norm = x.id_value_norm
          WHERE x.person_id = a AND y.person_id = b AND x.id_type = 'email'
          ORDER BY 2 DESC LIMIT 1) e;
    v_email_disagree := v_email.value IS NULL
        AND EXISTS (SELECT 1 FROM trapper.person_identifiers WHERE person_id = a AND id_type = 'email')
        AND EXISTS (SELECT 1 FROM trapper.person_identifiers WHERE person_id = b AND id_type = 'email');
    -- shared phones as the engine weighs them: the highest confidence of any, demoted when
    -- any is held by shared_n people or more (its max(confidence), max(holders))
    SELECT (array_agg(p.value ORDER BY p.holders DESC, p.conf DESC, p.value))[1] AS value,
           max(p.conf) AS conf, max(p.holders) AS holders
    INTO v_phone
    FROM (SELECT x.id_value_norm AS value, least(x.confidence, y.confidence) AS conf,
                 (SELECT count(DISTINCT o.person_id) FROM trapper.person_identifiers o
                  WHERE o.id_type = 'phone' AND o.id_value_norm = x.id_value_norm
                    AND trapper.get_canonical_person_id(o.person_id) <> b) AS holders
          FROM trapper.person_identifiers x
          JOIN trapper.person_identifiers y
            ON y.id_type = x.id_type AND y.id_value_norm = x.id_value_norm
          WHERE x.person_id = a AND y.person_id = b AND x.id_type = 'phone') p;
    v_name_level := trapper.name_compare(pb.first_name, pb.last_name, pa.first_name, pa.last_name);
    SELECT bool_or(la.address_key = lb.address_key) INTO v_same_addr
    FROM trapper.person_place ppa JOIN trapper.places la ON la.place_id = ppa.place_id
    JOIN trapper.person_place ppb ON ppb.person_id = b
    JOIN trapper.places lb ON lb.place_id = ppb.place_id
    WHERE ppa.person_id = a AND la.address_key IS NOT NULL AND lb.address_key IS NOT NULL;

    SELECT * INTO fw FROM trapper.identity_field_weights(
        v_email.conf, v_email_disagree, v_phone.conf, v_phone.holders, v_name_level,
        v_same_addr, NULL, fsw.email_agree, fsw.email_disagree, fsw.phone, fsw.phone_shared,
        fsw.shared_n, fsw.name_exact, fsw.name_close, fsw.name_different, fsw.address,
        fsw.address_different);
    v_score := fw.w_email + fw.w_phone + fw.w_name + fw.w_address;
    -- (the engine's sole holder: no third person holds any of B's emails and phones)
    v_outcome := trapper.identity_outcome(v_score, v_name_level,
                                          v_email.value IS NOT NULL OR v_phone.value IS NOT NULL,
                                          fsw.auto, fsw.review,
                                          NOT EXISTS (
                                              SELECT 1 FROM trapper.person_identifiers y
                                              JOIN trapper.person_identifiers o
                                                ON o.id_type = y.id_type
                                               AND o.id_value_norm = y.id_value_norm
                                              WHERE y.person_id = b
                                                AND y.id_type IN ('email', 'phone')
                                                AND trapper.get_canonical_person_id(o.person_id)
                                                    NOT IN (a, b)));

    -- the gates before the score (the engine's, in its order), then the shared ladder
    IF v_gate.kind <> 'person' THEN
        v_outcome := 'rejected'; v_gate_name := 'not a person';
        v_reason := 'not a person: ' || v_gate.reason;
    ELSIF v_email.value IS NULL AND v_phone.value IS NULL THEN
        v_outcome := 'never_compared'; v_gate_name := 'no shared identifier';
        v_reason := 'they share no email or phone, and the engine only compares people who do '
                    '(never a match on a name alone)';
        v_change := v_change || jsonb_build_object('evidence', 'a shared email',
            'weight', round(fsw.email_agree::numeric, 2),
            'effect', 'makes them candidates for each other');
    ELSIF v_outcome = 'auto_match' THEN
        v_gate_name := CASE WHEN v_score >= fsw.auto
                            THEN 'score at or above the auto-match threshold'
                            ELSE 'no name on one side, the identifiers held by no one else' END;
        v_reason := CASE WHEN v_score >= fsw.auto
            THEN format('log-odds %s >= %s with name %s', round(v_score::numeric, 2),
                        fsw.auto, v_name_level)
            ELSE format('log-odds %s, below %s, but one has no name and no one else holds '
                        'the identifiers they share', round(v_score::numeric, 2), fsw.auto) END;
    ELSIF v_outcome = 'household_member' THEN
        v_gate_name := 'household rule';
        v_reason := format('they share %s but the names differ: the same household, never the '
                           'same person', CASE WHEN v_email.value IS NOT NULL THEN 'an email'
                                               ELSE 'a phone' END);
        v_change := v_change || jsonb_build_object('evidence', 'names that agree',
            'effect', 'lifts the household rule; only then does the score decide');
    ELSIF v_outcome = 'review_pending' THEN
        v_gate_name := 'between review and auto-match';
        v_reason := format('log-odds %s: at or above review (%s), below auto-match (%s)',
                           round(v_score::numeric, 2), fsw.review, fsw.auto);
    ELSE
        v_gate_name := 'score below review';
        v_reason := format('log-odds %s, below the review threshold %s',
                           round(v_score::numeric, 2), fsw.review);
    END IF;
    -- A reviewer said these are two people (`review keep-separate`, orchestrator 015): the
    -- engine keeps such a record with its kept person and never queues the pair again, so
    -- that decides, whatever the score says (docs/identity.md, "Reviewing").
    SELECT k.decided_by, k.decision_id, k.note INTO v_kept
    FROM trapper.orchestrator_kept_separate k
    WHERE (trapper.get_canonical_person_id(k.person_a) = a
           AND trapper.get_canonical_person_id(k.person_b) = b)
       OR (trapper.get_canonical_person_id(k.person_a) = b
           AND trapper.get_canonical_person_id(k.person_b) = a)
    ORDER BY k.decided_at DESC
    LIMIT 1;
    IF v_kept.decided_by IS NOT NULL THEN
        v_outcome := 'kept_separate'; v_gate_name := 'kept separate by a review';
        v_reason := format('%s kept them separate in the review of decision %s%s',
                           v_kept.decided_by, v_kept.decision_id,
                           coalesce(' (' || v_kept.note || ')', ''));
        v_change := jsonb_build_array(jsonb_build_object(
            'evidence', 'a review that merges them', 'effect',
            'only a person undoes a review: the engine never joins a kept-separate pair'));
    END IF;
    IF v_phone.value IS NOT NULL AND v_phone.holders >= fsw.shared_n THEN
        v_gate_name := v_gate_name || ' (shared phone demoted)';
    END IF;
    IF v_email.value IS NOT NULL AND v_email.shared
       AND v_outcome IN ('auto_match', 'review_pending', 'new_entity', 'household_member') THEN
        v_gate_name := v_gate_name || ' (shared email demoted)';
    END IF;
    -- what would change it: the agreements they lack, with the weight each would add
    IF v_outcome IN ('review_pending', 'new_entity') THEN
        IF v_email.value IS NULL THEN
            v_change := v_change || jsonb_build_object('evidence', 'the same email',
                'weight', round((fsw.email_agree - fw.w_email)::numeric, 2));
        END IF;
        IF v_phone.value IS NULL THEN
            v_change := v_change || jsonb_build_object('evidence', 'the same phone',
                'weight', round(fsw.phone::numeric, 2));
        END IF;
        IF v_same_addr IS NOT TRUE THEN
            v_change := v_change || jsonb_build_object('evidence', 'the same address',
                'weight', round((fsw.address - fw.w_address)::numeric, 2));
        END IF;
        IF v_name_level <> 'exact' THEN
            v_change := v_change || jsonb_build_object('evidence', 'the exact same name',
                'weight', round((fsw.name_exact - fw.w_name)::numeric, 2));
        END IF;
    ELSIF v_outcome = 'auto_match' THEN
        v_change := v_change || jsonb_build_object('evidence', 'names that differ',
            'effect', 'the household rule would keep them apart');
    END IF;

    RETURN jsonb_build_object(
        'entity_type', 'person', 'a', p_a, 'b', p_b, 'canonical_a', a, 'canonical_b', b,
        'same_entity', false, 'outcome', v_outcome, 'would_match', v_outcome = 'auto_match',
        'gate', v_gate_name, 'reason', v_reason,
        'score', round(v_score::numeric, 2),
        'thresholds', jsonb_build_object('auto', fsw.auto, 'review', fsw.review),
        'margin', round((v_score - fsw.auto)::numeric, 2),
        'names', jsonb_build_object('a', pa.display_name, 'b', pb.display_name),
        'fields', jsonb_build_array(
            jsonb_build_object('field', 'email',
                'agreement', CASE WHEN v_email.value IS NOT NULL THEN 'agree'
                                  WHEN v_email_disagree THEN 'disagree' ELSE 'unknown' END,
                'value', v_email.value, 'confidence', v_email.conf,
                'weight', round(fw.w_email::numeric, 2)),
            jsonb_build_object('field', 'phone',
                'agreement', CASE WHEN v_phone.value IS NULL THEN 'unknown'
                                  WHEN v_phone.holders >= fsw.shared_n THEN 'agree (shared)'
                                  ELSE 'agree' END,
                'value', v_phone.value, 'holders', v_phone.holders,
                'confidence', v_phone.conf, 'weight', round(fw.w_phone::numeric, 2)),
            jsonb_build_object('field', 'name', 'agreement', v_name_level,
                'a', concat_ws(' ', pa.first_name, pa.last_name),
                'b', concat_ws(' ', pb.first_name, pb.last_name),
                'weight', round(fw.w_name::numeric, 2)),
            jsonb_build_object('field', 'address',
                'agreement', CASE WHEN v_same_addr THEN 'agree'
                                  WHEN v_same_addr = false THEN 'disagree' ELSE 'unknown' END,
                'weight', round(fw.w_address::numeric, 2))),
        'would_change', v_change);
END $$;

-- Places: the address key of each, its parts, and where the two keys part.
CREATE OR REPLACE FUNCTION trapper.orchestrator_explain_place_pair(p_a uuid, p_b uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    a uuid := trapper.get_canonical_place_id(p_a);
    b uuid := trapper.get_canonical_place_id(p_b);
    la record;
    lb record;
    ka text;
    kb text;
    v_parts jsonb := '[]'::jsonb;
    v_names text[] := ARRAY['house', 'street', 'unit', 'town'];
    i int;
    v_outcome text;
    v_reason text;
    v_zip_fits boolean;
BEGIN
    SELECT *, trapper.address_parts(coalesce(normalized_address, formatted_address)) AS parts
    INTO la FROM trapper.places WHERE place_id = a;
    SELECT *, trapper.address_parts(coalesce(normalized_address, formatted_address)) AS parts
    INTO lb FROM trapper.places WHERE place_id = b;
    IF la.place_id IS NULL OR lb.place_id IS NULL THEN
        RETURN NULL;
    END IF;
    ka := la.address_key; kb := lb.address_key;
    -- the engine's ZIP rule, with its own test (trapper.place_fits_zip): one side gives a ZIP
    -- but no town, and the other place fits that ZIP
    v_zip_fits := (la.parts ? 'zip' AND NOT la.parts ? 'town'
                   AND trapper.place_fits_zip(lb.parts, la.parts ->> 'zip'))
               OR (lb.parts ? 'zip' AND NOT lb.parts ? 'town'
                   AND trapper.place_fits_zip(la.parts, lb.parts ->> 'zip'));
    FOR i IN 1..4 LOOP
        v_parts := v_parts || jsonb_build_object('part', v_names[i],
            'a', split_part(ka, '|', i), 'b', split_part(kb, '|', i),
            'agreement', CASE WHEN split_part(ka, '|', i) = split_part(kb, '|', i) THEN 'agree'
                              WHEN split_part(ka, '|', i) = '' OR split_part(kb, '|', i) = ''
                              THEN 'one side missing' ELSE 'disagree' END);
    END LOOP;
    -- find_or_create_place_deduped's rules, in its order (sql/core/functions/places.sql)
    IF a = b THEN
        v_outcome := 'same_entity'; v_reason := format('both ids are place %s (merged)', a);
    ELSIF ka = kb THEN
        v_outcome := 'match'; v_reason := 'the same address key';
    ELSIF NOT trapper.address_safe_to_merge(ka, kb) THEN
        v_outcome := 'separate';
        v_reason := 'house number or unit differ: never merged (address_safe_to_merge)';
    ELSIF split_part(ka, '|', 2) = split_part(kb, '|', 2)
          AND (split_part(ka, '|', 4) = '' OR split_part(kb, '|', 4) = '') THEN
        v_outcome := 'match';
        v_reason := 'same house, street and unit; one names no town';
    ELSIF split_part(ka, '|', 2) = split_part(kb, '|', 2) AND v_zip_fits THEN
        v_outcome := 'match';
        v_reason := 'same house, street and unit; one gives only a ZIP (no town read), which '
                    'fits the other place (place_fits_zip)';
    ELSIF trapper.address_street_base(split_part(ka, '|', 2))
              = trapper.address_street_base(split_part(kb, '|', 2))
          AND (split_part(ka, '|', 4) = split_part(kb, '|', 4)
               OR split_part(ka, '|', 4) = '' OR split_part(kb, '|', 4) = ''
               OR v_zip_fits) THEN
        v_outcome := 'match';
        v_reason := 'same house, street and unit; one names a directional the other leaves out';
    ELSIF la.location IS NOT NULL AND lb.location IS NOT NULL
          AND la.location <-> lb.location <= 0.0001 THEN
        v_outcome := 'match'; v_reason := 'within 10 m with the same house number and unit';
    ELSE
        v_outcome := 'separate';
        v_reason := format('the keys differ in %s', (
            SELECT string_agg(x ->> 'part', ', ') FROM jsonb_array_elements(v_parts) x
            WHERE x ->> 'agreement' <> 'agree'));
    END IF;
    RETURN jsonb_build_object(
        'entity_type', 'place', 'a', p_a, 'b', p_b, 'canonical_a', a, 'canonical_b', b,
        'same_entity', a = b, 'outcome', v_outcome,
        'would_match', v_outcome IN ('match', 'same_entity'), 'reason', v_reason,
        'keys', jsonb_build_object('a', ka, 'b', kb),
        'addresses', jsonb_build_object('a', la.formatted_address, 'b', lb.formatted_address),
        'address_parts', jsonb_build_object('a', la.parts, 'b', lb.parts),
        'fields', v_parts,
        'would_change', CASE WHEN v_outcome = 'separate' THEN jsonb_build_array(
            jsonb_build_object('evidence', 'addresses whose house, street and unit agree',
                               'effect', 'the same key, or one place merged into the other'))
            ELSE '[]'::jsonb END);
END $$;

-- Cats: identified only by microchip and the sources' animal ids; a shared one is one cat.
CREATE OR REPLACE FUNCTION trapper.orchestrator_explain_cat_pair(p_a uuid, p_b uuid)
RETURNS jsonb
LANGUAGE plpgsql STABLE AS $$
DECLARE
    a uuid := trapper.get_canonical_cat_id(p_a);
    b uuid := trapper.get_canonical_cat_id(p_b);
    v_fields jsonb;
    v_shared text;
BEGIN
    IF NOT EXISTS (SELECT 1 FROM trapper.sot_cats WHERE cat_id = a)
       OR NOT EXISTS (SELECT 1 FROM trapper.sot_cats WHERE cat_id = b) THEN
        RETURN NULL;
    END IF;
    SELECT coalesce(jsonb_agg(jsonb_build_object('field', t.id_type,
               'a', t.va, 'b', t.vb,
               'agreement', CASE WHEN t.va IS NULL OR t.vb IS NULL THEN 'unknown'
                                 WHEN t.va && t.vb THEN 'agree' ELSE 'disagree' END)
               ORDER BY t.id_type), '[]'::jsonb),
           string_agg(t.id_type, ', ') FILTER (WHERE t.va && t.vb)
    INTO v_fields, v_shared
    FROM (SELECT k.id_type,
                 (SELECT array_agg(id_value ORDER BY id_value) FROM trapper.cat_identifiers
                  WHERE id_type = k.id_type
                    AND trapper.get_canonical_cat_id(cat_id) = a) AS va,
                 (SELECT array_agg(id_value ORDER BY id_value) FROM trapper.cat_identifiers
                  WHERE id_type = k.id_type
                    AND trapper.get_canonical_cat_id(cat_id) = b) AS vb
          FROM unnest(ARRAY['microchip', 'clinichq_animal_id', 'shelterluv_animal_id',
                            'petlink_pet_id']) AS k (id_type)) t;
    RETURN jsonb_build_object(
        'entity_type', 'cat', 'a', p_a, 'b', p_b, 'canonical_a', a, 'canonical_b', b,
        'same_entity', a = b,
        'outcome', CASE WHEN a = b THEN 'same_entity' WHEN v_shared IS NOT NULL THEN 'match'
                        ELSE 'separate' END,
        'would_match', a = b OR v_shared IS NOT NULL,
        'reason', CASE WHEN a = b THEN format('both ids are cat %s (merged)', a)
                       WHEN v_shared IS NOT NULL THEN 'they share ' || v_shared
                       ELSE 'no microchip or animal id in common: cats are never matched by '
                            'name, colour or sex' END,
        'fields', v_fields,
        'would_change', CASE WHEN a <> b AND v_shared IS NULL THEN jsonb_build_array(
            jsonb_build_object('evidence', 'the same microchip (a scan at the clinic)',
                               'effect', 'one cat')) ELSE '[]'::jsonb END);
END $$;
