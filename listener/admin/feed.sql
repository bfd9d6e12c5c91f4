-- The job log as the live feed reads it (listener/admin/feed.py; the feed itself is
-- listener/web/feed.py).

-- name: writers
-- the log_seq sequence's value, then the transactions writing the log and their backends
-- (none looked for when the sequence is not past $1): the feed's watermark moves with these
-- (listener/web/feed.py, Watermark; sql/triggers_shadow/functions/watermarks.sql)
SELECT seq, vxids, pids
FROM trapper.orchestrator_writers(
    'trapper.orchestrator_job_log',
    pg_get_serial_sequence('trapper.orchestrator_job_log', 'log_seq')::regclass, $1);

-- name: rows
SELECT log_seq, logged_at, action, source_system, source_table, source_record_id,
       staged_record_id, job_id, target_surface, target_entity_id, routing_rule_id,
       rule_version, decision_reason, decision_details, event_id
FROM trapper.orchestrator_job_log
WHERE log_seq > $1 AND log_seq <= $2
ORDER BY log_seq
LIMIT $3;

-- name: newest_log_seq
-- the newest log_seq ever drawn (committed or not): a feed cursor above it can never be
-- reached, so the feed refuses it instead of waiting for ever
SELECT trapper.orchestrator_drawn('trapper.orchestrator_job_log', 'log_seq');
