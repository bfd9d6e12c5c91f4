-- Queries of the event listener (listener/events/service.py). The work itself is server-side, in
-- sql/triggers_shadow/003_listener.sql; these are the calls and the listener's own checks.

-- name: try_lead
SELECT pg_try_advisory_lock($1);

-- name: unlead
SELECT pg_advisory_unlock($1);

-- name: claim_checkpoint
INSERT INTO trapper.orchestrator_listener_checkpoint (consumer, holder)
VALUES ($1, $2)
ON CONFLICT (consumer) DO UPDATE SET holder = excluded.holder, updated_at = now();

-- name: holder
SELECT holder FROM trapper.orchestrator_listener_checkpoint WHERE consumer = $1;

-- name: consume
SELECT events, log_rows, pass_complete, horizon::text AS horizon
FROM trapper.orchestrator_consume_events($1, $2);

-- name: tally
SELECT tallied, upto, pending FROM trapper.orchestrator_tally_log($1);

-- name: capture
SELECT events, pending FROM trapper.orchestrator_capture($1);

-- name: housekeep
-- The event table's retention, the months ahead of the job log and the event table, and the
-- log's retention (docs/operations.md, "Partitions and retention"), as the orchestrator's
-- owner; cheap when there is nothing to do.
SELECT pruned, made, log_dropped FROM trapper.orchestrator_housekeep($1);

-- name: listening
-- Is this session still listening? Through a transaction-mode pooler the answer comes from
-- whichever server session ran the query, which is how the listener detects one.
SELECT count(*) FROM pg_listening_channels() AS c WHERE c = $1;

-- name: queue_usage
SELECT pg_notification_queue_usage()::float8,
       coalesce((SELECT value::float8 FROM trapper.orchestrator_settings
                 WHERE key = 'notify_queue_alert'), 0.5);

-- name: raise_anomaly
SELECT trapper.orchestrator_raise_anomaly($1, $2, $3, $4, $5, $6, $7, $8::jsonb);

-- name: resolve_anomaly
SELECT trapper.orchestrator_resolve_anomaly($1, $2);

-- name: detect_anomalies
SELECT anomaly_key, kind, change FROM trapper.orchestrator_detect_anomalies();

-- name: change_mark
-- Whether anything the listener reads may have been written since it last looked: the sum of
-- what has been drawn from the sequences of the event table and of the tables poll capture
-- reads (docs/events.md, "NOTIFY is only a wake-up"). A value drawn is seen before its
-- transaction commits, so a change starts the listener's short steps, not one step.
SELECT trapper.orchestrator_drawn('trapper.orchestrator_events', 'event_id')
     + trapper.orchestrator_drawn('trapper.staged_records', 'id')
     + trapper.orchestrator_drawn('trapper.data_engine_match_decisions', 'decision_id')
     + trapper.orchestrator_drawn('trapper.entity_sources', 'entity_source_id');
