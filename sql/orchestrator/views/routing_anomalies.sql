-- ORCH_003: what looks wrong.

-- "What looks wrong?" Technically valid data that is suspicious, and every open anomaly.
CREATE OR REPLACE VIEW trapper.v_routing_anomalies AS
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
