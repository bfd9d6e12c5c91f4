-- ORCH_003, data health: the thresholds, the anomalies, and the three views of the seed
-- (v_orchestrator_health, v_data_why_missing, v_routing_anomalies), on real columns only.
-- The seed's first drafts read columns that do not exist (sot_cats.name,
-- staged_records.staged_at) and counted every failure ever as a "24h" failure.

CREATE TABLE trapper.orchestrator_health_windows (
    ingest_frequency TEXT PRIMARY KEY
        CHECK (ingest_frequency IN ('realtime', 'daily', 'weekly', 'monthly', 'on_demand')),
    stale_after      INTERVAL,          -- NULL: never stale (on demand)
    description      TEXT NOT NULL
);
INSERT INTO trapper.orchestrator_health_windows VALUES
    ('realtime', '2 hours', 'a realtime source quiet for 2 hours has stopped'),
    ('daily', '2 days', 'a daily sync that missed one day is late, two is stale'),
    ('weekly', '10 days', 'a weekly export gets three days of grace'),
    ('monthly', '40 days', 'a monthly export gets ten days of grace'),
    ('on_demand', NULL, 'loaded when someone has data; never stale');

CREATE TABLE trapper.orchestrator_health_settings (
    key         TEXT PRIMARY KEY,
    value       NUMERIC NOT NULL,
    description TEXT NOT NULL
);
INSERT INTO trapper.orchestrator_health_settings VALUES
    ('backlog_rows', 1000, 'unprocessed staged rows above which a source is backlogged'),
    ('backlog_min_age_minutes', 30,
     'a backlog anomaly needs its oldest unprocessed row to be at least this old'),
    ('processing_behind_hours', 6,
     'oldest unprocessed staged row older than this: processing_behind'),
    ('why_missing_unprocessed_hours', 1,
     'staged rows waiting longer than this appear in v_data_why_missing'),
    ('error_burst_count', 10, 'errors and failed jobs in the last hour that make a burst'),
    ('volume_z', 3, 'a batch this many standard deviations from its history is anomalous'),
    ('volume_min_history', 4, 'same-weekday batches needed before volume alerts'),
    ('volume_history', 8, 'trailing same-weekday batches compared'),
    ('implausible_colony_size', 100, 'a colony estimate above this is implausible'),
    ('implausible_window_days', 7, 'implausible values of the last N days keep the anomaly open'),
    ('many_identifiers', 5, 'a person with more identifiers than this may be a shared account'),
    ('stale_staged_days', 7, 'unprocessed staged rows older than this are stale'),
    ('stale_staged_min_rows', 10, 'how many such rows a source needs to be listed'),
    ('stuck_job_minutes', 30, 'a processing job without a heartbeat this long is stuck'),
    ('drift_sample_rows', 500, 'rows of the newest batch read for schema drift');

CREATE FUNCTION trapper.orchestrator_health_setting(p_key text) RETURNS numeric
LANGUAGE sql STABLE AS $$
    SELECT value FROM trapper.orchestrator_health_settings WHERE key = p_key
$$;

-- Per source and hour, what happened (folded from the job log by the listener, exactly once):
-- the health views' 24-hour figures and the page's sparklines.
CREATE TABLE trapper.orchestrator_source_hourly (
    source_system     TEXT NOT NULL,
    source_table      TEXT NOT NULL,
    hour              TIMESTAMPTZ NOT NULL,
    staged            BIGINT NOT NULL DEFAULT 0,
    routed            BIGINT NOT NULL DEFAULT 0,
    skipped           BIGINT NOT NULL DEFAULT 0,
    rejected          BIGINT NOT NULL DEFAULT 0,
    errors            BIGINT NOT NULL DEFAULT 0,
    anomalies         BIGINT NOT NULL DEFAULT 0,
    entities_created  BIGINT NOT NULL DEFAULT 0,
    jobs_completed    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (source_system, source_table, hour)
);
CREATE INDEX orchestrator_source_hourly_hour_idx ON trapper.orchestrator_source_hourly (hour);

