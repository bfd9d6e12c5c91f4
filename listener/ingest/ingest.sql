-- Queries of ingest (listener/ingest/staging.py, listener/ingest/runs.py).

-- name: start_run
-- Creates the run and takes its session advisory lock in one statement (sql/core/011).
SELECT trapper.ingest_begin_run($1, $2, $3, $4, $5, $6);

-- name: release_run
SELECT trapper.ingest_release_run($1);

-- name: has_staging
-- The engines' staging table: without it (an empty database, a database other than Atlas's)
-- no file can go in, and the ingest says so once instead of failing every file.
SELECT to_regclass('trapper.staged_records') IS NOT NULL;

-- name: has_abandon_marker
-- The engines' marker arrived with core 011; a host without it has no runs to judge.
SELECT to_regprocedure('trapper.ingest_mark_abandoned()') IS NOT NULL;

-- name: mark_abandoned
SELECT ingest_run_id, source_system, source_table, source_file, started_at, backend_pid
FROM trapper.ingest_mark_abandoned();

-- name: existing_hashes
-- A join, not "row_hash = ANY(array)": with 20,000 hashes the ANY form became a sequential
-- scan testing every row against the whole array (15 s for one re-ingested file).
-- superseded: the row staged is not its record's newest version (an older export sent after
-- a newer one, or a row edited back): counted a duplicate all the same, and the run says so.
SELECT s.row_hash, s.source_row_id,
       EXISTS (SELECT 1 FROM trapper.staged_records n
               WHERE n.source_system = $1 AND n.source_table = $2
                 AND n.source_row_id = s.source_row_id AND n.id > s.id) AS superseded
FROM unnest($3::text[]) AS h (row_hash)
JOIN trapper.staged_records s
  ON s.source_system = $1 AND s.source_table = $2 AND s.row_hash = h.row_hash;

-- name: open_reject_keys
-- The content keys of the source's rejects no later run has corrected yet (sql/core/040), read
-- before a run stages anything: a row of the run with one of them corrects that reject.
-- A cut-off row's key (cut:) comes with its bytes, which the whole row begins with.
SELECT DISTINCT ON (content_key) content_key,
       CASE WHEN content_key LIKE 'cut:%' THEN raw END AS raw
FROM trapper.ingest_rejects
WHERE source_system = $1 AND source_table = $2 AND corrected_at IS NULL
  AND content_key IS NOT NULL
ORDER BY content_key;

-- name: mark_corrected
-- The open rejects of earlier runs whose rows this run ($3) carries correctly ($4 content
-- keys, $5 the record id each is staged under): corrected by it, in its transaction.
UPDATE trapper.ingest_rejects ir
SET corrected_at = now(), corrected_by_run = $3, corrected_record_id = k.record_id
FROM unnest($4::text[], $5::text[]) AS k (content_key, record_id)
WHERE ir.source_system = $1 AND ir.source_table = $2 AND ir.content_key = k.content_key
  AND ir.corrected_at IS NULL AND ir.ingest_run_id < $3
RETURNING ir.reject_id, ir.ingest_run_id;

-- name: insert_staged_on_conflict
-- The path taken when a concurrent ingest of the same rows won the race for some of them.
INSERT INTO trapper.staged_records
    (source_system, source_table, source_row_id, source_file, ingest_run_id, row_hash, payload)
SELECT $1, $2, r.source_row_id, $3, $4, r.row_hash, r.payload::jsonb
FROM unnest($5::text[], $6::text[], $7::text[]) AS r (source_row_id, row_hash, payload)
ON CONFLICT (source_system, source_table, row_hash) DO NOTHING
RETURNING row_hash;

-- name: finish_run
-- In the staging transaction. The CHECK ingest_runs_accounting holds the equation; this also
-- holds the stored rejects to the count, and refuses a run that is no longer running.
-- No row back means the run must not complete.
UPDATE trapper.ingest_runs
SET rows_read = $2, rows_new = $3, rows_duplicate = $4, rows_rejected = $5, rows_merged = $6,
    status = 'completed', finished_at = now()
WHERE ingest_run_id = $1 AND status = 'running'
  AND $5 = (SELECT count(*) FROM trapper.ingest_rejects WHERE ingest_run_id = $1)
RETURNING ingest_run_id;

-- name: fail_run
-- A completed or abandoned run keeps its state.
UPDATE trapper.ingest_runs
SET status = 'failed', error = $2, finished_at = now()
WHERE ingest_run_id = $1 AND status = 'running'
RETURNING ingest_run_id;

-- name: enqueue
SELECT trapper.enqueue_processing($1, $2, 'ingest', $3::text);

-- name: registry_fields
-- The orchestrator's registry may name a source's id fields and the fields its export has;
-- absent when not installed.
SELECT id_field_candidates,
       ARRAY(SELECT f ->> 'field' FROM jsonb_array_elements(
                 CASE jsonb_typeof(expected_fields) WHEN 'array' THEN expected_fields
                      ELSE '[]' END) f
             WHERE f ->> 'field' IS NOT NULL) AS expected
FROM trapper.orchestrator_sources
WHERE source_system = $1 AND source_table = $2;

-- name: has_processor
-- Whether a processor will work the source table's job (a registered orchestrator_router
-- source has its row here too); without one the job is dead-lettered.
SELECT EXISTS (SELECT 1 FROM trapper.data_engine_processors
               WHERE source_system = $1 AND source_table = $2 AND is_active);

-- name: processed_sources
-- Every source table a processor works, as system/table: the names a mistyped source is
-- compared with.
SELECT source_system || '/' || source_table FROM trapper.data_engine_processors
WHERE is_active;

-- name: record_versions
-- Every staged version of each record id given, newest first: a row with a new hash may
-- still be one of them written another way (listener/ingest/staging.py, _written_otherwise).
-- One probe of staged_records_versions_idx per id.
SELECT s.source_row_id, s.payload::text AS payload
FROM unnest($3::text[]) AS r (source_row_id)
JOIN trapper.staged_records s
  ON s.source_system = $1 AND s.source_table = $2 AND s.source_row_id = r.source_row_id
ORDER BY s.source_row_id, s.id DESC;

-- name: has_staged
-- Whether the source table holds any staged row yet (before this run's own, in its
-- transaction: read before the first batch).
SELECT EXISTS (SELECT 1 FROM trapper.staged_records
               WHERE source_system = $1 AND source_table = $2);
