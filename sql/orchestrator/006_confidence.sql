-- ORCH_006: a confidence per source, and a survivorship order per field: which source wins
-- each field of a person, cat or place (manual entry outranks the clinic, which outranks
-- self-reported intake). The router applies it when it updates an existing entity; the
-- engines' processors keep their own rules (fill what is empty, never overwrite).
--
-- Its functions, views and triggers live in functions/survivorship.sql and
-- views/colony_estimates.sql (re-applied when they change; docs/operations.md, "Installing and
-- uninstalling").

CREATE TABLE trapper.orchestrator_source_confidence (
    source_system  TEXT PRIMARY KEY,
    confidence     NUMERIC(3, 2) NOT NULL CHECK (confidence > 0 AND confidence <= 1),
    rank           INTEGER NOT NULL,      -- survivorship: lower wins
    note           TEXT
);
INSERT INTO trapper.orchestrator_source_confidence VALUES
    ('atlas_ui', 1.00, 1, 'staff manual entry'),
    ('clinichq', 0.90, 2, 'clinic records, seen in person'),
    ('shelterluv', 0.85, 3, NULL),
    ('volunteerhub', 0.80, 4, NULL),
    ('google_maps', 0.90, 4, 'geocoder'),
    ('airtable', 0.75, 5, NULL),
    ('petlink', 0.50, 6, 'registry data, often stale or made up'),
    ('client_survey', 0.60, 7, 'self-reported'),
    ('web_intake', 0.55, 8, 'self-reported intake form');

-- Field-specific overrides of the source ranks (none by default).
CREATE TABLE trapper.orchestrator_field_survivorship (
    entity_type    TEXT NOT NULL CHECK (entity_type IN ('person', 'cat', 'place')),
    field          TEXT NOT NULL,
    source_system  TEXT NOT NULL,
    rank           INTEGER NOT NULL,
    PRIMARY KEY (entity_type, field, source_system)
);

-- Which source last set each field the router manages.
CREATE TABLE trapper.orchestrator_field_provenance (
    entity_type    TEXT NOT NULL,
    entity_id      UUID NOT NULL,
    field          TEXT NOT NULL,
    source_system  TEXT NOT NULL,
    value          TEXT,
    set_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (entity_type, entity_id, field)
);

-- The fields the router manages per entity, and where each is stored.
CREATE TABLE trapper.orchestrator_survivorship_fields (
    entity_type  TEXT NOT NULL,
    field        TEXT NOT NULL,     -- the rule's target_field
    PRIMARY KEY (entity_type, field)
);
INSERT INTO trapper.orchestrator_survivorship_fields VALUES
    ('person', 'first_name'), ('person', 'last_name'),
    ('cat', 'name'), ('cat', 'sex'), ('cat', 'breed'), ('cat', 'primary_color'),
    ('place', 'display_name');

-- Colony estimates weighed by how far their kind of source is trusted (from 1.0 for
-- counted, verified cats down to .55 for an intake form).
CREATE TABLE trapper.orchestrator_colony_source_confidence (
    source_type  TEXT PRIMARY KEY,
    confidence   NUMERIC(3, 2) NOT NULL
);
INSERT INTO trapper.orchestrator_colony_source_confidence VALUES
    ('verified_count', 1.00), ('clinichq', 0.90), ('trapping_request', 0.80),
    ('client_survey', 0.60), ('intake_form', 0.55);
