-- A source is checked where its row is written, whoever writes it (the HTTP API, SQL, the
-- CLI), as rules are (docs/ARCHITECTURE.md, contract 5): its names must be ones the CLI and
-- the API can address (orchestrator_require_source_name, functions/arguments.sql); its processor must be registered, a
-- row of trapper.data_engine_processors, or 'orchestrator_router' (functions/router.sql),
-- which creates that row itself; its ingest_method and ingest_frequency are refused naming the
-- values allowed (functions/arguments.sql). Any text was stored before, and the source's jobs then
-- dead-lettered with "no active processor". Rows written before the trigger existed are left
-- as they are; an update that keeps the processor is not checked again.

CREATE OR REPLACE FUNCTION trapper.orchestrator_check_source() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- the names first: a source the CLI cannot name (SYSTEM/TABLE) is never ingested
    IF TG_OP = 'INSERT' OR NEW.source_system IS DISTINCT FROM OLD.source_system
       OR NEW.source_table IS DISTINCT FROM OLD.source_table THEN
        PERFORM trapper.orchestrator_require_source_name('source_system', NEW.source_system);
        PERFORM trapper.orchestrator_require_source_name('source_table', NEW.source_table);
    END IF;
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
    -- before the table's CHECKs, which quote the whole row and not the values allowed
    PERFORM trapper.orchestrator_require_one_of(
        'ingest_method', NEW.ingest_method,
        trapper.orchestrator_check_values('trapper.orchestrator_sources', 'ingest_method'));
    IF NEW.ingest_frequency IS NOT NULL THEN   -- none: never stale, like on_demand
        PERFORM trapper.orchestrator_require_one_of(
            'ingest_frequency', NEW.ingest_frequency,
            trapper.orchestrator_check_values('trapper.orchestrator_sources',
                                              'ingest_frequency'));
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER orchestrator_sources_check
    BEFORE INSERT OR UPDATE OF source_system, source_table, processor_name, ingest_method,
                               ingest_frequency
    ON trapper.orchestrator_sources
    FOR EACH ROW EXECUTE FUNCTION trapper.orchestrator_check_source();