-- Anomalies: one row per stable key, reopened when it comes back. Raising and resolving
-- write anomaly_flagged / anomaly_resolved job-log rows, so they sit in every timeline.
CREATE TABLE trapper.orchestrator_anomalies (
    anomaly_key    TEXT PRIMARY KEY,
    kind           TEXT NOT NULL,
    severity       TEXT NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    source_system  TEXT NOT NULL,
    source_table   TEXT NOT NULL,
    summary        TEXT NOT NULL,
    suggested_fix  TEXT,
    details        JSONB NOT NULL DEFAULT '{}',
    first_seen     TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_seen      TIMESTAMPTZ NOT NULL DEFAULT now(),
    resolved_at    TIMESTAMPTZ,
    occurrences    INT NOT NULL DEFAULT 1
);
CREATE INDEX orchestrator_anomalies_open_idx
    ON trapper.orchestrator_anomalies (source_system, source_table) WHERE resolved_at IS NULL;

CREATE FUNCTION trapper.orchestrator_raise_anomaly(
    p_key text, p_kind text, p_severity text, p_system text, p_table text, p_summary text,
    p_fix text DEFAULT NULL, p_details jsonb DEFAULT '{}'
) RETURNS boolean   -- true when the anomaly is new or reopened
LANGUAGE plpgsql AS $$
DECLARE
    a trapper.orchestrator_anomalies;
BEGIN
    SELECT * INTO a FROM trapper.orchestrator_anomalies WHERE anomaly_key = p_key FOR UPDATE;
    IF FOUND AND a.resolved_at IS NULL THEN
        UPDATE trapper.orchestrator_anomalies
        SET last_seen = now(), severity = p_severity, summary = p_summary,
            suggested_fix = p_fix, details = p_details
        WHERE anomaly_key = p_key;
        RETURN false;
    END IF;
    INSERT INTO trapper.orchestrator_anomalies AS x
        (anomaly_key, kind, severity, source_system, source_table, summary, suggested_fix,
         details)
    VALUES (p_key, p_kind, p_severity, p_system, p_table, p_summary, p_fix, p_details)
    ON CONFLICT (anomaly_key) DO UPDATE
        SET first_seen = now(), last_seen = now(), resolved_at = NULL,
            occurrences = x.occurrences + 1, severity = excluded.severity,
            summary = excluded.summary, suggested_fix = excluded.suggested_fix,
            details = excluded.details;
    INSERT INTO trapper.orchestrator_job_log
        (action, source_system, source_table, decision_reason, decision_details)
    VALUES ('anomaly_flagged', p_system, p_table, p_summary,
            jsonb_build_object('anomaly_key', p_key, 'kind', p_kind,
                               'severity', p_severity, 'suggested_fix', p_fix)
            || p_details);
    RETURN true;
END $$;

CREATE FUNCTION trapper.orchestrator_resolve_anomaly(p_key text, p_reason text)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    a trapper.orchestrator_anomalies;
BEGIN
    UPDATE trapper.orchestrator_anomalies SET resolved_at = now()
    WHERE anomaly_key = p_key AND resolved_at IS NULL
    RETURNING * INTO a;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    INSERT INTO trapper.orchestrator_job_log
        (action, source_system, source_table, decision_reason, decision_details)
    VALUES ('anomaly_resolved', a.source_system, a.source_table, p_reason,
            jsonb_build_object('anomaly_key', a.anomaly_key, 'kind', a.kind,
                               'first_seen', a.first_seen));
    RETURN true;
END $$;

-- The newest ingest per source, from ingest_runs (so health does not depend on the listener
-- having run) and from the counters the listener keeps.
CREATE VIEW trapper.v_orchestrator_last_ingest AS
SELECT os.source_system, os.source_table,
       greatest(os.last_ingest_at, r.started_at) AS last_ingest_at,
       r.ingest_run_id, r.rows_read, r.rows_new, r.rows_rejected, r.source_file
