-- ORCH_004, the generic router: executes a source's routing rules against a staged record
-- and writes one job-log row per decision, in the same transaction as the entity writes.
-- Rules name functions of the allowlist; values are passed as parameters; no text from a
-- row is ever run as SQL.

-- One decision as JSON; the router gathers a record's decisions and writes them with one
-- INSERT (orchestrator_flush_log), not one statement each.
CREATE OR REPLACE FUNCTION trapper.orchestrator_log_entry(
    p_action text, p_surface text, p_entity uuid, p_rule uuid, p_rule_version integer,
    p_reason text, p_details jsonb
) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT jsonb_build_object('action', p_action, 'target_surface', p_surface,
                              'target_entity_id', p_entity, 'routing_rule_id', p_rule,
                              'rule_version', p_rule_version, 'decision_reason', p_reason,
                              'decision_details', p_details)
$$;

CREATE OR REPLACE FUNCTION trapper.orchestrator_flush_log(
    p_rec trapper.staged_records, p_entries jsonb, p_job uuid
) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    IF jsonb_array_length(p_entries) = 0 THEN
        RETURN;
    END IF;
    INSERT INTO trapper.orchestrator_job_log
        (job_id, action, source_system, source_table, source_record_id, staged_record_id,
         target_surface, target_entity_id, routing_rule_id, rule_version, decision_reason,
         decision_details)
    SELECT p_job, e.action, p_rec.source_system, p_rec.source_table, p_rec.source_row_id,
           p_rec.id, e.target_surface, e.target_entity_id, e.routing_rule_id, e.rule_version,
           e.decision_reason, e.decision_details
    FROM jsonb_to_recordset(p_entries) AS e (action text, target_surface text,
        target_entity_id uuid, routing_rule_id uuid, rule_version integer,
        decision_reason text, decision_details jsonb);
END $$;

-- The record rejected by rule p_rule_id: the decisions so far and the rejection, after the
-- record's log entries are written (every rejecting path of route_staged_record ends here).
CREATE OR REPLACE FUNCTION trapper.orchestrator_rejected(
    p_rec trapper.staged_records, p_entries jsonb, p_job uuid, p_decisions jsonb,
    p_reason text, p_rule_id uuid
) RETURNS jsonb
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM trapper.orchestrator_flush_log(p_rec, p_entries, p_job);
    RETURN jsonb_build_object('decisions', p_decisions || jsonb_build_array(
        jsonb_build_object('action', 'rejected', 'reason', p_reason, 'rule_id', p_rule_id)));
END $$;

-- Route one staged record. Returns {entity_type, entity_id, created, decisions: [...]}.
CREATE OR REPLACE FUNCTION trapper.route_staged_record(
    p_staged_record_id bigint, p_job_id uuid DEFAULT NULL, p_log boolean DEFAULT NULL
) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    rec trapper.staged_records;
    r trapper.orchestrator_routing_rules;
    v_log boolean := coalesce(p_log, (SELECT value FROM trapper.orchestrator_settings_router
                                      WHERE key = 'decision_log'), true);
    raw text;
    v text;
    sig text;
    fn text;
    args jsonb := '{}';          -- {function: {field: value}}
    rules jsonb := '{}';         -- {function: [rule ids]}
    first_rule jsonb := '{}';    -- {function: {id, version}}
    decisions jsonb := '[]';
    v_place uuid;
    v_person uuid;
    v_cat uuid;
    v_existing uuid;
    v_res record;
    v_action text;
    v_reason text;
    a jsonb;
    v_main_type text;
    v_main uuid;
    v_created boolean := false;
    v_surv jsonb;
    v_key text;
    v_logs jsonb := '[]';
    v_parts jsonb;                -- a composite rule's parts: [{field, value}], in order
    composed jsonb := '{}';       -- {rule id: {target_field, parts, separator, value}}
    v_empty text;                 -- "field x is empty" / "fields a, b are all empty"
    v_ptype text;
    v_typed text;
    v_wrong text;                -- why a typed value cannot be passed (not its type, out of range)
    v_nested text;               -- a field of the rule holding a JSON object or array
    v_listed text[];             -- the values a cell lists when a rule passed one of them
    v_usable text[];             -- those of them the identity engine would use
    listed jsonb := '[]';        -- [{field, parameter, values}]: the person's decision says them
    v_split record;
    v_chip text;
    v_aid text;                  -- an animal export's own id of the cat (animal_id)
    v_targets text[];            -- the target functions of a rule's surface
    v_ptypes jsonb := (SELECT jsonb_object_agg(function_name, (
                           SELECT jsonb_object_agg(p, t)
                           FROM unnest(parameters, parameter_types) AS u (p, t)))
                       FROM trapper.orchestrator_functions
                       WHERE kind = 'target' AND parameter_types IS NOT NULL);
