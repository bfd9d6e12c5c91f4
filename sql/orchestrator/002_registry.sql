-- ORCH_002: the allowlist of functions rules may name, register_source() and
-- map_source_field() with their refusals, and every source registered with the fields of
-- its real export. Rules are data, never code: nothing from a table row is run as SQL.

CREATE TABLE trapper.orchestrator_functions (
    function_name  TEXT PRIMARY KEY,              -- how rules name it
    signature      TEXT NOT NULL,                 -- resolved through regprocedure
    kind           TEXT NOT NULL CHECK (kind IN ('transform', 'target')),
    arg_types      TEXT[] NOT NULL,
    returns        TEXT NOT NULL,
    target_surface TEXT,                          -- for targets: the surface it writes
    parameters     TEXT[],                        -- for targets: the target_field names it takes
    description    TEXT NOT NULL
);

-- Casts a transform may apply, as functions (so a rule never carries SQL text).
CREATE FUNCTION trapper.orchestrator_to_integer(p text) RETURNS integer
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN btrim(p) ~ '^-?\d{1,9}(\.0+)?$' THEN split_part(btrim(p), '.', 1)::integer END
$$;
CREATE FUNCTION trapper.orchestrator_to_numeric(p text) RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN btrim(p) ~ '^-?\d+(\.\d+)?$' THEN btrim(p)::numeric END
$$;
CREATE FUNCTION trapper.orchestrator_to_date(p text) RETURNS date
LANGUAGE sql IMMUTABLE AS $$ SELECT trapper.parse_us_date(p) $$;
CREATE FUNCTION trapper.orchestrator_trim(p text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$ SELECT nullif(btrim(p), '') $$;

INSERT INTO trapper.orchestrator_functions
    (function_name, signature, kind, arg_types, returns, target_surface, parameters, description)
VALUES
    ('norm_phone_us', 'trapper.norm_phone_us(text)', 'transform', '{text}', 'text', NULL, NULL,
     'US phone to 10 digits, or NULL'),
    ('norm_email', 'trapper.norm_email(text)', 'transform', '{text}', 'text', NULL, NULL,
     'lower-cased, trimmed email, or NULL'),
    ('normalize_address', 'trapper.normalize_address(text)', 'transform', '{text}', 'text', NULL,
     NULL, 'normalised address text'),
    ('norm_name_key', 'trapper.norm_name_key(text)', 'transform', '{text}', 'text', NULL, NULL,
     'name key: no accents, punctuation or case'),
    ('validate_microchip', 'trapper.validate_microchip(text)', 'transform', '{text}', 'text',
     NULL, NULL, 'a valid microchip, or NULL'),
    ('to_integer', 'trapper.orchestrator_to_integer(text)', 'transform', '{text}', 'integer',
     NULL, NULL, 'cast to integer (NULL when not a whole number)'),
    ('to_numeric', 'trapper.orchestrator_to_numeric(text)', 'transform', '{text}', 'numeric',
     NULL, NULL, 'cast to a number'),
    ('to_date', 'trapper.orchestrator_to_date(text)', 'transform', '{text}', 'date', NULL, NULL,
     'MM/DD/YYYY or ISO date'),
    ('trim', 'trapper.orchestrator_trim(text)', 'transform', '{text}', 'text', NULL, NULL,
     'trimmed text, NULL when empty'),
    ('find_or_create_person',
     'trapper.find_or_create_person(text,text,text,text,text,text,bigint,text,boolean)',
     'target', '{text,text,text,text,text,text,bigint,text,boolean}', 'uuid', 'sot_people',
     '{email,phone,cell,first_name,last_name,address}', 'resolve or create a person'),
    ('find_or_create_place_deduped',
     'trapper.find_or_create_place_deduped(text,text,double precision,double precision,text,bigint)',
     'target', '{text,text,double precision,double precision,text,bigint}', 'uuid', 'places',
     '{formatted_address,display_name,lat,lng}', 'find or create a place by address'),
    ('find_or_create_cat_by_microchip',
     'trapper.find_or_create_cat_by_microchip(text,text,text,text,text,text,text,text,text,text,text,text,bigint)',
     'target', '{text,text,text,text,text,text,text,text,text,text,text,text,bigint}', 'uuid',
     'sot_cats', '{microchip,name,sex,breed,altered_status,primary_color}',
     'find or create a cat by microchip'),
    ('add_colony_estimate',
     'trapper.add_colony_estimate(uuid,integer,integer,integer,text,date,bigint)',
     'target', '{uuid,integer,integer,integer,text,date,bigint}', 'void',
     'place_colony_estimates', '{total_cats,adult_count,kitten_count,observation_date}',
     'a colony estimate on the place the same record names');

-- What a rule may name in transform_expression: exactly "fn($1)" with fn a transform of
-- the allowlist. Anything else — a second statement, another argument, a bare function —
-- is refused. Returns the function's signature, never the rule's text.
CREATE FUNCTION trapper.orchestrator_transform_signature(p_expression text) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    m text[] := regexp_match(p_expression, '^\s*([a-z_][a-z0-9_]*)\s*\(\s*\$1\s*\)\s*$');
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

-- Rules are checked on every write, whoever writes them (map_source_field or an INSERT).
CREATE FUNCTION trapper.orchestrator_check_rule() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_fn trapper.orchestrator_functions;
BEGIN
    IF NEW.transform_expression IS NOT NULL THEN
        PERFORM trapper.orchestrator_transform_signature(NEW.transform_expression);
    END IF;
    IF NEW.routing_type = 'transform' AND NEW.transform_expression IS NULL THEN
        RAISE EXCEPTION 'a transform rule needs a transform_expression such as norm_email($1)'
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF NEW.target_function IS NOT NULL THEN
        SELECT * INTO v_fn FROM trapper.orchestrator_functions
        WHERE function_name = NEW.target_function AND kind = 'target';
        IF v_fn.function_name IS NULL THEN
            RAISE EXCEPTION 'target_function "%" is not in the allowlist of target functions',
                NEW.target_function USING ERRCODE = 'invalid_parameter_value',
                HINT = 'see SELECT function_name FROM trapper.orchestrator_functions WHERE kind = ''target''';
        END IF;
        IF NEW.target_field IS NOT NULL AND NOT NEW.target_field = ANY (v_fn.parameters) THEN
            RAISE EXCEPTION '% takes no field "%" (it takes %)', NEW.target_function,
                NEW.target_field, array_to_string(v_fn.parameters, ', ')
                USING ERRCODE = 'invalid_parameter_value';
        END IF;
    END IF;
    IF TG_OP = 'UPDATE' AND (NEW.source_field, NEW.target_surface, NEW.target_field,
                             NEW.target_function, NEW.routing_type, NEW.transform_expression,
                             NEW.is_required, NEW.skip_if_empty)
        IS DISTINCT FROM (OLD.source_field, OLD.target_surface, OLD.target_field,
                          OLD.target_function, OLD.routing_type, OLD.transform_expression,
                          OLD.is_required, OLD.skip_if_empty) THEN
        NEW.rule_version := OLD.rule_version + 1;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER orchestrator_routing_rules_check
    BEFORE INSERT OR UPDATE ON trapper.orchestrator_routing_rules
    FOR EACH ROW EXECUTE FUNCTION trapper.orchestrator_check_rule();

-- expected_fields from a list of export headers: [{field, type, required}, ...]
CREATE FUNCTION trapper.orchestrator_fields(p_fields text[], p_required text[] DEFAULT '{}')
RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_agg(jsonb_build_object('field', f, 'type', 'text',
                                                 'required', f = ANY (p_required))
                              ORDER BY ord), '[]')
    FROM unnest(p_fields) WITH ORDINALITY AS t (f, ord)
$$;

-- Register (or update) a source: an idempotent upsert.
CREATE FUNCTION trapper.register_source(
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
    IF p_source_system !~ '^[a-z][a-z0-9_]*$' OR p_source_table !~ '^[a-z][a-z0-9_]*$' THEN
        RAISE EXCEPTION 'source names are lowercase letters, digits and underscores: %/%',
            p_source_system, p_source_table USING ERRCODE = 'invalid_parameter_value';
    END IF;
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
CREATE FUNCTION trapper.map_source_field(
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
