-- The alert outbox as `atlas-orch alerts` and the API's alert routes read and change it
-- (listener/admin/alerts.py).

-- name: list
SELECT alert_id, created_at, route, kind, severity, source_system, source_table,
       cardinality(anomaly_keys) AS anomalies, status, attempts, next_attempt_at,
       last_http_status, last_error, delivered_at
FROM trapper.orchestrator_alert_outbox
WHERE ($1::text IS NULL OR status = $1)
ORDER BY created_at DESC
LIMIT $2;

-- name: show
SELECT * FROM trapper.orchestrator_alert_outbox WHERE alert_id = $1;

-- name: redeliver
UPDATE trapper.orchestrator_alert_outbox
SET status = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL
WHERE alert_id = $1
RETURNING alert_id, status;
