-- The HTTP API's own queries (listener/web/app.py); the rest it reads through listener/admin/read.py.

-- name: queue_remaining
SELECT count(*) FROM trapper.processing_jobs
WHERE status IN ('queued', 'retry_pending', 'processing');

-- name: newest_log_seq
-- the newest log_seq ever drawn (committed or not): a feed cursor above it can never be
-- reached, so the feed refuses it instead of waiting for ever
SELECT coalesce(pg_sequence_last_value(
           pg_get_serial_sequence('trapper.orchestrator_job_log', 'log_seq')::regclass), 0);
