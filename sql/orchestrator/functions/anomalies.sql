-- Data health: its thresholds, the detectors' clock, and raising and resolving anomalies
-- (each writes a job-log row, so anomalies sit in every timeline).

-- The detectors' and the alert planner's "now": the transaction's time, unless the setting
-- atlas_orch.now holds another (orchestrator_detect_anomalies_at(p_now) and
-- orchestrator_plan_alerts_at(p_routes, p_now) set it for their transaction; bench/incidents.py
-- replays 90 days of history with it).
CREATE OR REPLACE FUNCTION trapper.orchestrator_now() RETURNS timestamptz
LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('atlas_orch.now', true), '')::timestamptz, now())
$$;

CREATE OR REPLACE FUNCTION trapper.orchestrator_health_setting(p_key text) RETURNS numeric
LANGUAGE sql STABLE AS $$
    SELECT value FROM trapper.orchestrator_health_settings WHERE key = p_key
$$;

CREATE OR REPLACE FUNCTION trapper.orchestrator_raise_anomaly(
    p_key text, p_kind text, p_severity text, p_system text, p_table text, p_summary text,
    p_fix text DEFAULT NULL, p_details jsonb DEFAULT '{}'
) RETURNS boolean   -- true when the anomaly is new or reopened
LANGUAGE plpgsql AS $$
DECLARE
    a trapper.orchestrator_anomalies;
    v_now timestamptz := trapper.orchestrator_now();
BEGIN
    SELECT * INTO a FROM trapper.orchestrator_anomalies WHERE anomaly_key = p_key FOR UPDATE;
    IF FOUND AND a.resolved_at IS NULL THEN
        UPDATE trapper.orchestrator_anomalies
        SET last_seen = v_now, severity = p_severity, summary = p_summary,
            suggested_fix = p_fix, details = p_details
        WHERE anomaly_key = p_key;
        -- a rising severity changes the incident (its message is updated); a newly named
        -- ingest run joins the runs its incident keeps out of volume baselines
        IF trapper.orchestrator_severity_rank(p_severity)
               > trapper.orchestrator_severity_rank(a.severity)
           OR (p_details ->> 'ingest_run_id') IS DISTINCT FROM (a.details ->> 'ingest_run_id')
        THEN
            PERFORM trapper.orchestrator_incident_attach(p_key);
        END IF;
        RETURN false;
    END IF;
    INSERT INTO trapper.orchestrator_anomalies AS x
        (anomaly_key, kind, severity, source_system, source_table, summary, suggested_fix,
         details, first_seen, last_seen)
    VALUES (p_key, p_kind, p_severity, p_system, p_table, p_summary, p_fix, p_details,
            v_now, v_now)
    ON CONFLICT (anomaly_key) DO UPDATE
        SET first_seen = v_now, last_seen = v_now, resolved_at = NULL,
            occurrences = x.occurrences + 1, severity = excluded.severity,
            summary = excluded.summary, suggested_fix = excluded.suggested_fix,
            details = excluded.details, incident_id = NULL;
    INSERT INTO trapper.orchestrator_job_log
        (action, source_system, source_table, decision_reason, decision_details)
    VALUES ('anomaly_flagged', p_system, p_table, p_summary,
            jsonb_build_object('anomaly_key', p_key, 'kind', p_kind,
                               'severity', p_severity, 'suggested_fix', p_fix)
            || p_details);
    -- one incident per likely cause (functions/incidents.sql)
    PERFORM trapper.orchestrator_incident_attach(p_key);
    RETURN true;
END $$;

CREATE OR REPLACE FUNCTION trapper.orchestrator_resolve_anomaly(p_key text, p_reason text)
RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    a trapper.orchestrator_anomalies;
BEGIN
    UPDATE trapper.orchestrator_anomalies SET resolved_at = trapper.orchestrator_now()
    WHERE anomaly_key = p_key AND resolved_at IS NULL
    RETURNING * INTO a;
    IF NOT FOUND THEN
        RETURN false;
    END IF;
    -- the incident resolves with its last open member (functions/incidents.sql)
    PERFORM trapper.orchestrator_incident_settle(a.incident_id);
    INSERT INTO trapper.orchestrator_job_log
        (action, source_system, source_table, decision_reason, decision_details)
    VALUES ('anomaly_resolved', a.source_system, a.source_table, p_reason,
            jsonb_build_object('anomaly_key', a.anomaly_key, 'kind', a.kind,
                               'first_seen', a.first_seen));
    RETURN true;
END $$;
