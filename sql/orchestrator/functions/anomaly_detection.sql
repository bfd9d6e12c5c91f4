-- Anomaly detection. Each detector is a set-returning function giving the anomalies that hold
-- now, each with a stable key; orchestrator_detect_anomalies() raises every one of them and
-- resolves the open anomalies of those kinds that no longer hold. The listener runs it on a
-- timer; it is plain SQL, so `SELECT * FROM trapper.orchestrator_detect_anomalies()` works
-- by hand too.

-- A source quiet past its frequency's window (sources that never ingested are 'inactive' in
-- the health view, not silent: there is no rhythm yet to break).
CREATE OR REPLACE FUNCTION trapper.orchestrator_detect_silent()
RETURNS TABLE (anomaly_key text, kind text, severity text, source_system text,
               source_table text, summary text, suggested_fix text, details jsonb)
LANGUAGE sql STABLE AS $$
    SELECT 'silent:' || os.source_system || '/' || os.source_table, 'source_silent',
               'warning', os.source_system, os.source_table,
               format('%s has sent nothing for %s (expected %s)', os.display_name,
                      justify_interval(date_trunc('minute', trapper.orchestrator_now() - li.last_ingest_at)),
                      os.ingest_frequency),
               format('Check the %s export or sync for %s; the last file was %s',
                      os.ingest_method, os.display_name, coalesce(li.source_file, 'unknown')),
               jsonb_build_object('last_ingest_at', li.last_ingest_at,
                                  'stale_after', w.stale_after::text)
    FROM trapper.orchestrator_sources os
    JOIN trapper.v_orchestrator_last_ingest li USING (source_system, source_table)
    JOIN trapper.orchestrator_health_windows w USING (ingest_frequency)
    WHERE os.is_active AND w.stale_after IS NOT NULL
      AND li.last_ingest_at < trapper.orchestrator_now() - w.stale_after
$$;

-- The weekday a batch is compared on: its ISO weekday, Sunday (7) on a listed holiday.
CREATE OR REPLACE FUNCTION trapper.orchestrator_volume_weekday(p_at timestamptz) RETURNS int
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN EXISTS (SELECT 1 FROM trapper.orchestrator_holidays h
                             WHERE h.day = p_at::date)
                THEN 7 ELSE extract(isodow FROM p_at)::int END
$$;

-- How many of its history's standard deviations a batch must be from their mean to be
-- anomalous: volume_z for a history whose spread is known; for one estimated from n batches
-- (volume_small_sample on) the two-sided prediction interval at the same level, Student's t
-- with n - 1 degrees of freedom times sqrt(1 + 1/n). The t quantile comes from the normal
-- one by the Cornish-Fisher expansion (Abramowitz and Stegun 26.7.5; at z = 3 it gives
-- 9.01 for 3 degrees of freedom where the exact quantile is 9.22, 6.58 for 4 (6.62), 4.53
-- for 7 (4.53)):
-- with 5 batches of history a batch must be 7.2 of their deviations away, with 8 of them
-- 4.8, and the threshold nears volume_z as the history grows.
CREATE OR REPLACE FUNCTION trapper.orchestrator_volume_threshold(p_z numeric, p_n bigint)
RETURNS numeric
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN p_n < 2 THEN p_z
                ELSE (p_z + (p_z ^ 3 + p_z) / (4 * v)
                          + (5 * p_z ^ 5 + 16 * p_z ^ 3 + 3 * p_z) / (96 * v ^ 2)
                          + (3 * p_z ^ 7 + 19 * p_z ^ 5 + 17 * p_z ^ 3 - 15 * p_z)
                            / (384 * v ^ 3)
                          + (79 * p_z ^ 9 + 776 * p_z ^ 7 + 1482 * p_z ^ 5 - 1920 * p_z ^ 3
                             - 945 * p_z) / (92160 * v ^ 4))
                     * sqrt(1 + 1.0 / p_n) END
    FROM (SELECT (p_n - 1)::numeric AS v) d
$$;

-- A batch whose size is far from its source's baseline (docs/health-and-alerts.md, "Volume
-- baselines"): the trailing batches of the same weekday (daily sources), of about the same
-- day of the month (monthly ones) or all of them (weekly ones), without the batches of past
-- incidents, and never for a change smaller than the source's floor. A batch accepted as a
-- new normal (orchestrator_accept_volume_levels()) is never flagged again. The details carry
-- the streak: how many consecutive batches the open anomaly has been flagged on.
CREATE OR REPLACE FUNCTION trapper.orchestrator_detect_volume()
RETURNS TABLE (anomaly_key text, kind text, severity text, source_system text,
               source_table text, summary text, suggested_fix text, details jsonb)
