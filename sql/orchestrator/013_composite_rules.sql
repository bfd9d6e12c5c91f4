-- Issue 17, items 1 and 4: composite rules and typed targets (docs/orchestrator.md).
--
-- A composite rule draws one target parameter from several source fields, in order, joined
-- by a separator (Street, City, State, Zip -> formatted_address): source_fields names the
-- parts, field_separator joins them (', ' when NULL), and source_field holds the parts'
-- label ("Street + City + State + Zip"), which the rule check writes. Every part must be an
-- expected field of the source (triggers/routing_rules_check.sql).
--
-- A target declares the type of each parameter (parameter_types, parallel to parameters);
-- a rule whose value (the transform's result, else the field's declared type in
-- expected_fields) cannot fit it is refused when written, and a value that does not convert
-- at run time is a rejected decision (functions/router.sql), never a failed job.

ALTER TABLE trapper.orchestrator_routing_rules
    ADD COLUMN source_fields   TEXT[],
    ADD COLUMN field_separator TEXT;

ALTER TABLE trapper.orchestrator_functions
    ADD COLUMN parameter_types TEXT[],
    ADD CONSTRAINT orchestrator_functions_parameter_types_check CHECK (
        parameter_types IS NULL
        OR (cardinality(parameter_types) = cardinality(parameters)
            AND parameter_types <@ ARRAY['text', 'integer', 'bigint', 'numeric',
                                         'double precision', 'date', 'boolean']));

UPDATE trapper.orchestrator_functions f
SET parameter_types = t.types
FROM (VALUES
    ('find_or_create_person', '{text,text,text,text,text,text}'::text[]),
    ('find_or_create_place_deduped', '{text,text,double precision,double precision}'),
    ('find_or_create_cat_by_microchip', '{text,text,text,text,text,text}'),
    ('add_colony_estimate', '{integer,integer,integer,date}')
) AS t (name, types)
WHERE f.function_name = t.name;
