-- Queries of the orchestrator commands (listener/admin/routing.py).

-- name: records_to_route
-- The most recent staged records of a source, or one by its source id.
SELECT id FROM trapper.staged_records
WHERE source_system = $1 AND source_table = $2
  AND ($3::text IS NULL OR source_row_id = $3)
ORDER BY id DESC
LIMIT $4;

-- name: last_log_seq
SELECT coalesce(max(log_seq), 0) FROM trapper.orchestrator_job_log;

-- name: new_log_rows
-- The decisions as the log keeps them: the dry run's JSON carries their details (composed
-- parts, values passed, refusals) as a logged decision's does, not the reason's text alone
SELECT staged_record_id, source_record_id, action, target_surface, target_entity_id,
       routing_rule_id, rule_version, decision_reason, decision_details
FROM trapper.orchestrator_job_log
WHERE log_seq > $1
ORDER BY log_seq;

-- name: rules_check
-- Each active rule and how many of the last N staged rows of its source carry its field; a
-- composite rule (issue 17) counts the rows that carry any of its parts, and names the
-- parts no row carries. $2, $3: one source system or table (NULL: all).
WITH recent AS (
    SELECT s.source_system, s.source_table, s.payload,
           row_number() OVER (PARTITION BY s.source_system, s.source_table ORDER BY s.id DESC) AS rn
    FROM trapper.staged_records s
    WHERE EXISTS (SELECT 1 FROM trapper.orchestrator_routing_rules r
                  WHERE r.source_system = s.source_system AND r.source_table = s.source_table)
      AND ($2::text IS NULL OR s.source_system = $2) AND ($3::text IS NULL OR s.source_table = $3)
)
SELECT r.rule_id, r.source_system, r.source_table, r.source_field, r.source_fields,
       r.field_separator, r.target_surface, r.target_field, c.rows_checked, c.rows_with_field,
       ARRAY(SELECT p FROM unnest(r.source_fields) WITH ORDINALITY AS t (p, o)
             WHERE c.rows_checked > 0
               AND NOT EXISTS (SELECT 1 FROM recent x
                               WHERE x.source_system = r.source_system
                                 AND x.source_table = r.source_table AND x.rn <= $1
                                 AND x.payload ? p)
             ORDER BY o) AS parts_missing
FROM trapper.orchestrator_routing_rules r
CROSS JOIN LATERAL (
    SELECT count(*) AS rows_checked,
           count(*) FILTER (WHERE x.payload ?| coalesce(r.source_fields, ARRAY[r.source_field]))
               AS rows_with_field
    FROM recent x
    WHERE x.source_system = r.source_system AND x.source_table = r.source_table AND x.rn <= $1
) c
WHERE r.is_active
  AND ($2::text IS NULL OR r.source_system = $2) AND ($3::text IS NULL OR r.source_table = $3)
ORDER BY r.source_system, r.source_table, r.source_field;

-- name: recent_keys
-- The payload keys of the last N staged rows of one source: what a rule's field could have
-- been meant to name.
SELECT DISTINCT k
FROM (SELECT payload FROM trapper.staged_records
      WHERE source_system = $1 AND source_table = $2
      ORDER BY id DESC LIMIT $3) s
CROSS JOIN LATERAL jsonb_object_keys(CASE WHEN jsonb_typeof(s.payload) = 'object'
                                          THEN s.payload ELSE '{}' END) AS k;
