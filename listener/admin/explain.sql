-- Explaining identity (listener/admin/explain.py; docs/identity.md, "Explaining a match").

-- name: person_pair
SELECT trapper.orchestrator_explain_person_pair($1, $2);

-- name: place_pair
SELECT trapper.orchestrator_explain_place_pair($1, $2);

-- name: cat_pair
SELECT trapper.orchestrator_explain_cat_pair($1, $2);

-- name: pair_decisions
-- the engine's decisions that named one side as the result and the other as the candidate
SELECT d.decision_id, d.created_at, d.decision_type, d.decision_reason, d.review_status,
       d.source_system, d.source_table, d.source_row_id AS source_record_id,
       d.staged_record_id, d.resulting_person_id, d.top_candidate_id, d.fs_score,
       d.score_breakdown
FROM trapper.data_engine_match_decisions d
WHERE (d.resulting_person_id = ANY ($1::uuid[]) AND d.top_candidate_id = ANY ($2::uuid[]))
   OR (d.resulting_person_id = ANY ($2::uuid[]) AND d.top_candidate_id = ANY ($1::uuid[]))
ORDER BY d.created_at, d.decision_id;

-- name: pair_log
-- decision-log rows about either side that name the other (merges, identity decisions)
SELECT log_seq, logged_at, action, source_system, source_table, source_record_id,
       staged_record_id, target_entity_id, decision_reason, decision_details
FROM trapper.orchestrator_job_log
WHERE (target_entity_id = ANY ($1::uuid[]) AND decision_details::text ~ ANY ($3::text[]))
   OR (target_entity_id = ANY ($2::uuid[]) AND decision_details::text ~ ANY ($4::text[]))
ORDER BY log_seq;

-- name: merges
-- entities merged into this one, when and why (the merge steps of its HOW)
SELECT person_id AS entity_id, merged_into_person_id AS merged_into, merged_at, merge_reason
FROM trapper.sot_people WHERE $1 = 'person' AND person_id = ANY ($2::uuid[])
  AND merged_into_person_id IS NOT NULL
UNION ALL
SELECT place_id, merged_into_place_id, merged_at, merge_reason
FROM trapper.places WHERE $1 = 'place' AND place_id = ANY ($2::uuid[])
  AND merged_into_place_id IS NOT NULL
UNION ALL
SELECT cat_id, merged_into_cat_id, merged_at, NULL
FROM trapper.sot_cats WHERE $1 = 'cat' AND cat_id = ANY ($2::uuid[])
  AND merged_into_cat_id IS NOT NULL
ORDER BY 3, 1;

-- name: build_sources
-- each source record behind the entity and the engine's decision that attached it
SELECT es.entity_source_id, es.created_at, es.entity_id, es.source_system, es.source_table,
       es.source_row_id AS source_record_id, es.staged_record_id, es.action, es.detail,
       d.decision_id, d.decision_type, d.decision_reason, d.fs_score, d.top_candidate_id,
       d.review_status
FROM trapper.entity_sources es
LEFT JOIN LATERAL (
    SELECT * FROM trapper.data_engine_match_decisions m
    WHERE es.entity_type = 'person' AND m.staged_record_id = es.staged_record_id
      AND m.resulting_person_id = es.entity_id
    ORDER BY m.decision_id DESC LIMIT 1
) d ON true
WHERE es.entity_id = ANY ($1::uuid[])
ORDER BY es.created_at, es.entity_source_id;

-- name: person_summary
SELECT person_id AS entity_id, display_name, first_name, last_name, primary_email,
       primary_phone, household_id, data_source, created_at
FROM trapper.sot_people WHERE person_id = $1;

-- name: place_summary
SELECT place_id AS entity_id, display_name, formatted_address, address_key,
       trapper.address_parts(coalesce(normalized_address, formatted_address)) AS address_parts,
       created_at
FROM trapper.places WHERE place_id = $1;

-- name: cat_summary
SELECT c.cat_id AS entity_id, c.display_name, c.sex, c.primary_color, c.created_at,
       (SELECT jsonb_agg(jsonb_build_object('id_type', i.id_type, 'value', i.id_value,
                                            'source_system', i.source_system)
                         ORDER BY i.id_type, i.id_value)
        FROM trapper.cat_identifiers i WHERE i.cat_id = ANY ($2::uuid[])) AS identifiers
FROM trapper.sot_cats c WHERE c.cat_id = $1;

-- name: person_identifiers
SELECT id_type, id_value_norm AS value, source_system, confidence, created_at
FROM trapper.person_identifiers WHERE person_id = ANY ($1::uuid[])
ORDER BY created_at, id_type;
