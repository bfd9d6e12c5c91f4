INSERT INTO trapper.orchestrator_sources
    (source_system, source_table, display_name, entity_types_produced, processor_name,
     ingest_method, ingest_frequency, expected_fields, id_field_candidates)
VALUES ('paws', 'fosters', 'Foster tracking sheet', '{person,place,cat}',
        'orchestrator_router', 'file_upload', 'weekly',
        trapper.orchestrator_fields(ARRAY['Placement', 'Foster Name', 'Email', 'Phone',
                                          'Street', 'City', 'Zip', 'Cat Name', 'Chip',
                                          'Sex', 'Date In'],
                                    ARRAY['Placement']),
        ARRAY['Placement']),
       ('paws', 'vet_visits', 'Vet visit log', '{person,place,cat}',
        'orchestrator_router', 'file_upload', 'weekly',
        trapper.orchestrator_fields(ARRAY['Visit No', 'Visit Date', 'Caretaker', 'Email',
                                          'Phone', 'Address', 'Cat', 'Microchip', 'Sex',
                                          'Cats at address'],
                                    ARRAY['Visit No']),
        ARRAY['Visit No']);
INSERT INTO trapper.orchestrator_routing_rules
    (source_system, source_table, source_fields, field_separator, target_surface,
     target_field, routing_type, target_function, transform_expression, is_required)
VALUES
    ('paws', 'fosters', ARRAY['Street', 'City', 'Zip'], ', ', 'places',
     'formatted_address', 'function_call', 'find_or_create_place_deduped', NULL, false);
INSERT INTO trapper.orchestrator_routing_rules
    (source_system, source_table, source_field, target_surface, target_field, routing_type,
     target_function, transform_expression, is_required, skip_if_empty)
VALUES
    ('paws', 'fosters', 'Foster Name', 'sot_people', 'full_name', 'direct', 'find_or_create_person', NULL, true, false),
    ('paws', 'fosters', 'Email', 'sot_people', 'email', 'transform', 'find_or_create_person', 'norm_email($1)', false, false),
    ('paws', 'fosters', 'Phone', 'sot_people', 'phone', 'transform', 'find_or_create_person', 'norm_phone_us($1)', false, false),
    ('paws', 'fosters', 'Chip', 'sot_cats', 'microchip', 'direct', 'find_or_create_cat_by_microchip', NULL, false, false),
    ('paws', 'fosters', 'Cat Name', 'sot_cats', 'name', 'direct', 'find_or_create_cat_by_microchip', NULL, false, false),
    ('paws', 'fosters', 'Sex', 'sot_cats', 'sex', 'direct', 'find_or_create_cat_by_microchip', NULL, false, false),
    ('paws', 'fosters', 'Placement', 'sot_cats', 'animal_id', 'direct', 'find_or_create_cat_by_microchip', NULL, false, false),
    ('paws', 'vet_visits', 'Address', 'places', 'formatted_address', 'function_call', 'find_or_create_place_deduped', NULL, false, false),
    ('paws', 'vet_visits', 'Caretaker', 'sot_people', 'full_name', 'direct', 'find_or_create_person', NULL, false, false),
    ('paws', 'vet_visits', 'Email', 'sot_people', 'email', 'transform', 'find_or_create_person', 'norm_email($1)', false, false),
    ('paws', 'vet_visits', 'Phone', 'sot_people', 'phone', 'transform', 'find_or_create_person', 'norm_phone_us($1)', false, false),
    ('paws', 'vet_visits', 'Microchip', 'sot_cats', 'microchip', 'direct', 'find_or_create_cat_by_microchip', NULL, false, false),
    ('paws', 'vet_visits', 'Cat', 'sot_cats', 'name', 'direct', 'find_or_create_cat_by_microchip', NULL, false, false),
    ('paws', 'vet_visits', 'Sex', 'sot_cats', 'sex', 'direct', 'find_or_create_cat_by_microchip', NULL, false, false),
    ('paws', 'vet_visits', 'Cats at address', 'place_colony_estimates', 'total_cats', 'transform', 'add_colony_estimate', 'to_count($1)', false, false),
    ('paws', 'vet_visits', 'Visit Date', 'place_colony_estimates', 'observation_date', 'transform', 'add_colony_estimate', 'to_date($1)', false, false);