LANGUAGE sql STABLE AS $$
    WITH latest AS (
        SELECT DISTINCT ON (ir.source_system, ir.source_table)
               ir.source_system, ir.source_table, ir.ingest_run_id, ir.started_at, ir.rows_read
        FROM trapper.ingest_runs ir
        WHERE ir.status = 'completed'
        ORDER BY ir.source_system, ir.source_table, ir.started_at DESC
    ),
    cadence AS (
        -- configured, else inferred from the median gap between the source's recent runs,
        -- else its ingest_frequency
        SELECT l.*, coalesce(os.volume_seasonality,
                   CASE WHEN g.n >= 3 THEN
                            CASE WHEN g.gap < interval '36 hours' THEN 'weekday'
                                 WHEN g.gap >= interval '12 days' THEN 'day_of_month'
                                 ELSE 'none' END
                        WHEN os.ingest_frequency = 'daily' THEN 'weekday'
                        WHEN os.ingest_frequency = 'monthly' THEN 'day_of_month'
                        ELSE 'none' END) AS seasonality,
               coalesce(os.volume_floor,
                        trapper.orchestrator_health_setting('volume_floor_rows')) AS floor
        FROM latest l
        LEFT JOIN trapper.orchestrator_sources os USING (source_system, source_table)
        CROSS JOIN LATERAL (
            SELECT count(*) AS n,
                   percentile_cont(0.5) WITHIN GROUP (ORDER BY r.gap) AS gap
            FROM (SELECT ir.started_at - lag(ir.started_at) OVER (ORDER BY ir.started_at)
                             AS gap
                  FROM (SELECT started_at FROM trapper.ingest_runs x
                        WHERE x.source_system = l.source_system
                          AND x.source_table = l.source_table AND x.status = 'completed'
                          AND x.started_at <= l.started_at
                        ORDER BY x.started_at DESC LIMIT 9) ir) r
            WHERE r.gap IS NOT NULL
        ) g
    ),
    history AS (
        SELECT l.source_system, l.source_table, l.ingest_run_id, l.rows_read, l.seasonality,
               l.floor, l.started_at, count(h.rows_read) AS n, avg(h.rows_read) AS mean,
               stddev_samp(h.rows_read) AS sd
        FROM cadence l
        LEFT JOIN LATERAL (
            SELECT ir.rows_read FROM trapper.ingest_runs ir
            WHERE ir.source_system = l.source_system AND ir.source_table = l.source_table
              AND ir.status = 'completed' AND ir.ingest_run_id <> l.ingest_run_id
              AND ir.started_at < l.started_at
              AND CASE l.seasonality
                      WHEN 'weekday'
                          THEN trapper.orchestrator_volume_weekday(ir.started_at)
                               = trapper.orchestrator_volume_weekday(l.started_at)
                      WHEN 'day_of_month'
                          THEN abs(extract(day FROM ir.started_at)
                                   - extract(day FROM l.started_at))
                               <= trapper.orchestrator_health_setting(
                                      'volume_day_of_month_slack')
                      ELSE true END
              -- past incidents stay out of the baseline: the runs their anomalies named and
              -- the runs that came while they were open
              -- (but not the runs accepted as a new normal: they are the source's level now)
              AND NOT EXISTS (
                  SELECT 1 FROM trapper.orchestrator_incidents i
                  WHERE i.source_system = l.source_system AND i.source_table = l.source_table
                    AND NOT ir.ingest_run_id = ANY (i.accepted_run_ids)
                    AND (ir.ingest_run_id = ANY (i.ingest_run_ids)
                         OR (ir.started_at >= i.opened_at
                             AND ir.started_at < coalesce(i.resolved_at, 'infinity'))))
            ORDER BY ir.started_at DESC
            LIMIT trapper.orchestrator_health_setting('volume_history')::int
        ) h ON true
        GROUP BY 1, 2, 3, 4, 5, 6, 7
    ),
    streak AS (
        -- the open anomaly's first flagged batch (carried in its details), else this one;
        -- the streak is every completed batch from it to this one: the anomaly stayed open
        -- across them, so each was flagged
        SELECT h.*, f.first_run,
               CASE WHEN coalesce(trapper.orchestrator_health_setting('volume_small_sample'),
                                  0) > 0
                    THEN trapper.orchestrator_volume_threshold(
                             trapper.orchestrator_health_setting('volume_z'), h.n)
                    ELSE trapper.orchestrator_health_setting('volume_z') END AS threshold,
               (SELECT count(*) FROM trapper.ingest_runs x, trapper.ingest_runs fr
                WHERE fr.ingest_run_id = f.first_run
                  AND x.source_system = h.source_system AND x.source_table = h.source_table
                  AND x.status = 'completed'
                  AND x.started_at BETWEEN fr.started_at AND h.started_at) AS streak
        FROM history h
        CROSS JOIN LATERAL (
            SELECT coalesce((SELECT (a.details ->> 'first_ingest_run_id')::bigint
                             FROM trapper.orchestrator_anomalies a
                             WHERE a.anomaly_key = 'volume:' || h.source_system || '/'
                                                   || h.source_table
                               AND a.resolved_at IS NULL),
                            h.ingest_run_id) AS first_run
        ) f
    )
    SELECT 'volume:' || h.source_system || '/' || h.source_table, 'batch_volume', 'warning',
               h.source_system, h.source_table,
               format('Batch of %s rows (ingest run %s) against a usual %s ± %s (%s)',
                      h.rows_read, h.ingest_run_id, round(h.mean), round(coalesce(h.sd, 0)),
                      CASE h.seasonality WHEN 'weekday' THEN 'this weekday'
                                         WHEN 'day_of_month' THEN 'this day of the month'
                                         ELSE 'recent batches' END),
               'Open the file: a truncated or partial export, a filter changed at the source, '
               'or a real surge? Re-export if it is incomplete',
               jsonb_build_object('ingest_run_id', h.ingest_run_id, 'rows', h.rows_read,
                                  'mean', round(h.mean, 1), 'stddev', round(h.sd, 1),
                                  'history', h.n, 'seasonality', h.seasonality,
                                  'floor', h.floor, 'first_ingest_run_id', h.first_run,
                                  'streak', h.streak, 'threshold', round(h.threshold, 2),
                                  'z', CASE WHEN h.sd > 0
                                            THEN round((h.rows_read - h.mean) / h.sd, 2) END)
    FROM streak h
    WHERE h.n >= trapper.orchestrator_health_setting('volume_min_history')
      -- a batch accepted as the new normal is the baseline now, not an anomaly
      AND NOT EXISTS (SELECT 1 FROM trapper.orchestrator_incidents i
                      WHERE i.source_system = h.source_system
                        AND i.source_table = h.source_table
                        AND h.ingest_run_id = ANY (i.accepted_run_ids))
      -- below the floor nothing alerts: ten rows fewer is noise for a small source
      AND abs(h.rows_read - h.mean) >= h.floor
      AND CASE WHEN coalesce(h.sd, 0) > 0
               THEN abs(h.rows_read - h.mean) / h.sd > h.threshold
               -- a perfectly regular history: any change of more than half is far from it
               ELSE abs(h.rows_read - h.mean) > 0.5 * greatest(h.mean, 1) END
$$;

-- Schema drift in a source's newest batch: a required field missing from every sampled row,
-- fields nobody expects that the batch before did not have, or a field whose JSON type
-- changed since the batch before.
CREATE OR REPLACE FUNCTION trapper.orchestrator_batch_fields(p_system text, p_table text, p_run bigint)
RETURNS TABLE (field text, json_type text, n bigint)
LANGUAGE sql STABLE AS $$
    WITH rng AS (
        -- the run's id range, from the staged events the listener logged
        SELECT min((l.decision_details ->> 'min_id')::bigint) AS lo,
               max((l.decision_details ->> 'max_id')::bigint) AS hi
        FROM trapper.orchestrator_job_log l
        WHERE l.source_system = p_system AND l.source_table = p_table
          AND l.source_record_id IS NULL AND l.action = 'staged'
          AND (l.decision_details ->> 'ingest_run_id')::bigint = p_run
    ),
    sample AS (
        SELECT sr.payload FROM trapper.staged_records sr, rng
        WHERE sr.id BETWEEN rng.lo AND rng.hi AND sr.ingest_run_id = p_run
        ORDER BY sr.id
        LIMIT trapper.orchestrator_health_setting('drift_sample_rows')::int
    )
    SELECT k.key, jsonb_typeof(k.value), count(*)
    FROM sample s, jsonb_each(s.payload) k
    WHERE jsonb_typeof(k.value) <> 'null'
    GROUP BY 1, 2
$$;

CREATE OR REPLACE FUNCTION trapper.orchestrator_detect_drift()
RETURNS TABLE (anomaly_key text, kind text, severity text, source_system text,
               source_table text, summary text, suggested_fix text, details jsonb)
LANGUAGE sql STABLE AS $$
    WITH runs AS (
        SELECT os.source_system, os.source_table, os.expected_fields, r.runs
        FROM trapper.orchestrator_sources os
        CROSS JOIN LATERAL (
            SELECT array_agg(ir.ingest_run_id ORDER BY ir.started_at DESC) AS runs
            FROM (SELECT ingest_run_id, started_at FROM trapper.ingest_runs ir
                  WHERE ir.source_system = os.source_system
                    AND ir.source_table = os.source_table
                    AND ir.status = 'completed' AND ir.rows_new > 0
                  ORDER BY started_at DESC LIMIT 2) ir
        ) r
        WHERE os.is_active AND r.runs IS NOT NULL
    ),
    cur AS (
        SELECT r.source_system, r.source_table, r.runs[1] AS run, f.field, f.json_type
        FROM runs r, trapper.orchestrator_batch_fields(r.source_system, r.source_table,
                                                      r.runs[1]) f
    ),
    prev AS (
        SELECT DISTINCT ON (r.source_system, r.source_table, f.field)
               r.source_system, r.source_table, f.field, f.json_type
        FROM runs r, trapper.orchestrator_batch_fields(r.source_system, r.source_table,
                                                      r.runs[2]) f
        WHERE r.runs[2] IS NOT NULL
        ORDER BY r.source_system, r.source_table, f.field, f.n DESC
    ),
    expected AS (
        SELECT r.source_system, r.source_table, e ->> 'field' AS field,
               coalesce((e ->> 'required')::boolean, false) AS required
        FROM runs r, jsonb_array_elements(r.expected_fields) e
        UNION
        -- a composite rule (issue 17) expects each of its parts, none of them required alone;
        -- its columns are read through to_jsonb(): this file is made before 013 adds them
        SELECT rr.source_system, rr.source_table, p.field, rr.is_required AND NOT p.part
        FROM trapper.orchestrator_routing_rules rr
        CROSS JOIN LATERAL (
            SELECT f, true
            FROM jsonb_array_elements_text(
                CASE WHEN jsonb_typeof(to_jsonb(rr) -> 'source_fields') = 'array'
                     THEN to_jsonb(rr) -> 'source_fields' ELSE '[]' END) AS f
            UNION ALL
            SELECT rr.source_field, false
            WHERE jsonb_typeof(to_jsonb(rr) -> 'source_fields') IS DISTINCT FROM 'array'
        ) AS p (field, part)
        WHERE rr.is_active
    ),
    findings AS (
        SELECT r.source_system, r.source_table, r.runs[1] AS run,
               ARRAY(SELECT DISTINCT x.field FROM expected x
                     WHERE x.source_system = r.source_system
                       AND x.source_table = r.source_table AND x.required
                       AND EXISTS (SELECT 1 FROM cur c WHERE c.source_system = r.source_system
                                     AND c.source_table = r.source_table)
                       AND NOT EXISTS (SELECT 1 FROM cur c
                                       WHERE c.source_system = r.source_system
                                         AND c.source_table = r.source_table
                                         AND c.field = x.field)
                     ORDER BY 1) AS missing,
               -- an expected field, not required, that the batch before had and this one
               -- lacks: a renamed column ("Phone" now "Mobile Phone") whose rules now read
               -- nothing; only "new field(s): Mobile Phone" was said, never what it replaced
               ARRAY(SELECT DISTINCT p.field FROM prev p
                     WHERE p.source_system = r.source_system AND p.source_table = r.source_table
                       AND EXISTS (SELECT 1 FROM expected x
                                   WHERE x.source_system = p.source_system
                                     AND x.source_table = p.source_table
                                     AND x.field = p.field AND NOT x.required)
                       AND NOT EXISTS (SELECT 1 FROM cur c
                                       WHERE c.source_system = p.source_system
                                         AND c.source_table = p.source_table
                                         AND c.field = p.field)
                     ORDER BY 1) AS gone,
               ARRAY(SELECT DISTINCT c.field FROM cur c
                     WHERE c.source_system = r.source_system AND c.source_table = r.source_table
                       AND NOT EXISTS (SELECT 1 FROM expected x
                                       WHERE x.source_system = c.source_system
                                         AND x.source_table = c.source_table
                                         AND x.field = c.field)
                       AND c.field NOT LIKE E'\\_%'      -- the ingest's own bookkeeping keys
                       -- drift is change: a field the batch before also had is the export's
                       -- shape, even if the registry does not list it yet
                       AND r.runs[2] IS NOT NULL
                       AND NOT EXISTS (SELECT 1 FROM prev p
                                       WHERE p.source_system = c.source_system
                                         AND p.source_table = c.source_table
                                         AND p.field = c.field)
                     ORDER BY 1) AS unknown,
               ARRAY(SELECT DISTINCT c.field || ': ' || p.json_type || ' -> ' || c.json_type
                     FROM cur c JOIN prev p USING (source_system, source_table, field)
                     WHERE c.source_system = r.source_system AND c.source_table = r.source_table
                       AND c.json_type <> p.json_type
                       AND NOT EXISTS (SELECT 1 FROM cur c2
                                       WHERE c2.source_system = c.source_system
                                         AND c2.source_table = c.source_table
                                         AND c2.field = c.field AND c2.json_type = p.json_type)
                     ORDER BY 1) AS retyped
        FROM runs r
    )
    SELECT 'drift:' || f.source_system || '/' || f.source_table, 'schema_drift',
               CASE WHEN cardinality(f.missing) > 0 THEN 'critical' ELSE 'warning' END,
               f.source_system, f.source_table,
               concat_ws('; ',
                   CASE WHEN cardinality(f.missing) > 0
                        THEN 'required field(s) missing: ' || array_to_string(f.missing, ', ') END,
                   CASE WHEN cardinality(f.gone) > 0
                        THEN 'field(s) gone since the batch before: '
                             || array_to_string(f.gone, ', ') END,
                   CASE WHEN cardinality(f.unknown) > 0
                        THEN 'new field(s): ' || array_to_string(f.unknown, ', ') END,
                   CASE WHEN cardinality(f.retyped) > 0
                        THEN 'type changed: ' || array_to_string(f.retyped, ', ') END)
                   || format(' (ingest run %s)', f.run),
               'The export''s columns changed: update the export at the source, or map the '
               'new fields (trapper.map_source_field) and the expected fields '
               '(trapper.register_source)',
               jsonb_build_object('ingest_run_id', f.run, 'missing', f.missing,
                                  'gone', f.gone, 'unknown', f.unknown, 'retyped', f.retyped)
              
    FROM findings f
    WHERE cardinality(f.missing) + cardinality(f.gone) + cardinality(f.unknown)
          + cardinality(f.retyped) > 0
$$;

-- Errors and failed jobs in the last hour (from the hourly buckets).
CREATE OR REPLACE FUNCTION trapper.orchestrator_detect_errors()
RETURNS TABLE (anomaly_key text, kind text, severity text, source_system text,
               source_table text, summary text, suggested_fix text, details jsonb)
LANGUAGE sql STABLE AS $$
    SELECT 'errors:' || h.source_system || '/' || h.source_table, 'error_burst', 'critical',
               h.source_system, h.source_table,
               format('%s errors and failed jobs in the last hour', sum(h.errors)),
               'Read the errors: atlas-orch log --source ' || h.source_system || '/'
                   || h.source_table || ' --action error; fix the rule or data, then replay',
               jsonb_build_object('errors', sum(h.errors))
    FROM trapper.orchestrator_source_hourly h
    WHERE h.hour >= date_trunc('hour', trapper.orchestrator_now() - interval '1 hour')
    GROUP BY h.source_system, h.source_table
    HAVING sum(h.errors) >= trapper.orchestrator_health_setting('error_burst_count')
$$;

-- Backlog: many unprocessed staged rows, the oldest of them no longer fresh.
CREATE OR REPLACE FUNCTION trapper.orchestrator_detect_backlog()
RETURNS TABLE (anomaly_key text, kind text, severity text, source_system text,
               source_table text, summary text, suggested_fix text, details jsonb)
LANGUAGE sql STABLE AS $$
    SELECT 'backlog:' || os.source_system || '/' || os.source_table, 'backlog', 'warning',
               os.source_system, os.source_table,
               format('%s staged rows waiting, the oldest since %s', u.n,
                      to_char(u.oldest, 'YYYY-MM-DD HH24:MI')),
               'Start or add workers (atlas-orch worker), and check the source''s processor '
               'and its dependencies (atlas-orch jobs explain)',
               jsonb_build_object('unprocessed', u.n, 'oldest', u.oldest)
              
    FROM trapper.orchestrator_sources os
    CROSS JOIN LATERAL (
        SELECT count(*) AS n, min(sr.created_at) AS oldest FROM trapper.staged_records sr
        WHERE sr.source_system = os.source_system AND sr.source_table = os.source_table
          AND NOT sr.is_processed AND sr.processing_error IS NULL
    ) u
    WHERE os.is_active AND u.n > trapper.orchestrator_health_setting('backlog_rows')
      AND u.oldest < trapper.orchestrator_now() - make_interval(mins =>
              trapper.orchestrator_health_setting('backlog_min_age_minutes')::int)
$$;

-- Jobs stuck without a heartbeat, and dead-lettered jobs.
CREATE OR REPLACE FUNCTION trapper.orchestrator_detect_jobs()
RETURNS TABLE (anomaly_key text, kind text, severity text, source_system text,
               source_table text, summary text, suggested_fix text, details jsonb)
LANGUAGE sql STABLE AS $$
    SELECT 'stuck:' || j.source_system || '/' || j.source_table, 'job_stuck', 'warning',
               j.source_system, j.source_table,
               format('%s job(s) processing without a heartbeat for %s minutes or more',
                      count(*), trapper.orchestrator_health_setting('stuck_job_minutes')),
               'The worker holding them died or hangs: check it; trapper.reclaim_stale_jobs() '
               'puts them back',
               jsonb_build_object('jobs', jsonb_agg(j.job_id))
    FROM trapper.processing_jobs j
    WHERE j.status = 'processing'
      AND coalesce(j.heartbeat_at, j.started_at) < trapper.orchestrator_now() - make_interval(mins =>
              trapper.orchestrator_health_setting('stuck_job_minutes')::int)
    GROUP BY j.source_system, j.source_table
    UNION ALL
    SELECT 'dead_letter:' || j.source_system || '/' || j.source_table, 'job_dead_letter',
               'critical', j.source_system, j.source_table,
               format('%s job(s) dead-lettered after their last attempt: %s', count(*),
                      left(max(j.last_error), 300)),
               'Read the error (atlas-orch jobs explain JOB_ID), fix it, then requeue the job',
               jsonb_build_object('jobs', jsonb_agg(j.job_id))
    FROM trapper.processing_jobs j
    WHERE j.status = 'dead_letter'
    GROUP BY j.source_system, j.source_table
$$;

-- Implausible values recently met: colony sizes no single address holds.
CREATE OR REPLACE FUNCTION trapper.orchestrator_detect_implausible()
RETURNS TABLE (anomaly_key text, kind text, severity text, source_system text,
               source_table text, summary text, suggested_fix text, details jsonb)
LANGUAGE sql STABLE AS $$
    SELECT 'implausible:' || s.source_system || '/' || s.source_table,
               'implausible_value', 'warning', s.source_system, s.source_table,
               format('%s colony estimate(s) above %s cats in the last %s days (largest %s)',
                      count(*), trapper.orchestrator_health_setting('implausible_colony_size'),
                      trapper.orchestrator_health_setting('implausible_window_days'),
                      max(pce.total_cats)),
               'Check the source records (v_routing_anomalies lists the places): a typo, or '
               'a count of a whole area entered at one address',
               jsonb_build_object('estimates', jsonb_agg(pce.estimate_id ORDER BY pce.estimate_id))
              
    FROM trapper.place_colony_estimates pce
    -- the estimate's source system maps to the registered source that carries colony counts
    JOIN LATERAL (
        SELECT os.source_system, os.source_table FROM trapper.orchestrator_sources os
        WHERE os.source_system = pce.source_system
        ORDER BY 'place' = ANY (os.entity_types_produced) DESC, os.source_table
        LIMIT 1
    ) s ON true
    WHERE pce.total_cats > trapper.orchestrator_health_setting('implausible_colony_size')
      AND pce.created_at > trapper.orchestrator_now() - make_interval(days =>
              trapper.orchestrator_health_setting('implausible_window_days')::int)
    GROUP BY s.source_system, s.source_table
$$;

-- A failed or abandoned run not yet followed by a completed run of its source: the newest
-- one, with how many there are. Any source, registered or not: the rows are missing either
-- way.
CREATE OR REPLACE FUNCTION trapper.orchestrator_detect_ingest_failed()
RETURNS TABLE (anomaly_key text, kind text, severity text, source_system text,
               source_table text, summary text, suggested_fix text, details jsonb)
LANGUAGE sql STABLE AS $$
    WITH last_ok AS (
        SELECT ir.source_system, ir.source_table, max(ir.started_at) AS started_at
        FROM trapper.ingest_runs ir
        WHERE ir.status = 'completed'
        GROUP BY 1, 2
    ),
    bad AS (
        SELECT ir.ingest_run_id, ir.source_system, ir.source_table, ir.source_file,
               ir.status, ir.error, ir.started_at, ok.started_at AS last_completed_at,
               count(*) OVER w AS runs,
               row_number() OVER (w ORDER BY ir.started_at DESC, ir.ingest_run_id DESC) AS rn
        FROM trapper.ingest_runs ir
        LEFT JOIN last_ok ok USING (source_system, source_table)
        WHERE ir.status IN ('failed', 'abandoned')
          AND (ok.started_at IS NULL OR ir.started_at > ok.started_at)
        WINDOW w AS (PARTITION BY ir.source_system, ir.source_table)
    )
    SELECT 'ingest_failed:' || b.source_system || '/' || b.source_table, 'ingest_failed',
           'critical', b.source_system, b.source_table,
           format('Ingest run %s of %s %s: %s', b.ingest_run_id,
                  coalesce(b.source_file, 'an unnamed file'), b.status,
                  left(coalesce(b.error, 'no reason recorded'), 300))
               || CASE WHEN b.runs > 1
                       THEN format(' (%s runs failed or abandoned since the last completed one)',
                                   b.runs)
                       ELSE '' END,
           CASE b.status
               WHEN 'abandoned' THEN 'The ingest died before it finished (killed, crashed or '
                   'disconnected) and staged nothing: run it again'
               ELSE 'Read the reason, fix the file or its cause, and ingest it again; its rows '
                   'were not staged'
           END,
           jsonb_build_object('ingest_run_id', b.ingest_run_id, 'source_file', b.source_file,
                              'status', b.status, 'error', b.error, 'started_at', b.started_at,
                              'runs', b.runs, 'last_completed_at', b.last_completed_at)
    FROM bad b
    WHERE b.rn = 1
$$;

-- A new normal (docs/health-and-alerts.md, "Volume baselines"): an open batch_volume
-- anomaly flagged on volume_accept_batches consecutive batches resolves, with the reason in
-- its details and the log, and those batches join its baseline (accepted_run_ids of its
-- incident). Batches that arrive while an incident is open stay out of the history, so
-- without this a baseline whose spread was underestimated could never widen and its false
-- alarm never end; a real level change (a filter changed at the source, a new clinic) is
-- told once and then becomes the level later batches are compared with. Returns the keys
-- resolved.
CREATE OR REPLACE FUNCTION trapper.orchestrator_accept_volume_levels()
RETURNS SETOF text
LANGUAGE plpgsql AS $$
DECLARE
    a record;
    v_n int := coalesce(trapper.orchestrator_health_setting('volume_accept_batches'), 0)::int;
    v_runs bigint[];
    v_reason text;
BEGIN
    IF v_n <= 0 THEN
        RETURN;
    END IF;
    FOR a IN
        SELECT x.anomaly_key, x.source_system, x.source_table, x.incident_id, x.details
        FROM trapper.orchestrator_anomalies x
        WHERE x.kind = 'batch_volume' AND x.resolved_at IS NULL
          AND (x.details ->> 'streak')::int >= v_n
          AND x.details ->> 'first_ingest_run_id' ~ '^[0-9]+$'
          AND x.details ->> 'ingest_run_id' ~ '^[0-9]+$'
        FOR UPDATE
    LOOP
        SELECT array_agg(r.ingest_run_id ORDER BY r.started_at) INTO v_runs
        FROM trapper.ingest_runs r, trapper.ingest_runs f, trapper.ingest_runs l
        WHERE f.ingest_run_id = (a.details ->> 'first_ingest_run_id')::bigint
          AND l.ingest_run_id = (a.details ->> 'ingest_run_id')::bigint
          AND r.source_system = a.source_system AND r.source_table = a.source_table
          AND r.status = 'completed'
          AND r.started_at BETWEEN f.started_at AND l.started_at;
        v_reason := format('new normal: flagged on %s consecutive batches (ingest runs %s); '
                           'they join the baseline', cardinality(v_runs),
                           array_to_string(v_runs, ', '));
        UPDATE trapper.orchestrator_incidents i
        SET accepted_run_ids = ARRAY(SELECT DISTINCT unnest(i.accepted_run_ids || v_runs)
                                     ORDER BY 1)
        WHERE i.incident_id = a.incident_id;
        UPDATE trapper.orchestrator_anomalies x
        SET details = x.details || jsonb_build_object('resolution', 'new normal',
                                                      'accepted_run_ids', to_jsonb(v_runs)),
            summary = x.summary || format('; accepted as the new normal after %s batches',
                                          cardinality(v_runs))
        WHERE x.anomaly_key = a.anomaly_key;
        PERFORM trapper.orchestrator_resolve_anomaly(a.anomaly_key, v_reason);
        RETURN NEXT a.anomaly_key;
    END LOOP;
END $$;

-- Run every active detector as of p_now (bench/incidents.py replays history with it): the
-- detectors, raising and resolving read trapper.orchestrator_now(), set here for this
-- transaction and put back after.
CREATE OR REPLACE FUNCTION trapper.orchestrator_detect_anomalies_at(p_now timestamptz)
RETURNS TABLE (anomaly_key text, kind text, change text)
LANGUAGE plpgsql
SET jit = off      -- as below
AS $$
DECLARE
    v_was text := current_setting('atlas_orch.now', true);
BEGIN
    PERFORM set_config('atlas_orch.now', p_now::text, true);
    RETURN QUERY SELECT * FROM trapper.orchestrator_detect_anomalies();
    PERFORM set_config('atlas_orch.now', coalesce(v_was, ''), true);
END $$;

-- Run every active detector; raise what holds, resolve what stopped holding. Returns the
-- changes: one row per anomaly raised (new or reopened) or resolved.
CREATE OR REPLACE FUNCTION trapper.orchestrator_detect_anomalies()
RETURNS TABLE (anomaly_key text, kind text, change text)
LANGUAGE plpgsql
-- The detectors' queries call set-returning SQL functions, which the planner costs far above
-- jit_above_cost (100,000) whatever the data: with JIT on (the server default), each pass
-- spent ~6 s compiling a plan that runs in ~90 ms (measured on the small world's database
-- on a 2-core machine), and the listener consumes nothing while it runs. The setting holds
-- for everything the call runs, so every detector is covered.
SET jit = off
AS $$
DECLARE
    a record;
    v_fn text;
    v_kinds text[];
    v_seen text[] := '{}';
BEGIN
    SELECT array_agg(d.kind) INTO v_kinds FROM trapper.orchestrator_anomaly_detectors d
    WHERE d.is_active;
    FOR v_fn IN SELECT DISTINCT d.function FROM trapper.orchestrator_anomaly_detectors d
                WHERE d.is_active ORDER BY 1 LOOP
        -- the function name comes from the detectors table, but is only ever one of ours:
        -- resolved through regprocedure in our schema and quoted as an identifier
        IF to_regprocedure('trapper.' || quote_ident(v_fn) || '()') IS NULL THEN
            RAISE WARNING 'anomaly detector %() does not exist; skipped', v_fn;
            CONTINUE;
        END IF;
        FOR a IN EXECUTE format('SELECT * FROM trapper.%I()', v_fn) LOOP
            CONTINUE WHEN NOT a.kind = ANY (v_kinds);
            v_seen := v_seen || a.anomaly_key;
            IF trapper.orchestrator_raise_anomaly(a.anomaly_key, a.kind, a.severity,
                   a.source_system, a.source_table, a.summary, a.suggested_fix,
                   coalesce(a.details, '{}')) THEN
                anomaly_key := a.anomaly_key;
                kind := a.kind;
                change := 'raised';
                RETURN NEXT;
            END IF;
        END LOOP;
    END LOOP;
    -- a level flagged on enough consecutive batches is the new normal (above)
    IF 'batch_volume' = ANY (v_kinds) THEN
        FOR anomaly_key IN SELECT * FROM trapper.orchestrator_accept_volume_levels() LOOP
            kind := 'batch_volume';
            change := 'resolved';
            RETURN NEXT;
        END LOOP;
    END IF;
    FOR anomaly_key, kind IN
        SELECT x.anomaly_key, x.kind FROM trapper.orchestrator_anomalies x
        WHERE x.resolved_at IS NULL AND x.kind = ANY (v_kinds)
          AND NOT x.anomaly_key = ANY (v_seen)
    LOOP
        PERFORM trapper.orchestrator_resolve_anomaly(anomaly_key, 'no longer detected');
        change := 'resolved';
        RETURN NEXT;
    END LOOP;
END $$;
