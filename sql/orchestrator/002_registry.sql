-- ORCH_002: the allowlist of functions rules may name, register_source() and
-- map_source_field() with their refusals, and every source registered with the fields of
-- its real export. Rules are data, never code: nothing from a table row is run as SQL.
--
-- Its functions, views and triggers live in functions/transforms.sql, functions/registry.sql
-- and triggers/routing_rules_check.sql (re-applied when they change; docs/operations.md, "Installing and
-- uninstalling").

CREATE TABLE trapper.orchestrator_functions (
    function_name  TEXT PRIMARY KEY,              -- how rules name it
    signature      TEXT NOT NULL,                 -- resolved through regprocedure
    kind           TEXT NOT NULL CHECK (kind IN ('transform', 'target')),
    arg_types      TEXT[] NOT NULL,
    returns        TEXT NOT NULL,
    target_surface TEXT,                          -- for targets: the surface it writes
    parameters     TEXT[],                        -- for targets: the target_field names it takes
    description    TEXT NOT NULL
);

INSERT INTO trapper.orchestrator_functions
    (function_name, signature, kind, arg_types, returns, target_surface, parameters, description)
VALUES
    ('norm_phone_us', 'trapper.norm_phone_us(text)', 'transform', '{text}', 'text', NULL, NULL,
     'US phone to 10 digits, or NULL'),
    ('norm_email', 'trapper.norm_email(text)', 'transform', '{text}', 'text', NULL, NULL,
     'lower-cased, trimmed email, or NULL'),
    ('normalize_address', 'trapper.normalize_address(text)', 'transform', '{text}', 'text', NULL,
     NULL, 'normalised address text'),
    ('norm_name_key', 'trapper.norm_name_key(text)', 'transform', '{text}', 'text', NULL, NULL,
     'name key: no accents, punctuation or case'),
    ('validate_microchip', 'trapper.validate_microchip(text)', 'transform', '{text}', 'text',
     NULL, NULL, 'a valid microchip, or NULL'),
    ('to_integer', 'trapper.orchestrator_to_integer(text)', 'transform', '{text}', 'integer',
     NULL, NULL, 'cast to integer (NULL when not a whole number)'),
    ('to_numeric', 'trapper.orchestrator_to_numeric(text)', 'transform', '{text}', 'numeric',
     NULL, NULL, 'cast to a number'),
    ('to_date', 'trapper.orchestrator_to_date(text)', 'transform', '{text}', 'date', NULL, NULL,
     'MM/DD/YYYY or ISO date'),
    ('trim', 'trapper.orchestrator_trim(text)', 'transform', '{text}', 'text', NULL, NULL,
     'trimmed text, NULL when empty'),
    ('find_or_create_person',
     'trapper.find_or_create_person(text,text,text,text,text,text,bigint,text,boolean)',
     'target', '{text,text,text,text,text,text,bigint,text,boolean}', 'uuid', 'sot_people',
     '{email,phone,cell,first_name,last_name,address}', 'resolve or create a person'),
    ('find_or_create_place_deduped',
     'trapper.find_or_create_place_deduped(text,text,double precision,double precision,text,bigint)',
     'target', '{text,text,double precision,double precision,text,bigint}', 'uuid', 'places',
     '{formatted_address,display_name,lat,lng}', 'find or create a place by address'),
    ('find_or_create_cat_by_microchip',
     'trapper.find_or_create_cat_by_microchip(text,text,text,text,text,text,text,text,text,text,text,text,bigint)',
     'target', '{text,text,text,text,text,text,text,text,text,text,text,text,bigint}', 'uuid',
     'sot_cats', '{microchip,name,sex,breed,altered_status,primary_color}',
     'find or create a cat by microchip'),
    ('add_colony_estimate',
     'trapper.add_colony_estimate(uuid,integer,integer,integer,text,date,bigint)',
     'target', '{uuid,integer,integer,integer,text,date,bigint}', 'void',
     'place_colony_estimates', '{total_cats,adult_count,kitten_count,observation_date}',
     'a colony estimate on the place the same record names');