FROM trapper.orchestrator_sources os
LEFT JOIN LATERAL (
    SELECT ir.ingest_run_id, ir.started_at, ir.rows_read, ir.rows_new, ir.rows_rejected,
           ir.source_file
    FROM trapper.ingest_runs ir
    WHERE ir.source_system = os.source_system AND ir.source_table = os.source_table
    ORDER BY ir.started_at DESC
    LIMIT 1
) r ON true;

CREATE VIEW trapper.v_orchestrator_health AS
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
           os.ingest_frequency, li.last_ingest_at, os.last_ingest_record_count,
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
           (SELECT count(*) FROM trapper.orchestrator_anomalies a
            WHERE a.source_system = os.source_system AND a.source_table = os.source_table
              AND a.resolved_at IS NULL) AS open_anomalies,
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
    WHERE os.is_active
)
SELECT b.source_system, b.source_table, b.display_name, b.ingest_method, b.ingest_frequency,
       b.last_ingest_at, b.last_ingest_record_count, b.total_records_ingested,
       b.total_entities_created, b.hours_since_last_ingest, b.queued_count,
       b.processing_count, b.completed_24h, b.failed_24h, b.dead_lettered,
       b.unprocessed_staged, b.oldest_unprocessed_at, b.staged_24h, b.routed_24h,
       b.errors_24h, b.open_anomalies,
       CASE
           WHEN b.last_ingest_at IS NULL THEN 'inactive'
           WHEN b.stale_after IS NOT NULL AND b.last_ingest_at < now() - b.stale_after
               THEN 'stale'
           WHEN b.failed_24h > 0 OR b.dead_lettered > 0 OR b.errors_24h > 0 THEN 'errors'
           WHEN b.unprocessed_staged > trapper.orchestrator_health_setting('backlog_rows')
               THEN 'backlogged'
           WHEN b.oldest_unprocessed_at < now() - make_interval(hours =>
                    trapper.orchestrator_health_setting('processing_behind_hours')::int)
               THEN 'processing_behind'
           ELSE 'healthy'
       END AS health_status
FROM base b;

