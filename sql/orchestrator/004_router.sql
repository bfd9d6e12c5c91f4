-- ORCH_004, the generic router: executes a source's routing rules against a staged record
-- and writes one job-log row per decision, in the same transaction as the entity writes.
-- Rules name functions of the allowlist; values are passed as parameters; no text from a
-- row is ever run as SQL.
--
-- Its functions, views and triggers live in functions/router.sql and
-- triggers/router_processors.sql (re-applied when they change; docs/operations.md, "Installing and
-- uninstalling").

CREATE TABLE trapper.orchestrator_settings_router (
    key    TEXT PRIMARY KEY,
    value  BOOLEAN NOT NULL,
    description TEXT NOT NULL
);
INSERT INTO trapper.orchestrator_settings_router VALUES
    ('decision_log', true, 'write a job-log row for every routing decision');

-- The client_survey example: a new source wired with INSERTs alone (docs/orchestrator.md, "Adding a new source with SQL alone").
SELECT trapper.register_source('client_survey', 'responses', 'Client Colony Survey',
    '{person,place,colony_estimate}', 'orchestrator_router', 'file_upload', 'on_demand',
    trapper.orchestrator_fields(ARRAY['response_id', 'survey_date', 'first_name', 'last_name',
        'email', 'phone', 'address', 'cat_count', 'kittens_seen'],
        ARRAY['response_id', 'address']), ARRAY['response_id']);
SELECT trapper.map_source_field(s, t, f, surf, tf, rt, fn, tx, req)
FROM (VALUES
    ('client_survey', 'responses', 'address', 'places', 'formatted_address', 'function_call', 'find_or_create_place_deduped', NULL, true),
    ('client_survey', 'responses', 'email', 'sot_people', 'email', 'transform', 'find_or_create_person', 'norm_email($1)', false),
    ('client_survey', 'responses', 'phone', 'sot_people', 'phone', 'transform', 'find_or_create_person', 'norm_phone_us($1)', false),
    ('client_survey', 'responses', 'first_name', 'sot_people', 'first_name', 'direct', 'find_or_create_person', NULL, false),
    ('client_survey', 'responses', 'last_name', 'sot_people', 'last_name', 'direct', 'find_or_create_person', NULL, false),
    ('client_survey', 'responses', 'cat_count', 'place_colony_estimates', 'total_cats', 'transform', 'add_colony_estimate', 'to_integer($1)', false),
    ('client_survey', 'responses', 'survey_date', 'place_colony_estimates', 'observation_date', 'transform', 'add_colony_estimate', 'to_date($1)', false)
) AS r (s, t, f, surf, tf, rt, fn, tx, req);
