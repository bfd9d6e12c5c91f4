-- Replay support: run one staged record through its source's active processor (the router
-- for routed sources). `atlas-orch replay --reprocess` calls it inside a transaction it rolls
-- back; `--apply` commits and logs a `replayed` row.

CREATE OR REPLACE FUNCTION trapper.orchestrator_run_processor(p_staged_record_id bigint) RETURNS jsonb
LANGUAGE plpgsql AS $$
DECLARE
    v_fn text;
    v_proc regprocedure;
    v_out jsonb;
BEGIN
    SELECT p.processor_function INTO v_fn
    FROM trapper.staged_records s
    JOIN trapper.data_engine_processors p
      ON p.source_system = s.source_system AND p.source_table = s.source_table AND p.is_active
    WHERE s.id = p_staged_record_id;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'staged record % does not exist or its source has no active processor',
            p_staged_record_id USING ERRCODE = 'no_data_found';
    END IF;
    -- the name comes from the processor registry, whose check trigger only admits real
    -- (bigint) -> jsonb functions; it is resolved through regprocedure, never spliced raw
    v_proc := to_regprocedure(v_fn || '(bigint)');
    EXECUTE format('SELECT %s($1)', v_proc::regproc) INTO v_out USING p_staged_record_id;
    RETURN jsonb_build_object('processor', v_fn, 'output', v_out);
END $$;
