-- The alert outbox's two steps: plan messages from due anomalies, claim them for delivery
-- (webhooks/sender.py).

CREATE OR REPLACE FUNCTION trapper.orchestrator_severity_rank(p_severity text) RETURNS int
LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE p_severity WHEN 'critical' THEN 3 WHEN 'warning' THEN 2 ELSE 1 END
$$;

-- Turn due anomalies into outbox messages. p_routes: [{"name", "min_severity",
-- "sources": ["system/table" | "system/*", ...] (empty or absent: all)}]. One message per
-- route, source and kind; returns the messages planned.
CREATE OR REPLACE FUNCTION trapper.orchestrator_plan_alerts(p_routes jsonb)
RETURNS TABLE (alert_id uuid, route text, kind text, source_system text, source_table text,
               anomalies int)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_wait interval := make_interval(secs =>
        trapper.orchestrator_health_setting('alert_group_wait_s')::double precision);
    v_repeat interval := make_interval(secs =>
        trapper.orchestrator_health_setting('alert_repeat_hours')::double precision * 3600);
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
    matched AS (
        SELECT ro.route, a.*, st.notified_occurrence, st.notified_at, st.resolved_notified_at
        FROM trapper.orchestrator_anomalies a
        JOIN routes ro
          ON trapper.orchestrator_severity_rank(a.severity) >= ro.min_rank
         AND (cardinality(ro.sources) = 0
              OR a.source_system || '/' || a.source_table = ANY (ro.sources)
              OR a.source_system || '/*' = ANY (ro.sources))
        LEFT JOIN trapper.orchestrator_alert_state st
          ON st.anomaly_key = a.anomaly_key AND st.route = ro.route
        WHERE a.resolved_at IS NULL OR a.resolved_at > now() - interval '7 days'
    ),
    due AS (
        SELECT m.*,
               CASE
                   WHEN m.resolved_at IS NULL
                        AND (m.notified_occurrence IS NULL
                             OR m.notified_occurrence < m.occurrences) THEN 'firing'
                   WHEN m.resolved_at IS NULL AND m.notified_at < now() - v_repeat
                       THEN 'repeat'
                   WHEN m.resolved_at IS NOT NULL AND m.notified_occurrence = m.occurrences
                        AND m.resolved_notified_at IS NULL THEN 'resolved'
               END AS alert_kind
        FROM matched m
    ),
    grouped AS (
        SELECT d.route, d.alert_kind, d.source_system, d.source_table,
               (array_agg(d.severity ORDER BY trapper.orchestrator_severity_rank(d.severity)
                          DESC))[1] AS severity,
               array_agg(d.anomaly_key ORDER BY d.first_seen) AS keys,
               jsonb_agg(jsonb_build_object(
                   'anomaly_key', d.anomaly_key, 'kind', d.kind, 'severity', d.severity,
                   'summary', d.summary, 'suggested_fix', d.suggested_fix,
                   'first_seen', d.first_seen, 'last_seen', d.last_seen,
                   'resolved_at', d.resolved_at, 'occurrences', d.occurrences,
                   'details', d.details) ORDER BY d.first_seen) AS snapshot,
               min(d.first_seen) AS oldest
        FROM due d
        WHERE d.alert_kind IS NOT NULL
        GROUP BY 1, 2, 3, 4
        -- a firing group waits out the grouping window from its oldest member, so what
        -- follows within the window joins it
        HAVING d.alert_kind <> 'firing' OR min(d.first_seen) <= now() - v_wait
    ),
    planned AS (
        INSERT INTO trapper.orchestrator_alert_outbox AS o
            (route, kind, severity, source_system, source_table, anomaly_keys, anomalies)
        SELECT g.route, g.alert_kind, g.severity, g.source_system, g.source_table,
               g.keys[1:v_max],
               (SELECT jsonb_agg(e) FROM jsonb_array_elements(g.snapshot)
                    WITH ORDINALITY AS t (e, n) WHERE t.n <= v_max)
                   || CASE WHEN cardinality(g.keys) > v_max
                           THEN jsonb_build_array(jsonb_build_object(
                                'more', cardinality(g.keys) - v_max))
                           ELSE '[]'::jsonb END
        FROM grouped g
        RETURNING o.alert_id, o.route, o.kind, o.source_system, o.source_table,
                  cardinality(o.anomaly_keys) AS n, o.anomaly_keys
    ),
    marked AS (
        INSERT INTO trapper.orchestrator_alert_state AS s
            (anomaly_key, route, notified_occurrence, notified_at, resolved_notified_at)
        SELECT k, p.route, a.occurrences, now(),
               CASE WHEN p.kind = 'resolved' THEN now() END
        FROM planned p
        CROSS JOIN LATERAL unnest(p.anomaly_keys) AS k
        JOIN trapper.orchestrator_anomalies a ON a.anomaly_key = k
        ON CONFLICT (anomaly_key, route) DO UPDATE SET
            notified_occurrence = excluded.notified_occurrence,
            notified_at = CASE WHEN excluded.resolved_notified_at IS NULL
                               THEN excluded.notified_at ELSE s.notified_at END,
            resolved_notified_at = excluded.resolved_notified_at
        RETURNING 1
    )
    -- `marked` runs whether or not it is read (PostgreSQL runs every data-modifying CTE)
    SELECT p.alert_id, p.route, p.kind, p.source_system, p.source_table, p.n
    FROM planned p;
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
