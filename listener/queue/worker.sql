-- Queries of the worker (listener/queue/worker.py).

-- name: claim
SELECT job_id, source_system, source_table, attempt_count
FROM trapper.claim_jobs($1, $2);

-- name: work
SELECT job_id, status, processed, failed, remaining, error
FROM trapper.work_jobs($1::uuid[], $2, $3);

-- name: others_working
-- Whether another worker holds a running job (a table this worker might share).
SELECT EXISTS (SELECT 1 FROM trapper.processing_jobs
               WHERE status = 'processing' AND worker_id IS DISTINCT FROM $1);

-- name: heartbeat
SELECT trapper.heartbeat_jobs($1, $2::uuid[]);

-- name: release
SELECT trapper.release_jobs($1, $2::uuid[]);

-- name: settings
SELECT key, value FROM trapper.processing_settings;

-- name: has_linking
SELECT to_regprocedure('trapper.run_all_entity_linking_json()') IS NOT NULL;

-- name: run_linking
SELECT trapper.run_all_entity_linking_json();

-- name: queue_counts
SELECT status, count(*) AS jobs FROM trapper.processing_jobs GROUP BY status ORDER BY status;

-- name: has_orchestrator_claim
SELECT to_regprocedure('trapper.orchestrator_claim_jobs(text,integer)') IS NOT NULL;

-- name: claim_orchestrated
-- The orchestrator's claim: the same as claim, in dependency order (ORCH_005).
SELECT job_id, source_system, source_table, attempt_count
FROM trapper.orchestrator_claim_jobs($1, $2);

-- name: explain_job
SELECT j.*, p.processor_name, p.processor_function
FROM trapper.processing_jobs j
LEFT JOIN trapper.data_engine_processors p
  ON p.source_system = j.source_system AND p.source_table = j.source_table AND p.is_active
WHERE j.job_id = $1;

-- name: job_blockers
SELECT * FROM trapper.orchestrator_job_blockers($1, $2);

-- name: refresh_statistics
SELECT trapper.refresh_planner_statistics();
