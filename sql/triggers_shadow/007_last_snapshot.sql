-- TS_007: the listener's checkpoint remembers the snapshot of its last completed pass, so the
-- next pass reads only the transactions that snapshot did not show (those in progress then,
-- and those from its xmax on) instead of every event since the horizon filtered by `done`
-- (functions/events.sql, orchestrator_consume_events; docs/events.md). NULL until a pass
-- completes; a checkpoint without it is read as before.
ALTER TABLE trapper.orchestrator_listener_checkpoint ADD COLUMN last_snapshot pg_snapshot;