-- "Why is this data missing?" One row per gap, with what it means, what to do, where the
-- entity came from, and the decision that caused it where the router logged one.
CREATE VIEW trapper.v_data_why_missing AS
WITH gaps AS (
    SELECT 'person_no_identifiers' AS issue_type, 'person' AS entity_type,
           sp.person_id AS entity_id,
           coalesce(sp.display_name, concat_ws(' ', sp.first_name, sp.last_name))
               AS entity_label,
           'Person has no email or phone: the next record about them cannot find them and '
           'will create a duplicate' AS explanation,
           'Look up the source record (source_record_id) for an email or phone, add it with '
           'trapper.add_person_identifier(), or merge the person by hand' AS suggested_fix
    FROM trapper.sot_people sp
    WHERE sp.merged_into_person_id IS NULL
      AND NOT EXISTS (SELECT 1 FROM trapper.person_identifiers pi
                      WHERE pi.person_id = sp.person_id)
    UNION ALL
    SELECT 'cat_no_microchip', 'cat', sc.cat_id, coalesce(sc.display_name, 'Unnamed cat'),
           'Cat has no microchip: the same cat may appear as several records',
           'Check the clinic record for a microchip scan and add it with '
           'trapper.add_cat_identifier()'
    FROM trapper.sot_cats sc
    WHERE sc.merged_into_cat_id IS NULL
      AND NOT EXISTS (SELECT 1 FROM trapper.cat_identifiers ci
                      WHERE ci.cat_id = sc.cat_id AND ci.id_type = 'microchip')
    UNION ALL
    SELECT 'place_no_geometry', 'place', p.place_id,
           coalesce(p.formatted_address, p.display_name, 'Unknown place'),
           'Place has no coordinates: it is invisible on the map',
           'Re-geocode the address; if the geocoder found nothing, correct the address'
    FROM trapper.places p
    WHERE p.merged_into_place_id IS NULL AND p.location IS NULL
    UNION ALL
    SELECT 'person_merge_chain', 'person', sp.person_id,
           coalesce(sp.display_name, concat_ws(' ', sp.first_name, sp.last_name)),
           'Person is merged into a person who is merged too: data falls into a black hole',
           'Point it at trapper.get_canonical_person_id() and flatten the chain'
    FROM trapper.sot_people sp
    JOIN trapper.sot_people t ON t.person_id = sp.merged_into_person_id
    WHERE t.merged_into_person_id IS NOT NULL
    UNION ALL
    SELECT 'place_merge_chain', 'place', p.place_id,
           coalesce(p.formatted_address, p.display_name),
           'Place is merged into a place that is merged too: data falls into a black hole',
           'Point it at trapper.get_canonical_place_id() and flatten the chain'
    FROM trapper.places p
    JOIN trapper.places t ON t.place_id = p.merged_into_place_id
    WHERE t.merged_into_place_id IS NOT NULL
    UNION ALL
    SELECT 'cat_no_place', 'cat', sc.cat_id, coalesce(sc.display_name, 'Unnamed cat'),
           'Cat is linked to no place: it counts toward no colony',
           'Run entity linking (trapper.run_all_entity_linking()); if it stays, the source '
           'record named no usable address'
    FROM trapper.sot_cats sc
    WHERE sc.merged_into_cat_id IS NULL
      AND NOT EXISTS (SELECT 1 FROM trapper.cat_place cp WHERE cp.cat_id = sc.cat_id)
    UNION ALL
    SELECT 'request_no_trapper', 'request', r.request_id,
           coalesce(r.summary, r.source_system || ' ' || r.source_record_id),
           format('Open request (%s) has no trapper assigned', r.status),
           'Assign a trapper in the source system; linking picks it up on the next sync'
    FROM trapper.sot_requests r
    WHERE r.status NOT IN ('completed', 'cancelled', 'redirected')
      AND NOT EXISTS (SELECT 1 FROM trapper.request_trappers rt
                      WHERE rt.request_id = r.request_id)
)
SELECT g.issue_type, g.entity_type, g.entity_id::text AS entity_id, g.entity_label,
       es.source_system, es.source_table, es.source_row_id AS source_record_id,
       es.staged_record_id, g.explanation, g.suggested_fix,
       d.routing_rule_id AS decision_rule_id, d.decision_reason, d.logged_at AS decided_at
FROM gaps g
LEFT JOIN LATERAL (
    SELECT s.source_system, s.source_table, s.source_row_id, s.staged_record_id
    FROM trapper.entity_sources s
    WHERE s.entity_id = g.entity_id
    ORDER BY s.action <> 'created', s.entity_source_id
    LIMIT 1
) es ON true
LEFT JOIN LATERAL (
    SELECT l.routing_rule_id, l.decision_reason, l.logged_at
    FROM trapper.orchestrator_job_log l
    WHERE l.staged_record_id = es.staged_record_id
      AND l.action IN ('skipped', 'rejected', 'error')
    ORDER BY l.log_seq
    LIMIT 1
) d ON es.staged_record_id IS NOT NULL
UNION ALL
-- records that never became data: waiting too long, failed, rejected at ingest, or stopped by
-- the router
SELECT 'staged_unprocessed', 'staged_record', sr.id::text,
       sr.source_system || '/' || sr.source_table || ' ' || coalesce(sr.source_row_id, ''),
       sr.source_system, sr.source_table, sr.source_row_id, sr.id,
       format('Staged %s and not processed yet', to_char(sr.created_at, 'YYYY-MM-DD HH24:MI')),
       'Run atlas-orch process (or check that a worker is running and the source has an '
       'active processor)', NULL, NULL, NULL
FROM trapper.staged_records sr
WHERE NOT sr.is_processed AND sr.processing_error IS NULL
  AND sr.created_at < now() - make_interval(hours =>
          trapper.orchestrator_health_setting('why_missing_unprocessed_hours')::int)
