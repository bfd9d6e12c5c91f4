-- ORCH_003: why data is missing, one row per gap.

-- "Why is this data missing?" One row per gap, with what it means, what to do, where the
-- entity came from, and the decision that caused it where the router logged one.
CREATE OR REPLACE VIEW trapper.v_data_why_missing AS
WITH gaps AS (
    SELECT 'person_no_identifiers' AS issue_type, 'person' AS entity_type,
           sp.person_id AS entity_id,
           coalesce(sp.display_name, concat_ws(' ', sp.first_name, sp.last_name))
               AS entity_label,
           'Person has no email or phone: the next record about them cannot find them and '
           'will create a duplicate' AS explanation,
           -- (the call written out, this person's id in it: the function takes six
           -- arguments and the value normalised, so "add it with add_person_identifier()"
           -- followed as written failed, or stored a value no look-up finds)
           format('Look up the source record (source_record_id) for an email or phone and '
                  'add it: SELECT trapper.add_person_identifier(%L, ''email'', '
                  'trapper.norm_email(''EMAIL''), ''EMAIL'', NULL, 1.0); a phone: ''phone'', '
                  'trapper.norm_phone_us(''PHONE''), ''PHONE''. Or, if they are someone '
                  'already known, merge them in: UPDATE trapper.sot_people SET '
                  'merged_into_person_id = ''THEIR ID'', merge_reason = ''WHY'' '
                  'WHERE person_id = %L', sp.person_id, sp.person_id) AS suggested_fix
    FROM trapper.sot_people sp
    WHERE sp.merged_into_person_id IS NULL
      AND NOT EXISTS (SELECT 1 FROM trapper.person_identifiers pi
                      WHERE pi.person_id = sp.person_id)
    UNION ALL
    SELECT 'cat_no_microchip', 'cat', sc.cat_id, coalesce(sc.display_name, 'Unnamed cat'),
           'Cat has no microchip: the same cat may appear as several records',
           format('Check the clinic record for a microchip scan and add it: SELECT '
                  'trapper.add_cat_identifier(%L, ''microchip'', '
                  'trapper.validate_microchip(''CHIP''), ''WHO''); a chip another cat '
                  'holds is theirs (nothing added): the two are one cat', sc.cat_id)
    FROM trapper.sot_cats sc
    WHERE sc.merged_into_cat_id IS NULL
      AND NOT EXISTS (SELECT 1 FROM trapper.cat_identifiers ci
                      WHERE ci.cat_id = sc.cat_id AND ci.id_type = 'microchip')
    UNION ALL
    SELECT 'place_no_geometry', 'place', p.place_id,
           coalesce(p.formatted_address, p.display_name, 'Unknown place'),
           'Place has no coordinates: it is invisible on the map',
           -- ("re-geocode" named no way to: the geocoder's results are a source like any)
           -- (through the row: a host's places may have no geocode_status, requires.toml)
           CASE to_jsonb(p) ->> 'geocode_status'
               WHEN 'zero_results' THEN 'The geocoder found nothing for this address: correct '
                   'the address in the source export and ingest it again, or ingest a geocode '
                   'result (google_maps/geocode_results) whose query_address is this address'
               ELSE 'Not geocoded yet: ingest the geocoder''s results for it '
                   '(google_maps/geocode_results, query_address this address)' END
    FROM trapper.places p
    WHERE p.merged_into_place_id IS NULL AND p.location IS NULL
    UNION ALL
    SELECT 'person_merge_chain', 'person', sp.person_id,
           coalesce(sp.display_name, concat_ws(' ', sp.first_name, sp.last_name)),
           'Person is merged into a person who is merged too: data falls into a black hole',
           'Point it at trapper.get_canonical_person_id() and flatten the chain'
    FROM trapper.sot_people sp
    JOIN trapper.sot_people t ON t.person_id = sp.merged_into_person_id
    WHERE t.merged_into_person_id IS NOT NULL
    UNION ALL
    SELECT 'place_merge_chain', 'place', p.place_id,
           coalesce(p.formatted_address, p.display_name),
           'Place is merged into a place that is merged too: data falls into a black hole',
           'Point it at trapper.get_canonical_place_id() and flatten the chain'
    FROM trapper.places p
    JOIN trapper.places t ON t.place_id = p.merged_into_place_id
    WHERE t.merged_into_place_id IS NOT NULL
    UNION ALL
    SELECT 'cat_no_place', 'cat', sc.cat_id, coalesce(sc.display_name, 'Unnamed cat'),
           'Cat is linked to no place: it counts toward no colony',
           'Run entity linking (trapper.run_all_entity_linking()); if it stays, the source '
           'record named no usable address'
    FROM trapper.sot_cats sc
    WHERE sc.merged_into_cat_id IS NULL
      AND NOT EXISTS (SELECT 1 FROM trapper.cat_place cp WHERE cp.cat_id = sc.cat_id)
    UNION ALL
    SELECT 'request_no_trapper', 'request', r.request_id,
           coalesce(r.summary, r.source_system || ' ' || r.source_record_id),
           format('Open request (%s) has no trapper assigned', r.status),
           -- "assign it in the source system" cannot be followed where the source's records
           -- carry no trapper at all (a web intake form): say so, and how to assign one here
           -- (the trappers named through the row: a host's requests may have no
           -- assigned_trapper_refs, requires.toml; there, the source system's fix)
           CASE WHEN NOT rj.j ? 'assigned_trapper_refs' THEN
                    'Assign a trapper in the source system; linking picks it up on the next '
                    'sync'
                WHEN jsonb_typeof(rj.j -> 'assigned_trapper_refs') IS DISTINCT FROM 'array'
                THEN format(
                    'Its record has no trapper field (an intake form, an appointment request), '
                    'so no sync will assign one: assign one here: INSERT INTO '
                    'trapper.request_trappers (request_id, person_id, source) '
                    'VALUES (%L, ''TRAPPER PERSON ID'', ''steward'')', r.request_id)
                WHEN jsonb_array_length(rj.j -> 'assigned_trapper_refs') > 0 THEN format(
                    'The trapper(s) it names (%s) are no known trapper: ingest the trappers '
                    'export (airtable/trappers) that holds them; linking picks them up',
                    (SELECT string_agg(x, ', ')
                     FROM jsonb_array_elements_text(rj.j -> 'assigned_trapper_refs') x))
                ELSE 'Assign a trapper in the source system; linking picks it up on the next '
                     'sync' END
    FROM trapper.sot_requests r
    CROSS JOIN LATERAL (SELECT to_jsonb(r) AS j) rj
    WHERE r.status NOT IN ('completed', 'cancelled', 'redirected')
      AND NOT EXISTS (SELECT 1 FROM trapper.request_trappers rt
                      WHERE rt.request_id = r.request_id)
)
SELECT g.issue_type, g.entity_type, g.entity_id::text AS entity_id, g.entity_label,
       es.source_system, es.source_table, es.source_row_id AS source_record_id,
       es.staged_record_id, g.explanation, g.suggested_fix,
       d.routing_rule_id AS decision_rule_id, d.decision_reason, d.logged_at AS decided_at,
       esr.source_file
FROM gaps g
LEFT JOIN LATERAL (
    SELECT s.source_system, s.source_table, s.source_row_id, s.staged_record_id
    FROM trapper.entity_sources s
    WHERE s.entity_id = g.entity_id
    ORDER BY s.action <> 'created', s.entity_source_id
    LIMIT 1
) es ON true
-- the decision behind the gap is one about the gap's own surface: a place with no
-- coordinates was shown its record's skipped phone ("norm_phone_us($1) gave nothing for
-- Phone = '000-000-0000'"), a decision that says nothing about the place
LEFT JOIN LATERAL (
    SELECT l.routing_rule_id, l.decision_reason, l.logged_at
    FROM trapper.orchestrator_job_log l
    WHERE l.staged_record_id = es.staged_record_id
      AND l.action IN ('skipped', 'rejected', 'error')
      AND l.target_surface = CASE g.issue_type
              WHEN 'cat_no_place' THEN 'places'
              WHEN 'person_no_identifiers' THEN 'sot_people'
              ELSE CASE g.entity_type WHEN 'person' THEN 'sot_people' WHEN 'cat' THEN 'sot_cats'
                                      WHEN 'place' THEN 'places' END END
    ORDER BY l.log_seq
    LIMIT 1
) d ON es.staged_record_id IS NOT NULL
LEFT JOIN trapper.staged_records esr ON esr.id = es.staged_record_id
UNION ALL
-- records that never became data: waiting too long, failed, rejected at ingest, or stopped by
-- the router
SELECT 'staged_unprocessed', 'staged_record', sr.id::text,
       sr.source_system || '/' || sr.source_table || ' ' || coalesce(sr.source_row_id, ''),
       sr.source_system, sr.source_table, sr.source_row_id, sr.id,
       format('Staged %s and not processed yet', to_char(sr.created_at, 'YYYY-MM-DD HH24:MI')),
       'Run atlas-orch process (or check that a worker is running and the source has an '
       'active processor)', NULL, NULL, NULL, sr.source_file
FROM trapper.staged_records sr
WHERE NOT sr.is_processed AND sr.processing_error IS NULL
  AND sr.created_at < now() - make_interval(hours =>
          trapper.orchestrator_health_setting('why_missing_unprocessed_hours')::int)
UNION ALL
SELECT 'staged_failed', 'staged_record', sr.id::text,
       sr.source_system || '/' || sr.source_table || ' ' || coalesce(sr.source_row_id, ''),
       sr.source_system, sr.source_table, sr.source_row_id, sr.id,
       'Processing failed: ' || sr.processing_error,
       'Fix the cause (see atlas-orch replay), then requeue the record', NULL, NULL, NULL,
       sr.source_file
FROM trapper.staged_records sr
WHERE NOT sr.is_processed AND sr.processing_error IS NOT NULL
  -- what stands now, as for the routing kinds below: a version that failed and was since
  -- replaced by a corrected row of a later file that was processed is no longer a gap (the
  -- failure stays in `replay`); listed, it said the record was missing when it was not
  AND NOT EXISTS (
      SELECT 1 FROM trapper.staged_records nv
      WHERE nv.source_system = sr.source_system AND nv.source_table = sr.source_table
        AND nv.source_row_id = sr.source_row_id AND nv.id > sr.id AND nv.is_processed)
UNION ALL
SELECT 'ingest_rejected', 'ingest_reject', ir.reject_id::text,
       coalesce(ir.source_file, '?') || ' row ' || coalesce(ir.row_number::text, '?'),
       ir.source_system, ir.source_table, ir.source_row_id, NULL,
       format('Rejected at ingest (%s): %s', ir.reason_code, ir.reason),
       'Correct the row in the source export and ingest it again; the raw bytes are in '
       'trapper.ingest_rejects.raw', NULL, NULL, ir.created_at, ir.source_file
FROM trapper.ingest_rejects ir
-- a reject a later run carried correctly is no longer missing (core 040): `why-missing
-- SYSTEM/TABLE/ID` tells it as corrected, with what stands now
WHERE ir.corrected_at IS NULL
  -- one gap per row, not per delivery: the same row rejected again by each re-send of its
  -- export (the same key, still open) is listed once, as the newest run's reject; every
  -- one of them stays in `why-missing SYSTEM/TABLE/ID`, and one corrected closes them all
  AND NOT EXISTS (
      SELECT 1 FROM trapper.ingest_rejects again
      WHERE again.source_system = ir.source_system AND again.source_table = ir.source_table
        AND again.content_key = ir.content_key AND again.corrected_at IS NULL
        AND again.reject_id > ir.reject_id)
UNION ALL
SELECT CASE WHEN l.action = 'skipped' AND coalesce(l.decision_details ? 'field', false)
            THEN 'value_unread' ELSE 'routing_' || l.action END,
       'staged_record', coalesce(l.staged_record_id::text, ''),
       l.source_system || '/' || l.source_table || ' ' || coalesce(l.source_record_id, ''),
       l.source_system, l.source_table, l.source_record_id, l.staged_record_id,
       CASE WHEN l.action = 'skipped' AND coalesce(l.decision_details ? 'field', false)
            THEN format('The value of %s in the file could not be read, so its %s went '
                        'without it: %s', l.decision_details ->> 'field',
                        trapper.orchestrator_surface_noun(l.target_surface), l.decision_reason)
            -- the router's own rejections (a required field empty, a value of the wrong
            -- type or range, a JSON object) stop the whole record: no other decision stands
            WHEN l.target_surface IS NULL OR l.decision_reason LIKE 'rejected: required %'
                 OR (l.action = 'rejected' AND coalesce(l.decision_details ? 'field', false))
            THEN 'The router ' || l.action || ' the record: '
                 || coalesce(l.decision_reason, '')
            ELSE format('The router %s its %s (the record''s other decisions stand: atlas-orch '
                        'replay %s/%s/%s): %s', l.action,
                        trapper.orchestrator_surface_noun(l.target_surface), l.source_system,
                        l.source_table, l.source_record_id, coalesce(l.decision_reason, ''))
       END,
       trapper.orchestrator_gap_fix(l.action, l.target_surface, l.decision_reason,
                                    l.decision_details, l.source_system, l.source_table,
                                    sr.payload),
       l.routing_rule_id, l.decision_reason, l.logged_at, sr.source_file
FROM trapper.orchestrator_job_log l
LEFT JOIN trapper.staged_records sr ON sr.id = l.staged_record_id
WHERE (l.action IN ('rejected', 'error')
       OR (l.action = 'skipped' AND l.event_id IS NULL
           AND (NOT coalesce(l.decision_details ? 'field', false)
                -- a value the file holds that a transform could not read (a date of
                -- 2025-02-30, a count of "lots"): lost data, unlike an empty field
                OR nullif(btrim(l.decision_details ->> 'value'), '') IS NOT NULL)))
  -- what stands now: a gap of a version since replaced by an edited row, or of a routing
  -- since run again (replay --apply), was fixed and is no longer listed
  AND NOT EXISTS (
      SELECT 1 FROM trapper.staged_records nv
      WHERE nv.source_system = sr.source_system AND nv.source_table = sr.source_table
        AND nv.source_row_id = sr.source_row_id AND nv.id > sr.id AND nv.is_processed)
  AND NOT EXISTS (
      SELECT 1 FROM trapper.orchestrator_job_log again
      WHERE again.staged_record_id = l.staged_record_id AND again.logged_at > l.logged_at
        AND again.action IN ('routed', 'merged', 'skipped', 'rejected', 'error'))
UNION ALL
-- a record a processor (not the router, whose rejection is a routing_rejected row above) gave
-- to the identity engine, which made no person of it: no usable email or phone. It was
-- nowhere here: `why-missing SYSTEM/TABLE/ID` said "processed" and named its place. Only the
-- record's last decision stands (a later version, or the same one processed again, decides
-- anew); a record that names no person ("not a person: …", an account) is no gap.
SELECT 'identity_rejected', 'staged_record', d.staged_record_id::text,
       d.source_system || '/' || d.source_table || ' ' || coalesce(d.source_row_id, ''),
       d.source_system, d.source_table, d.source_row_id, d.staged_record_id,
       'The identity engine made no person of this record: ' || d.decision_reason,
       'Give the row an email or phone of the person''s own in the export (the reason names '
       'each value refused and why; a value that reads as none is counted in '
       'trapper.v_unrecognised_values) and ingest it again',
       NULL, d.decision_reason, d.created_at, sr.source_file
FROM trapper.data_engine_match_decisions d
LEFT JOIN trapper.staged_records sr ON sr.id = d.staged_record_id
WHERE d.decision_type = 'rejected' AND d.staged_record_id IS NOT NULL
  AND d.decision_reason LIKE 'no usable email or phone%'
  AND NOT EXISTS (
      SELECT 1 FROM trapper.data_engine_match_decisions later
      WHERE later.source_system = d.source_system AND later.source_table = d.source_table
        AND later.source_row_id = d.source_row_id AND later.decision_id > d.decision_id)
  AND NOT EXISTS (
      SELECT 1 FROM trapper.orchestrator_job_log l
      WHERE l.staged_record_id = d.staged_record_id AND l.action = 'rejected'
        AND l.target_surface = 'sot_people')
UNION ALL
SELECT 'ingest_failed', 'ingest_run', ir.ingest_run_id::text,
       coalesce(ir.source_file, '?') || ' (ingest run ' || ir.ingest_run_id || ')',
       ir.source_system, ir.source_table, NULL, NULL,
       format('Ingest run %s of %s %s at %s, so none of its rows were staged: %s',
              ir.ingest_run_id, coalesce(ir.source_file, 'an unnamed file'), ir.status,
              to_char(ir.started_at, 'YYYY-MM-DD HH24:MI'),
              coalesce(ir.error, 'no reason recorded')),
       'Fix the file or the cause and ingest it again (atlas-orch ingest ' || ir.source_system
           || '/' || ir.source_table || ' FILE); a completed run of the same file clears this',
       NULL, ir.error, ir.started_at, ir.source_file
FROM trapper.ingest_runs ir
WHERE ir.status IN ('failed', 'abandoned')
  AND NOT EXISTS (
      SELECT 1 FROM trapper.ingest_runs later
      WHERE later.source_system = ir.source_system AND later.source_table = ir.source_table
        AND later.source_file IS NOT DISTINCT FROM ir.source_file
        AND later.status = 'completed' AND later.started_at > ir.started_at);
