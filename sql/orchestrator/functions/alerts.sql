-- The alert outbox's two steps: plan messages from due anomalies, claim them for delivery
-- (webhooks/sender.py).

CREATE OR REPLACE FUNCTION trapper.orchestrator_severity_rank(p_severity text) RETURNS int
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_severity WHEN 'critical' THEN 3 WHEN 'warning' THEN 2 ELSE 1 END
$$;

-- Turn due incidents into outbox messages (docs/health-and-alerts.md, "Incidents").
-- p_routes: [{"name", "min_severity", "sources": ["system/table" | "system/*", ...] (empty or
-- absent: all)}]. Per route and incident: "firing" once it has waited out the grouping
-- window, "update" when a kind joined or its severity rose since the route was told,
-- "repeat" after the repeat interval, "resolved" once when all its anomalies cleared (never
-- for an incident the route was not told of). Returns the messages planned.
CREATE OR REPLACE FUNCTION trapper.orchestrator_plan_alerts(p_routes jsonb)
RETURNS TABLE (alert_id uuid, route text, kind text, source_system text, source_table text,
               anomalies int)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_now timestamptz := trapper.orchestrator_now();
    v_wait interval := make_interval(secs =>
        trapper.orchestrator_health_setting('alert_group_wait_s')::double precision);
    v_repeat interval := make_interval(secs =>
        trapper.orchestrator_health_setting('alert_repeat_hours')::double precision * 3600);
    v_repeat_max interval := make_interval(secs => coalesce(
        trapper.orchestrator_health_setting('alert_repeat_max_hours'), 168)::double precision
        * 3600);
    v_max int := trapper.orchestrator_health_setting('alert_max_anomalies')::int;
BEGIN
    -- one planner at a time (a listener and `alerts send --once` may both try)
    IF NOT pg_try_advisory_xact_lock(hashtext('atlas-orchestrator:plan-alerts')) THEN
        RETURN;
    END IF;
    RETURN QUERY
    WITH routes AS (
        SELECT r ->> 'name' AS route,
               trapper.orchestrator_severity_rank(coalesce(r ->> 'min_severity', 'info'))
                   AS min_rank,
               ARRAY(SELECT jsonb_array_elements_text(coalesce(r -> 'sources', '[]')))
                   AS sources
        FROM jsonb_array_elements(p_routes) r
    ),
    due AS (
        SELECT ro.route, i.*,
               CASE
                   WHEN i.resolved_at IS NULL AND st.incident_id IS NULL
                        AND i.opened_at <= v_now - v_wait THEN 'firing'
                   WHEN i.resolved_at IS NULL AND st.notified_version < i.version
                       THEN 'update'
                   -- reminders back off: the interval doubles each time, up to a cap
                   WHEN i.resolved_at IS NULL
                        AND st.notified_at < v_now - least(v_repeat * power(2, st.repeats),
                                                           v_repeat_max)
                       THEN 'repeat'
                   WHEN i.resolved_at IS NOT NULL AND st.incident_id IS NOT NULL
                        AND st.resolved_notified_at IS NULL THEN 'resolved'
               END AS alert_kind
        FROM trapper.orchestrator_incidents i
        JOIN routes ro
          ON trapper.orchestrator_severity_rank(i.severity) >= ro.min_rank
         AND (cardinality(ro.sources) = 0
              OR i.source_system || '/' || i.source_table = ANY (ro.sources)
              OR i.source_system || '/*' = ANY (ro.sources))
        LEFT JOIN trapper.orchestrator_incident_alert_state st
          ON st.incident_id = i.incident_id AND st.route = ro.route
        WHERE i.resolved_at IS NULL OR i.resolved_at > v_now - interval '7 days'
    ),
    members AS (
        SELECT d.route, d.incident_id, d.version, d.alert_kind, d.severity, d.source_system,
               d.source_table,
               array_agg(a.anomaly_key ORDER BY a.first_seen, a.anomaly_key) AS keys,
               jsonb_agg(jsonb_build_object(
                   'anomaly_key', a.anomaly_key, 'kind', a.kind, 'severity', a.severity,
                   'summary', a.summary, 'suggested_fix', a.suggested_fix,
                   'first_seen', a.first_seen, 'last_seen', a.last_seen,
                   'resolved_at', a.resolved_at, 'occurrences', a.occurrences,
                   'details', a.details) ORDER BY a.first_seen, a.anomaly_key) AS snapshot
        FROM due d
        JOIN trapper.orchestrator_anomalies a ON a.incident_id = d.incident_id
        WHERE d.alert_kind IS NOT NULL
        GROUP BY 1, 2, 3, 4, 5, 6, 7
    ),
    planned AS (
        INSERT INTO trapper.orchestrator_alert_outbox AS o
            (route, kind, severity, source_system, source_table, anomaly_keys, anomalies,
             incident_id, incident_version, created_at, next_attempt_at)
        SELECT g.route, g.alert_kind, g.severity, g.source_system, g.source_table,
               g.keys[1:v_max],
               (SELECT jsonb_agg(e) FROM jsonb_array_elements(g.snapshot)
                    WITH ORDINALITY AS t (e, n) WHERE t.n <= v_max)
                   || CASE WHEN cardinality(g.keys) > v_max
                           THEN jsonb_build_array(jsonb_build_object(
                                'more', cardinality(g.keys) - v_max))
                           ELSE '[]'::jsonb END,
               g.incident_id, g.version, v_now, now()
        FROM members g
        RETURNING o.alert_id, o.route, o.kind, o.source_system, o.source_table,
                  cardinality(o.anomaly_keys) AS n, o.incident_id, o.incident_version
    ),
    marked AS (
        INSERT INTO trapper.orchestrator_incident_alert_state AS s
            (incident_id, route, notified_version, notified_at, resolved_notified_at,
             repeats)
        SELECT p.incident_id, p.route, p.incident_version, v_now,
               CASE WHEN p.kind = 'resolved' THEN v_now END,
               CASE WHEN p.kind = 'repeat' THEN 1 ELSE 0 END
        FROM planned p
        ON CONFLICT (incident_id, route) DO UPDATE SET
            notified_version = excluded.notified_version,
            notified_at = CASE WHEN excluded.resolved_notified_at IS NULL
                               THEN excluded.notified_at ELSE s.notified_at END,
            resolved_notified_at = excluded.resolved_notified_at,
            repeats = CASE WHEN excluded.repeats > 0 THEN s.repeats + 1 ELSE 0 END
        RETURNING 1
    )
    -- `marked` runs whether or not it is read (PostgreSQL runs every data-modifying CTE)
    SELECT p.alert_id, p.route, p.kind, p.source_system, p.source_table, p.n
    FROM planned p;
