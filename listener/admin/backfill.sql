-- Queries of the backfill (listener/admin/backfill.py; orchestrator migration 016 says what
-- each stream is). Every row written has the shape the listener's enrichment gives the same
-- event (sql/triggers_shadow/functions/events.sql, orchestrator_consume_events), with
-- decision_details.backfilled = true, no event_id, and the time the host recorded.

-- name: installed
SELECT to_regclass('trapper.orchestrator_backfill') IS NOT NULL
   AND to_regclass('trapper.orchestrator_events') IS NOT NULL;

-- name: begin
INSERT INTO trapper.orchestrator_backfill (stream)
SELECT s FROM unnest(ARRAY['staged', 'decisions', 'entities', 'jobs', 'merges']) AS s
ON CONFLICT DO NOTHING;

-- name: streams
SELECT stream, upto, done_upto, rows_written, started_at, finished_at
FROM trapper.orchestrator_backfill ORDER BY stream;

-- name: lock_stream
SELECT stream, upto, done_upto, finished_at FROM trapper.orchestrator_backfill
WHERE stream = $1 FOR UPDATE;

-- name: set_upto
UPDATE trapper.orchestrator_backfill
SET upto = $2, started_at = coalesce(started_at, now()),
    finished_at = CASE WHEN done_upto >= $2 THEN now() END, updated_at = now()
WHERE stream = $1;

-- name: plan_staged
-- Staged rows the shadow layer never saw: below the first one an event or a log row names
-- (the trigger's or the poll's), and below the poll's mark when staged rows are polled.
SELECT least(
    (SELECT coalesce(max(id), 0) FROM trapper.staged_records),
    (SELECT min(staged_polled_upto) FROM trapper.orchestrator_listener_checkpoint),
    (SELECT min((payload ->> 'min_id')::bigint) - 1 FROM trapper.orchestrator_events
     WHERE kind = 'staged'),
    (SELECT min((decision_details ->> 'min_id')::bigint) - 1
     FROM trapper.orchestrator_job_log WHERE action = 'staged' AND event_id IS NOT NULL));

-- name: plan_decisions
SELECT least(
    (SELECT coalesce(max(decision_id), 0) FROM trapper.data_engine_match_decisions),
    (SELECT polled_upto FROM trapper.orchestrator_capture_marks WHERE stream = 'decisions'),
    (SELECT min((payload ->> 'decision_id')::bigint) - 1 FROM trapper.orchestrator_events
     WHERE kind = 'identity_decision'),
    (SELECT min((decision_details ->> 'decision_id')::bigint) - 1
     FROM trapper.orchestrator_job_log
     WHERE action = 'identity_decision' AND event_id IS NOT NULL));

-- name: plan_entities
SELECT least(
    (SELECT coalesce(max(entity_source_id), 0) FROM trapper.entity_sources),
    (SELECT polled_upto FROM trapper.orchestrator_capture_marks WHERE stream = 'entities'),
    (SELECT min(s.entity_source_id) - 1
     FROM trapper.orchestrator_events e
     JOIN trapper.entity_sources s ON s.entity_id = e.entity_ref::uuid AND s.action = 'created'
     WHERE e.kind = 'entity_created'),
    (SELECT min(s.entity_source_id) - 1
     FROM trapper.orchestrator_job_log l
     JOIN trapper.entity_sources s ON s.entity_id = l.target_entity_id AND s.action = 'created'
     WHERE l.action = 'entity_created' AND l.event_id IS NOT NULL));

-- name: remaining_staged
SELECT count(*) FROM trapper.staged_records WHERE id > $1 AND id <= $2;

-- name: remaining_decisions
SELECT count(*) FROM trapper.data_engine_match_decisions
WHERE decision_id > $1 AND decision_id <= $2;

-- name: remaining_entities
SELECT count(*) FROM trapper.entity_sources WHERE entity_source_id > $1 AND entity_source_id <= $2;

-- name: next_staged
-- The end of the next batch: the id of the $3-th row after $1 (at most $2), and how many.
SELECT max(id), count(*) FROM (
    SELECT id FROM trapper.staged_records WHERE id > $1 AND id <= $2 ORDER BY id LIMIT $3) b;

-- name: next_decisions
SELECT max(decision_id), count(*) FROM (
    SELECT decision_id FROM trapper.data_engine_match_decisions
    WHERE decision_id > $1 AND decision_id <= $2 ORDER BY decision_id LIMIT $3) b;

-- name: next_entities
SELECT max(entity_source_id), count(*) FROM (
    SELECT entity_source_id FROM trapper.entity_sources
    WHERE entity_source_id > $1 AND entity_source_id <= $2 ORDER BY entity_source_id
    LIMIT $3) b;