UNION ALL
SELECT 'staged_failed', 'staged_record', sr.id::text,
       sr.source_system || '/' || sr.source_table || ' ' || coalesce(sr.source_row_id, ''),
       sr.source_system, sr.source_table, sr.source_row_id, sr.id,
       'Processing failed: ' || sr.processing_error,
       'Fix the cause (see atlas-orch replay), then requeue the record', NULL, NULL, NULL
FROM trapper.staged_records sr
WHERE NOT sr.is_processed AND sr.processing_error IS NOT NULL
UNION ALL
SELECT 'ingest_rejected', 'ingest_reject', ir.reject_id::text,
       coalesce(ir.source_file, '?') || ' row ' || coalesce(ir.row_number::text, '?'),
       ir.source_system, ir.source_table, ir.source_row_id, NULL,
       format('Rejected at ingest (%s): %s', ir.reason_code, ir.reason),
       'Correct the row in the source export and ingest it again; the raw bytes are in '
       'trapper.ingest_rejects.raw', NULL, NULL, ir.created_at
FROM trapper.ingest_rejects ir
UNION ALL
SELECT 'routing_' || l.action, 'staged_record', coalesce(l.staged_record_id::text, ''),
       l.source_system || '/' || l.source_table || ' ' || coalesce(l.source_record_id, ''),
       l.source_system, l.source_table, l.source_record_id, l.staged_record_id,
       'The router ' || l.action || ' it: ' || coalesce(l.decision_reason, ''),
       CASE l.action WHEN 'error' THEN 'Read the error, fix the rule or the data, replay it'
                     ELSE 'Check the rule (atlas-orch rules check) or the source data' END,
       l.routing_rule_id, l.decision_reason, l.logged_at
FROM trapper.orchestrator_job_log l
WHERE l.action IN ('rejected', 'error')
   OR (l.action = 'skipped' AND NOT coalesce(l.decision_details ? 'field', false)
       AND l.event_id IS NULL);

-- "What looks wrong?" Technically valid data that is suspicious, and every open anomaly.
CREATE VIEW trapper.v_routing_anomalies AS
SELECT 'implausible_colony_size' AS anomaly_type, pce.place_id::text AS entity_id,
       coalesce(p.formatted_address, p.display_name) AS entity_label,
       format('Colony estimate of %s cats at a single address', pce.total_cats) AS description,
       pce.source_system AS source, pce.created_at AS detected_at
FROM trapper.place_colony_estimates pce
JOIN trapper.places p ON p.place_id = pce.place_id
WHERE pce.total_cats > trapper.orchestrator_health_setting('implausible_colony_size')
UNION ALL
SELECT 'many_identifiers', pi.person_id::text,
       (SELECT display_name FROM trapper.sot_people WHERE person_id = pi.person_id),
       format('Person has %s identifiers: possibly a shared account', count(*)),
       'person_identifiers', max(pi.created_at)
FROM trapper.person_identifiers pi
GROUP BY pi.person_id
HAVING count(*) > trapper.orchestrator_health_setting('many_identifiers')
UNION ALL
SELECT 'stale_staged_records', sr.source_system || '/' || sr.source_table,
       count(*)::text || ' records unprocessed for '
           || trapper.orchestrator_health_setting('stale_staged_days') || '+ days',
       'Staged records may need manual processing or pipeline investigation',
       sr.source_system, max(sr.created_at)
FROM trapper.staged_records sr
WHERE NOT sr.is_processed AND sr.processing_error IS NULL   -- waiting, not failed: the work index
  AND sr.created_at < now() - make_interval(days =>
          trapper.orchestrator_health_setting('stale_staged_days')::int)
GROUP BY sr.source_system, sr.source_table
HAVING count(*) > trapper.orchestrator_health_setting('stale_staged_min_rows')
UNION ALL
SELECT a.kind, a.anomaly_key, a.source_system || '/' || a.source_table, a.summary,
       a.source_system, a.last_seen
FROM trapper.orchestrator_anomalies a
WHERE a.resolved_at IS NULL;
