-- ORCH_013: a source is checked where its row is written, whoever writes it (the HTTP API,
-- SQL, a future CLI), as rules are (002, contract 5 of DESIGN.md):
--   - a required field must be one of the source's expected fields: orchestrator_fields()
--     silently dropped one that was not, so it was never checked (issue 15);
--   - its processor must be registered: a row of trapper.data_engine_processors, or
--     'orchestrator_router' (004), which creates that row itself. Any text was stored before,
--     and the source's jobs then dead-lettered with "no active processor".
-- Rows written before this migration are left as they are; an update that keeps the
-- processor is not checked again.

CREATE OR REPLACE FUNCTION trapper.orchestrator_fields(p_fields text[], p_required text[] DEFAULT '{}')
RETURNS jsonb
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE
    v_unknown text[] := ARRAY(SELECT r FROM unnest(p_required) AS r
                              WHERE r IS NULL OR NOT r = ANY (coalesce(p_fields, '{}')));
BEGIN
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

CREATE FUNCTION trapper.orchestrator_check_source() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.processor_name IS NOT NULL
       AND (TG_OP = 'INSERT' OR NEW.processor_name IS DISTINCT FROM OLD.processor_name)
       AND NEW.processor_name <> 'orchestrator_router'
       AND NOT EXISTS (SELECT 1 FROM trapper.data_engine_processors p
                       WHERE p.processor_name = NEW.processor_name) THEN
        RAISE EXCEPTION 'processor "%" is not registered (trapper.data_engine_processors)',
            NEW.processor_name USING ERRCODE = 'invalid_parameter_value',
            HINT = 'name a registered processor, or orchestrator_router to route the source '
                   'with its rules';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER orchestrator_sources_check
    BEFORE INSERT OR UPDATE OF processor_name ON trapper.orchestrator_sources
    FOR EACH ROW EXECUTE FUNCTION trapper.orchestrator_check_source();
