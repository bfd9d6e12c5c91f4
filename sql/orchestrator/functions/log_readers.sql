-- The decision log's readers that find rows by record or entity with no time bound (the
-- record timeline, provenance; listener/admin/read.sql). The log is partitioned by month
-- (018_partitioned_log.sql): planning such a query afresh weighs every month's indexes, which
-- costs ten times the index probes themselves at three years of months (docs/benchmarks.md,
-- bench/log_scale.py). PL/pgSQL keeps each query's plan for the session, and the SET clause
-- makes it the generic one (the same index probe in every month), so it is planned once per
-- connection, in one round trip.

CREATE OR REPLACE FUNCTION trapper.orchestrator_entity_log(p_entities uuid[])
RETURNS SETOF trapper.orchestrator_job_log
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY
        SELECT * FROM trapper.orchestrator_job_log
        WHERE target_entity_id = ANY (p_entities)
        ORDER BY log_seq;
END $$;

CREATE OR REPLACE FUNCTION trapper.orchestrator_record_log(
    p_system text, p_table text, p_record text, p_staged bigint[])
RETURNS SETOF trapper.orchestrator_job_log
LANGUAGE plpgsql STABLE
SET plan_cache_mode = force_generic_plan AS $$
BEGIN
    RETURN QUERY
        SELECT * FROM trapper.orchestrator_job_log
        WHERE (source_system = p_system AND source_table = p_table
               AND source_record_id = p_record)
           OR staged_record_id = ANY (p_staged)
        ORDER BY log_seq;
END $$;
