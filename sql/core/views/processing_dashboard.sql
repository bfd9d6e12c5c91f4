-- The real system's processing dashboard (the orchestrator's health views sit beside it and
-- never replace it): per source table, what was staged, worked, is waiting or failed, and its
-- jobs; and the live entity counts a load ends with (merged entities not counted twice).

CREATE OR REPLACE VIEW trapper.v_processing_dashboard AS
SELECT s.source_system, s.source_table,
       count(*) AS staged,
       count(*) FILTER (WHERE s.is_processed) AS processed,
       count(*) FILTER (WHERE NOT s.is_processed AND s.processing_error IS NULL) AS pending,
       count(*) FILTER (WHERE s.processing_error IS NOT NULL) AS failed,
       max(s.created_at) AS last_staged_at,
       max(s.processed_at) AS last_processed_at,
       (SELECT count(*) FROM trapper.processing_jobs j
        WHERE j.source_system = s.source_system AND j.source_table = s.source_table
          AND j.status IN ('queued', 'processing', 'retry_pending')) AS jobs_open,
       (SELECT count(*) FROM trapper.processing_jobs j
        WHERE j.source_system = s.source_system AND j.source_table = s.source_table
          AND j.status = 'dead_letter') AS jobs_dead_letter
FROM trapper.staged_records s
GROUP BY s.source_system, s.source_table;

CREATE OR REPLACE VIEW trapper.v_entity_counts AS
SELECT 'person' AS entity_type,
       count(*) FILTER (WHERE merged_into_person_id IS NULL) AS live,
       count(*) FILTER (WHERE merged_into_person_id IS NOT NULL) AS merged
FROM trapper.sot_people
UNION ALL
SELECT 'place', count(*) FILTER (WHERE merged_into_place_id IS NULL),
       count(*) FILTER (WHERE merged_into_place_id IS NOT NULL)
FROM trapper.places
UNION ALL
SELECT 'cat', count(*) FILTER (WHERE merged_into_cat_id IS NULL),
       count(*) FILTER (WHERE merged_into_cat_id IS NOT NULL)
FROM trapper.sot_cats;
