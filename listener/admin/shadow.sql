-- The shadow layer's switches and the listener's checkpoint, as `atlas-orch shadow` reads and
-- sets them (listener/admin/shadow.py).

-- name: status
SELECT consumer, horizon::text AS horizon, cardinality(done) AS done_above_horizon,
       events_consumed, log_tallied_upto, holder, updated_at,
       trapper.orchestrator_events_pending(consumer) AS events_pending
FROM trapper.orchestrator_listener_checkpoint
ORDER BY consumer;

-- name: settings
SELECT key, value, description FROM trapper.orchestrator_settings ORDER BY key;

-- name: set_notify
UPDATE trapper.orchestrator_settings SET value = $1 WHERE key = 'notify';

-- name: set_capture
SELECT trapper.orchestrator_set_capture($1, $2);

-- name: shadow_failures
SELECT count(*) AS failures, max(failed_at) AS last_failure,
       (SELECT message FROM trapper.orchestrator_shadow_failures
        ORDER BY failure_id DESC LIMIT 1) AS last_message
FROM trapper.orchestrator_shadow_failures;
