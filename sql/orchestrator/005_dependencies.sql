-- ORCH_005: one source table is processed before another. Cycles are refused; a job whose
-- dependencies still have pending work is not claimed. The order is enforced by the
-- orchestrator's own claim (orchestrator_claim_jobs / orchestrator_process_next_job), which
-- the worker uses when the orchestrator is installed: the host's queue is not altered.
--
-- Its functions, views and triggers live in triggers/dependency_cycles.sql and
-- functions/dependencies.sql (re-applied when they change; docs/operations.md, "Installing and
-- uninstalling").

CREATE TABLE trapper.orchestrator_source_dependencies (
    source_system      TEXT NOT NULL,
    source_table       TEXT NOT NULL,
    depends_on_system  TEXT NOT NULL,
    depends_on_table   TEXT NOT NULL,
    reason             TEXT NOT NULL,
    created_at         TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (source_system, source_table, depends_on_system, depends_on_table),
    FOREIGN KEY (source_system, source_table)
        REFERENCES trapper.orchestrator_sources (source_system, source_table),
    FOREIGN KEY (depends_on_system, depends_on_table)
        REFERENCES trapper.orchestrator_sources (source_system, source_table),
    CHECK ((source_system, source_table) IS DISTINCT FROM (depends_on_system, depends_on_table))
);

-- The order the processors need. ClinicHQ: appointment → cat → owner (owners link to the
-- appointment and the cat their row names; the real system changed this order three times).
INSERT INTO trapper.orchestrator_source_dependencies VALUES
    ('clinichq', 'cat_info', 'clinichq', 'appointment_info',
     'cat details fill the cats the appointments created', now()),
    ('clinichq', 'owner_info', 'clinichq', 'cat_info',
     'owners link to the cat of their row by its clinic number', now()),
    ('clinichq', 'owner_info', 'clinichq', 'appointment_info',
     'owners link to the appointment of the same number and date', now()),
    ('shelterluv', 'animals', 'shelterluv', 'people',
     'an animal links to its AssociatedPerson by ShelterLuv id', now()),
    ('shelterluv', 'outcomes', 'shelterluv', 'animals',
     'an outcome names the animal by its shelter id', now()),
    ('petlink', 'pets', 'petlink', 'owners', 'pets name their registered owner', now()),
    ('airtable', 'trapping_requests', 'airtable', 'trappers',
     'requests name their trappers by record id', now());
