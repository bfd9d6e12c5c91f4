-- Routing rules are checked on every write, and their version moves when they change.
--
-- The columns of 013_composite_rules.sql (source_fields, field_separator, the targets'
-- parameter_types) are read through to_jsonb(): this trigger checks the rules 003 and 004
-- write, before 013 has added them (docs/operations.md, "Where a change goes").

-- Rules are checked on every write, whoever writes them (map_source_field or an INSERT).
CREATE OR REPLACE FUNCTION trapper.orchestrator_check_rule() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_fn trapper.orchestrator_functions;
    v_row jsonb := to_jsonb(NEW);
    v_parts text[];
    v_label text;
    v_expected jsonb;
    v_unknown text[];
    v_param text;
    v_param_type text;
    v_value_type text;
    v_other text;
    v_targets text[];
BEGIN
    -- before the table's CHECK and NOT NULLs, which quote the whole row and not what is allowed
    PERFORM trapper.orchestrator_require_one_of(
        'routing_type', NEW.routing_type,
        trapper.orchestrator_check_values('trapper.orchestrator_routing_rules', 'routing_type'));
    PERFORM trapper.orchestrator_require_text(
        'target_surface', NEW.target_surface,
        'the surfaces: ' || (SELECT string_agg(DISTINCT target_surface, ', ')
                             FROM trapper.orchestrator_functions WHERE kind = 'target'));
    IF NEW.transform_expression IS NOT NULL THEN
        PERFORM trapper.orchestrator_transform_signature(NEW.transform_expression);
    END IF;
    IF NEW.routing_type = 'transform' AND NEW.transform_expression IS NULL THEN
        RAISE EXCEPTION 'a transform rule needs a transform_expression such as norm_email($1)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT expected_fields INTO v_expected FROM trapper.orchestrator_sources
    WHERE source_system = NEW.source_system AND source_table = NEW.source_table;
    -- a composite rule (issue 17): its parts, in order, each an expected field of the source
    IF jsonb_typeof(v_row -> 'source_fields') = 'array' THEN
        v_parts := ARRAY(SELECT jsonb_array_elements_text(v_row -> 'source_fields'));
        IF cardinality(v_parts) < 2 OR EXISTS (SELECT 1 FROM unnest(v_parts) p
                                               WHERE p IS NULL OR btrim(p) = '')
           OR (SELECT count(DISTINCT p) FROM unnest(v_parts) p) < cardinality(v_parts) THEN
            RAISE EXCEPTION 'a composite rule names two or more distinct source_fields, got %',
                coalesce(v_row ->> 'source_fields', '[]')
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'one field is a plain rule: set source_field and leave source_fields NULL';
        END IF;
        v_unknown := ARRAY(SELECT p FROM unnest(v_parts) WITH ORDINALITY AS t (p, o)
                           WHERE NOT EXISTS (SELECT 1 FROM jsonb_array_elements(
                                                 coalesce(v_expected, '[]')) f
                                             WHERE f ->> 'field' = p)
                           ORDER BY o);
        IF cardinality(v_unknown) > 0 THEN
            RAISE EXCEPTION 'composite rule of %/%: "%" % not among the expected fields of the source',
                NEW.source_system, NEW.source_table, array_to_string(v_unknown, '", "'),
                CASE WHEN cardinality(v_unknown) = 1 THEN 'is' ELSE 'are' END
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = format('its expected fields: %s; payload keys are the export''s '
                                    'headers, trimmed, inner spaces collapsed and a repeated '
                                    'one suffixed _1 (JSON keys verbatim)',
                                    coalesce((SELECT string_agg(f ->> 'field', ', ')
                                              FROM jsonb_array_elements(v_expected) f),
                                             'none'));
        END IF;
        v_label := array_to_string(v_parts, ' + ');
        -- an UPDATE of the parts alone keeps the old label in source_field: it is rewritten
        -- (it was refused, with the hint to leave source_field out, which the UPDATE had done)
        IF TG_OP = 'UPDATE' AND NEW.source_field IS NOT DISTINCT FROM OLD.source_field
           AND to_jsonb(OLD) -> 'source_fields' IS DISTINCT FROM v_row -> 'source_fields' THEN
            NEW.source_field := v_label;
        END IF;
        IF NEW.source_field IS NOT NULL AND NEW.source_field <> v_label THEN
            RAISE EXCEPTION 'a composite rule''s source_field is its parts'' label "%", not "%"',
                v_label, NEW.source_field USING ERRCODE = 'invalid_parameter_value',
                HINT = 'leave source_field out: it is written from source_fields';
        END IF;
        NEW.source_field := v_label;
    ELSIF v_row ->> 'field_separator' IS NOT NULL THEN
        RAISE EXCEPTION 'field_separator joins the parts of a composite rule; rule %/% % has no source_fields',
            NEW.source_system, NEW.source_table, NEW.source_field
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    PERFORM trapper.orchestrator_require_text(
        'source_field', NEW.source_field,
        'the payload key (the export''s header) the rule reads, or source_fields for a '
        'composite rule');
    IF NEW.target_function IS NOT NULL THEN
        SELECT * INTO v_fn FROM trapper.orchestrator_functions
        WHERE function_name = NEW.target_function AND kind = 'target';
        IF v_fn.function_name IS NULL THEN
            RAISE EXCEPTION 'target_function "%" is not in the allowlist of target functions',
                NEW.target_function USING ERRCODE = 'invalid_parameter_value',
                HINT = 'see SELECT function_name FROM trapper.orchestrator_functions WHERE kind = ''target''';
        END IF;
        IF v_fn.target_surface IS DISTINCT FROM NEW.target_surface THEN
            RAISE EXCEPTION '% writes %, not %', NEW.target_function, v_fn.target_surface,
                NEW.target_surface USING ERRCODE = 'invalid_parameter_value',
                HINT = format('set target_surface to %s, or leave target_function out to '
                              'use the function of the surface', v_fn.target_surface);
        END IF;
    ELSE
        -- the router's choice when a rule names no function: the target of its surface
        v_targets := trapper.orchestrator_surface_targets(NEW.target_surface);
        -- a surface nothing writes was accepted, and every record then skipped
        IF cardinality(v_targets) = 0 AND NEW.target_surface IS NOT NULL THEN
            RAISE EXCEPTION 'no target function writes surface "%"', NEW.target_surface
                USING ERRCODE = 'invalid_parameter_value',
                HINT = 'the surfaces: ' || (SELECT string_agg(DISTINCT target_surface, ', ')
                                            FROM trapper.orchestrator_functions
                                            WHERE kind = 'target');
        ELSIF cardinality(v_targets) > 1 THEN
            RAISE EXCEPTION 'surface "%" is written by %: the rule must say which in target_function',
                NEW.target_surface, array_to_string(v_targets, ' and ')
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
        SELECT * INTO v_fn FROM trapper.orchestrator_functions
        WHERE function_name = v_targets[1];
    END IF;
    -- the parameter the value goes to: a name the function does not take was accepted, and
    -- the value dropped without a word on every record (a rule with no target_field passes
    -- its value under the source field's name)
    IF v_fn.function_name IS NOT NULL
       AND NOT coalesce(NEW.target_field, NEW.source_field) = ANY (v_fn.parameters) THEN
        RAISE EXCEPTION '% takes no field "%" (it takes %)', v_fn.function_name,
            coalesce(NEW.target_field, NEW.source_field), array_to_string(v_fn.parameters, ', ')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'target_field names the parameter the value feeds (a rule without '
                         'one passes the value under its source field''s name)';
    END IF;
    -- typed rules (issue 17): the value must fit the parameter's declared type
    v_param := coalesce(NEW.target_field, NEW.source_field);
    IF v_fn.function_name IS NOT NULL
       AND jsonb_typeof(to_jsonb(v_fn) -> 'parameter_types') = 'array' THEN
        v_param_type := (to_jsonb(v_fn) -> 'parameter_types')
                        ->> (array_position(v_fn.parameters, v_param) - 1);
        IF NEW.transform_expression IS NOT NULL THEN
            SELECT returns INTO v_value_type FROM trapper.orchestrator_functions
            WHERE signature = trapper.orchestrator_transform_signature(NEW.transform_expression);
        ELSIF v_parts IS NOT NULL THEN
            v_value_type := 'text';   -- parts joined by a separator
        ELSE
            v_value_type := trapper.orchestrator_type_name(
                (SELECT f ->> 'type' FROM jsonb_array_elements(coalesce(v_expected, '[]')) f
                 WHERE f ->> 'field' = NEW.source_field LIMIT 1));
        END IF;
        IF NOT trapper.orchestrator_type_fits(v_value_type, v_param_type) THEN
            RAISE EXCEPTION '%.% is % but the rule gives it % (% of %/%)', NEW.target_surface,
                v_param, v_param_type, v_value_type,
                CASE WHEN NEW.transform_expression IS NOT NULL
                     THEN NEW.transform_expression || ' of field "' || NEW.source_field || '"'
                     WHEN v_parts IS NOT NULL THEN 'the composite "' || NEW.source_field || '"'
                     ELSE 'field "' || NEW.source_field || '"' END,
                NEW.source_system, NEW.source_table
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = format('convert it with an allowlisted transform (to_numeric($1), '
                                    'to_integer($1), to_date($1)), or declare the field''s '
                                    'type in expected_fields ({"field": ..., "type": "%s"})',
                                    v_param_type);
        END IF;
    END IF;
    -- one value per parameter: a second active rule feeding the same parameter of the same
    -- function overwrote the first in the call, even with an empty value, on every record
    IF NEW.is_active AND v_fn.function_name IS NOT NULL THEN
        SELECT o.source_field INTO v_other FROM trapper.orchestrator_routing_rules o
        WHERE o.source_system = NEW.source_system AND o.source_table = NEW.source_table
          AND o.is_active AND o.rule_id <> NEW.rule_id
          AND coalesce(o.target_field, o.source_field) = v_param
          AND coalesce(o.target_function,
                       (trapper.orchestrator_surface_targets(o.target_surface))[1])
              = v_fn.function_name
        LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION '%/%: the rule on "%" already feeds %.%', NEW.source_system,
                NEW.source_table, v_other, v_fn.function_name, v_param
                USING ERRCODE = 'invalid_parameter_value',
                      HINT = 'a parameter takes one value: join the fields with one composite '
                             'rule (source_fields), or deactivate the other rule first '
                             '(is_active = false)';
        END IF;
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.source_field, NEW.target_surface, NEW.target_field,
                             NEW.target_function, NEW.routing_type, NEW.transform_expression,
                             NEW.is_required, NEW.skip_if_empty, v_row -> 'source_fields',
                             v_row -> 'field_separator')
        IS DISTINCT FROM (OLD.source_field, OLD.target_surface, OLD.target_field,
                          OLD.target_function, OLD.routing_type, OLD.transform_expression,
                          OLD.is_required, OLD.skip_if_empty, to_jsonb(OLD) -> 'source_fields',
                          to_jsonb(OLD) -> 'field_separator') THEN
        NEW.rule_version := OLD.rule_version + 1;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER orchestrator_routing_rules_check
    BEFORE INSERT OR UPDATE ON trapper.orchestrator_routing_rules
    FOR EACH ROW EXECUTE FUNCTION trapper.orchestrator_check_rule();
