-- Two things main's 030 and 031 left undone on a database that already held data
-- (docs/identity.md, "Places"; docs/processing.md, "A cat's weight and age").
-- A hyphenated house number is a range only when its end is as long as its start and past
-- it: "45-6", "45-67A", "4-5A" and Hawaii's "94-1234" are one number each now, no longer
-- keyed by their first number; the places already made take their keys again.
SELECT trapper.rekey_places();
-- The visits processed before 031 had their weight and age read by nothing: each
-- ClinicHQ cat_info record already processed is read now, for the cat it was matched to or
-- made (trapper.entity_sources), as the processor reads it today (functions/processors.sql).
SELECT trapper.record_cat_observation(
    trapper.get_canonical_cat_id(e.entity_id), s.id, trapper.parse_us_date(s.payload ->> 'Date'),
    s.payload ->> 'Weight', s.payload ->> 'Age Years', s.payload ->> 'Age Months')
FROM trapper.staged_records s
JOIN LATERAL (SELECT es.entity_id FROM trapper.entity_sources es
              WHERE es.staged_record_id = s.id AND es.entity_type = 'cat'
              ORDER BY es.entity_source_id LIMIT 1) e ON true
WHERE s.source_system = 'clinichq' AND s.source_table = 'cat_info'
  AND NOT EXISTS (SELECT 1 FROM trapper.cat_observations o WHERE o.staged_record_id = s.id);