BEGIN
    SELECT * INTO rec FROM trapper.staged_records WHERE id = p_staged_record_id;
    IF rec.id IS NULL THEN
        RAISE EXCEPTION 'no staged record %', p_staged_record_id;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM trapper.orchestrator_routing_rules
                   WHERE source_system = rec.source_system AND source_table = rec.source_table
                     AND is_active) THEN
        v_reason := format('skipped: no active routing rules for %s/%s',
                           rec.source_system, rec.source_table);
        IF v_log THEN
            v_logs := v_logs || trapper.orchestrator_log_entry('skipped', NULL, NULL, NULL, NULL, v_reason, '{}');
        END IF;
        PERFORM trapper.orchestrator_flush_log(rec, v_logs, p_job_id);
        RETURN jsonb_build_object('decisions', jsonb_build_array(
            jsonb_build_object('action', 'skipped', 'reason', v_reason)));
    END IF;

    FOR r IN SELECT * FROM trapper.orchestrator_routing_rules
             WHERE source_system = rec.source_system AND source_table = rec.source_table
               AND is_active
             ORDER BY is_required DESC, created_at, rule_id
    LOOP
        IF r.source_fields IS NULL THEN
            raw := rec.payload ->> r.source_field;
            v_parts := NULL;
            v_empty := format('field %s', r.source_field);
            v_nested := CASE WHEN jsonb_typeof(rec.payload -> r.source_field)
                                  IN ('object', 'array') THEN r.source_field END;
        ELSE
            -- a composite rule (issue 17): the non-empty parts, trimmed, in order, joined;
            -- of an address's three parts or more the last is its ZIP, repaired as the
            -- processors' join_address repairs theirs (orchestrator_zip_slot: "2134" is
            -- 02134, docs/identity.md "Places")
            SELECT string_agg(CASE WHEN o = cardinality(r.source_fields)
                                        AND cardinality(r.source_fields) >= 3
                                        AND r.target_field = 'formatted_address'
                                   THEN trapper.orchestrator_zip_slot(rec.payload ->> f)
                                   ELSE btrim(rec.payload ->> f) END,
                              coalesce(r.field_separator, ', ')
                              ORDER BY o) FILTER (WHERE btrim(rec.payload ->> f) <> ''),
                   jsonb_agg(jsonb_build_object('field', f,
                                                'value', nullif(btrim(rec.payload ->> f), ''))
                             ORDER BY o)
            INTO raw, v_parts
            FROM unnest(r.source_fields) WITH ORDINALITY AS t (f, o);
            v_empty := format('fields %s', array_to_string(r.source_fields, ', '));
            v_nested := (SELECT f FROM unnest(r.source_fields) WITH ORDINALITY AS t (f, o)
                         WHERE jsonb_typeof(rec.payload -> f) IN ('object', 'array')
                         ORDER BY o LIMIT 1);
        END IF;
        -- A JSON object or array is no value: its text ('{"line": "5 C St"}') was passed on
        -- as an address or a name. The rule is skipped (the record rejected when the rule is
        -- required), naming the field; the staged record keeps it.
        IF v_nested IS NOT NULL THEN
            v_reason := format('%s: field %s holds a JSON %s (%s), not a value a rule can pass',
                               CASE WHEN r.is_required THEN 'rejected' ELSE 'skipped' END,
                               v_nested, jsonb_typeof(rec.payload -> v_nested),
                               left((rec.payload -> v_nested)::text, 60));
            IF v_log THEN
                v_logs := v_logs || trapper.orchestrator_log_entry(CASE WHEN r.is_required THEN 'rejected' ELSE 'skipped' END, r.target_surface, NULL, r.rule_id, r.rule_version, v_reason, jsonb_build_object('field', v_nested, 'value', rec.payload -> v_nested));
            END IF;
            IF r.is_required THEN
                RETURN trapper.orchestrator_rejected(rec, v_logs, p_job_id, decisions, v_reason,
                                                     r.rule_id);
            END IF;
            decisions := decisions || jsonb_build_object('action', 'skipped',
                'reason', v_reason, 'rule_id', r.rule_id);
            CONTINUE;
        END IF;
        IF raw IS NULL OR btrim(raw) = '' THEN
            IF r.is_required THEN
                v_reason := CASE WHEN v_parts IS NULL
                                 THEN format('rejected: required field %s missing', r.source_field)
                                 ELSE format('rejected: required %s all empty', v_empty) END;
                IF v_log THEN
                    v_logs := v_logs || trapper.orchestrator_log_entry('rejected', r.target_surface, NULL, r.rule_id, r.rule_version, v_reason, jsonb_strip_nulls(jsonb_build_object('field', r.source_field, 'parts', v_parts)));
                END IF;
                RETURN trapper.orchestrator_rejected(rec, v_logs, p_job_id, decisions, v_reason,
                                                     r.rule_id);
            END IF;
            IF r.skip_if_empty THEN
                -- a field the record does not have at all is said so: "is empty" sent people
                -- looking for blanks in a column the export does not hold (or names otherwise)
                v_reason := CASE WHEN v_parts IS NOT NULL
                                      AND NOT rec.payload ?| r.source_fields
                                 THEN format('skipped: the record has none of the fields %s',
                                             array_to_string(r.source_fields, ', '))
                                 WHEN v_parts IS NOT NULL
                                 THEN format('skipped: %s all empty', v_empty)
                                 WHEN rec.payload ? r.source_field
                                 THEN format('skipped: field %s is empty', r.source_field)
                                 ELSE format('skipped: the record has no field %s',
                                             r.source_field) END;
                decisions := decisions || jsonb_build_object('action', 'skipped',
                    'reason', v_reason, 'rule_id', r.rule_id);
                IF v_log THEN
                    v_logs := v_logs || trapper.orchestrator_log_entry('skipped', r.target_surface, NULL, r.rule_id, r.rule_version, v_reason, jsonb_strip_nulls(jsonb_build_object('field', r.source_field, 'parts', v_parts)));
                END IF;
                CONTINUE;
            END IF;
        END IF;
        v := raw;
        IF r.transform_expression IS NOT NULL AND raw IS NOT NULL THEN
            sig := trapper.orchestrator_transform_signature(r.transform_expression);
            EXECUTE format('SELECT %s($1)::text', sig::regprocedure::regproc) INTO v USING raw;
            -- a cell listing several emails or numbers passes its first: the others are
            -- said in the decision (the staged record keeps them all)
            IF v IS NOT NULL AND sig IN ('trapper.orchestrator_norm_email(text)',
                                         'trapper.orchestrator_norm_phone_us(text)') THEN
                v_listed := CASE WHEN sig = 'trapper.orchestrator_norm_email(text)'
                                 THEN CASE WHEN trapper.norm_email(raw) IS NULL
                                           THEN trapper.orchestrator_emails(raw) END
                                 -- or twenty digits: two numbers, the first labelled
                                 -- ("707… (work), 707… (cell)", "cell: 707… home: 707…"),
                                 -- which norm_phone_us reads as the first alone
                                 WHEN trapper.norm_phone_us(raw) IS NULL
                                      OR length(translate(raw, translate(raw, '0123456789', ''), '')) >= 20
                                 THEN trapper.orchestrator_phones_us(raw) END;
                IF cardinality(v_listed) > 1 THEN
                    -- the first the identity engine would use, not a placeholder before it
                    -- ("none@none.com; ann@x.org"); when none is, the first, for the engine
                    -- to refuse with the blocklist's reason
                    v_usable := trapper.orchestrator_usable(
                        CASE WHEN sig = 'trapper.orchestrator_norm_email(text)' THEN 'email'
                             ELSE 'phone' END, v_listed);
                    v := coalesce(v_usable[1], v);
                    listed := listed || jsonb_build_array(jsonb_build_object(
                        'field', r.source_field, 'parameter', coalesce(r.target_field, r.source_field),
                        'values', to_jsonb(v_listed), 'usable', to_jsonb(v_usable)));
                END IF;
            END IF;
            IF v IS NULL AND trapper.orchestrator_no_value(raw) THEN
                -- "N/A" is said to be no value, not a value the transform could not read
                -- (why-missing listed it as lost data)
                v_reason := format('skipped: field %s holds %L, no value', r.source_field,
                                   btrim(raw));
                decisions := decisions || jsonb_build_object('action', 'skipped',
                    'reason', v_reason, 'rule_id', r.rule_id);
                IF v_log THEN
                    v_logs := v_logs || trapper.orchestrator_log_entry('skipped', r.target_surface, NULL, r.rule_id, r.rule_version, v_reason, jsonb_build_object('field', r.source_field, 'placeholder', btrim(raw)));
                END IF;
                CONTINUE;
            ELSIF v IS NULL THEN
                v_reason := format('skipped: %s gave nothing for %s = %L',
                                   r.transform_expression, r.source_field, raw)
                            || CASE WHEN sig = 'trapper.orchestrator_norm_phone_us(text)'
                                    THEN coalesce(' (' || trapper.orchestrator_phone_refusal(raw) || ')', '')
                                    ELSE '' END;
                decisions := decisions || jsonb_build_object('action', 'skipped',
                    'reason', v_reason, 'rule_id', r.rule_id);
                IF v_log THEN
                    v_logs := v_logs || trapper.orchestrator_log_entry('skipped', r.target_surface, NULL, r.rule_id, r.rule_version, v_reason, jsonb_build_object('field', r.source_field, 'value', raw));
                END IF;
                CONTINUE;
            END IF;
        END IF;
        fn := r.target_function;
        IF fn IS NULL THEN
            v_targets := trapper.orchestrator_surface_targets(r.target_surface);
            fn := CASE WHEN cardinality(v_targets) = 1 THEN v_targets[1] END;
        END IF;
        IF fn IS NULL THEN
            -- a second target registered for the surface after the rule was written
            v_reason := CASE WHEN cardinality(v_targets) > 1
                             THEN format('skipped: surface %s is written by %s and the rule names none of them in target_function',
                                         r.target_surface, array_to_string(v_targets, ' and '))
                             ELSE format('skipped: no target function writes surface %s', r.target_surface) END;
            IF v_log THEN
                v_logs := v_logs || trapper.orchestrator_log_entry('skipped', r.target_surface, NULL, r.rule_id, r.rule_version, v_reason, '{}');
            END IF;
            CONTINUE;
        END IF;
        -- typed rules (issue 17): a value that does not convert to its parameter's type
        -- rejects the record, naming the field and the value, before anything is written
        v_ptype := v_ptypes -> fn ->> coalesce(r.target_field, r.source_field);
        IF v_ptype IS NOT NULL AND v_ptype <> 'text' THEN
            v_typed := trapper.orchestrator_typed_value(v, v_ptype);
            v_wrong := NULL;
            IF btrim(v) = '' THEN
                v := NULL;
            ELSIF v_typed IS NULL AND trapper.orchestrator_no_value(v) THEN
                -- "N/A", "-", "unknown" in a number or date column: no value, as an empty
                -- cell (it rejected the whole record as "not a double precision" before)
                IF r.is_required THEN
                    v_reason := format('rejected: required field %s missing (it holds %L)',
                                       r.source_field, btrim(v));
                    IF v_log THEN
                        v_logs := v_logs || trapper.orchestrator_log_entry('rejected', r.target_surface, NULL, r.rule_id, r.rule_version, v_reason, jsonb_strip_nulls(jsonb_build_object('field', r.source_field, 'placeholder', btrim(v), 'parts', v_parts)));
                    END IF;
                    RETURN trapper.orchestrator_rejected(rec, v_logs, p_job_id, decisions, v_reason,
                                                         r.rule_id);
                END IF;
                IF r.skip_if_empty THEN
                    v_reason := format('skipped: field %s holds %L, no value', r.source_field,
                                       btrim(v));
                    decisions := decisions || jsonb_build_object('action', 'skipped',
                        'reason', v_reason, 'rule_id', r.rule_id);
                    IF v_log THEN
                        -- no 'value' in the details: nothing was lost (why-missing lists
                        -- a skipped value only when the file held one)
                        v_logs := v_logs || trapper.orchestrator_log_entry('skipped', r.target_surface, NULL, r.rule_id, r.rule_version, v_reason, jsonb_strip_nulls(jsonb_build_object('field', r.source_field, 'placeholder', btrim(v), 'parts', v_parts)));
                    END IF;
                    CONTINUE;
                END IF;
                v := NULL;
            ELSIF v_typed IS NULL THEN
                v_wrong := format('is not %s %s',
                                  CASE WHEN v_ptype ~ '^[aeiou]' THEN 'an' ELSE 'a' END, v_ptype);
            ELSE
                -- a number that is one but not of its parameter's range: a latitude of 1,200
                -- was stored on the place
                v_wrong := trapper.orchestrator_out_of_range(fn, coalesce(r.target_field, r.source_field), v_typed);
            END IF;
            IF v_wrong IS NOT NULL THEN
                v_reason := format('rejected: field %s value %L %s (%s.%s)',
                                   r.source_field, v, v_wrong, r.target_surface,
                                   coalesce(r.target_field, r.source_field));
                IF v_log THEN
                    v_logs := v_logs || trapper.orchestrator_log_entry('rejected', r.target_surface, NULL, r.rule_id, r.rule_version, v_reason, jsonb_strip_nulls(jsonb_build_object('field', r.source_field, 'value', v, 'type', v_ptype, 'parameter', coalesce(r.target_field, r.source_field), 'parts', v_parts)));
                END IF;
                RETURN trapper.orchestrator_rejected(rec, v_logs, p_job_id, decisions, v_reason,
                                                     r.rule_id);
            ELSIF v IS NOT NULL THEN
                v := v_typed;   -- the value as its type writes it (3.0 → 3, 3/14/2025 → 2025-03-14)
            END IF;
        END IF;
        IF v_parts IS NOT NULL THEN
            composed := composed || jsonb_build_object(r.rule_id, jsonb_build_object(
                'target_field', coalesce(r.target_field, r.source_field), 'parts', v_parts,
                'separator', coalesce(r.field_separator, ', '), 'value', raw));
        END IF;
        -- the rules of one record that feed one function are gathered into one call
        args := jsonb_set(args, ARRAY[fn], coalesce(args -> fn, '{}')
                          || jsonb_build_object(coalesce(r.target_field, r.source_field), v));
        rules := jsonb_set(rules, ARRAY[fn], coalesce(rules -> fn, '[]') || to_jsonb(r.rule_id));
        IF NOT first_rule ? fn THEN
            first_rule := first_rule || jsonb_build_object(fn, jsonb_build_object(
                'id', r.rule_id, 'version', r.rule_version));
        END IF;
    END LOOP;

    -- places first (people and colony estimates hang on them), then people, then cats
    IF args ? 'find_or_create_place_deduped' THEN
        a := args -> 'find_or_create_place_deduped';
        -- an address on several lines of one cell (a form's) is one line: "123 Main St, Apt
        -- 4, Santa Rosa, CA 95401" (functions/transforms.sql)
        IF a ->> 'formatted_address' ~ E'[\\r\\n]' OR a ->> 'display_name' ~ E'[\\r\\n]' THEN
            a := jsonb_strip_nulls(a || jsonb_build_object(
                'formatted_address', trapper.orchestrator_address_lines(a ->> 'formatted_address'),
                'display_name', trapper.orchestrator_address_lines(a ->> 'display_name')));
            args := jsonb_set(args, '{find_or_create_place_deduped}', a);
        END IF;
        -- the key into a variable first: inline, the call was evaluated once per place row
        v_key := trapper.address_key(a ->> 'formatted_address');
        SELECT place_id INTO v_existing FROM trapper.places
        WHERE address_key = v_key AND merged_into_place_id IS NULL;
        v_place := trapper.find_or_create_place_deduped(a ->> 'formatted_address',
            a ->> 'display_name', (a ->> 'lat')::double precision,
            (a ->> 'lng')::double precision, rec.source_system, rec.id);
        IF v_place IS NULL THEN
            v_action := 'skipped';
            -- a PO box is a mailing address, no place: say so rather than "no address"
            v_reason := CASE trapper.address_parts(a ->> 'formatted_address') ->> 'kind'
                WHEN 'po_box' THEN format('skipped: %L is a PO box, a mailing address and no '
                                          'place', a ->> 'formatted_address')
                WHEN 'general_delivery' THEN format('skipped: %L is general delivery, a mailing '
                                                    'address and no place',
                                                    a ->> 'formatted_address')
                ELSE format('skipped: %L names no street address', a ->> 'formatted_address')
            END;
        ELSIF v_existing IS NOT NULL THEN
            v_action := 'merged';
            v_reason := 'matched existing place by its address';
        ELSE
            v_action := 'routed';
            v_reason := 'created place ' || (a ->> 'formatted_address');
        END IF;
        v_surv := trapper.orchestrator_apply_survivorship(
            'place', v_place, rec.source_system, a, v_action = 'routed');
        decisions := decisions || jsonb_build_object('action', v_action, 'surface', 'places',
            'entity_id', v_place, 'reason', v_reason);
        IF v_log THEN
            v_logs := v_logs || trapper.orchestrator_log_entry(v_action, 'places', v_place, (first_rule -> 'find_or_create_place_deduped' ->> 'id')::uuid, (first_rule -> 'find_or_create_place_deduped' ->> 'version')::integer, v_reason, jsonb_build_object('rules', rules -> 'find_or_create_place_deduped',
                                   'values', a, 'address_key', v_key,
                                   'survivorship', v_surv));
        END IF;
        v_main_type := 'place'; v_main := v_place; v_created := v_action = 'routed';
    END IF;

    IF args ? 'find_or_create_person' THEN
        a := args -> 'find_or_create_person';
        -- a phone cell listing two numbers: its second usable is the person's cell, when no
        -- rule gives one (the first usable went to the rule's own parameter)
        IF nullif(a ->> 'cell', '') IS NULL THEN
            a := a || coalesce((SELECT jsonb_build_object('cell', l -> 'usable' ->> 1) FROM jsonb_array_elements(listed) l
                                WHERE l ->> 'parameter' = 'phone' AND l -> 'usable' ->> 0 = a ->> 'phone'
                                  AND l -> 'usable' ->> 1 IS NOT NULL LIMIT 1), '{}');
        END IF;
        -- a whole name in one cell: full_name, split when no rule gives first or last name;
        -- "Doe, John" in first_name alone is read as the identity engine reads it, so that
        -- the name survivorship writes is the one identity compared
        IF nullif(btrim(a ->> 'first_name'), '') IS NULL AND nullif(btrim(a ->> 'last_name'), '') IS NULL
           AND nullif(btrim(a ->> 'full_name'), '') IS NOT NULL THEN
            SELECT * INTO v_split FROM trapper.orchestrator_split_name(a ->> 'full_name');
            a := a || jsonb_strip_nulls(jsonb_build_object('first_name', v_split.first_name,
                                                           'last_name', v_split.last_name));
        ELSIF (nullif(btrim(a ->> 'first_name'), '') IS NULL) <> (nullif(btrim(a ->> 'last_name'), '') IS NULL) THEN
            SELECT * INTO v_split FROM trapper.name_last_first(a ->> 'first_name', a ->> 'last_name');
            IF v_split.first_name IS NOT NULL THEN
                a := a || jsonb_build_object('first_name', v_split.first_name,
                                             'last_name', v_split.last_name);
            END IF;
        END IF;
        v_res := trapper.data_engine_resolve_identity(a ->> 'email', a ->> 'phone',
            a ->> 'first_name', a ->> 'last_name',
            args -> 'find_or_create_place_deduped' ->> 'formatted_address', rec.source_system,
            rec.id, a ->> 'cell');
        v_person := v_res.person_id;
        v_action := CASE v_res.decision_type WHEN 'auto_match' THEN 'merged'
                                             WHEN 'rejected' THEN 'rejected' ELSE 'routed' END;
        -- ORCH_006 (006_confidence.sql): which source wins each name field of the person
        v_surv := trapper.orchestrator_apply_survivorship(
            'person', v_person, rec.source_system, a, v_res.decision_type <> 'auto_match');
        v_reason := v_res.decision_reason || coalesce(' [' || (
            -- (the values refused before the one passed named, as the engine's decision for a
            -- processor's cell names them: functions/identity.sql)
            SELECT string_agg(format('%s lists %s, %s: %s', l ->> 'field',
                                     jsonb_array_length(l -> 'values'),
                                     CASE WHEN l -> 'usable' ->> 0 = l -> 'values' ->> 0
                                          THEN 'the first passed'
                                          WHEN jsonb_array_length(l -> 'usable') = 0
                                          THEN 'none usable, the first passed'
                                          ELSE format('the first usable passed: %s (%s refused)',
                                                      l -> 'usable' ->> 0,
                                                      (SELECT string_agg(x, ', ' ORDER BY n)
                                                       FROM jsonb_array_elements_text(l -> 'values')
                                                            WITH ORDINALITY AS t (x, n)
                                                       WHERE n < (SELECT n2 FROM jsonb_array_elements_text(l -> 'values')
                                                                      WITH ORDINALITY AS t2 (x2, n2)
                                                                  WHERE x2 = l -> 'usable' ->> 0)))
                                     END,
                                     (SELECT string_agg(x, ', ') FROM jsonb_array_elements_text(l -> 'values') x)),
                              '; ' ORDER BY l ->> 'field')
            FROM jsonb_array_elements(listed) l) || ']', '');
        decisions := decisions || jsonb_build_object('action', v_action, 'surface', 'sot_people',
            'entity_id', v_person, 'reason', v_reason,
            'decision', v_res.decision_type);
        IF v_log THEN
            v_logs := v_logs || trapper.orchestrator_log_entry(v_action, 'sot_people', v_person, (first_rule -> 'find_or_create_person' ->> 'id')::uuid, (first_rule -> 'find_or_create_person' ->> 'version')::integer, v_reason, jsonb_build_object('rules', rules -> 'find_or_create_person', 'values', a,
                                   'decision_type', v_res.decision_type,
                                   'decision_id', v_res.decision_id,
                                   'match_score', v_res.confidence_score,
                                   'household_id', v_res.household_id,
                                   'survivorship', v_surv));
        END IF;
        PERFORM trapper.link_person_place(v_person, v_place, 'resident', rec.source_system);
        IF v_person IS NOT NULL THEN
            v_main_type := 'person'; v_main := v_person;
            v_created := v_res.decision_type <> 'auto_match';
        END IF;
    END IF;

    IF args ? 'find_or_create_cat_by_microchip'
       AND NOT coalesce(trapper.orchestrator_is_cat_species(
                            args -> 'find_or_create_cat_by_microchip' ->> 'species'), true) THEN
        -- a shelter's export lists its dogs and rabbits too: a species that is not a cat
        -- makes no cat (a record without one is taken for a cat, as before)
        a := args -> 'find_or_create_cat_by_microchip';
        v_reason := format('skipped: species %L is not a cat', a ->> 'species');
        decisions := decisions || jsonb_build_object('action', 'skipped', 'surface', 'sot_cats',
            'reason', v_reason);
        IF v_log THEN
            v_logs := v_logs || trapper.orchestrator_log_entry('skipped', 'sot_cats', NULL, (first_rule -> 'find_or_create_cat_by_microchip' ->> 'id')::uuid, (first_rule -> 'find_or_create_cat_by_microchip' ->> 'version')::integer, v_reason, jsonb_build_object('rules', rules -> 'find_or_create_cat_by_microchip', 'values', a));
        END IF;
    ELSIF args ? 'find_or_create_cat_by_microchip' THEN
        a := args -> 'find_or_create_cat_by_microchip';
        v_chip := trapper.validate_microchip(a ->> 'microchip');
        v_existing := trapper.cat_by_identifier('microchip', v_chip);
        -- an animal export's own id (PetPoint's Animal ID) is how its cats without a
        -- microchip are known, and found again (orchestrator_cat_source_ids, 020); without it
        -- such a cat was "nothing identifies this cat", on every record
        v_aid := nullif(btrim(a ->> 'animal_id'), '');
        v_cat := NULL;
        v_action := NULL;
        IF v_aid IS NOT NULL AND v_existing IS NULL THEN
            SELECT trapper.get_canonical_cat_id(k.cat_id) INTO v_cat
            FROM trapper.orchestrator_cat_source_ids k
            WHERE k.source_system = rec.source_system AND k.animal_id = v_aid;
            IF v_cat IS NULL AND v_chip IS NULL THEN
                -- a new one: its creators take turns, and the second finds the first's
                PERFORM trapper.lock_identity_key('animal', rec.source_system || ':' || v_aid);
                SELECT trapper.get_canonical_cat_id(k.cat_id) INTO v_cat
                FROM trapper.orchestrator_cat_source_ids k
                WHERE k.source_system = rec.source_system AND k.animal_id = v_aid;
                IF v_cat IS NULL THEN
                    -- the core's own reading of what the record says of a cat (its sex and
                    -- altered status as the processors store them)
                    v_cat := trapper.cat_fill(NULL, a ->> 'name', a ->> 'sex', a ->> 'breed',
                        a ->> 'altered_status', a ->> 'primary_color',
                        p_staged_record_id => rec.id);
                    PERFORM trapper.record_entity_source('cat', v_cat, rec.id, 'created',
                                                         'no microchip: known by its animal id');
                    v_existing := NULL;
                    v_action := 'routed';
                    v_reason := format('created cat (no microchip; known by its animal id %s)', v_aid);
                END IF;
            END IF;
            IF v_cat IS NOT NULL AND v_action IS DISTINCT FROM 'routed' THEN
                -- found by its animal id: what it lacks is filled and an altered Yes taken,
                -- as the processors do for a cat they find (the clinic's record that it
                -- was spayed); a microchip it now has is added to it
                PERFORM trapper.cat_fill(v_cat, a ->> 'name', a ->> 'sex', a ->> 'breed',
                    a ->> 'altered_status', a ->> 'primary_color', p_staged_record_id => rec.id);
                IF v_chip IS NOT NULL THEN
                    PERFORM trapper.add_cat_identifier(v_cat, 'microchip', v_chip,
                        rec.source_system, (trapper.microchip_format(v_chip)).confidence);
                END IF;
                PERFORM trapper.record_entity_source('cat', v_cat, rec.id, 'matched',
                                                     'by its animal id');
                v_existing := v_cat;
                v_action := 'merged';
                v_reason := format('matched existing cat via its animal id %s', v_aid);
            END IF;
        END IF;
        IF v_cat IS NULL THEN
            v_cat := trapper.find_or_create_cat_by_microchip(a ->> 'microchip', a ->> 'name',
                a ->> 'sex', a ->> 'breed', a ->> 'altered_status', a ->> 'primary_color',
                rec.source_system, p_staged_record_id => rec.id);
            v_action := CASE WHEN v_cat IS NULL THEN 'skipped'
                             WHEN v_existing IS NOT NULL THEN 'merged' ELSE 'routed' END;
            v_reason := CASE v_action WHEN 'skipped' THEN 'skipped: nothing identifies this cat'
                                      WHEN 'merged' THEN 'matched existing cat via microchip'
                                      ELSE 'created cat' END;
        END IF;
        IF v_cat IS NOT NULL AND v_aid IS NOT NULL THEN
            INSERT INTO trapper.orchestrator_cat_source_ids (source_system, animal_id, cat_id,
                                                             staged_record_id)
            VALUES (rec.source_system, v_aid, v_cat, rec.id)
            ON CONFLICT (source_system, animal_id) DO NOTHING;
        END IF;
        v_surv := trapper.orchestrator_apply_survivorship(
            'cat', v_cat, rec.source_system, a, v_action = 'routed');
        decisions := decisions || jsonb_build_object('action', v_action, 'surface', 'sot_cats',
            'entity_id', v_cat, 'reason', v_reason);
        IF v_log THEN
            v_logs := v_logs || trapper.orchestrator_log_entry(v_action, 'sot_cats', v_cat, (first_rule -> 'find_or_create_cat_by_microchip' ->> 'id')::uuid, (first_rule -> 'find_or_create_cat_by_microchip' ->> 'version')::integer, v_reason, jsonb_build_object('rules', rules -> 'find_or_create_cat_by_microchip',
                                             'values', a, 'survivorship', v_surv));
        END IF;
        PERFORM trapper.link_person_cat(v_person, v_cat, 'owner', rec.source_system);
        IF v_cat IS NOT NULL AND v_main IS NULL THEN
            v_main_type := 'cat'; v_main := v_cat; v_created := v_action = 'routed';
        END IF;
    END IF;

    IF args ? 'add_colony_estimate' THEN
        a := args -> 'add_colony_estimate';
        IF v_place IS NULL THEN
            v_action := 'skipped';
            v_reason := 'skipped: the record names no place for its colony estimate';
        ELSIF a ->> 'total_cats' IS NULL THEN
            v_action := 'skipped';
            v_reason := 'skipped: the record gives no cat count';
        ELSE
            PERFORM trapper.add_colony_estimate(v_place, (a ->> 'total_cats')::integer,
                (a ->> 'adult_count')::integer, (a ->> 'kitten_count')::integer,
                rec.source_system, (a ->> 'observation_date')::date, rec.id);
            v_action := 'routed';
            v_reason := format('colony estimate of %s cats on the place this record names',
                               a ->> 'total_cats');
        END IF;
        decisions := decisions || jsonb_build_object('action', v_action,
            'surface', 'place_colony_estimates', 'entity_id', v_place, 'reason', v_reason);
        IF v_log THEN
            v_logs := v_logs || trapper.orchestrator_log_entry(v_action, 'place_colony_estimates', v_place, (first_rule -> 'add_colony_estimate' ->> 'id')::uuid, (first_rule -> 'add_colony_estimate' ->> 'version')::integer, v_reason, jsonb_build_object('rules', rules -> 'add_colony_estimate', 'values', a));
        END IF;
    END IF;

    -- each decision a composite rule fed names its parts and the value they made (issue 17)
    IF composed <> '{}' THEN
        SELECT coalesce(jsonb_agg(CASE WHEN c.cs IS NULL THEN e ELSE
                   e || jsonb_build_object(
                       'decision_reason', (e ->> 'decision_reason') || ' [' || c.said || ']',
                       'decision_details', (e -> 'decision_details') || jsonb_build_object('composed', c.cs))
                   END ORDER BY n), '[]')
        INTO v_logs
        FROM jsonb_array_elements(v_logs) WITH ORDINALITY AS l (e, n)
        LEFT JOIN LATERAL (
            SELECT jsonb_agg(composed -> x.id ORDER BY x.o) AS cs,
                   string_agg(format('%s from %s: %s', composed -> x.id ->> 'target_field',
                                     (SELECT string_agg(p ->> 'field', ' + ')
                                      FROM jsonb_array_elements(composed -> x.id -> 'parts') p),
                                     composed -> x.id ->> 'value'), '; ' ORDER BY x.o) AS said
            FROM jsonb_array_elements_text(e -> 'decision_details' -> 'rules')
                 WITH ORDINALITY AS x (id, o)
            WHERE composed ? x.id
        ) c ON true;
    END IF;

    PERFORM trapper.orchestrator_flush_log(rec, v_logs, p_job_id);
    RETURN jsonb_strip_nulls(jsonb_build_object('entity_type', v_main_type, 'entity_id', v_main,
                                                'created', v_created, 'decisions', decisions));
END $$;

-- The batch form.
CREATE OR REPLACE FUNCTION trapper.route_staged_records(p_ids bigint[], p_job_id uuid DEFAULT NULL)
RETURNS TABLE (staged_record_id bigint, result jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    i bigint;
BEGIN
    FOREACH i IN ARRAY p_ids LOOP
        staged_record_id := i;
        result := trapper.route_staged_record(i, p_job_id);
        RETURN NEXT;
    END LOOP;
END $$;

-- The router as a processor: a source whose processor_name is 'orchestrator_router' is
-- processed by process_next_job with no PL/pgSQL of its own.
CREATE OR REPLACE FUNCTION trapper.orchestrator_router(p_staged_record_id bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    out jsonb := trapper.route_staged_record(p_staged_record_id);
BEGIN
    RETURN out - 'decisions';
END $$;

CREATE OR REPLACE FUNCTION trapper.orchestrator_before_uninstall() RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer;
BEGIN
    DELETE FROM trapper.data_engine_processors
    WHERE processor_function = 'trapper.orchestrator_router'
      AND config ->> 'owner' = 'atlas-orchestrator';
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END $$;
