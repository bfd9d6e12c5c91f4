-- Sources routed by the router get their row in the host's processor registry.

-- register_source() with processor 'orchestrator_router' routes that table through the
-- router; the registry row it adds to the host's data_engine_processors is removed again
-- by orchestrator_before_uninstall().
CREATE OR REPLACE FUNCTION trapper.orchestrator_sync_router_processors() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.processor_name = 'orchestrator_router' THEN
        INSERT INTO trapper.data_engine_processors
            (processor_name, source_system, source_table, entity_type, processor_function,
             priority, config)
        SELECT 'orchestrator_router:' || NEW.source_system || '/' || NEW.source_table,
               NEW.source_system, NEW.source_table, NEW.entity_types_produced[1],
               'trapper.orchestrator_router', 500, '{"owner": "atlas-orchestrator"}'
        WHERE NOT EXISTS (SELECT 1 FROM trapper.data_engine_processors p
                          WHERE p.source_system = NEW.source_system
                            AND p.source_table = NEW.source_table AND p.is_active);
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER orchestrator_sources_router
    AFTER INSERT OR UPDATE OF processor_name ON trapper.orchestrator_sources
    FOR EACH ROW EXECUTE FUNCTION trapper.orchestrator_sync_router_processors();
