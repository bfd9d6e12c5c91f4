-- ORCH_003, data health per source: the newest ingest, jobs, backlog, errors, the worst open
-- anomaly and a status.

-- The newest completed ingest per source, from ingest_runs (so health does not depend on the
-- listener having run) and from the counters the listener keeps. A failed or abandoned run is
-- no ingest: it raises ingest_failed instead (functions/anomaly_detection.sql).
CREATE OR REPLACE VIEW trapper.v_orchestrator_last_ingest AS
SELECT os.source_system, os.source_table,
       greatest(os.last_ingest_at, r.started_at) AS last_ingest_at,
       r.ingest_run_id, r.rows_read, r.rows_new, r.rows_rejected, r.source_file,
       -- the newest completed run's own size, when it is the newest ingest: a re-send that
       -- staged nothing new is an ingest of 0 new records, which the listener's counters
       -- (moved only by staged rows) never see; they kept the run before's size beside the
       -- re-send's time
       CASE WHEN r.started_at IS NOT NULL
                 AND (os.last_ingest_at IS NULL OR r.started_at >= os.last_ingest_at)
            THEN r.rows_new ELSE os.last_ingest_record_count END AS last_ingest_record_count
FROM trapper.orchestrator_sources os
LEFT JOIN LATERAL (
    SELECT ir.ingest_run_id, ir.started_at, ir.rows_read, ir.rows_new, ir.rows_rejected,
           ir.source_file
    FROM trapper.ingest_runs ir
    WHERE ir.source_system = os.source_system AND ir.source_table = os.source_table
      AND ir.status = 'completed'
    ORDER BY ir.started_at DESC
    LIMIT 1
) r ON true;

CREATE OR REPLACE VIEW trapper.v_orchestrator_health AS
WITH jobs AS (
    SELECT source_system, source_table,
           count(*) FILTER (WHERE status IN ('queued', 'retry_pending')) AS queued_count,
           count(*) FILTER (WHERE status IN ('processing', 'linking')) AS processing_count,
           count(*) FILTER (WHERE status = 'completed'
                              AND completed_at > now() - interval '24 hours') AS completed_24h,
           count(*) FILTER (WHERE status IN ('failed', 'dead_letter', 'retry_pending')
                              AND coalesce(completed_at, heartbeat_at, started_at, queued_at)
                                  > now() - interval '24 hours') AS failed_24h,
           count(*) FILTER (WHERE status = 'dead_letter') AS dead_lettered
    FROM trapper.processing_jobs
    WHERE status <> 'completed' OR completed_at > now() - interval '24 hours'
    GROUP BY 1, 2
),
hourly AS (
    SELECT source_system, source_table, sum(staged) AS staged_24h, sum(routed) AS routed_24h,
           sum(errors) AS errors_24h
    FROM trapper.orchestrator_source_hourly
    WHERE hour > now() - interval '24 hours'
    GROUP BY 1, 2
),
base AS (
    SELECT os.source_system, os.source_table, os.display_name, os.ingest_method,
           os.ingest_frequency, li.last_ingest_at, li.last_ingest_record_count,
           os.total_records_ingested, os.total_entities_created,
           round((extract(epoch FROM now() - li.last_ingest_at) / 3600)::numeric, 1)
               AS hours_since_last_ingest,
           coalesce(j.queued_count, 0) AS queued_count,
           coalesce(j.processing_count, 0) AS processing_count,
           coalesce(j.completed_24h, 0) AS completed_24h,
           coalesce(j.failed_24h, 0) AS failed_24h,
           coalesce(j.dead_lettered, 0) AS dead_lettered,
           u.unprocessed_staged, u.oldest_unprocessed_at,
           coalesce(h.staged_24h, 0) AS staged_24h, coalesce(h.routed_24h, 0) AS routed_24h,
           coalesce(h.errors_24h, 0) AS errors_24h,
           oa.open_anomalies, oa.worst_anomaly, oa.worst_anomaly_severity,
           w.stale_after
    FROM trapper.orchestrator_sources os
    JOIN trapper.v_orchestrator_last_ingest li USING (source_system, source_table)
    LEFT JOIN jobs j USING (source_system, source_table)
    LEFT JOIN hourly h USING (source_system, source_table)
    LEFT JOIN trapper.orchestrator_health_windows w USING (ingest_frequency)
    CROSS JOIN LATERAL (
        SELECT count(*) AS unprocessed_staged, min(sr.created_at) AS oldest_unprocessed_at
        FROM trapper.staged_records sr
        WHERE sr.source_system = os.source_system AND sr.source_table = os.source_table
          AND NOT sr.is_processed AND sr.processing_error IS NULL
    ) u
    -- the source's open anomalies, their count and the most severe (the newest of equals):
    -- one probe of the partial index orchestrator_anomalies_open_idx per source, however
    -- long the resolved history
    CROSS JOIN LATERAL (
        SELECT count(*) AS open_anomalies,
               (array_agg(a.kind ORDER BY r.rank DESC, a.last_seen DESC))[1] AS worst_anomaly,
               (array_agg(a.severity ORDER BY r.rank DESC, a.last_seen DESC))[1]
                   AS worst_anomaly_severity
        FROM trapper.orchestrator_anomalies a
        -- the rank of functions/alerts.sql's orchestrator_severity_rank(), which is made
        -- after this view (order.txt)
        CROSS JOIN LATERAL (SELECT CASE a.severity WHEN 'critical' THEN 3
                                                   WHEN 'warning' THEN 2 ELSE 1 END AS rank) r
        WHERE a.source_system = os.source_system AND a.source_table = os.source_table
          AND a.resolved_at IS NULL
    ) oa
    WHERE os.is_active
)
SELECT b.source_system, b.source_table, b.display_name, b.ingest_method, b.ingest_frequency,
       b.last_ingest_at, b.last_ingest_record_count, b.total_records_ingested,
       b.total_entities_created, b.hours_since_last_ingest, b.queued_count,
       b.processing_count, b.completed_24h, b.failed_24h, b.dead_lettered,
       b.unprocessed_staged, b.oldest_unprocessed_at, b.staged_24h, b.routed_24h,
       b.errors_24h, b.open_anomalies,
       CASE
           -- a source that never completed an ingest, with an open warning about it (its
           -- only run failed, say): that is news, where inactive alone says "nothing yet"
           WHEN b.last_ingest_at IS NULL AND b.worst_anomaly_severity IN ('warning', 'critical')
               THEN 'attention'
           WHEN b.last_ingest_at IS NULL THEN 'inactive'
           WHEN b.stale_after IS NOT NULL AND b.last_ingest_at < now() - b.stale_after
               THEN 'stale'
           WHEN b.failed_24h > 0 OR b.dead_lettered > 0 OR b.errors_24h > 0 THEN 'errors'
           WHEN b.unprocessed_staged > trapper.orchestrator_health_setting('backlog_rows')
               THEN 'backlogged'
           WHEN b.oldest_unprocessed_at < now() - make_interval(hours =>
                    trapper.orchestrator_health_setting('processing_behind_hours')::int)
               THEN 'processing_behind'
           -- an open warning or critical anomaly the statuses above do not already say
           -- (schema drift, a batch far from its volume, an implausible value, ...): the
           -- source is not healthy while it stands; worst_anomaly names it
           WHEN b.worst_anomaly_severity IN ('warning', 'critical') THEN 'attention'
           ELSE 'healthy'
       END AS health_status,
       -- after health_status: CREATE OR REPLACE VIEW only adds columns at the end
       b.worst_anomaly, b.worst_anomaly_severity
FROM base b;
