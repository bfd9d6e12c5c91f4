-- One refusal for an argument outside its allowed values, for every helper a person calls
-- (register_source, map_source_field and the rules' check, the capture switches, the review
-- queue, the settings): it names the argument, the value and the values allowed, with a HINT,
-- under SQLSTATE 22023 (invalid_parameter_value), which the CLI prints as a usage error and
-- the API answers with a 409. A raw CHECK violation ("new row for relation … violates check
-- constraint …", with the whole row) was what a person saw before (docs/orchestrator.md).

-- The values a column's CHECK (col IN (...)) admits, in the CHECK's order, read from the
-- catalogue so that the refusal and the constraint cannot drift apart. Empty when the column
-- has no such CHECK.
CREATE OR REPLACE FUNCTION trapper.orchestrator_check_values(p_table regclass, p_column text)
RETURNS text[]
LANGUAGE sql STABLE AS $$
    SELECT coalesce(array_agg(replace(m[1], '''''', '''') ORDER BY c.oid, t.ord), '{}')
    FROM pg_constraint c
    JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attname = p_column
    CROSS JOIN LATERAL regexp_matches(pg_get_constraintdef(c.oid),
                                      '''((?:[^'']|'''')*)''::text', 'g')
        WITH ORDINALITY AS t (m, ord)
    WHERE c.conrelid = p_table AND c.contype = 'c' AND c.conkey = ARRAY[a.attnum]
$$;

-- Refuse p_value unless it is one of p_allowed (NULL is refused too: NULL NOT IN (...) is
-- NULL, and such a check let a NULL through). Returns the value.
CREATE OR REPLACE FUNCTION trapper.orchestrator_require_one_of(
    p_argument text, p_value text, p_allowed text[], p_hint text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_value IS NULL OR NOT p_value = ANY (p_allowed) THEN
        RAISE EXCEPTION '% %: not one of %', p_argument,
            coalesce(quote_literal(left(p_value, 80)), 'NULL'), array_to_string(p_allowed, ', ')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = coalesce(p_hint, format('%s is one of: %s', p_argument,
                                                 array_to_string(p_allowed, ', ')));
    END IF;
    RETURN p_value;
END $$;

-- Refuse a value that is NULL or blank where one is needed.
CREATE OR REPLACE FUNCTION trapper.orchestrator_require_text(
    p_argument text, p_value text, p_hint text DEFAULT NULL)
RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_value IS NULL OR btrim(p_value) = '' THEN
        RAISE EXCEPTION '% %: a value is needed', p_argument,
            coalesce(quote_literal(p_value), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = coalesce(p_hint, format('give %s a value', p_argument));
    END IF;
    RETURN p_value;
END $$;

-- Refuse a source name the CLI and the API cannot address: a source is written SYSTEM/TABLE
-- on their command lines and URLs (`atlas-orch ingest barn_cats/reports`), each name a
-- letter, then lowercase letters, digits and underscores, 63 at most (a PostgreSQL name). A
-- plain INSERT took 'Félin''s Rescue' / 'intake form', whose records then could never be
-- ingested, routed or replayed ("must be SOURCE_SYSTEM/SOURCE_TABLE in lowercase …").
CREATE OR REPLACE FUNCTION trapper.orchestrator_require_source_name(
    p_argument text, p_value text)
RETURNS text
LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
    IF p_value IS NULL OR p_value !~ '^[a-z][a-z0-9_]{0,62}$' THEN
        RAISE EXCEPTION '% %: a source name is a letter, then lowercase letters, digits and underscores (63 at most)',
            p_argument, coalesce(quote_literal(left(p_value, 80)), 'NULL')
            USING ERRCODE = 'invalid_parameter_value',
                  HINT = format('the CLI and the API name a source SYSTEM/TABLE: for example %L',
                                coalesce(nullif(left(trim(BOTH '_' FROM regexp_replace(
                                    lower(coalesce(p_value, '')), '[^a-z0-9]+', '_', 'g')), 63), ''),
                                    'vet_clinic'));
    END IF;
    RETURN p_value;
END $$;
