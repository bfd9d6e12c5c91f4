-- The listener's housekeeping tick (docs/operations.md, "Partitions and retention"): the
-- event table's retention, the months ahead of the decision log and the event table, and the
-- log's retention. Making, detaching and dropping a partition is DDL, which PostgreSQL lets
-- only the table's owner do; the listener may run as a role that only reads and writes rows
-- (docs/operations.md, "Roles and rights"), so this one function runs as its owner, the role
-- that installed the orchestrator (SECURITY DEFINER). It takes no table and no SQL: a caller
-- can only make it do what the settings already say the tick does. Its search_path is fixed
-- (pg_temp last), so no object a caller makes can stand in for one it names; everything it
-- reads is schema-qualified.
CREATE OR REPLACE FUNCTION trapper.orchestrator_housekeep(p_consumer text)
RETURNS TABLE (pruned bigint, made int, log_dropped bigint)
LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
BEGIN
    pruned := trapper.orchestrator_prune_events(p_consumer);
    made := trapper.orchestrator_ensure_partitions('trapper.orchestrator_job_log')
            + trapper.orchestrator_ensure_partitions('trapper.orchestrator_events');
    log_dropped := trapper.orchestrator_prune_log();
    RETURN NEXT;
END $$;
