-- Identity decisions and new entities are polled by default.
--
-- The engines write those tables one row per statement, so their statement-level triggers
-- cost a whole event per record: 5.2% of the workers' time, against 0.6% polled
-- (bench/events.py part 1, pg_stat_user_functions). The poll writes the same events from
-- rows the engines keep anyway, so the host's processing pays nothing for them. The triggers
-- stay installed, disabled, one switch away:
--   atlas-orch shadow set --capture-engine trigger
-- which a host needs if something other than the engines creates people, places or cats
-- (an entity with no 'created' row in entity_sources is invisible to the poll).
--
-- The switch starts the poll at the decisions and entity_sources already there: those rows
-- were evented by the triggers (or predate the shadow layer), as when the triggers were
-- installed.

SELECT trapper.orchestrator_set_capture('engine', 'poll');

UPDATE trapper.orchestrator_settings
SET description = description || ' (installed as poll since shadow migration 005)'
WHERE key IN ('capture_decisions', 'capture_entities');
