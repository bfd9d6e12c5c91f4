-- Queries of the alert sender (webhooks/sender.py): the outbox's plan, lease and outcomes.

-- name: plan
SELECT alert_id, route, kind, source_system, source_table, anomalies
FROM trapper.orchestrator_plan_alerts($1::jsonb);

-- name: claim
SELECT * FROM trapper.orchestrator_claim_alerts($1, $2);

-- name: delivered
UPDATE trapper.orchestrator_alert_outbox
SET status = 'delivered', delivered_at = now(), last_http_status = $2, last_error = NULL
WHERE alert_id = $1;

-- name: retry
UPDATE trapper.orchestrator_alert_outbox
SET next_attempt_at = now() + make_interval(secs => $2), last_http_status = $3,
    last_error = $4
WHERE alert_id = $1;

-- name: throttled
-- Slack said 429: wait as long as it asks; the attempt does not count against the message.
UPDATE trapper.orchestrator_alert_outbox
SET next_attempt_at = now() + make_interval(secs => $2), attempts = attempts - 1,
    last_http_status = 429, last_error = $3
WHERE alert_id = $1;

-- name: deferred
-- Not sent: its webhook gave no answer to an earlier message of this round (a timeout, a
-- refused connection). It waits $2 seconds with the note $3; the claim's attempt is given
-- back, since no request was made.
UPDATE trapper.orchestrator_alert_outbox
SET next_attempt_at = now() + make_interval(secs => $2), attempts = attempts - 1,
    last_error = $3
WHERE alert_id = $1;

-- name: dead
UPDATE trapper.orchestrator_alert_outbox
SET status = 'dead', last_http_status = $2, last_error = $3
WHERE alert_id = $1;

-- name: max_attempts
SELECT trapper.orchestrator_health_setting('alert_max_attempts')::int;

-- name: unroutable
-- Messages for a route that is no longer configured wait; say so instead of dropping them.
UPDATE trapper.orchestrator_alert_outbox
SET next_attempt_at = now() + interval '5 minutes', attempts = attempts - 1,
    last_error = 'no route named ' || route || ' is configured; waiting'
WHERE alert_id = $1;
