-- Every content version of a source record (v_staged_record_versions).

-- Every content version of a source record, numbered in the order it was staged.
CREATE OR REPLACE VIEW trapper.v_staged_record_versions AS
SELECT sr.id AS staged_record_id,
       sr.source_system, sr.source_table, sr.source_row_id,
       row_number() OVER w AS version,
       sr.id = max(sr.id) OVER (PARTITION BY sr.source_system, sr.source_table, sr.source_row_id)
           AS is_latest,
       sr.row_hash, sr.ingest_run_id, sr.source_file, sr.is_processed, sr.processing_error,
       sr.created_at
FROM trapper.staged_records sr
WINDOW w AS (PARTITION BY sr.source_system, sr.source_table, sr.source_row_id ORDER BY sr.id);