-- name: write_staged
-- As the staged_records trigger writes them: one row per source and ingest run.
INSERT INTO trapper.orchestrator_job_log
    (action, source_system, source_table, decision_reason, decision_details, logged_at)
SELECT 'staged', r.source_system, r.source_table,
       format('%s record(s) staged (ids %s to %s, ingest run %s)', count(*), min(r.id),
              max(r.id), coalesce(r.ingest_run_id::text, '-')),
       jsonb_strip_nulls(jsonb_build_object('count', count(*), 'min_id', min(r.id),
                                            'max_id', max(r.id),
                                            'ingest_run_id', r.ingest_run_id,
                                            'backfilled', true)),
       max(r.created_at)
FROM trapper.staged_records r
WHERE r.id > $1 AND r.id <= $2
GROUP BY r.source_system, r.source_table, r.ingest_run_id
ORDER BY min(r.id);

-- name: write_decisions
INSERT INTO trapper.orchestrator_job_log
    (action, source_system, source_table, source_record_id, staged_record_id,
     target_surface, target_entity_id, decision_reason, decision_details, logged_at)
SELECT 'identity_decision', coalesce(d.source_system, 'atlas'),
       coalesce(d.source_table, 'unknown'), d.source_row_id, d.staged_record_id,
       'sot_people', d.resulting_person_id,
       coalesce(d.decision_type || ': ' || d.decision_reason,
                'identity decision (the decision row is gone)'),
       jsonb_strip_nulls(jsonb_build_object('decision_id', d.decision_id,
                                            'decision_type', d.decision_type,
                                            'score', d.top_candidate_score,
                                            'fs_score', d.fs_score,
                                            'top_candidate_id', d.top_candidate_id,
                                            'household_id', d.household_id,
                                            'backfilled', true)),
       d.created_at
FROM trapper.data_engine_match_decisions d
WHERE d.decision_id > $1 AND d.decision_id <= $2
ORDER BY d.decision_id;

-- name: write_entities
-- Each entity's first created row, as the listener's enrichment picks it.
INSERT INTO trapper.orchestrator_job_log
    (action, source_system, source_table, source_record_id, staged_record_id,
     target_surface, target_entity_id, decision_reason, decision_details, logged_at)
SELECT 'entity_created', s.source_system, s.source_table, s.source_row_id,
       s.staged_record_id,
       CASE s.entity_type WHEN 'person' THEN 'sot_people' WHEN 'place' THEN 'places'
                          ELSE 'sot_cats' END,
       s.entity_id, format('%s created', s.entity_type),
       jsonb_build_object('entity_type', s.entity_type, 'backfilled', true),
       s.created_at
FROM trapper.entity_sources s
WHERE s.entity_source_id > $1 AND s.entity_source_id <= $2
  AND s.action = 'created' AND s.entity_type IN ('person', 'place', 'cat')
ORDER BY s.entity_source_id;

-- name: write_jobs
-- Each job's states as far as its row tells (queued, started, and how it ended; the
-- attempts between are not kept by the host), but none the listener already holds as an
-- event or a log row for that job. The columns a host's jobs may lack (trigger_type,
-- total_records and the counters are the real system's, worker_id and records_failed the
-- engines' own; sql/orchestrator/requires.toml lists the rest) are read through the row as
-- jsonb (o), as the shadow trigger reads them, and are left out where the host has none.
WITH t AS (
    SELECT j.job_id, j.source_system, j.source_table, x.action, x.at, x.reason, x.details
    FROM trapper.processing_jobs j
    CROSS JOIN LATERAL (SELECT to_jsonb(j) AS o) jo
    CROSS JOIN LATERAL (VALUES
        ('job_queued', j.queued_at, 'job queued',
         jsonb_strip_nulls(jsonb_build_object('job_id', j.job_id, 'status', 'queued',
                                              'trigger_type', jo.o -> 'trigger_type',
                                              'total_records', jo.o -> 'total_records'))),
        ('job_started', j.started_at,
         format('job started by %s (attempt %s)', coalesce(jo.o ->> 'worker_id', 'a worker'),
                greatest(j.attempt_count, 1)),
         jsonb_strip_nulls(jsonb_build_object('job_id', j.job_id, 'status', 'processing',
                                              'previous', 'queued',
                                              'attempt', greatest(j.attempt_count, 1),
                                              'worker_id', jo.o -> 'worker_id',
                                              'records_processed', 0,
                                              'records_failed', 0))),
        (CASE WHEN j.status = 'completed' THEN 'job_completed' ELSE 'job_failed' END,
         CASE WHEN j.status IN ('completed', 'failed', 'retry_pending', 'expired',
                                'dead_letter')
              THEN coalesce(j.completed_at, j.heartbeat_at, j.started_at, j.queued_at) END,
         CASE WHEN j.status = 'completed'
              THEN format('job completed: %s processed, %s failed',
                          coalesce(jo.o ->> 'records_processed', '0'),
                          coalesce(jo.o ->> 'records_failed', '0'))
              ELSE format('job %s: %s', j.status,
                          coalesce(left(j.last_error, 500), 'no error recorded')) END,
         jsonb_strip_nulls(jsonb_build_object('job_id', j.job_id, 'status', j.status,
                                              'previous', 'processing',
                                              'attempt', j.attempt_count,
                                              'worker_id', jo.o -> 'worker_id',
                                              'records_processed', jo.o -> 'records_processed',
                                              'records_failed', jo.o -> 'records_failed',
                                              'error', left(j.last_error, 500))))
    ) AS x (action, at, reason, details)
    WHERE x.at IS NOT NULL
)
INSERT INTO trapper.orchestrator_job_log
    (job_id, action, source_system, source_table, decision_reason, decision_details,
     logged_at)
