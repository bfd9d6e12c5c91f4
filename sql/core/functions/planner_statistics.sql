-- Planner statistics refreshed during a bulk load.

-- Fresh planner statistics for the tables a bulk load grows. PL/pgSQL keeps the plans it
-- made when these tables were nearly empty; new statistics make it plan again. The worker
-- calls this every processing_settings.analyze_every_records records.
-- Only a table that changed by a tenth since its last ANALYZE (by anyone: the other
-- worker, autovacuum) is read again: two workers reach the mark together, and the second
-- one's ANALYZE found nothing new. A small sample is enough for what the load's plans turn
-- on (a table's size, how selective an equality on a key is): the 14 tables took 7.0 s at
-- the default target at atlas scale (5-7% of the load), 0.9 s at 10 (docs/benchmarks.md,
-- "Identity"); autovacuum's next ANALYZE of a table writes its full statistics again.
-- ANALYZE is the table owner's: the function runs as the role that installed the engines
-- (SECURITY DEFINER, a fixed search_path), so a worker whose role only reads and writes rows
-- (docs/operations.md, "Roles and rights") still gets fresh plans; as itself it was skipped
-- with a WARNING per table. It takes no argument: any caller can only do this.
CREATE OR REPLACE FUNCTION trapper.refresh_planner_statistics() RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET default_statistics_target = 10
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
    t regclass;
BEGIN
    FOR t IN
        SELECT s.relid::regclass
        FROM pg_stat_user_tables s
        WHERE s.relid = ANY (ARRAY[
                  'trapper.staged_records', 'trapper.processing_jobs', 'trapper.sot_people',
                  'trapper.person_identifiers', 'trapper.places', 'trapper.sot_cats',
                  'trapper.cat_identifiers', 'trapper.entity_sources', 'trapper.person_place',
                  'trapper.person_cat', 'trapper.cat_place', 'trapper.sot_appointments',
                  'trapper.data_engine_match_decisions', 'trapper.sot_requests']::regclass[])
          AND s.n_mod_since_analyze >= greatest(100, 0.1 * s.n_live_tup)
        ORDER BY s.relid
    LOOP
        EXECUTE format('ANALYZE %s', t);
    END LOOP;
END $$;
