-- What v_data_why_missing (views/why_missing.sql) says about a decision the router logged: the
-- noun of a surface, and the fix for one row of the file, in the columns the steward edits.
-- "Check the rule (atlas-orch rules check) or the source data" was said of every row; a
-- steward at another organisation could not tell which column of which row to correct
-- (docs/operations.md, "Debugging your data").

CREATE OR REPLACE FUNCTION trapper.orchestrator_surface_noun(p_surface text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
SELECT CASE p_surface WHEN 'sot_people' THEN 'person' WHEN 'places' THEN 'place'
                      WHEN 'sot_cats' THEN 'cat'
                      WHEN 'place_colony_estimates' THEN 'colony estimate'
                      WHEN 'sot_requests' THEN 'request'
                      ELSE coalesce(p_surface, 'record') END
$$;

-- The columns of a source whose values identify what a surface makes (a person's email and
-- phone, a cat's microchip and animal id, a place's address), in rule order: what a row
-- needs for the surface to be made at all.
CREATE OR REPLACE FUNCTION trapper.orchestrator_identifying_fields(
    p_system text, p_table text, p_surface text) RETURNS text[]
-- PL/pgSQL, read when called: source_fields arrives with 013, after this file (order.txt)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT coalesce(array_agg(DISTINCT f ORDER BY f), '{}')
            FROM trapper.orchestrator_routing_rules r,
                 unnest(coalesce(r.source_fields, ARRAY[r.source_field])) AS f
            WHERE r.source_system = p_system AND r.source_table = p_table AND r.is_active
              AND r.target_surface = p_surface
              AND coalesce(r.target_field, r.source_field) IN
                  ('email', 'phone', 'cell', 'microchip', 'animal_id', 'formatted_address',
                   'total_cats'));
END $$;

CREATE OR REPLACE FUNCTION trapper.orchestrator_gap_fix(
    p_action text, p_surface text, p_reason text, p_details jsonb, p_system text,
    p_table text, p_payload jsonb) RETURNS text
LANGUAGE plpgsql STABLE AS $$
DECLARE
    v_fields text[] := trapper.orchestrator_identifying_fields(p_system, p_table, p_surface);
    v_absent text[];
    v_list text;
BEGIN
    IF p_action = 'error' THEN
        RETURN 'Read the error, fix the rule or the data, replay it';
    END IF;
    IF p_action = 'skipped' AND p_details ? 'field' THEN
        RETURN format('Correct %s (%L) in this row of the export and ingest the file again: '
                      'the edited row is routed again. If the value is right, the rule reads '
                      'it wrongly (atlas-orch rules check)',
                      p_details ->> 'field', p_details ->> 'value');
    END IF;
    -- a value of the wrong type or out of its range (typed rules): the whole record was
    -- rejected for that one cell; the address was not at fault ("write a street address"
    -- was said of a latitude of 'north-ish')
    IF p_action = 'rejected' AND p_details ? 'type' THEN
        RETURN format('Correct %s (%L) in this row of the export: %s.%s takes %s%s, or leave '
                      'the cell empty; then ingest the file again (this routing of the '
                      'record wrote nothing)',
                      p_details ->> 'field', p_details ->> 'value', p_surface,
                      p_details ->> 'parameter',
                      CASE p_details ->> 'type'
                          WHEN 'date' THEN 'a date (2025-03-14, 3/14/2025, Mar 14, 2025)'
                          WHEN 'integer' THEN 'a whole number'
                          WHEN 'boolean' THEN 'a yes or no'
                          ELSE 'a number' END,
                      CASE WHEN p_details ->> 'parameter' = 'lat' THEN ' from -90 to 90'
                           WHEN p_details ->> 'parameter' = 'lng' THEN ' from -180 to 180'
                           WHEN p_details ->> 'parameter' IN ('total_cats', 'adult_count',
                                                              'kitten_count')
                           THEN ' of 0 or more' ELSE '' END);
    END IF;
    -- a column a rule reads that the row does not have at all: renamed or dropped in this
    -- export (the schema_drift anomaly names the new header), not a blank cell to fill
    SELECT array_agg(f ORDER BY f) INTO v_absent
    FROM unnest(v_fields) f WHERE p_payload IS NOT NULL AND NOT p_payload ? f;
    IF v_absent IS NOT NULL THEN
        RETURN format('This row has no column %s: the export renamed or dropped it (atlas-orch '
                      'anomalies names a new column). Restore the header, or map the new '
                      'column (trapper.map_source_field), and ingest the file again',
                      array_to_string(v_absent, ', '));
    END IF;
    v_list := nullif(array_to_string(v_fields, ', '), '');
    RETURN CASE
        WHEN p_reason LIKE 'rejected: required %' THEN
            format('Fill %s in this row of the export and ingest the file again',
                   coalesce(p_details ->> 'field', 'the required field'))
        WHEN p_surface = 'sot_people' THEN
            format('Give this row a usable email or phone (%s) in the export and ingest the '
                   'file again: a name alone never makes or finds a person',
                   coalesce(v_list, 'map a column to email or phone'))
        WHEN p_surface = 'places' THEN
            format('Write a street address (number and street) in %s in this row and ingest '
                   'the file again: a town or a description makes no place',
                   coalesce(v_list, 'the address'))
        WHEN p_surface = 'sot_cats' THEN
            format('Give this row a microchip (%s), or map the export''s own id of the animal '
                   'to animal_id (docs/orchestrator.md, "Exports shaped otherwise"), and '
                   'ingest the file again', coalesce(v_list, 'map a column to microchip'))
        WHEN p_surface = 'place_colony_estimates' AND p_reason LIKE '%names no place%' THEN
            'Fix this row''s address first: its place decision says why it made no place'
        WHEN p_surface = 'place_colony_estimates' THEN
            format('Fill the count (%s) in this row and ingest the file again, or leave it: '
                   'a row with no count makes no estimate', coalesce(v_list, 'total_cats'))
        ELSE 'Check the rule (atlas-orch rules check) or the source data'
    END;
END $$;