SELECT t.job_id, t.action, t.source_system, t.source_table, t.reason,
       t.details || '{"backfilled": true}', t.at
FROM t
WHERE NOT EXISTS (SELECT 1 FROM trapper.orchestrator_job_log l
                  WHERE l.job_id = t.job_id AND l.action = t.action)
  AND NOT EXISTS (SELECT 1 FROM trapper.orchestrator_events e
                  WHERE e.kind = t.action AND e.record_ref = t.job_id::text)
ORDER BY t.at, t.job_id;

-- name: write_merges
-- Entities merged that the listener holds no event or log row for.
-- When: merged_at, else updated_at, else now (a host may keep neither: requires.toml lists
-- only the ids), read through the row as jsonb.
WITH m0 AS (
    SELECT 'person' AS entity_type, 'sot_people' AS surface, person_id AS id,
           merged_into_person_id AS into_id, to_jsonb(x) AS o
    FROM trapper.sot_people x WHERE merged_into_person_id IS NOT NULL
    UNION ALL
    SELECT 'place', 'places', place_id, merged_into_place_id, to_jsonb(x)
    FROM trapper.places x WHERE merged_into_place_id IS NOT NULL
    UNION ALL
    SELECT 'cat', 'sot_cats', cat_id, merged_into_cat_id, to_jsonb(x)
    FROM trapper.sot_cats x WHERE merged_into_cat_id IS NOT NULL
),
m AS (
    SELECT entity_type, surface, id, into_id,
           coalesce((o ->> 'merged_at')::timestamptz, (o ->> 'updated_at')::timestamptz,
                    now()) AS at
    FROM m0
)
INSERT INTO trapper.orchestrator_job_log
    (action, source_system, source_table, source_record_id, staged_record_id,
     target_surface, target_entity_id, decision_reason, decision_details, logged_at)
SELECT 'entity_merged', coalesce(es.source_system, 'atlas'),
       coalesce(es.source_table, m.surface), es.source_row_id, es.staged_record_id,
       m.surface, m.id, format('%s merged into %s', m.entity_type, m.into_id),
       jsonb_build_object('entity_type', m.entity_type, 'merged_into', m.into_id::text,
                          'backfilled', true),
       m.at
FROM m
LEFT JOIN LATERAL (
    SELECT s.source_system, s.source_table, s.source_row_id, s.staged_record_id
    FROM trapper.entity_sources s
    WHERE s.entity_id = m.id
    ORDER BY s.action <> 'created', s.entity_source_id
    LIMIT 1
) es ON true
WHERE NOT EXISTS (SELECT 1 FROM trapper.orchestrator_job_log l
                  WHERE l.target_entity_id = m.id AND l.action = 'entity_merged')
  AND NOT EXISTS (SELECT 1 FROM trapper.orchestrator_events e
                  WHERE e.kind = 'entity_merged' AND e.entity_ref = m.id::text)
ORDER BY m.at, m.id;

-- name: advance
UPDATE trapper.orchestrator_backfill
SET done_upto = $2, rows_written = rows_written + $3, updated_at = now(),
    started_at = coalesce(started_at, now()),
    finished_at = CASE WHEN $2 >= upto THEN now() END
WHERE stream = $1;

-- name: finish
UPDATE trapper.orchestrator_backfill
SET rows_written = rows_written + $2, started_at = coalesce(started_at, now()),
    finished_at = now(), updated_at = now()
WHERE stream = $1;

-- name: backfilled_rows
SELECT count(*) FROM trapper.orchestrator_job_log WHERE decision_details ? 'backfilled';
