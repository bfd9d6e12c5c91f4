-- Exports shaped unlike ours, onboarded with SQL alone (docs/orchestrator.md, "Exports shaped
-- otherwise"): the allowlist learns what forms and shelter exports need.
--
-- - norm_email($1) and norm_phone_us($1) in a rule read a cell that lists several ("a@x.org;
--   b@y.org", "707-523-1234 / 707-523-9876", "Ann <ann@x.org>") as its first valid value
--   (functions/transforms.sql); they gave nothing before, and the person lost the identifier.
--   A phone cell's second number goes to the person's `cell` when no rule feeds it.
-- - to_count($1) reads a count as people answer "How many cats?" ("about 6", "5-6", "10+").
-- - find_or_create_person takes full_name: a whole name in one cell, split into first and
--   last name by the router when no rule gives those.
-- - find_or_create_cat_by_microchip takes species: a record whose species is not a cat
--   makes no cat (a shelter's export lists its dogs and rabbits too); and animal_id, the
--   export's own id of the animal, by which a cat without a microchip is made and found
--   again (orchestrator_cat_source_ids): such cats were never made before.

UPDATE trapper.orchestrator_functions
SET signature = 'trapper.orchestrator_norm_email(text)',
    description = 'lower-cased, trimmed email (the first valid one of a cell listing several), or NULL'
WHERE function_name = 'norm_email';

UPDATE trapper.orchestrator_functions
SET signature = 'trapper.orchestrator_norm_phone_us(text)',
    description = 'US phone to 10 digits (the first valid one of a cell listing several), or NULL'
WHERE function_name = 'norm_phone_us';

INSERT INTO trapper.orchestrator_functions
    (function_name, signature, kind, arg_types, returns, target_surface, parameters, description)
VALUES ('to_count', 'trapper.orchestrator_to_count(text)', 'transform', '{text}', 'integer',
        NULL, NULL, 'a count as a form answers it: about 6, 5-6 (the upper), 10+, six; or NULL');

UPDATE trapper.orchestrator_functions
SET parameters = parameters || ARRAY['full_name'], parameter_types = parameter_types || ARRAY['text']
WHERE function_name = 'find_or_create_person' AND NOT 'full_name' = ANY (parameters);

UPDATE trapper.orchestrator_functions
SET parameters = parameters || ARRAY['species', 'animal_id'],
    parameter_types = parameter_types || ARRAY['text', 'text']
WHERE function_name = 'find_or_create_cat_by_microchip' AND NOT 'species' = ANY (parameters);

-- The cats the router made or found by a source's own animal id (one per source system:
-- PetPoint's animals and outcomes exports share their Animal IDs). A cat merged since is
-- followed through get_canonical_cat_id when read.
CREATE TABLE trapper.orchestrator_cat_source_ids (
    source_system    TEXT NOT NULL,
    animal_id        TEXT NOT NULL,
    cat_id           UUID NOT NULL REFERENCES trapper.sot_cats (cat_id),
    staged_record_id BIGINT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (source_system, animal_id)
);
CREATE INDEX orchestrator_cat_source_ids_cat_idx ON trapper.orchestrator_cat_source_ids (cat_id);
