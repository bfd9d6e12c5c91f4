-- Incidents (docs/health-and-alerts.md, "Incidents"): anomalies of one source that open
-- within incident_window_minutes of each other and share a likely cause
-- (orchestrator_incident_causes) are one incident; it resolves when its last member does.

-- Put an open anomaly in its incident: the open incident of its source that shares a cause
-- and opened within the window, else a new one. An anomaly already in an incident only
-- refreshes the incident's severity. A kind that joins, or a severity that rises, bumps the
-- incident's version, which is what makes its message be sent again (functions/alerts.sql).
CREATE OR REPLACE FUNCTION trapper.orchestrator_incident_attach(p_key text) RETURNS bigint
LANGUAGE plpgsql AS $$
DECLARE
    a trapper.orchestrator_anomalies;
    i trapper.orchestrator_incidents;
    v_now timestamptz := trapper.orchestrator_now();
    v_causes text[];
    v_run bigint;
    v_window interval := make_interval(mins =>
        trapper.orchestrator_health_setting('incident_window_minutes')::int);
BEGIN
    SELECT * INTO a FROM trapper.orchestrator_anomalies WHERE anomaly_key = p_key;
    IF NOT FOUND OR a.resolved_at IS NOT NULL THEN
        RETURN NULL;
    END IF;
    SELECT coalesce(array_agg(c.cause ORDER BY c.cause), ARRAY[a.kind]) INTO v_causes
    FROM trapper.orchestrator_incident_causes c WHERE c.kind = a.kind;
    v_run := CASE WHEN a.details ->> 'ingest_run_id' ~ '^[0-9]+$'
                  THEN (a.details ->> 'ingest_run_id')::bigint END;
    IF a.incident_id IS NOT NULL THEN
        SELECT * INTO i FROM trapper.orchestrator_incidents
        WHERE incident_id = a.incident_id FOR UPDATE;
    ELSE
        SELECT * INTO i FROM trapper.orchestrator_incidents x
        WHERE x.source_system = a.source_system AND x.source_table = a.source_table
          AND x.resolved_at IS NULL AND x.causes && v_causes
          AND x.opened_at >= v_now - v_window
        ORDER BY x.opened_at DESC
        LIMIT 1
        FOR UPDATE;
    END IF;
    IF i.incident_id IS NULL THEN
        INSERT INTO trapper.orchestrator_incidents
            (source_system, source_table, causes, kinds, severity, opened_at, changed_at,
             ingest_run_ids)
        VALUES (a.source_system, a.source_table, v_causes, ARRAY[a.kind], a.severity, v_now,
                v_now, CASE WHEN v_run IS NULL THEN '{}' ELSE ARRAY[v_run] END)
        RETURNING * INTO i;
    ELSIF a.incident_id IS NULL OR i.resolved_at IS NOT NULL
          OR trapper.orchestrator_severity_rank(a.severity)
             > trapper.orchestrator_severity_rank(i.severity)
          OR NOT v_run = ANY (i.ingest_run_ids) THEN
        UPDATE trapper.orchestrator_incidents x SET
            -- the causes the members share: what a later anomaly must share to join
            causes = CASE WHEN x.causes && v_causes
                          THEN ARRAY(SELECT unnest(x.causes) INTERSECT SELECT unnest(v_causes)
                                     ORDER BY 1)
                          ELSE x.causes END,
            kinds = CASE WHEN a.kind = ANY (x.kinds) THEN x.kinds ELSE x.kinds || a.kind END,
            severity = CASE WHEN trapper.orchestrator_severity_rank(a.severity)
                                 > trapper.orchestrator_severity_rank(x.severity)
                            THEN a.severity ELSE x.severity END,
            -- a member that returns reopens the incident it belongs to
            resolved_at = NULL,
            ingest_run_ids = CASE WHEN v_run IS NULL OR v_run = ANY (x.ingest_run_ids)
                                  THEN x.ingest_run_ids ELSE x.ingest_run_ids || v_run END,
            version = CASE WHEN a.kind = ANY (x.kinds)
                                AND trapper.orchestrator_severity_rank(a.severity)
                                    <= trapper.orchestrator_severity_rank(x.severity)
                                AND x.resolved_at IS NULL
                           THEN x.version ELSE x.version + 1 END,
            changed_at = v_now
        WHERE x.incident_id = i.incident_id
        RETURNING * INTO i;
    END IF;
    UPDATE trapper.orchestrator_anomalies SET incident_id = i.incident_id
    WHERE anomaly_key = p_key AND incident_id IS DISTINCT FROM i.incident_id;
    RETURN i.incident_id;
END $$;

-- Resolve an incident whose members have all cleared; returns whether it did.
CREATE OR REPLACE FUNCTION trapper.orchestrator_incident_settle(p_incident bigint)
RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
    IF p_incident IS NULL THEN
        RETURN false;
    END IF;
    UPDATE trapper.orchestrator_incidents x
    SET resolved_at = trapper.orchestrator_now(), changed_at = trapper.orchestrator_now()
    WHERE x.incident_id = p_incident AND x.resolved_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM trapper.orchestrator_anomalies a
                      WHERE a.incident_id = p_incident AND a.resolved_at IS NULL);
    RETURN FOUND;
END $$;
