-- The review queue's reads and its one write (listener/admin/review.py; docs/identity.md,
-- "Reviewing"). The write path is trapper.orchestrator_review_act (sql/orchestrator/
-- functions/review.sql).

-- name: list
-- pending decisions, those never deferred first, oldest first
SELECT d.decision_id, d.created_at, d.source_system, d.source_table,
       d.source_row_id AS source_record_id, d.incoming_name, d.incoming_email,
       d.incoming_phone, d.fs_score AS score, d.decision_reason,
       trapper.get_canonical_person_id(d.resulting_person_id) AS person_id,
       trapper.get_canonical_person_id(d.top_candidate_id) AS candidate_id,
       c.display_name AS candidate_name,
       r.verdict IS NOT DISTINCT FROM 'deferred' AS deferred,
       r.reviewed_by AS deferred_by, r.note AS deferred_note, r.reviewed_at AS deferred_at
FROM trapper.data_engine_match_decisions d
LEFT JOIN trapper.sot_people c
       ON c.person_id = trapper.get_canonical_person_id(d.top_candidate_id)
LEFT JOIN trapper.orchestrator_identity_reviews r ON r.decision_id = d.decision_id
WHERE d.review_status = 'pending'
  AND ($1::text IS NULL OR d.source_system = $1)
  AND ($2::text IS NULL OR d.source_table = $2)
ORDER BY r.verdict IS NOT DISTINCT FROM 'deferred', d.decision_id
LIMIT $3;

-- name: decision
SELECT d.decision_id, d.created_at, d.source_system, d.source_table,
       d.source_row_id AS source_record_id, d.staged_record_id, d.incoming_name,
       d.incoming_email, d.incoming_phone, d.incoming_address, d.decision_type,
       d.decision_reason, d.review_status, d.fs_score AS score,
       d.score_breakdown::text AS score_breakdown,
       d.resulting_person_id AS recorded_person_id, d.top_candidate_id AS recorded_candidate_id,
       trapper.get_canonical_person_id(d.resulting_person_id) AS person_id,
       trapper.get_canonical_person_id(d.top_candidate_id) AS candidate_id,
       s.created_at AS staged_at,
       r.verdict, r.reviewed_by, r.note AS review_note, r.reviewed_at, r.survivor_id
FROM trapper.data_engine_match_decisions d
LEFT JOIN trapper.staged_records s ON s.id = d.staged_record_id
LEFT JOIN trapper.orchestrator_identity_reviews r ON r.decision_id = d.decision_id
WHERE d.decision_id = $1;

-- name: weights
-- each field's Fellegi–Sunter parameters: the weight the breakdown applied, and why
SELECT field, m, u, round(w_agree::numeric, 2) AS w_agree,
       round(w_disagree::numeric, 2) AS w_disagree, description
FROM trapper.fellegi_sunter_parameters ORDER BY field;

-- name: person
-- one person (canonical) and everyone merged into them, for the side-by-side
WITH RECURSIVE tree AS (
    SELECT $1::uuid AS id
    UNION
    SELECT p.person_id FROM tree t
    JOIN trapper.sot_people p ON p.merged_into_person_id = t.id
)
SELECT p.person_id, p.display_name, p.first_name, p.last_name, p.primary_email,
       p.primary_phone, p.data_source, p.household_id, p.created_at, p.merged_into_person_id,
       (SELECT array_agg(id) FROM tree) AS ids,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'type', i.id_type, 'value', i.id_value_norm, 'source_system', i.source_system,
                   'source_table', i.source_table, 'source_record_id', i.source_row_id,
                   'confidence', i.confidence, 'seen_at', i.created_at)
                   ORDER BY i.id_type, i.created_at), '[]')::text
        FROM trapper.person_identifiers i WHERE i.person_id IN (SELECT id FROM tree))
           AS identifiers,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'place_id', pl.place_id, 'address', pl.formatted_address, 'role', pp.role,
                   'source_system', pp.source_system, 'seen_at', pp.created_at)
                   ORDER BY pp.created_at), '[]')::text
        FROM trapper.person_place pp JOIN trapper.places pl ON pl.place_id = pp.place_id
        WHERE pp.person_id IN (SELECT id FROM tree)) AS addresses,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'source_system', es.source_system, 'source_table', es.source_table,
                   'source_record_id', es.source_row_id, 'action', es.action,
                   'seen_at', es.created_at) ORDER BY es.created_at, es.entity_source_id), '[]')::text
        FROM trapper.entity_sources es WHERE es.entity_id IN (SELECT id FROM tree))
           AS sources
FROM trapper.sot_people p WHERE p.person_id = $1;

-- name: act
SELECT trapper.orchestrator_review_act($1, $2, $3, $4)::text;
