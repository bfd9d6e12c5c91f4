-- ORCH_005: a dependency that would close a cycle is refused.

CREATE OR REPLACE FUNCTION trapper.orchestrator_refuse_dependency_cycle() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    v_path text;
BEGIN
    WITH RECURSIVE walk (sys, tbl, path) AS (
        SELECT NEW.depends_on_system, NEW.depends_on_table,
               NEW.source_system || '/' || NEW.source_table || ' -> '
               || NEW.depends_on_system || '/' || NEW.depends_on_table
        UNION
        SELECT d.depends_on_system, d.depends_on_table,
               w.path || ' -> ' || d.depends_on_system || '/' || d.depends_on_table
        FROM walk w
        JOIN trapper.orchestrator_source_dependencies d
          ON d.source_system = w.sys AND d.source_table = w.tbl
        WHERE length(w.path) < 2000
    )
    SELECT path INTO v_path FROM walk
    WHERE sys = NEW.source_system AND tbl = NEW.source_table LIMIT 1;
    IF v_path IS NOT NULL THEN
        RAISE EXCEPTION 'dependency cycle refused: %', v_path
            USING ERRCODE = 'invalid_parameter_value';
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE TRIGGER orchestrator_source_dependencies_acyclic
    BEFORE INSERT OR UPDATE ON trapper.orchestrator_source_dependencies
    FOR EACH ROW EXECUTE FUNCTION trapper.orchestrator_refuse_dependency_cycle();