END $$;

-- The same as of p_now (bench/incidents.py replays history with it).
CREATE OR REPLACE FUNCTION trapper.orchestrator_plan_alerts_at(p_routes jsonb, p_now timestamptz)
RETURNS TABLE (alert_id uuid, route text, kind text, source_system text, source_table text,
               anomalies int)
LANGUAGE plpgsql AS $$
DECLARE
    v_was text := current_setting('atlas_orch.now', true);
BEGIN
    PERFORM set_config('atlas_orch.now', p_now::text, true);
    RETURN QUERY SELECT * FROM trapper.orchestrator_plan_alerts(p_routes);
    PERFORM set_config('atlas_orch.now', coalesce(v_was, ''), true);
END $$;

-- Claim due messages for delivery: a lease (next_attempt_at moves ahead) rather than a held
-- transaction, so a sender that dies mid-request leaves the message to be retried.
CREATE OR REPLACE FUNCTION trapper.orchestrator_claim_alerts(p_limit int, p_lease_s int DEFAULT 120)
RETURNS SETOF trapper.orchestrator_alert_outbox
LANGUAGE sql AS $$
    UPDATE trapper.orchestrator_alert_outbox o
    SET attempts = o.attempts + 1, last_attempt_at = now(),
        next_attempt_at = now() + make_interval(secs => p_lease_s)
    WHERE o.alert_id IN (SELECT x.alert_id FROM trapper.orchestrator_alert_outbox x
                         WHERE x.status = 'pending' AND x.next_attempt_at <= now()
                         ORDER BY x.next_attempt_at, x.created_at
                         FOR UPDATE SKIP LOCKED
                         LIMIT p_limit)
    RETURNING o.*
$$;
