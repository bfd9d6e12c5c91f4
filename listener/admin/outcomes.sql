-- Queries of the outcome comparison (listener/admin/outcomes.py): what a record's processing
-- did, reduced to its outcome — each target surface with the canonical entity it landed on
-- and the values passed — so that "routed" and "merged" into the same entity compare equal
-- (docs/orchestrator.md, "What a dry run compares").

-- name: route_outcomes
-- The router's decisions for these staged records, logged after log_seq $2: of each record
-- only its last routing (the rows of one routing share their transaction's logged_at).
-- Entities are resolved to their canonical id now; the values are the parameters the target
-- function got (after transforms), null ones dropped (absent and null call alike).
WITH d AS (
    SELECT l.*, max(l.logged_at) OVER (PARTITION BY l.staged_record_id) AS last_at
    FROM trapper.orchestrator_job_log l
    WHERE l.staged_record_id = ANY ($1::bigint[])
      AND l.action IN ('routed', 'skipped', 'merged', 'rejected', 'error')
      AND l.log_seq > $2
)
SELECT staged_record_id, action, target_surface, target_entity_id,
       CASE target_surface
           WHEN 'sot_people' THEN trapper.get_canonical_person_id(target_entity_id)
           WHEN 'sot_cats' THEN trapper.get_canonical_cat_id(target_entity_id)
           WHEN 'places' THEN trapper.get_canonical_place_id(target_entity_id)
           WHEN 'place_colony_estimates' THEN trapper.get_canonical_place_id(target_entity_id)
           ELSE target_entity_id
       END AS canonical_id,
       routing_rule_id, rule_version, decision_reason,
       jsonb_strip_nulls(coalesce(decision_details -> 'values', '{}'::jsonb)) AS params
FROM d
WHERE logged_at = last_at
ORDER BY log_seq;

-- name: engine_outcomes
-- What a processor's engines recorded for one staged record after the marks ($2 decision_id,
-- $3 entity_source_id): identity decisions and entity sources of its last processing (rows
-- of one processing share their transaction's created_at), entities resolved canonically.
WITH i AS (
    SELECT m.*, max(m.created_at) OVER () AS last_at
    FROM trapper.data_engine_match_decisions m
    WHERE m.staged_record_id = $1 AND m.decision_id > $2
), e AS (
    SELECT s.*, max(s.created_at) OVER () AS last_at
    FROM trapper.entity_sources s
    WHERE s.staged_record_id = $1 AND s.entity_source_id > $3
)
SELECT 'identity' AS kind, decision_type AS action, 'sot_people' AS target_surface,
       resulting_person_id AS target_entity_id,
       trapper.get_canonical_person_id(resulting_person_id) AS canonical_id,
       NULL::uuid AS routing_rule_id, NULL::integer AS rule_version, decision_reason,
       jsonb_strip_nulls(jsonb_build_object('email', incoming_email, 'phone', incoming_phone,
                                            'name', incoming_name,
                                            'address', incoming_address)) AS params
FROM i WHERE created_at = last_at
UNION ALL
SELECT 'entity', action, entity_type, entity_id,
       CASE entity_type
           WHEN 'person' THEN trapper.get_canonical_person_id(entity_id)
           WHEN 'place' THEN trapper.get_canonical_place_id(entity_id)
           WHEN 'cat' THEN trapper.get_canonical_cat_id(entity_id)
           ELSE entity_id
       END,
       NULL, NULL, detail, '{}'::jsonb
FROM e WHERE created_at = last_at;
