-- Processors: one function per source table, reading the export's verbatim keys and
-- writing only through find_or_create_* and link_* functions. Each takes a staged record
-- id and returns {"entity_type", "entity_id", "created"}; each is registered in
-- data_engine_processors, so no source is left without a route.
--
-- Its functions, views and triggers live in functions/processor_helpers.sql and
-- functions/processors.sql (re-applied when they change; docs/operations.md, "Installing and
-- uninstalling").

-- The registry. Priority (lower first) follows the real registry; the ClinicHQ order is
-- appointment → cat → owner, which the processors need (owners link to the appointment
-- and the cat their row names).
INSERT INTO trapper.data_engine_processors
    (processor_name, source_system, source_table, entity_type, processor_function, priority)
VALUES
    ('clinichq_appointment', 'clinichq', 'appointment_info', 'appointment', 'trapper.process_clinichq_appointment_info', 10),
    ('clinichq_cat', 'clinichq', 'cat_info', 'cat', 'trapper.process_clinichq_cat_info', 20),
    ('clinichq_owner', 'clinichq', 'owner_info', 'person', 'trapper.process_clinichq_owner_info', 30),
    ('shelterluv_person', 'shelterluv', 'people', 'person', 'trapper.process_shelterluv_person', 40),
    ('shelterluv_animal', 'shelterluv', 'animals', 'cat', 'trapper.process_shelterluv_animal', 50),
    ('shelterluv_outcome', 'shelterluv', 'outcomes', 'relationship', 'trapper.process_shelterluv_outcome', 60),
    ('petlink_owner', 'petlink', 'owners', 'person', 'trapper.process_petlink_owner', 70),
    ('petlink_pet', 'petlink', 'pets', 'cat', 'trapper.process_petlink_pet', 80),
    ('volunteerhub_user', 'volunteerhub', 'users', 'person', 'trapper.process_volunteerhub_user', 90),
    ('airtable_trapper', 'airtable', 'trappers', 'person', 'trapper.process_airtable_trapper', 95),
    ('airtable_trapping_request', 'airtable', 'trapping_requests', 'request', 'trapper.process_airtable_trapping_request', 100),
    ('airtable_appointment_request', 'airtable', 'appointment_requests', 'request', 'trapper.process_airtable_appointment_request', 110),
    ('web_intake_submission', 'web_intake', 'submissions', 'request', 'trapper.process_web_intake_submission', 120),
    ('atlas_ui_manual_entry', 'atlas_ui', 'manual_entry', 'person', 'trapper.process_atlas_ui_manual_entry', 130),
    ('google_maps_geocode', 'google_maps', 'geocode_results', 'place', 'trapper.process_google_maps_geocode', 200);
