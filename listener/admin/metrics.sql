-- What /metrics and /api/health/ready read at scrape time (listener/admin/metrics.py).
-- Every query is a small aggregate: a scrape every 15 s must cost the host next to nothing.

-- name: sources
-- Per source, every row the listener has folded into the hourly buckets (never pruned, so
-- the sums only grow: Prometheus counters). Registered sources with no bucket yet show 0.
SELECT coalesce(s.source_system, h.source_system) AS source_system,
       coalesce(s.source_table, h.source_table) AS source_table,
       coalesce(h.staged, 0)::float8 AS staged, coalesce(h.routed, 0)::float8 AS routed,
       coalesce(h.skipped, 0)::float8 AS skipped, coalesce(h.rejected, 0)::float8 AS rejected,
       coalesce(h.errors, 0)::float8 AS errors
FROM trapper.orchestrator_sources s
FULL JOIN (SELECT source_system, source_table, sum(staged) AS staged, sum(routed) AS routed,
                  sum(skipped) AS skipped, sum(rejected) AS rejected, sum(errors) AS errors
           FROM trapper.orchestrator_source_hourly
           GROUP BY source_system, source_table) h
  ON h.source_system = s.source_system AND h.source_table = s.source_table
ORDER BY 1, 2;

-- name: queue
-- Jobs by state, every state of processing_jobs' CHECK listed (0 when none).
SELECT st.status, count(j.job_id)::float8 AS jobs
FROM unnest(ARRAY['queued', 'processing', 'linking', 'completed', 'failed', 'retry_pending',
                  'expired', 'dead_letter']) AS st(status)
LEFT JOIN trapper.processing_jobs j ON j.status = st.status
GROUP BY st.status
ORDER BY st.status;

-- name: oldest_queued
-- The oldest job waiting to be claimed (queued or due for retry), in seconds; 0 when none.
SELECT coalesce(extract(epoch FROM now() - min(queued_at)), 0)::float8
FROM trapper.processing_jobs
WHERE status IN ('queued', 'retry_pending');

-- name: stuck
-- The queue's own definition of a stuck job (trapper.reclaim_stale_jobs): processing, its
-- heartbeat older than stale_after_s (docs/processing.md, "Heartbeats"), unless $1 (seconds)
-- overrides it.
SELECT count(*)::int AS jobs,
       coalesce($1::float8, trapper.processing_setting('stale_after_s')::float8) AS after_s,
       (array_agg(j.source_system || '/' || j.source_table || ' job ' || j.job_id
                  || ' (worker ' || coalesce(j.worker_id, '?') || ')'
                  ORDER BY coalesce(j.heartbeat_at, j.started_at)))[1] AS oldest
FROM trapper.processing_jobs j
WHERE j.status = 'processing'
  AND coalesce(j.heartbeat_at, j.started_at) < now() - make_interval(
          secs => coalesce($1::float8, trapper.processing_setting('stale_after_s')::float8));

-- name: listener
-- Per consumer: events not yet consumed (above its horizon and not among the transactions it
-- already read, as trapper.orchestrator_events_pending counts them) and how long the oldest
-- of them has waited. Before any listener ran there is no checkpoint: every event is behind
-- the default consumer.
SELECT c.consumer, count(e.event_id)::float8 AS behind,
       coalesce(extract(epoch FROM now() - min(e.created_at)), 0)::float8 AS lag_s
FROM (SELECT consumer, horizon, done FROM trapper.orchestrator_listener_checkpoint
      UNION ALL
      SELECT 'listener', '0'::xid8, '{}'::xid8[]
      WHERE NOT EXISTS (SELECT 1 FROM trapper.orchestrator_listener_checkpoint)) c
LEFT JOIN trapper.orchestrator_events e ON e.xid >= c.horizon AND e.xid <> ALL (c.done)
GROUP BY c.consumer
ORDER BY c.consumer;

-- name: leader
-- Does a session of this database hold the listener's leader lock ($1, a bigint advisory
-- key: pg_locks splits it into classid, the high 32 bits, and objid, the low ones)?
SELECT EXISTS (
    SELECT 1 FROM pg_locks l
    WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.classid::bigint = ($1::bigint >> 32)
      AND l.objid::bigint = ($1::bigint & 4294967295));

-- name: alerts
SELECT st.status, count(o.alert_id)::float8 AS alerts
FROM unnest(ARRAY['pending', 'delivered', 'dead']) AS st(status)
LEFT JOIN trapper.orchestrator_alert_outbox o ON o.status = st.status
GROUP BY st.status
ORDER BY st.status;

-- name: alerts_waiting
-- Pending alerts whose last attempt failed (a 5xx, a 429, a timeout, a refused connection, a
-- route no longer configured: last_error says which), and the age of the oldest pending one.
-- A sender failing without end, or stopped, shows here long before anything dead-letters.
SELECT (count(*) FILTER (WHERE last_error IS NOT NULL))::float8 AS failing,
       coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8 AS oldest_s
FROM trapper.orchestrator_alert_outbox
WHERE status = 'pending';

-- name: delivery_buckets
-- Delivered alerts by latency (planned to delivered, seconds), cumulative at each bound $1.
SELECT b.le, count(d.latency)::float8 AS alerts
FROM unnest($1::float8[]) AS b(le)
LEFT JOIN (SELECT extract(epoch FROM delivered_at - created_at)::float8 AS latency
           FROM trapper.orchestrator_alert_outbox
           WHERE status = 'delivered' AND delivered_at IS NOT NULL) d ON d.latency <= b.le
GROUP BY b.le
ORDER BY b.le;

-- name: delivery_total
SELECT count(*)::float8 AS alerts,
       coalesce(sum(extract(epoch FROM delivered_at - created_at)), 0)::float8 AS seconds
FROM trapper.orchestrator_alert_outbox
WHERE status = 'delivered' AND delivered_at IS NOT NULL;

-- name: dead_alerts
SELECT count(*)::int AS alerts,
       (array_agg(alert_id::text || ' (' || source_system || '/' || source_table || ')'
                  ORDER BY created_at DESC))[1] AS newest
FROM trapper.orchestrator_alert_outbox
WHERE status = 'dead';

-- name: anomalies
-- Open anomalies by kind and severity; every pair ever seen is listed, so a series that
-- clears goes to 0 rather than vanishing.
SELECT kind, severity, (count(*) FILTER (WHERE resolved_at IS NULL))::float8 AS open
FROM trapper.orchestrator_anomalies
GROUP BY kind, severity
ORDER BY kind, severity;

-- name: ingest_runs
SELECT st.status, count(r.ingest_run_id)::float8 AS runs
FROM unnest(ARRAY['running', 'completed', 'failed']) AS st(status)
LEFT JOIN trapper.ingest_runs r ON r.status = st.status
GROUP BY st.status
ORDER BY st.status;

-- name: source_health
-- Each active source's status, as `atlas-orch health` shows it (a few milliseconds at ten
-- times the Atlas volumes: bench/health.py).
SELECT source_system, source_table, health_status
FROM trapper.v_orchestrator_health
ORDER BY source_system, source_table;

-- name: replica_readable
-- Readiness with a read replica (serve --read-url): the GET routes read through it, so it
-- must answer, and hold the log they read.
SELECT to_regclass('trapper.orchestrator_job_log') IS NOT NULL AS readable;
