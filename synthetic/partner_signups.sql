-- The synthetic world's partner_events/signups source (docs/synthetic-world.md): a partner's
-- event sign-up sheet whose address comes in four columns and whose name in two, wired by
-- INSERTs alone as docs/orchestrator.md ("A source whose address comes in columns") shows.
-- Idempotent: a world can be loaded into a database that has the source already.
INSERT INTO trapper.orchestrator_sources
    (source_system, source_table, display_name, entity_types_produced, processor_name,
     ingest_method, ingest_frequency, expected_fields, id_field_candidates)
VALUES ('partner_events', 'signups', 'Partner Event Sign-ups', '{person,place}',
        'orchestrator_router', 'file_upload', 'on_demand',
        trapper.orchestrator_fields(ARRAY['ID', 'Event', 'First Name', 'Last Name', 'Email',
                                          'Phone', 'Street', 'City', 'State', 'Zip'],
                                    ARRAY['ID']),
        ARRAY['ID'])
ON CONFLICT DO NOTHING;
INSERT INTO trapper.orchestrator_routing_rules
    (source_system, source_table, source_fields, field_separator, target_surface,
     target_field, routing_type, target_function, transform_expression, is_required)
SELECT 'partner_events', 'signups', ARRAY['Street', 'City', 'State', 'Zip'], ', ', 'places',
       'formatted_address', 'function_call', 'find_or_create_place_deduped', NULL, false
WHERE NOT EXISTS (SELECT 1 FROM trapper.orchestrator_routing_rules
                  WHERE source_system = 'partner_events' AND source_table = 'signups');
INSERT INTO trapper.orchestrator_routing_rules
    (source_system, source_table, source_field, target_surface, target_field, routing_type,
     target_function, transform_expression)
SELECT s, t, f, surf, tf, rt, fn, tx
FROM (VALUES
    ('partner_events', 'signups', 'First Name', 'sot_people', 'first_name', 'direct',
     'find_or_create_person', NULL),
    ('partner_events', 'signups', 'Last Name', 'sot_people', 'last_name', 'direct',
     'find_or_create_person', NULL),
    ('partner_events', 'signups', 'Email', 'sot_people', 'email', 'transform',
     'find_or_create_person', 'norm_email($1)'),
    ('partner_events', 'signups', 'Phone', 'sot_people', 'phone', 'transform',
     'find_or_create_person', 'norm_phone_us($1)')
) AS r (s, t, f, surf, tf, rt, fn, tx)
WHERE NOT EXISTS (SELECT 1 FROM trapper.orchestrator_routing_rules
                  WHERE source_system = 'partner_events' AND source_table = 'signups'
                    AND target_surface = 'sot_people');
