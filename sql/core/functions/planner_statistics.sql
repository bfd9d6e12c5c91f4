-- Planner statistics refreshed during a bulk load.

-- Fresh planner statistics for the tables a bulk load grows. PL/pgSQL keeps the plans it
-- made when these tables were nearly empty; new statistics make it plan again. The worker
-- calls this every processing_settings.analyze_every_records records.
CREATE OR REPLACE FUNCTION trapper.refresh_planner_statistics() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
    ANALYZE trapper.staged_records, trapper.processing_jobs, trapper.sot_people,
            trapper.person_identifiers, trapper.places, trapper.sot_cats,
            trapper.cat_identifiers, trapper.entity_sources, trapper.person_place,
            trapper.person_cat, trapper.cat_place, trapper.sot_appointments,
            trapper.data_engine_match_decisions, trapper.sot_requests;
END $$;
