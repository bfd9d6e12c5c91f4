-- The read side: every question the CLI and the HTTP API answer (listener/admin/read.py).

-- name: lacks_orchestrator
-- What the read routes need that this database lacks (serve --read-url checks its replica at
-- start): empty when the orchestrator's log and health view are there.
SELECT array_remove(ARRAY[
    CASE WHEN to_regclass('trapper.orchestrator_job_log') IS NULL
         THEN 'trapper.orchestrator_job_log' END,
    CASE WHEN to_regclass('trapper.v_orchestrator_health') IS NULL
         THEN 'trapper.v_orchestrator_health' END], NULL) AS missing;

-- name: sources
SELECT os.source_system, os.source_table, os.display_name, os.processor_name,
       os.ingest_method, os.ingest_frequency, os.is_active, os.expected_fields,
       os.id_field_candidates, os.entity_types_produced,
       -- as health tells them: a re-send that staged nothing new is still the last ingest
       -- (the listener's counters move only with staged rows)
       li.last_ingest_at, li.last_ingest_record_count,
       os.total_records_ingested, os.total_entities_created,
       h.health_status
FROM trapper.orchestrator_sources os
JOIN trapper.v_orchestrator_last_ingest li USING (source_system, source_table)
LEFT JOIN trapper.v_orchestrator_health h USING (source_system, source_table)
WHERE ($1::text IS NULL OR os.source_system = $1)
  AND ($2::text IS NULL OR os.source_table = $2)
ORDER BY os.source_system, os.source_table;

-- name: source_known
-- A --source filter names a source the registry lists or the staged records hold (a source
-- staged before it was registered, docs/orchestrator.md); $2 NULL: any table of the system.
SELECT EXISTS (SELECT 1 FROM trapper.orchestrator_sources
               WHERE source_system = $1 AND ($2::text IS NULL OR source_table = $2))
    OR EXISTS (SELECT 1 FROM trapper.staged_records
               WHERE source_system = $1 AND ($2::text IS NULL OR source_table = $2));

-- name: register_source
SELECT trapper.register_source($1, $2, $3, $4, $5, $6, $7,
                               trapper.orchestrator_fields($8, $9), $10, $11);

-- name: rules
SELECT rule_id, source_system, source_table, source_field, source_fields, field_separator,
       target_surface, target_field,
       target_function, routing_type, transform_expression, is_required, skip_if_empty,
       rule_version, is_active, updated_at
FROM trapper.orchestrator_routing_rules
WHERE ($1::text IS NULL OR source_system = $1)
  AND ($2::text IS NULL OR source_table = $2)
ORDER BY source_system, source_table, source_field;

-- name: map_field
SELECT trapper.map_source_field($1, $2, $3, $4, $5, $6, $7, $8, $9, $10);

-- name: health
SELECT * FROM trapper.v_orchestrator_health ORDER BY source_system, source_table;

-- name: hourly
-- the last 24 hours per source, for the sparklines
SELECT source_system, source_table, hour, staged, routed, skipped, rejected, errors,
       anomalies, entities_created
FROM trapper.orchestrator_source_hourly
WHERE hour > now() - interval '24 hours'
ORDER BY source_system, source_table, hour;

-- name: why_missing
SELECT * FROM trapper.v_data_why_missing
WHERE ($1::text IS NULL OR issue_type = $1)
  AND ($2::text IS NULL OR source_system = $2)
  AND ($3::text IS NULL OR source_table = $3)
ORDER BY issue_type, entity_id
LIMIT $4 OFFSET $5;

-- name: why_missing_counts
SELECT issue_type, count(*) AS n FROM trapper.v_data_why_missing
WHERE ($1::text IS NULL OR source_system = $1)
  AND ($2::text IS NULL OR source_table = $2)
GROUP BY issue_type ORDER BY issue_type;

-- name: record_rejects
-- The rows of ingested files rejected as this record: under its id, or with no id and
-- corrected since by a row staged under it (core 040), each with the run that corrected it.
SELECT ir.reject_id, ir.ingest_run_id, ir.source_file, ir.row_number, ir.source_row_id,
       ir.reason_code, ir.reason, ir.created_at AS rejected_at,
       CASE WHEN ir.corrected_at IS NULL THEN 'open' ELSE 'corrected' END AS status,
       ir.corrected_at, ir.corrected_by_run, cr.source_file AS corrected_by_file,
       ir.corrected_record_id
FROM trapper.ingest_rejects ir
LEFT JOIN trapper.ingest_runs cr ON cr.ingest_run_id = ir.corrected_by_run
WHERE ir.source_system = $1 AND ir.source_table = $2
  AND (ir.source_row_id = $3 OR ir.corrected_record_id = $3)
ORDER BY ir.reject_id;

-- name: record_known
-- Whether anything is staged or rejected under this record id as typed (read.as_staged_id).
SELECT EXISTS (SELECT 1 FROM trapper.staged_records
               WHERE source_system = $1 AND source_table = $2 AND source_row_id = $3)
    OR EXISTS (SELECT 1 FROM trapper.ingest_rejects
               WHERE source_system = $1 AND source_table = $2 AND source_row_id = $3);

-- name: record_stands
-- What stands now of a record: its newest staged version, and how many it has.
SELECT s.id AS staged_record_id, s.ingest_run_id, s.source_file, s.created_at AS staged_at,
       s.is_processed, s.processed_at, s.processing_error, count(*) OVER () AS versions
FROM trapper.staged_records s
WHERE s.source_system = $1 AND s.source_table = $2 AND s.source_row_id = $3
ORDER BY s.id DESC
LIMIT 1;

-- name: record_gaps
SELECT * FROM trapper.v_data_why_missing
WHERE source_system = $1 AND source_table = $2 AND source_record_id = $3
ORDER BY issue_type, entity_id;

-- name: anomalies
SELECT anomaly_key, kind, severity, source_system, source_table, summary, suggested_fix,
       details, first_seen, last_seen, resolved_at, occurrences
FROM trapper.orchestrator_anomalies
WHERE ($1::text IS NULL OR source_system = $1)
  AND ($2::text IS NULL OR source_table = $2)
  AND ($3 OR resolved_at IS NULL)
ORDER BY resolved_at IS NOT NULL, last_seen DESC, anomaly_key   -- the key: pages that tile
LIMIT $4 OFFSET $5;

-- name: log
SELECT log_seq, logged_at, action, source_system, source_table, source_record_id,
       staged_record_id, job_id, target_surface, target_entity_id, routing_rule_id,
       rule_version, decision_reason, decision_details, event_id
FROM trapper.orchestrator_job_log
WHERE ($1::text IS NULL OR source_system = $1)
  AND ($2::text IS NULL OR source_table = $2)
  AND ($3::text IS NULL OR source_record_id = $3)
  AND ($4::bigint IS NULL OR staged_record_id = $4)
  AND ($5::uuid IS NULL OR target_entity_id = $5)
  AND ($6::text IS NULL OR action = $6)
  AND ($7::timestamptz IS NULL OR logged_at >= $7)
  AND ($8::timestamptz IS NULL OR logged_at < $8)
  AND log_seq > $9
ORDER BY log_seq
LIMIT $10;

-- name: entity_exists
SELECT CASE $1
    WHEN 'person' THEN EXISTS (SELECT 1 FROM trapper.sot_people WHERE person_id = $2)
    WHEN 'place' THEN EXISTS (SELECT 1 FROM trapper.places WHERE place_id = $2)
    WHEN 'cat' THEN EXISTS (SELECT 1 FROM trapper.sot_cats WHERE cat_id = $2)
    WHEN 'request' THEN EXISTS (SELECT 1 FROM trapper.sot_requests WHERE request_id = $2)
    ELSE false END;

-- name: canonical
SELECT CASE $1
    WHEN 'person' THEN trapper.get_canonical_person_id($2)
    WHEN 'place' THEN trapper.get_canonical_place_id($2)
    WHEN 'cat' THEN trapper.get_canonical_cat_id($2)
    ELSE $2 END;

-- name: entity_sources
SELECT entity_source_id, entity_type, entity_id, source_system, source_table,
       source_row_id AS source_record_id, staged_record_id, action, detail, created_at
FROM trapper.entity_sources
WHERE entity_id = ANY ($1::uuid[])
ORDER BY created_at, entity_source_id;

-- name: merged_from
-- entities merged into this one (the whole tree), so provenance covers what it absorbed
WITH RECURSIVE tree AS (
    SELECT $2::uuid AS id
    UNION
    SELECT x.id FROM tree t
    CROSS JOIN LATERAL (
        SELECT person_id AS id FROM trapper.sot_people
        WHERE $1 = 'person' AND merged_into_person_id = t.id
        UNION ALL
        SELECT place_id FROM trapper.places WHERE $1 = 'place' AND merged_into_place_id = t.id
        UNION ALL
        SELECT cat_id FROM trapper.sot_cats WHERE $1 = 'cat' AND merged_into_cat_id = t.id
    ) x
)
SELECT array_agg(id) FROM tree;

-- name: generic_plans
-- For the readers below that find rows by record or entity with no time bound: a custom plan
-- would be planned over every month of the partitioned log (orchestrator 018), which costs
-- more than running it; the generic plan, the same index probes, is planned once per session.
SET LOCAL plan_cache_mode = force_generic_plan;

-- name: log_by_record
-- The log query for one source record (the API's and the CLI's "what happened to this
-- record"), in a shape whose generic plan probes each month's source index; the time bounds
-- prune months when the plan starts.
SELECT log_seq, logged_at, action, source_system, source_table, source_record_id,
       staged_record_id, job_id, target_surface, target_entity_id, routing_rule_id,
       rule_version, decision_reason, decision_details, event_id
FROM trapper.orchestrator_job_log
WHERE source_system = $1 AND source_table = $2 AND source_record_id = $3
  AND ($4::bigint IS NULL OR staged_record_id = $4)
  AND ($5::uuid IS NULL OR target_entity_id = $5)
  AND ($6::text IS NULL OR action = $6)
  AND logged_at >= coalesce($7::timestamptz, '-infinity')
  AND logged_at < coalesce($8::timestamptz, 'infinity')
  AND log_seq > $9
ORDER BY log_seq
LIMIT $10;

-- name: entity_log
SELECT log_seq, logged_at, action, source_system, source_table, source_record_id,
       staged_record_id, target_surface, target_entity_id, routing_rule_id, rule_version,
       decision_reason, decision_details
FROM trapper.orchestrator_entity_log($1::uuid[])
ORDER BY log_seq;

-- name: record_versions
-- Each version with the fields that differ from the version before (`changed`: field, before,
-- after; a key absent on one side is null there): an edited row and a renamed column are
-- told apart from "version 2" alone (docs/api.md, "Replay").
SELECT v.id AS staged_record_id, v.row_hash, v.ingest_run_id, v.source_file, v.created_at,
       v.is_processed, v.processed_at, v.processing_error,
       CASE WHEN v.prev IS NOT NULL THEN (
           SELECT coalesce(jsonb_agg(jsonb_build_object('field', k, 'before', v.prev -> k,
                                                        'after', v.payload -> k) ORDER BY k),
                           '[]')
           FROM (SELECT jsonb_object_keys(v.payload) UNION SELECT jsonb_object_keys(v.prev))
                AS keys (k)
           WHERE v.prev -> k IS DISTINCT FROM v.payload -> k) END AS changed
FROM (SELECT s.*, lag(s.payload) OVER (ORDER BY s.id) AS prev
      FROM trapper.staged_records s
      WHERE s.source_system = $1 AND s.source_table = $2 AND s.source_row_id = $3) v
ORDER BY v.id;

-- name: record_log
SELECT log_seq, logged_at, job_id, action, target_surface, target_entity_id,
       routing_rule_id, rule_version, decision_reason, decision_details, event_id,
       staged_record_id
FROM trapper.orchestrator_record_log($1, $2, $3, $4::bigint[])
ORDER BY log_seq;

-- name: record_entities
-- merged_into: the survivor of an entity merged since (a review's merge, the engine's place
-- merges), so an answer naming the merged-away id also names the one that stands
SELECT e.entity_type, e.entity_id, e.action, e.created_at,
       nullif(CASE e.entity_type
                  WHEN 'person' THEN trapper.get_canonical_person_id(e.entity_id)
                  WHEN 'place' THEN trapper.get_canonical_place_id(e.entity_id)
                  WHEN 'cat' THEN trapper.get_canonical_cat_id(e.entity_id)
              END, e.entity_id) AS merged_into
FROM (SELECT DISTINCT ON (entity_id) entity_type, entity_id, action, created_at
      FROM trapper.entity_sources
      WHERE source_system = $1 AND source_table = $2 AND source_row_id = $3
      ORDER BY entity_id, created_at) e;

-- name: jobs
SELECT job_id, status, trigger_type, queued_at, started_at, completed_at, attempt_count,
       worker_id, last_error
FROM trapper.processing_jobs
WHERE job_id = ANY ($1::uuid[])
ORDER BY queued_at;

-- name: record_anomalies
-- anomalies of the record's source that were open while its versions were staged
SELECT a.anomaly_key, a.kind, a.severity, a.summary, a.first_seen, a.resolved_at
FROM trapper.orchestrator_anomalies a
WHERE a.source_system = $1 AND a.source_table = $2
  AND EXISTS (SELECT 1 FROM unnest($3::timestamptz[]) t
              WHERE t >= a.first_seen - interval '1 day'
                AND t <= coalesce(a.resolved_at, now()))
ORDER BY a.first_seen;

-- name: anomaly_alerts
SELECT alert_id, kind, status, created_at, delivered_at, anomaly_keys
FROM trapper.orchestrator_alert_outbox
WHERE anomaly_keys && $1::text[]
ORDER BY created_at;

-- name: processor_for
SELECT processor_function FROM trapper.data_engine_processors
WHERE source_system = $1 AND source_table = $2 AND is_active;

-- name: replay_marks
SELECT (SELECT coalesce(max(log_seq), 0) FROM trapper.orchestrator_job_log) AS log_seq,
       (SELECT coalesce(max(decision_id), 0) FROM trapper.data_engine_match_decisions)
           AS decision_id,
       (SELECT coalesce(max(entity_source_id), 0) FROM trapper.entity_sources)
           AS entity_source_id;

-- name: run_processor
SELECT trapper.orchestrator_run_processor($1);

-- name: log_replay
INSERT INTO trapper.orchestrator_job_log
    (action, source_system, source_table, source_record_id, staged_record_id,
     decision_reason, decision_details)
VALUES ('replayed', $1, $2, $3, $4, $5, $6::jsonb)
RETURNING log_seq;

-- name: record_jobs
-- the jobs that processed this record's versions: same source, running when it was processed
SELECT DISTINCT j.job_id
FROM trapper.processing_jobs j, unnest($3::timestamptz[]) AS t (processed_at)
WHERE j.source_system = $1 AND j.source_table = $2
  AND j.started_at <= t.processed_at
  AND t.processed_at <= coalesce(j.completed_at, now());

-- name: queue_remaining
-- jobs not yet done: what Atlas's cron route reports after a budget of work
SELECT count(*) FROM trapper.processing_jobs
WHERE status IN ('queued', 'retry_pending', 'processing');
