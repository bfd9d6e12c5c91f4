-- trapper.address_parts, remembered (019_address_parts_memo.sql says why and how an entry
-- stays good).

-- The version of address_parts in force: its catalog row's xmin, new whenever
-- functions/normalizers.sql is applied again (CREATE OR REPLACE writes the row anew), and
-- the vocabulary's, new whenever an edit of the address tables makes it again (every row
-- at once: trapper.address_vocabulary_refresh).
CREATE OR REPLACE FUNCTION trapper.address_parser_version() RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT (SELECT p.xmin::text FROM pg_catalog.pg_proc p
            WHERE p.oid = 'trapper.address_parts(text)'::regprocedure)
           || ':' || coalesce((SELECT v.xmin::text FROM trapper.address_vocabulary v LIMIT 1),
                              '')
$$;

-- address_parts(p_raw), from the memo when this version read the same text before; else
-- read, and remembered (texts longer than an address stay out: the key's index has a limit).
CREATE OR REPLACE FUNCTION trapper.address_parts_memoized(p_raw text) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_parser text;
    v_parts jsonb;
    v_found boolean := false;
BEGIN
    IF p_raw IS NULL OR length(p_raw) > 300 THEN
        RETURN trapper.address_parts(p_raw);
    END IF;
    -- The version read once a transaction (a catalog and a table lookup, ~24 µs: a fifth of
    -- what a first load's memo costs a call); an upgrade of the parser within a transaction
    -- that also reads addresses is not a case worth the lookup on every call.
    v_parser := nullif(current_setting('trapper.address_parser_version', true), '');
    IF v_parser IS NULL THEN
        v_parser := trapper.address_parser_version();
        PERFORM set_config('trapper.address_parser_version', v_parser, true);
    END IF;
    SELECT m.parts, true INTO v_parts, v_found
    FROM trapper.address_parts_memo m
    WHERE m.raw = p_raw AND m.parser = v_parser
    LIMIT 1;
    IF v_found THEN
        RETURN v_parts;
    END IF;
    v_parts := trapper.address_parts(p_raw);
    INSERT INTO trapper.address_parts_memo (raw, writer, parser, parts)
    VALUES (p_raw, pg_backend_pid(), v_parser, v_parts)
    ON CONFLICT (raw, writer) DO UPDATE SET parser = EXCLUDED.parser, parts = EXCLUDED.parts;
    RETURN v_parts;
END $$;
