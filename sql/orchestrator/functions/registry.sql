-- ORCH_002: register_source() and map_source_field() with their refusals, and the check of
-- a rule's transform against the allowlist. Rules are data, never code: nothing from a table
-- row is run as SQL.

-- What a rule may name in transform_expression: exactly "fn($1)" with fn a transform of
-- the allowlist. Anything else — a second statement, another argument, a bare function —
-- is refused. Returns the function's signature, never the rule's text.
CREATE OR REPLACE FUNCTION trapper.orchestrator_transform_signature(p_expression text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    m text[] := regexp_match(p_expression, E'^\\s*([a-z_][a-z0-9_]*)\\s*\\(\\s*\\$1\\s*\\)\\s*$');
    sig text;
BEGIN
    IF m IS NULL THEN
        RAISE EXCEPTION 'transform_expression "%" is not of the form fn($1)', p_expression
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'name one allowlisted transform, for example norm_phone_us($1)';
    END IF;
    SELECT signature INTO sig FROM trapper.orchestrator_functions
    WHERE function_name = m[1] AND kind = 'transform';
    IF sig IS NULL THEN
        RAISE EXCEPTION 'transform "%" is not in the allowlist (trapper.orchestrator_functions)',
            m[1] USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN sig;
END $$;

-- expected_fields from a list of export headers: [{field, type, required}, ...]; a required
-- field must be among them (it was silently dropped before, so never checked: issue 15).
CREATE OR REPLACE FUNCTION trapper.orchestrator_fields(p_fields text[], p_required text[] DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_unknown text[] := ARRAY(SELECT r FROM unnest(p_required) AS r
                              WHERE r IS NULL OR NOT r = ANY (coalesce(p_fields, '{}')));
    v_twice text[] := ARRAY(SELECT f FROM unnest(p_fields) AS f
                            GROUP BY f HAVING count(*) > 1 ORDER BY min(f));
BEGIN
    -- a header written twice is staged as "Cat Count" and "Cat Count_1": a second expected
    -- "Cat Count" named no column, and a rule on it read the first
    IF cardinality(v_twice) > 0 OR EXISTS (SELECT 1 FROM unnest(p_fields) f
                                           WHERE f IS NULL OR btrim(f) = '') THEN
        RAISE EXCEPTION 'expected field(s) % are listed twice (or blank)',
            coalesce(nullif(array_to_string(v_twice, ', ', '(null)'), ''), '(blank)')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'ingest names a repeated header "Name", "Name_1", "Name_2": list '
                         'them so, and a blank header column_N (its position)';
    END IF;
    IF cardinality(v_unknown) > 0 THEN
        RAISE EXCEPTION 'required field(s) % are not among the expected fields',
            array_to_string(v_unknown, ', ', '(null)')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'list every required field among the expected fields too';
    END IF;
    RETURN (SELECT coalesce(jsonb_agg(jsonb_build_object('field', f, 'type', 'text',
                                                         'required', f = ANY (p_required))
                                      ORDER BY ord), '[]')
            FROM unnest(p_fields) WITH ORDINALITY AS t (f, ord));
END $$;

-- Register (or update) a source: an idempotent upsert.
CREATE OR REPLACE FUNCTION trapper.register_source(
    p_source_system text, p_source_table text, p_display_name text,
    p_entity_types text[] DEFAULT NULL, p_processor_name text DEFAULT NULL,
    p_ingest_method text DEFAULT 'file_upload', p_ingest_frequency text DEFAULT 'on_demand',
    p_expected_fields jsonb DEFAULT NULL, p_id_field_candidates text[] DEFAULT NULL,
    p_notes text DEFAULT NULL
) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_id uuid;
BEGIN
    -- the names as the sources' trigger checks them (functions/arguments.sql)
    PERFORM trapper.orchestrator_require_source_name('source_system', p_source_system);
    PERFORM trapper.orchestrator_require_source_name('source_table', p_source_table);
    PERFORM trapper.orchestrator_require_text('display_name', p_display_name,
                                              'the name people see in listings');
    -- ingest_method and ingest_frequency are refused by the sources' trigger
    -- (triggers/source_check.sql), which a plain INSERT meets too
    INSERT INTO trapper.orchestrator_sources
        (source_system, source_table, display_name, entity_types_produced, processor_name,
         ingest_method, ingest_frequency, expected_fields, id_field_candidates, notes)
    VALUES (p_source_system, p_source_table, p_display_name, p_entity_types, p_processor_name,
            p_ingest_method, p_ingest_frequency, coalesce(p_expected_fields, '[]'),
            p_id_field_candidates, p_notes)
    ON CONFLICT (source_system, source_table) DO UPDATE SET
        display_name = EXCLUDED.display_name,
        entity_types_produced = coalesce(EXCLUDED.entity_types_produced,
                                         trapper.orchestrator_sources.entity_types_produced),
        processor_name = coalesce(EXCLUDED.processor_name, trapper.orchestrator_sources.processor_name),
        ingest_method = EXCLUDED.ingest_method,
        ingest_frequency = EXCLUDED.ingest_frequency,
        expected_fields = CASE WHEN p_expected_fields IS NULL
                               THEN trapper.orchestrator_sources.expected_fields
                               ELSE EXCLUDED.expected_fields END,
        id_field_candidates = coalesce(EXCLUDED.id_field_candidates,
                                       trapper.orchestrator_sources.id_field_candidates),
        notes = coalesce(EXCLUDED.notes, trapper.orchestrator_sources.notes),
        updated_at = now()
    RETURNING source_id INTO v_id;
    RETURN v_id;
END $$;

-- Map one source field to a surface, refusing what cannot work: an unregistered source, a
-- function outside the allowlist, a field the source never sends.
CREATE OR REPLACE FUNCTION trapper.map_source_field(
    p_source_system text, p_source_table text, p_source_field text, p_target_surface text,
    p_target_field text DEFAULT NULL, p_routing_type text DEFAULT 'direct',
    p_target_function text DEFAULT NULL, p_transform_expression text DEFAULT NULL,
    p_is_required boolean DEFAULT false, p_skip_if_empty boolean DEFAULT true,
    p_notes text DEFAULT NULL
) RETURNS uuid
LANGUAGE plpgsql AS $$
DECLARE
    v_src trapper.orchestrator_sources;
    v_id uuid;
BEGIN
    SELECT * INTO v_src FROM trapper.orchestrator_sources
    WHERE source_system = p_source_system AND source_table = p_source_table;
    IF v_src.source_id IS NULL THEN
        RAISE EXCEPTION 'source %/% is not registered; call register_source() first',
            p_source_system, p_source_table USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF NOT EXISTS (SELECT 1 FROM jsonb_array_elements(v_src.expected_fields) f
                   WHERE f ->> 'field' = p_source_field)
       AND NOT EXISTS (SELECT 1 FROM trapper.staged_records s
                       WHERE s.source_system = p_source_system
                         AND s.source_table = p_source_table AND s.payload ? p_source_field) THEN
        RAISE EXCEPTION 'field "%" is neither an expected field of %/% nor in any of its staged payloads',
            p_source_field, p_source_system, p_source_table
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = 'payload keys are the export headers, verbatim (for example "Owner Email")';
    END IF;
    SELECT rule_id INTO v_id FROM trapper.orchestrator_routing_rules
    WHERE source_system = p_source_system AND source_table = p_source_table
      AND source_field = p_source_field AND target_surface = p_target_surface
      AND target_field IS NOT DISTINCT FROM p_target_field AND is_active;
    IF v_id IS NULL THEN
        INSERT INTO trapper.orchestrator_routing_rules
            (source_system, source_table, source_field, target_surface, target_field,
             routing_type, target_function, transform_expression, is_required, skip_if_empty,
             notes)
        VALUES (p_source_system, p_source_table, p_source_field, p_target_surface,
                p_target_field, p_routing_type, p_target_function, p_transform_expression,
                p_is_required, p_skip_if_empty, p_notes)
        RETURNING rule_id INTO v_id;
    ELSE
        UPDATE trapper.orchestrator_routing_rules SET
            routing_type = p_routing_type, target_function = p_target_function,
            transform_expression = p_transform_expression, is_required = p_is_required,
            skip_if_empty = p_skip_if_empty, notes = coalesce(p_notes, notes)
        WHERE rule_id = v_id;
    END IF;
    RETURN v_id;
END $$;

-- The target functions that write a surface, by name: a rule that names no target_function
-- uses the surface's one (the router, the rules check). With two, the choice had been
-- whichever row came first; now such a rule is refused when written and skipped, saying so,
-- by the router.
CREATE OR REPLACE FUNCTION trapper.orchestrator_surface_targets(p_surface text) RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(function_name ORDER BY function_name), '{}')
    FROM trapper.orchestrator_functions
    WHERE kind = 'target' AND target_surface = p_surface
$$;

-- A type as rules and targets name it (issue 17): expected_fields may say "int", "float" or
-- "string"; the checks compare the names below. NULL or empty is text.
CREATE OR REPLACE FUNCTION trapper.orchestrator_type_name(p_type text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE lower(btrim(coalesce(p_type, '')))
               WHEN '' THEN 'text' WHEN 'string' THEN 'text' WHEN 'varchar' THEN 'text'
               WHEN 'int' THEN 'integer' WHEN 'int4' THEN 'integer'
               WHEN 'int8' THEN 'bigint'
               WHEN 'number' THEN 'numeric' WHEN 'decimal' THEN 'numeric'
               WHEN 'float' THEN 'double precision' WHEN 'float8' THEN 'double precision'
               WHEN 'double' THEN 'double precision'
               WHEN 'bool' THEN 'boolean'
               ELSE lower(btrim(p_type)) END
$$;

-- Whether a value of type p_value can fill a target parameter of type p_param (issue 17):
-- text takes anything, a decimal any number, an integer only an integer, a date a date.
CREATE OR REPLACE FUNCTION trapper.orchestrator_type_fits(p_value text, p_param text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT p_param IS NULL OR p_param = 'text'
        OR trapper.orchestrator_type_name(p_value) = p_param
        OR (p_param IN ('numeric', 'double precision')
            AND trapper.orchestrator_type_name(p_value)
                IN ('integer', 'bigint', 'numeric', 'double precision'))
        OR (p_param = 'bigint' AND trapper.orchestrator_type_name(p_value) = 'integer')
$$;

-- Whether a text value converts to a target parameter's type, at run time: the router
-- rejects the record naming the field and the value, where the cast failed its job. The
-- type comes from the allowlist's CHECK-ed list; nothing is spliced into SQL.
-- A value as its parameter's type, in the type's own text (3.0 for an integer is 3,
-- 3/14/2025 for a date 2025-03-14), or NULL when it is not one. Numbers are written numbers
-- (no NaN, Infinity or hex) or as people type them (orchestrator_to_numeric: "1,234",
-- "$12.50"), dates orchestrator_to_date's forms, yes/no orchestrator_to_boolean's words: a
-- cast took 'yesterday' and 'epoch' for dates, read 03/04 by the session's DateStyle, and
-- refused an "x" or "checked" box.
CREATE OR REPLACE FUNCTION trapper.orchestrator_typed_value(p_value text, p_type text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v text := btrim(p_value);
    number constant text := E'^[+-]?(\\d+\\.?\\d*|\\.\\d+)([eE][+-]?\\d{1,3})?$';
BEGIN
    CASE p_type
        WHEN 'integer', 'bigint', 'smallint' THEN
            IF v !~ E'^[+-]?\\d+(\\.0*)?$' THEN
                -- "1,234", "$5": a number people type, when whole
                v := trapper.orchestrator_to_numeric(v)::text;
                IF v IS NULL OR v !~ E'^[+-]?\\d+(\\.0*)?$' THEN
                    RETURN NULL;
                END IF;
            END IF;
            v := split_part(v, '.', 1);
            RETURN CASE p_type WHEN 'integer' THEN v::integer::text
                               WHEN 'smallint' THEN v::smallint::text
                               ELSE v::bigint::text END;
        WHEN 'numeric' THEN
            RETURN CASE WHEN v ~ number THEN v::numeric
                        ELSE trapper.orchestrator_to_numeric(v) END::text;
        WHEN 'double precision', 'real' THEN
            -- written through numeric (15 significant digits): a float's own text follows the
            -- session's extra_float_digits, and at -15 a latitude of 38.44 came back as 4e+01
            RETURN CASE WHEN v ~ number THEN v::double precision
                        ELSE trapper.orchestrator_to_numeric(v)::double precision
                   END::numeric::text;
        WHEN 'date' THEN
            -- ISO, which every DateStyle reads back as written (a date's own text follows
            -- the session's DateStyle: 14.03.2025 under German, 14/03/2025 under SQL, DMY)
            RETURN to_char(trapper.orchestrator_to_date(v), 'YYYY-MM-DD');
        WHEN 'boolean' THEN
            RETURN trapper.orchestrator_to_boolean(v)::text;
        ELSE
            RETURN p_value;
    END CASE;
EXCEPTION WHEN data_exception THEN   -- out of range, or no boolean
    RETURN NULL;
END $$;

-- A cell that says there is no value ("N/A", "-", "unknown", "none", "?"), in a column whose
-- values are numbers or dates: the router takes it as an empty cell (skipped, rejected when
-- the rule is required, else NULL) where it had rejected the whole record as "not a double
-- precision". The words are the core's (normalize_address, payload_bool's unknowns).
CREATE OR REPLACE FUNCTION trapper.orchestrator_no_value(p_value text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(lower(btrim(p_value)) IN ('-', '--', '—', '–', 'n/a', 'na', 'n.a.', 'none',
                                               'null', 'nil', 'unknown', 'unk', '?', 'tbd'),
                    false)
$$;

-- Why a value of the right type still cannot be passed to a target's parameter, or NULL:
-- a latitude outside -90..90 or a longitude outside -180..180 (a place at latitude 1,200 was
-- stored as such, and a map drew nothing), a count of cats below zero. The router rejects the
-- record as it does a value of the wrong type, naming the field and the value.
CREATE OR REPLACE FUNCTION trapper.orchestrator_out_of_range(
    p_function text, p_parameter text, p_typed text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE
        WHEN p_function = 'find_or_create_place_deduped' AND p_parameter = 'lat'
             AND NOT p_typed::double precision BETWEEN -90 AND 90
        THEN 'is not a latitude (-90 to 90)'
        WHEN p_function = 'find_or_create_place_deduped' AND p_parameter = 'lng'
             AND NOT p_typed::double precision BETWEEN -180 AND 180
        THEN 'is not a longitude (-180 to 180)'
        WHEN p_function = 'add_colony_estimate'
             AND p_parameter IN ('total_cats', 'adult_count', 'kitten_count')
             AND p_typed::numeric < 0
        THEN 'is not a count of cats (0 or more)'
    END
$$;

CREATE OR REPLACE FUNCTION trapper.orchestrator_value_fits(p_value text, p_type text) RETURNS boolean
LANGUAGE sql IMMUTABLE AS $$
    SELECT trapper.orchestrator_typed_value(p_value, p_type) IS NOT NULL
$$;
